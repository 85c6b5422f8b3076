"""Roles and the sign-in rules, pure."""

from __future__ import annotations

from datetime import datetime, timedelta

ROLES = ("operator", "supervisor", "quality", "planner", "admin", "integration")

# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

MIN_PASSWORD_LENGTH = 12


def check_roles(roles: list[str] | tuple[str, ...] | set[str]) -> frozenset[str]:
    """Known roles only; at least one."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; known: {', '.join(ROLES)}")
    if not roles:
        raise ValueError("a user needs at least one role")
    return frozenset(roles)


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if username.lower() in password.lower():
        return "the password must not contain the user name"
    return None


def locked_until(failures: int, now: datetime, limit: int, minutes: int) -> datetime | None:
    """After `limit` consecutive failures the account waits `minutes`."""
    return now + timedelta(minutes=minutes) if failures >= limit else None
