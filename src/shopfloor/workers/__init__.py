"""Workers: long-running entry points beside the API (the outbox relay). Like the API and
the CLI they own their transactions; they call the domain services and commit."""
