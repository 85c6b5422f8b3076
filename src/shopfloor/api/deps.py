"""Request dependencies: the runtime, read sessions, the signed-in actor, role checks and
the command runner that owns the transaction and honours `Idempotency-Key`.

The cheap ones are `async def`: FastAPI runs a plain `def` dependency on a worker thread,
and a hop to a thread and back for each of them cost more than the work itself."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any, TypeVar

import orjson
from anyio.lowlevel import RunVar
from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from shopfloor.bootstrap import Runtime
from shopfloor.identity import service as identity
from shopfloor.kernel.context import Actor, CommandContext
from shopfloor.kernel.errors import Forbidden, RuleViolation, Unauthenticated
from shopfloor.platform import idempotency

T = TypeVar("T")

bearer = HTTPBearer(
    auto_error=False, description="A session token from /api/v1/auth/login or an API token"
)


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def read_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for reads; it is rolled back and closed after the response."""
    with runtime.sessions() as session:
        try:
            yield session
        finally:
            session.rollback()


ReadSession = Annotated[Session, Depends(read_session)]


class ActorCache:
    """Bearer token → actor for a few seconds, so each request does not re-read the user."""

    def __init__(self, seconds: float = 5.0, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, token: str) -> Actor | None:
        hit = self._entries.get(token)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, token: str, actor: Actor) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + self.seconds, actor)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The person or client behind the bearer token (or the kiosk's session cookie): from
    the cache on the event loop, or read on a worker thread when the cache has none."""
    token = credentials.credentials if credentials else request.cookies.get("shopfloor_session")
    if not token:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
    cache: ActorCache = request.app.state.actors
    actor = cache.get(token)
    if actor is None:
        actor = await run_in_threadpool(_actor_for_token, request.app.state.runtime, token)
        cache.put(token, actor)
    return actor


def _actor_for_token(runtime: Runtime, token: str) -> Actor:
    with runtime.sessions() as session:
        return identity.actor_for_token(session, token, runtime.context(_NOBODY).now)


_NOBODY = Actor(0, "anonymous", "anonymous")
CurrentActor = Annotated[Actor, Depends(current_actor)]


class RoleCheck:
    """A dependency allowing only the given roles (admin always passes). It finds the actor
    itself rather than depending on `current_actor`: each dependency FastAPI solves costs a
    request more than the work it does."""

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(roles)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Actor:
        actor = await current_actor(request, credentials)
        if not actor.has_any(*self.roles):
            allowed = ", ".join(sorted(self.roles | {"admin"}))
            raise Forbidden(
                f"this needs one of the roles {allowed}; you have {', '.join(sorted(actor.roles))}"
            )
        return actor


def require(*roles: str) -> Any:
    """`actor: Annotated[Actor, require("operator", "supervisor")]`."""
    return Depends(RoleCheck(*roles))


class Answer(JSONResponse):
    """A command's JSON answer, its content already JSON-ready, written with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class IdempotencyKeyReused(RuleViolation):
    code = "idempotency-key-reused"
    title = "Idempotency-Key already used"


class CommandRunner:
    """Runs one command in one transaction; stores its response under the Idempotency-Key
    in that same transaction, and replays it for a retry with the same key and body.

    The key is not looked up first: a retry is rare, a look-up on every command is not free.
    A retry runs the command again, and fails — on a rule (the operation is already
    completed) or, at the latest, on storing its answer under a key that already has one —
    so it is rolled back and answered with the stored response (or 422 for another body)."""

    def __init__(
        self, runtime: Runtime, key: str | None, request_hash: str, method: str, path: str
    ) -> None:
        self.runtime, self.key, self.request_hash = runtime, key, request_hash
        self.method, self.path = method, path

    async def __call__(
        self,
        actor: Actor,
        action: Callable[[Session, CommandContext], T],
        present: type[BaseModel] | Callable[[T], Any] | None = None,
        status_code: int = 200,
        stored: Callable[[Any], Any] | None = None,
    ) -> JSONResponse:
        """`stored` turns the response into what is kept for replays (to leave out secrets).
        The command runs on one of the process's command threads."""
        run = partial(self._run, actor, action, present, status_code, stored)
        return await on_command_thread(run, self.runtime.settings.api_command_threads)

    def _run(
        self,
        actor: Actor,
        action: Callable[[Session, CommandContext], T],
        present: type[BaseModel] | Callable[[T], Any] | None = None,
        status_code: int = 200,
        stored: Callable[[Any], Any] | None = None,
    ) -> JSONResponse:
        with self.runtime.unit_of_work() as uow:
            ctx = self.runtime.context(actor)
            try:
                result = action(uow.session, ctx)
                body = _as_json(_present(result, present))
                if self.key:
                    idempotency.remember(
                        uow.session,
                        principal=str(actor.user_id),
                        key=self.key,
                        method=self.method,
                        path=self.path,
                        request_hash=self.request_hash,
                        status_code=status_code,
                        response=stored(body) if stored else body,
                        now=ctx.now,
                    )
                uow.commit()
            except Exception:
                # A retry whose first request committed meanwhile fails its rules or its
                # key's unique record: nothing of this run is kept, the first answer is given.
                replay = self._replay(uow.session, str(actor.user_id)) if self.key else None
                if replay is None:
                    raise
                return replay
        return Answer(body, status_code=status_code)

    def _replay(self, session: Session, principal: str) -> JSONResponse | None:
        """The stored response for this key, read after rolling this run back."""
        assert self.key is not None
        session.rollback()
        record = idempotency.find(session, principal, self.key)
        if record is None:
            return None
        if record.request_hash != self.request_hash:
            raise IdempotencyKeyReused(
                f"Idempotency-Key '{self.key}' was already used for a different request; "
                "use a new key for a new request"
            )
        return JSONResponse(
            record.response, status_code=record.status_code, headers={"Idempotent-Replayed": "true"}
        )


_COMMAND_THREADS: RunVar[ThreadPoolExecutor] = RunVar("shopfloor_command_threads")


async def on_command_thread(run: Callable[[], T], threads: int) -> T:
    """Run a command on a worker thread, at most `threads` of them at once per event loop.

    Commands get a small pool of their own: threads taking turns at the interpreter lock
    cost more CPU than they overlap waiting for the database (measured: 3 threads served
    about 1.5 times the commands per second of FastAPI's 40), and long reads on the default
    pool never hold up an operator's command. The pool is the standard library's: its hand-
    over (a C queue) costs less than anyio's worker threads (a Python queue and condition)."""
    try:
        pool = _COMMAND_THREADS.get()
    except LookupError:
        pool = ThreadPoolExecutor(threads, thread_name_prefix="command")
        _COMMAND_THREADS.set(pool)
    context = contextvars.copy_context()  # as anyio does: the request's context goes along
    return await asyncio.get_running_loop().run_in_executor(pool, context.run, run)


def _as_json(value: Any) -> Any:
    """The response as JSON-ready values: a pydantic model dumped at once (what
    `jsonable_encoder` does first, before walking the dict it got again)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(value)


def _present(result: Any, present: type[BaseModel] | Callable[[Any], Any] | None) -> Any:
    if present is None:
        return result
    if isinstance(present, type) and issubclass(present, BaseModel):
        return present.model_validate(result, from_attributes=True)
    return present(result)  # type: ignore[call-arg]


async def command_runner(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retry-safe key: the same key and body return the stored response",
        ),
    ] = None,
) -> CommandRunner:
    digest = ""
    if idempotency_key:  # only a keyed request is ever compared with a stored one
        body = await request.body()
        parts = [request.method.encode(), request.url.path.encode(), request.url.query.encode()]
        digest = hashlib.sha256(b"|".join([*parts, body])).hexdigest()
    runtime: Runtime = request.app.state.runtime
    return CommandRunner(runtime, idempotency_key, digest, request.method, request.url.path)


Command = Annotated[CommandRunner, Depends(command_runner)]
