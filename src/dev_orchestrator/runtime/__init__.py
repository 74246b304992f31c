"""Runtime: service states and events, service units, and the engine that owns state."""
