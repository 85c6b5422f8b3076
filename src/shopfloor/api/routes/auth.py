"""Sign-in sessions, users and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select

from shopfloor.api.deps import Command, CurrentActor, ReadSession, RuntimeDep, require
from shopfloor.api.schemas import ApiModel, StrictInput
from shopfloor.api.schemas_fields import IdPath
from shopfloor.identity import service as identity
from shopfloor.identity.domain import ROLES
from shopfloor.identity.tables import User
from shopfloor.kernel.context import Actor
from shopfloor.kernel.errors import Unauthenticated

router = APIRouter(tags=["identity"])


class SignIn(StrictInput):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class MeOut(ApiModel):
    user_id: int
    username: str
    full_name: str
    roles: list[str]


class SessionOut(ApiModel):
    token: str
    token_type: str = "bearer"
    expires_in_hours: float
    user: MeOut


class NewUser(StrictInput):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    full_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, description=f"any of {', '.join(ROLES)}")


class UserOut(ApiModel):
    id: int
    username: str
    full_name: str
    roles: list[str]
    active: bool
    created_at: datetime


class NewToken(StrictInput):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(ApiModel):
    token: str
    name: str


def _me(actor: Actor) -> MeOut:
    return MeOut(
        user_id=actor.user_id,
        username=actor.username,
        full_name=actor.full_name,
        roles=sorted(actor.roles),
    )


@router.post(
    "/auth/login", response_model=SessionOut, summary="Sign in with user name and password"
)
def login(body: SignIn, runtime: RuntimeDep) -> JSONResponse:
    """Returns a bearer token. Repeated failures lock the account for a while."""
    settings = runtime.settings
    with runtime.unit_of_work() as uow:
        ctx = runtime.context(identity.SYSTEM_ACTOR)
        try:
            user = identity.sign_in(
                uow.session,
                ctx,
                body.username,
                body.password,
                lockout_attempts=settings.lockout_attempts,
                lockout_minutes=settings.lockout_minutes,
            )
        except Unauthenticated:
            uow.commit()  # keep the failure count
            raise
        token = identity.open_session(uow.session, ctx, user, settings.session_hours)
        out = SessionOut(
            token=token, expires_in_hours=settings.session_hours, user=_me(identity.actor_of(user))
        )
        uow.commit()
    return JSONResponse(out.model_dump(mode="json"))


@router.post("/auth/logout", status_code=204, summary="End this sign-in session")
def logout(request: Request, runtime: RuntimeDep, actor: CurrentActor) -> None:
    token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
    with runtime.unit_of_work() as uow:
        identity.close_session(uow.session, token)
        uow.commit()
    request.app.state.actors.forget(token)


@router.get("/auth/me", response_model=MeOut, summary="Who am I")
def me(actor: CurrentActor) -> MeOut:
    return _me(actor)


@router.get("/users", response_model=list[UserOut], summary="List users")
def list_users(session: ReadSession, actor: Annotated[Actor, require("supervisor")]) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user")
async def add_user(
    body: NewUser, run: Command, actor: Annotated[Actor, require("admin")]
) -> JSONResponse:
    return await run(
        actor,
        lambda s, ctx: identity.add_user(
            s,
            ctx,
            username=body.username,
            full_name=body.full_name,
            password=body.password,
            roles=body.roles,
        ),
        UserOut,
        status_code=201,
    )


@router.post(
    "/users/{user_id}/tokens",
    response_model=TokenOut,
    status_code=201,
    summary="Issue an API token for an integration client",
)
async def issue_token(
    user_id: IdPath, body: NewToken, run: Command, actor: Annotated[Actor, require("admin")]
) -> JSONResponse:
    return await run(
        actor,
        lambda s, ctx: TokenOut(
            token=identity.issue_api_token(s, ctx, user_id, body.name, body.days), name=body.name
        ),
        status_code=201,
        stored=lambda body: {**body, "token": "(shown once, when it was issued)"},
    )
