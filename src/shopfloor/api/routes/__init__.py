"""One router per domain; each endpoint declares the roles allowed to call it."""
