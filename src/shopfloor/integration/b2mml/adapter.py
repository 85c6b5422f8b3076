"""The `b2mml` ERP adapter: B2MML files in a drop folder and an outbox folder.

For an ERP (or a middleware) that exchanges ISA-95 XML files instead of calling an API.
Options (from the subscriber configuration):

- `inbox_dir`: where ERP drops OperationsSchedule files (`*.xml`). `pull` reads them, oldest
  name first, up to `max_files` (default 100) per pull. A valid file becomes order
  documents; its name travels in the cursor, and the next pull (which only receives that
  cursor once the inbox has filed the documents) moves it to `processed/` — a crash in
  between reads the file again, and the inbox recognises its message ids. An invalid file
  is moved to `rejected/` at once, with `<name>.errors.txt` beside it listing every
  violation with its line.
- `outbox_dir`: where `post` writes one OperationsPerformance file per completed work order
  (`work_order.completed`, alone or inside an aggregated message); other events need no
  file and are acknowledged. A file is written to a temporary name and renamed, so ERP never
  reads half a document, and its name carries the message id; a marker in `.posted/` makes
  a repeated message (at-least-once delivery) write nothing, even after ERP has taken the
  file away. The document's ID is the message id, so ERP can deduplicate too.
- `database_url`, `site`: where the facts are read (default: shopfloor's own settings).

`postings` answers nothing: a folder of files says nothing about what ERP has booked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from shopfloor.integration.b2mml import queries
from shopfloor.integration.b2mml.domain import Violation
from shopfloor.integration.b2mml.service import (
    ExportNotValid,
    performance_of_orders,
    schedule_documents,
)
from shopfloor.integration.b2mml.validation import InvalidDocument
from shopfloor.integration.erp.ports import ErpAdapterError, ErpPosting, InboundDocument, Pulled
from shopfloor.integration.messages import Outcome, Outgoing
from shopfloor.kernel.errors import NotFound
from shopfloor.platform.db import make_engine, session_factory
from shopfloor.platform.logging import logger
from shopfloor.platform.settings import load_settings

log = logger("shopfloor.b2mml")
COMPLETED = "work_order.completed"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class B2mmlAdapter:
    """ERP as folders of B2MML files (see the module docstring for the options)."""

    name = "b2mml"

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.inbox_dir = _folder(options.get("inbox_dir"))
        self.outbox_dir = _folder(options.get("outbox_dir"))
        self.max_files = int(options.get("max_files", 100))
        self.database_url: str | None = options.get("database_url")
        self.site: str | None = options.get("site")
        self._engine: Engine | None = None

    # --- pull: schedules in -----------------------------------------------------------------

    async def pull(self, cursor: str | None) -> Pulled:
        return await asyncio.to_thread(self.pull_files, cursor)

    def pull_files(self, cursor: str | None) -> Pulled:
        """Acknowledge the files of the previous pull, then read the ones waiting now."""
        folder = _required(self.inbox_dir, "inbox_dir")
        for name in _names(cursor):
            source = folder / name
            if source.exists():
                source.replace(_free(folder / "processed" / name))
        documents: list[InboundDocument] = []
        handed: list[str] = []
        for path in sorted(folder.glob("*.xml"))[: self.max_files]:
            try:
                found = schedule_documents(path.read_bytes(), what=path.name)
            except InvalidDocument as exc:
                self._reject(path, exc.violations)
                continue
            except OSError as exc:  # being written or unreadable: the next pull tries again
                log.warning("b2mml file not readable", file=path.name, error=str(exc))
                continue
            documents.extend(found)
            handed.append(path.name)
        return Pulled(documents, json.dumps(handed) if handed else None)

    def _reject(self, path: Path, violations: Sequence[Violation]) -> None:
        target = _free(path.parent / "rejected" / path.name)
        path.replace(target)
        lines = [f"{path.name} was refused: {len(violations)} problem(s)", ""]
        lines += [str(violation) for violation in violations]
        _write_atomically(target.with_name(target.name + ".errors.txt"), "\n".join(lines) + "\n")
        log.warning("b2mml file rejected", file=path.name, problems=len(violations))

    # --- post: performance out --------------------------------------------------------------

    async def post(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return await asyncio.to_thread(self.post_files, messages)

    def post_files(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """One OperationsPerformance file per completed order; one outcome per message."""
        folder = _required(self.outbox_dir, "outbox_dir")
        outcomes = []
        for message in messages:
            try:
                for erp_order_id, occurred in _completed_orders(message.body):
                    self._write_performance(folder, message.message_id, erp_order_id, occurred)
            except (NotFound, ExportNotValid) as exc:
                outcomes.append(Outcome.failed(message, exc.detail, give_up=True))
            except Exception as exc:  # the database or the folder: try again later
                outcomes.append(Outcome.failed(message, f"{type(exc).__name__}: {exc}"))
            else:
                outcomes.append(Outcome.delivered(message))
        return outcomes

    def _write_performance(
        self, folder: Path, message_id: str, erp_order_id: str, occurred: datetime
    ) -> None:
        name = f"{_safe(erp_order_id)}--{_safe(message_id)}.xml"
        marker = folder / ".posted" / f"{_safe(message_id)}--{_safe(erp_order_id)}"
        if marker.exists() or (folder / name).exists():
            return  # posted before: a repeated delivery writes nothing
        sessions = session_factory(self._engine_for())
        with sessions() as session:
            order_id = queries.order_id_of(session, erp_order_id)
            xml = performance_of_orders(
                session,
                [order_id],
                document_id=message_id,
                published=occurred,
                site=self.site or load_settings().site,
            )
            session.rollback()
        _write_atomically(folder / name, xml)
        _write_atomically(marker, name)

    def _engine_for(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url or load_settings().database_url, 2)
        return self._engine

    async def postings(self, erp_order_ids: Sequence[str]) -> list[ErpPosting]:
        return []

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _folder(value: Any) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def _required(folder: Path | None, option: str) -> Path:
    if folder is None:
        raise ErpAdapterError(f"the b2mml adapter needs the option '{option}'")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _names(cursor: str | None) -> list[str]:
    """File names handed over by the previous pull (only plain names, never a path)."""
    if not cursor:
        return []
    try:
        names = json.loads(cursor)
    except json.JSONDecodeError:
        return []
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str) and name == Path(name).name]


def _free(target: Path) -> Path:
    """`target`, or a numbered sibling when a file of that name is already there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = target, 1
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.{number}{target.suffix}")
        number += 1
    return candidate


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)[:120] or "_"


def _write_atomically(target: Path, content: bytes | str) -> None:
    """Write to a temporary name in the same folder, flush to disk, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _completed_orders(body: bytes) -> list[tuple[str, datetime]]:
    """(ERP order id, completion time) of every work_order.completed in a message: the
    event itself, or the events of an aggregated message."""
    message = json.loads(body)
    events = message.get("events") if isinstance(message.get("events"), list) else [message]
    found = []
    for event in events:
        if event.get("type") == COMPLETED and event.get("erp_order_id"):
            found.append((str(event["erp_order_id"]), _moment(event.get("occurred_at"))))
    return found


def _moment(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
