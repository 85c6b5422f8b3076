"""Errors a command raises when the plant's rules say no.

Each carries a message written for a plant engineer and maps to one HTTP status in the API
and to a non-zero exit in the CLI. Nothing is changed when one is raised: the entry point
rolls the transaction back.
"""

from __future__ import annotations

from typing import Any


class ShopfloorError(Exception):
    """Base of every rule violation; `code` is a stable, machine-readable slug."""

    status = 400
    code = "bad-request"
    title = "Request not accepted"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ShopfloorError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(ShopfloorError):
    """The request is valid but clashes with what is already recorded."""

    status = 409
    code = "conflict"
    title = "Conflicts with recorded state"


class RuleViolation(ShopfloorError):
    """A business rule of the plant forbids the request as it stands."""

    status = 422
    code = "rule-violation"
    title = "Not allowed by the plant's rules"


class InvalidTransition(RuleViolation):
    code = "invalid-transition"
    title = "Status change not allowed"


class NotQualified(RuleViolation):
    code = "not-qualified"
    title = "Operator not qualified"


class Unauthenticated(ShopfloorError):
    status = 401
    code = "unauthenticated"
    title = "Sign-in required"


class Forbidden(ShopfloorError):
    status = 403
    code = "forbidden"
    title = "Role not permitted"
