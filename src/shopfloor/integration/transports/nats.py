"""NATS JetStream (nats-py): each message published to `<prefix>.<site>.<event type>` with
`Nats-Msg-Id` = the message id, acknowledged by the stream.

The stream is created when absent (subjects `<prefix>.>`, file storage, the subscriber's
duplicate window). Within that window JetStream itself drops a repeated `Nats-Msg-Id`
(the acknowledgement says `duplicate`), which makes a retry after a lost acknowledgement
harmless. After the window it would store the message twice, so the relay asks
`find_stored` first for messages whose first attempt is that old (see `dispatch.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import NotFoundError

from shopfloor.integration.domain import nats_subject
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber
from shopfloor.platform.logging import logger

log = logger("shopfloor.relay.nats")
MSG_ID = "Nats-Msg-Id"
SCAN_BATCH = 512


class NatsTransport:
    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._window: timedelta = subscriber.duplicate_window
        self._subjects: dict[tuple[str, str], str] = {}

    async def _stream(self) -> JetStreamContext:
        """Connect (reconnecting forever in the background) and make sure the stream exists."""
        if self._js is not None:
            return self._js
        s = self.subscriber
        nc = await nats.connect(
            servers=[s.url],
            connect_timeout=s.timeout_seconds,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=self._quiet,
            name=f"shopfloor-relay-{s.name}",
        )
        js = nc.jetstream(timeout=s.timeout_seconds)
        try:
            info = await js.stream_info(s.stream)
            actual = timedelta(seconds=info.config.duplicate_window or 0)
            if actual < self._window:
                log.warning("stream has a shorter duplicate window than configured",
                            stream=s.stream, seconds=actual.total_seconds())  # fmt: skip
                self._window = actual
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=s.stream,
                    subjects=[f"{s.subject_prefix}.>"],
                    storage=StorageType.FILE,
                    duplicate_window=s.duplicate_window_seconds,
                )
            )
        self._nc, self._js = nc, js
        return js

    async def _quiet(self, exc: Exception) -> None:
        log.debug("nats connection trouble", error=str(exc))

    def _subject(self, message: Outgoing) -> str:
        key = (message.site, message.event_type)
        subject = self._subjects.get(key)
        if subject is None:
            subject = nats_subject(self.subscriber.subject_prefix, *key)
            self._subjects[key] = subject
        return subject

    async def send(
        self, messages: Sequence[Outgoing], send_before: float | None = None
    ) -> list[Outcome]:
        """Publish the batch without waiting message by message, then collect the acks."""
        if send_before is not None and time.monotonic() > send_before:
            return []  # the lease is over: another relay may be publishing it
        try:
            js = await self._stream()
            pending = [
                await js.publish_async(self._subject(m), m.body, headers={MSG_ID: m.message_id})
                for m in messages
            ]
        except Exception as exc:  # no connection, no stream: the whole batch waits
            return [Outcome.failed(m, f"{type(exc).__name__}: {exc}") for m in messages]
        _done, late = await asyncio.wait(pending, timeout=self.subscriber.timeout_seconds)
        for future in late:
            future.cancel()
        return [
            _outcome(message, future, future in late)
            for message, future in zip(messages, pending, strict=True)
        ]

    def duplicate_window(self) -> timedelta | None:
        return self._window

    async def find_stored(self, messages: Sequence[Outgoing]) -> dict[str, bool | None]:
        """Search the stream for these message ids, reading headers only, per subject from
        the earliest first attempt on. Unknowable (None) when the stream has already dropped
        messages from that time (retention), so absence proves nothing."""
        js = await self._stream()
        info = await js.stream_info(self.subscriber.stream)
        found: dict[str, bool | None] = {}
        by_subject: dict[str, list[Outgoing]] = {}
        for message in messages:
            by_subject.setdefault(self._subject(message), []).append(message)
        for subject, group in by_subject.items():
            since = min(m.first_attempt_at for m in group if m.first_attempt_at is not None)
            stored = await self._scan(js, subject, since - timedelta(seconds=5))
            trimmed = info.state.first_seq > 1 and await self._first_after(js, info, since)
            for message in group:
                hit = message.message_id in stored
                found[message.message_id] = True if hit else (None if trimmed else False)
        return found

    async def _scan(self, js: JetStreamContext, subject: str, since: datetime) -> set[str]:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            inactive_threshold=30,
        )
        sub = await js.pull_subscribe(subject, stream=self.subscriber.stream, config=config)
        ids: set[str] = set()
        try:
            while True:
                try:
                    batch = await sub.fetch(SCAN_BATCH, timeout=1)
                except TimeoutError:
                    return ids
                ids.update(m.headers[MSG_ID] for m in batch if m.headers and MSG_ID in m.headers)
                if not batch or batch[-1].metadata.num_pending == 0:
                    return ids
        finally:
            await sub.unsubscribe()

    async def _first_after(self, js: JetStreamContext, info: StreamInfo, since: datetime) -> bool:
        """Whether the stream's oldest message is younger than `since` (so older ones,
        possibly ours, were dropped); an emptied stream counts as dropped too."""
        try:
            first = await js.get_msg(self.subscriber.stream, info.state.first_seq)
        except NotFoundError:
            return True
        return first.time is None or first.time > since

    async def close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception:  # closing a connection that is already gone
                await self._nc.close()
        self._nc = self._js = None


def _outcome(message: Outgoing, ack: asyncio.Future[Any], late: bool) -> Outcome:
    """Acknowledged (also as a duplicate: the stream has it), failed, or no answer in time."""
    if late:
        return Outcome.failed(message, "no acknowledgement from JetStream")
    error = ack.exception()
    if error is not None:
        return Outcome.failed(message, f"{type(error).__name__}: {error}")
    return Outcome(message, True)
