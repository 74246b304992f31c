"""The background supervisor, its control API on a Unix socket, and the CLI's client."""
