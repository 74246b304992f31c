"""Per-service log files with rotation, a multiplexed printer, and tail/follow."""
