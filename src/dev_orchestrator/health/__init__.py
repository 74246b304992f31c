"""Health probes (http, tcp, command, log, container) and the start-up/liveness prober."""
