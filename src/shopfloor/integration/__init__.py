"""Integration: delivering the outbox to the plant's other systems.

Owns the subscribers' configuration (who receives which events, over which transport, with
which secrets and aggregation), the per-subscriber delivery state of every outbox event
(`int_delivery`: pending, delivered or dead, with attempts and the last error), the relay
that claims, publishes and settles deliveries at least once, and the transports: Standard
Webhooks over HTTP and NATS JetStream. Receivers deduplicate on the message id; a webhook
receiver can check signatures with `shopfloor.integration.domain.verify_webhook`.
"""
