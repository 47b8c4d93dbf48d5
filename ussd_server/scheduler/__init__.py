"""The scheduler in the server: a worker that runs due jobs (proposals' deadlines, refunds), its CLI and settings."""
