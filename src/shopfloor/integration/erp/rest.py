"""The `rest` ERP adapter: any ERP (or middleware) that serves its plans as a JSON feed over
HTTP and takes facts as Standard Webhooks.

Options (the subscriber's `options` table):

    [[subscriber]]
    name = "erp"
    transport = "erp"
    adapter = "rest"
    pull_seconds = 30
    [subscriber.options]
    pull_url = "https://erp.example.com/mes/feed"        # JSON list of documents, or
                                                         # {"documents": [...]}
    post_url = "https://erp.example.com/mes/facts"       # facts go here, signed
    secrets = ["whsec_…"]                                # all sign during a rotation
    postings_url = "https://erp.example.com/mes/postings"   # optional read-back
    headers = { authorization = "Bearer …" }             # optional, on every GET
    timeout_seconds = 10

Pull: a conditional GET. The cursor keeps the feed's `ETag` and `Last-Modified` and sends
them back as `If-None-Match` / `If-Modified-Since`; `304 Not Modified` means nothing new and
costs ERP no work. A feed lists documents `{message_id, kind, fields}`; it may keep listing
old ones, because the inbox recognises a message id it has seen. A feed that cannot be read
(an HTTP error, a document without a message id) raises `ErpAdapterError`: nothing of it is
taken, the cursor stays, and the sync worker backs off — never half a feed.

Post: delegated to the Standard Webhooks transport (`webhook-id` is the message id ERP
deduplicates on). Postings: a GET of `postings_url?erp_order_id=…`, or nothing when not
configured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from shopfloor import __version__
from shopfloor.integration.erp.ports import ErpAdapterError, ErpPosting, InboundDocument, Pulled
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.integration.subscribers import SubscriberConfigError, parse_subscribers
from shopfloor.integration.transports.webhook import WebhookTransport


class RestAdapter:
    """ERP over plain HTTP: conditional GETs for plans, signed webhooks for facts."""

    name = "rest"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.pull_url = _opt_url(options, "pull_url")
        self.postings_url = _opt_url(options, "postings_url")
        self.timeout = float(options.get("timeout_seconds", 10.0))
        headers = options.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ErpAdapterError("rest adapter: headers must be a table of names and values")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        self._client: httpx.AsyncClient | None = None
        self._webhook: WebhookTransport | None = None
        post_url = _opt_url(options, "post_url")
        if post_url:
            try:
                (subscriber,) = parse_subscribers(
                    [
                        {
                            "name": "rest",
                            "transport": "webhook",
                            "url": post_url,
                            "secrets": list(options.get("secrets") or ()),
                            "timeout_seconds": self.timeout,
                        }
                    ]
                )
            except SubscriberConfigError as exc:
                raise ErpAdapterError(f"rest adapter: {exc.detail}") from exc
            self._webhook = WebhookTransport(subscriber)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                headers={"user-agent": f"shopfloor/{__version__}", **self.headers},
            )
        return self._client

    async def pull(self, cursor: str | None) -> Pulled:
        """What the feed lists now, unless it has not changed since `cursor` (304)."""
        if not self.pull_url:
            return Pulled((), cursor)
        validators = _validators(cursor)
        headers = {"accept": "application/json"}
        if validators.get("etag"):
            headers["if-none-match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["if-modified-since"] = validators["last_modified"]
        response = await self._get(self.pull_url, headers=headers)
        if response.status_code == 304:
            return Pulled((), cursor)
        body = _json(response, self.pull_url)
        entries = body.get("documents") if isinstance(body, Mapping) else body
        if not isinstance(entries, list):
            raise ErpAdapterError(
                f"{self.pull_url}: the feed is a JSON list of documents or {{documents: [...]}}"
            )
        documents = tuple(_document(entry, number) for number, entry in enumerate(entries, 1))
        return Pulled(documents, _cursor(response))

    async def post(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Facts to ERP as signed webhooks; without a post_url each fails (and is retried,
        then dead-lettered), never silently dropped."""
        if self._webhook is None:
            return [Outcome.failed(m, "rest adapter: no post_url configured") for m in messages]
        return await self._webhook.send(messages)

    async def postings(self, erp_order_ids: Sequence[str]) -> list[ErpPosting]:
        """What ERP booked for these orders, when it offers a postings URL."""
        if not self.postings_url or not erp_order_ids:
            return []
        params = [("erp_order_id", order_id) for order_id in erp_order_ids]
        response = await self._get(self.postings_url, params=params)
        body = _json(response, self.postings_url)
        entries = body.get("postings") if isinstance(body, Mapping) else body
        if not isinstance(entries, list):
            raise ErpAdapterError(f"{self.postings_url}: expected a JSON list of postings")
        return [_posting(entry, number) for number, entry in enumerate(entries, 1)]

    async def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http().get(url, **kwargs)
        except httpx.HTTPError as exc:
            raise ErpAdapterError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code not in (200, 304):
            raise ErpAdapterError(f"GET {url}: HTTP {response.status_code}: {response.text[:300]}")
        return response

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._webhook is not None:
            await self._webhook.close()


def _opt_url(options: Mapping[str, Any], name: str) -> str:
    url = str(options.get(name) or "")
    if url and not url.startswith(("http://", "https://")):
        raise ErpAdapterError(f"rest adapter: {name} must be an http(s) URL, not '{url}'")
    return url


def _validators(cursor: str | None) -> dict[str, str]:
    """The ETag and Last-Modified a cursor keeps (empty for none or a foreign cursor)."""
    if not cursor:
        return {}
    try:
        found = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: str(v) for k, v in found.items() if k in ("etag", "last_modified") and v}


def _cursor(response: httpx.Response) -> str | None:
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    if not etag and not modified:
        return None  # the feed offers no validators: every pull reads it whole
    kept = {"etag": etag, "last_modified": modified}
    return json.dumps({k: v for k, v in kept.items() if v}, sort_keys=True)


def _json(response: httpx.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ErpAdapterError(f"GET {url}: the answer is not JSON: {exc}") from exc


def _document(entry: Any, number: int) -> InboundDocument:
    """One feed entry; a document without a message id cannot be deduplicated, so the whole
    feed is refused rather than that document guessed at or skipped."""
    if not isinstance(entry, Mapping):
        raise ErpAdapterError(f"feed document {number} is not an object")
    message_id = entry.get("message_id")
    if message_id in (None, "") or not isinstance(message_id, str | int):
        raise ErpAdapterError(f"feed document {number} has no message_id")
    fields = entry.get("fields", {})
    return InboundDocument(str(message_id), str(entry.get("kind", "")), fields)


def _posting(entry: Any, number: int) -> ErpPosting:
    if not isinstance(entry, Mapping):
        raise ErpAdapterError(f"posting {number} is not an object")
    try:
        return ErpPosting(
            erp_order_id=str(entry["erp_order_id"]),
            kind=str(entry["kind"]),
            item_code=str(entry["item"]),
            quantity=Decimal(str(entry["quantity"])),
            uom_code=str(entry["uom"]),
            reference=str(entry.get("reference", "")),
            operation_no=None if entry.get("operation_no") is None else str(entry["operation_no"]),
            lot=None if entry.get("lot") is None else str(entry["lot"]),
            state=str(entry.get("state", "done")),
            event_ids=tuple(str(i) for i in entry.get("event_ids") or ()),
        )
    except (KeyError, InvalidOperation) as exc:
        raise ErpAdapterError(f"posting {number} is not complete: {exc}") from exc
