"""Technical foundation: settings, database engine and types, unit of work, outbox,
idempotency records, logging and metrics. Knows nothing of the plant."""
