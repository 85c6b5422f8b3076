"""The HTTP/JSON API under /api/v1 (OpenAPI at /docs), /healthz and /metrics."""
