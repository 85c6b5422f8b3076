"""Standard Webhooks over HTTP (httpx): a signed POST per message.

Headers: `webhook-id` (the message id, the receiver's deduplication key), `webhook-timestamp`
(the attempt's time, seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
id.timestamp.body>`, one per configured secret during a rotation). Each attempt is signed
afresh, so a retry hours later is not refused as stale. Any 2xx is an acknowledgement;
anything else, or no answer within the timeout, is a failure to retry.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from datetime import timedelta

import httpx

from shopfloor import __version__
from shopfloor.integration.domain import signature_header
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import Subscriber


class WebhookTransport:
    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self._client: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per delivery
            limit = self.subscriber.concurrency
            # TCP_NODELAY: headers and body leave at once instead of waiting on the
            # receiver's delayed acknowledgement (tens of milliseconds per request).
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=self.subscriber.timeout_seconds,
                headers={"user-agent": f"shopfloor/{__version__}"},
            )
        return self._client

    async def send(
        self, messages: Sequence[Outgoing], send_before: float | None = None
    ) -> list[Outcome]:
        """POST the batch, at most `concurrency` requests at a time for this subscriber
        (across every batch in flight)."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.subscriber.concurrency)
        gate = self._gate

        async def one(message: Outgoing) -> Outcome | None:
            async with gate:
                if send_before is not None and time.monotonic() > send_before:
                    return None  # the lease is over: another relay may be sending it
                return await self._post(message)

        return [o for o in await asyncio.gather(*(one(m) for m in messages)) if o is not None]

    async def _post(self, message: Outgoing) -> Outcome:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                self.subscriber.secrets, message.message_id, timestamp, message.body
            ),
        }
        try:
            response = await self._http().post(
                self.subscriber.url, content=message.body, headers=headers
            )
        except httpx.HTTPError as exc:
            return Outcome.failed(message, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Outcome.delivered(message)
        return Outcome.failed(message, f"HTTP {response.status_code}: {response.text[:300]}")

    def duplicate_window(self) -> timedelta | None:
        return None

    async def find_stored(self, messages: Sequence[Outgoing]) -> dict[str, bool | None]:
        return {m.message_id: False for m in messages}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
