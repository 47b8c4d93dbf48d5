"""Due work: a job table that processes claim from, with retries, backoff and a dead state."""
