"""The kernel: what every app needs and nothing above it (errors, config, text limits, locking,
the command base, the request guard, the outbox, the web helpers, the metric definitions)."""
