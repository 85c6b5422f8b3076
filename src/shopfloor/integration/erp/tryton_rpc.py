"""Tryton's JSON-RPC, spoken over httpx: no Tryton library runs inside shopfloor.

The protocol (Tryton 8): `POST /<database>/rpc/` with `{"id", "method", "params"}`.
`common.db.login` gives a session; every later call carries the header
`Authorization: Session base64(login:user_id:session)` and, as its last parameter, the
user's context from `res.user.get_preferences` (the company is in it: without it, records
fail the company rules). Decimal, date, datetime, time, timedelta and bytes travel as
objects tagged with `__class__`.

Answers are sorted in three: a result; a Tryton error (`TrytonError`: the server refused
the call — a user error, a concurrency check — and a retry of the same call will not help
unless something changes); or the server not being reachable or failing
(`TrytonUnavailable`: try again later). A warning (`UserWarning`) is acknowledged with
`res.user.warning.skip` and the call repeated, as a person clicking "yes" would; a
session that expired or was refused is replaced by a fresh login, once per call.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import httpx

WARNING_ROUNDS = 5


class TrytonUnavailable(Exception):
    """Tryton could not be reached, or failed in a way a later retry may cure."""


class TrytonError(Exception):
    """Tryton refused the call (a user error, a failed check, a concurrent change)."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {message}" + (f" - {detail}" if detail else ""))
        self.kind = kind
        self.message = message
        self.detail = detail


def encode(value: Any) -> Any:
    """A Python value as Tryton's JSON expects it (tagged Decimal, dates, durations)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime):
        return {
            "__class__": "datetime",
            **{
                k: getattr(value, k)
                for k in ("year", "month", "day", "hour", "minute", "second", "microsecond")
            },
        }
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, time):
        return {
            "__class__": "time",
            **{k: getattr(value, k) for k in ("hour", "minute", "second", "microsecond")},
        }
    if isinstance(value, timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    return value


def _decode_object(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return datetime(
            obj["year"], obj["month"], obj["day"],
            obj["hour"], obj["minute"], obj["second"], obj["microsecond"],
        )  # fmt: skip
    if kind == "date":
        return date(obj["year"], obj["month"], obj["day"])
    if kind == "time":
        return time(obj["hour"], obj["minute"], obj["second"], obj["microsecond"])
    if kind == "timedelta":
        return timedelta(seconds=obj["seconds"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


def decode(text: str | bytes) -> Any:
    return json.loads(text, object_hook=_decode_object)


class TrytonClient:
    """One user's session on one Tryton database."""

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        timeout: float = 15.0,
        language: str = "en",
    ) -> None:
        self.endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self.user = user
        self._password = password
        self.language = language
        self.context: dict[str, Any] = {}
        self._authorization: str | None = None
        self._ids = count(1)
        self._http = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; the decoded result, or the error raised as an exception."""
        headers = {"Content-Type": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        body = json.dumps({"id": next(self._ids), "method": method, "params": encode(params)})
        try:
            response = await self._http.post(self.endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TrytonUnavailable(f"Tryton is not reachable: {type(exc).__name__} {exc}") from exc
        if response.status_code in (401, 403):
            raise _SessionRefused(f"HTTP {response.status_code}")
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TrytonUnavailable(f"Tryton answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise TrytonError("HTTP", f"{response.status_code}", response.text[:500])
        answer = decode(response.content)
        if answer.get("error") is not None:
            raise _error(answer["error"])
        return answer.get("result")

    async def login(self) -> None:
        """A fresh session and the user's context (company, language, …)."""
        self._authorization = None
        try:
            result = await self._post(
                "common.db.login", [self.user, {"password": self._password}, self.language]
            )
        except _SessionRefused as exc:
            raise TrytonError("LoginException", "login refused", str(exc)) from exc
        if not result:
            raise TrytonError("LoginException", f"Tryton refused the login of {self.user}")
        user_id, session = result[0], result[1]
        token = base64.b64encode(f"{self.user}:{user_id}:{session}".encode()).decode()
        self._authorization = f"Session {token}"
        preferences = await self._post("model.res.user.get_preferences", [True, {}])
        self.context = {k: v for k, v in preferences.items() if k in _CONTEXT_KEYS}

    async def call(
        self, model: str, method: str, *args: Any, context: dict[str, Any] | None = None
    ) -> Any:
        """`model.<model>.<method>(*args, context)`, logged in on demand, warnings skipped."""
        if self._authorization is None:
            await self.login()
        relogged = False
        for _ in range(WARNING_ROUNDS):
            full = {**self.context, **(context or {})}
            try:
                return await self._post(f"model.{model}.{method}", [*args, full])
            except _SessionRefused:
                if relogged:
                    raise TrytonUnavailable("Tryton keeps refusing a fresh session") from None
                relogged = True
                await self.login()
            except _Warning as warning:
                await self._post("model.res.user.warning.skip", [warning.name, False, self.context])
        raise TrytonError("UserWarning", f"{model}.{method} keeps asking for confirmation")


_CONTEXT_KEYS = frozenset(
    {"company", "companies", "language", "language_direction", "groups", "employee", "employees"}
)


class _SessionRefused(Exception):
    pass


class _Warning(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _error(error: Any) -> Exception:
    """Tryton's error answer as an exception: [kind, args] or [message, traceback]."""
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], list):
        kind, args = str(error[0]), error[1]
        if kind == "UserWarning":
            return _Warning(str(args[0]))
        if kind == "LoginException":
            return _SessionRefused(str(args))
        message = str(args[0]) if args else kind
        detail = str(args[1]) if len(args) > 1 and args[1] else ""
        return TrytonError(kind, message, detail)
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], str):
        if str(error[0]) == "ConcurrencyException":
            return TrytonError("ConcurrencyException", error[1])
        return TrytonError("ServerError", str(error[0]), error[1][-1500:])
    return TrytonError("ServerError", str(error))
