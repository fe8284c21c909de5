"""Live package status for browsers: Server-Sent Events fed by Redis pub/sub."""
