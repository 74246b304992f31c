"""The Zyron backend: job records, forwarding to Visual Brain, the stack's status."""
