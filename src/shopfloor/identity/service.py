"""Users, sign-in with lockout, sessions and API tokens. Never commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopfloor.audit import service as audit
from shopfloor.identity import domain
from shopfloor.identity.tables import ApiToken, SignInSession, User
from shopfloor.kernel.context import SYSTEM, Actor, CommandContext
from shopfloor.kernel.errors import Conflict, NotFound, RuleViolation, Unauthenticated

HASHER = PasswordHasher(
    time_cost=domain.ARGON2_TIME_COST,
    memory_cost=domain.ARGON2_MEMORY_KIB,
    parallelism=domain.ARGON2_PARALLELISM,
)
SYSTEM_ACTOR = SYSTEM
# A hash to verify against when the user name is unknown, so timing does not tell.
_DUMMY_HASH = HASHER.hash("shopfloor-no-such-user")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.username, user.full_name, frozenset(user.roles))


def add_user(
    session: Session,
    ctx: CommandContext,
    *,
    username: str,
    full_name: str,
    password: str,
    roles: list[str],
) -> User:
    """Create a user; user names are unique and ids are never reused."""
    try:
        role_set = domain.check_roles(roles)
    except ValueError as exc:
        raise RuleViolation(str(exc)) from exc
    problem = domain.password_problem(password, username)
    if problem:
        raise RuleViolation(problem)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named '{username}' already exists")
    user = User(
        username=username,
        full_name=full_name,
        password_hash=HASHER.hash(password),
        roles=sorted(role_set),
        active=True,
        failed_attempts=0,
        created_at=ctx.now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        ctx,
        "user.added",
        "user",
        user.id,
        new={"username": username, "full_name": full_name, "roles": sorted(role_set)},
    )
    return user


def sign_in(
    session: Session,
    ctx: CommandContext,
    username: str,
    password: str,
    *,
    lockout_attempts: int,
    lockout_minutes: int,
) -> User:
    """Check a password; count failures and lock the account after too many.

    The failure count is written even though the sign-in is refused, so the caller must
    commit on Unauthenticated too.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        raise Unauthenticated("unknown user name or wrong password")
    if user.locked_until is not None and user.locked_until > ctx.now:
        raise Unauthenticated(
            f"the account is locked until {user.locked_until:%H:%M} UTC after repeated failures"
        )
    if not _verify(user.password_hash, password):
        user.failed_attempts += 1
        user.locked_until = domain.locked_until(
            user.failed_attempts, ctx.now, lockout_attempts, lockout_minutes
        )
        if user.locked_until is not None:
            audit.record(
                session,
                ctx,
                "user.locked",
                "user",
                user.id,
                new={"failed_attempts": user.failed_attempts},
            )
        raise Unauthenticated("unknown user name or wrong password")
    user.failed_attempts = 0
    user.locked_until = None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def open_session(session: Session, ctx: CommandContext, user: User, hours: float) -> str:
    """A new sign-in session; returns the bearer token (only its digest is stored)."""
    token = "sfs_" + secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(hours=hours),
            revoked=False,
        )
    )
    return token


def close_session(session: Session, token: str) -> None:
    row = session.get(SignInSession, _digest(token))
    if row is not None:
        row.revoked = True


def issue_api_token(
    session: Session, ctx: CommandContext, user_id: int, name: str, days: int | None = None
) -> str:
    """An API token for an integration client; shown once, stored as a digest."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    token = "sft_" + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=_digest(token),
        created_at=ctx.now,
        expires_at=ctx.now + timedelta(days=days) if days else None,
        revoked=False,
    )
    session.add(row)
    session.flush()
    audit.record(session, ctx, "api_token.issued", "user", user_id, new={"token": name})
    return token


def actor_for_token(session: Session, token: str, now: datetime) -> Actor:
    """The actor a bearer token stands for; Unauthenticated if unknown, expired or revoked."""
    digest = _digest(token)
    user_id: int | None = None
    if token.startswith("sfs_"):
        row = session.get(SignInSession, digest)
        if row and not row.revoked and row.expires_at > now:
            user_id = row.user_id
    elif token.startswith("sft_"):
        api = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if api and not api.revoked and (api.expires_at is None or api.expires_at > now):
            user_id = api.user_id
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        raise Unauthenticated("the token is unknown, expired or revoked; sign in again")
    return actor_of(user)
