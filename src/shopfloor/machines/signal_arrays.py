"""Stored machine signals as arrays: what `domain.tallies` recomputes OEE from.

The same samples `machine_history` reads (the window's state, death, heartbeat, context
and counter rows, and the last row of each before the window), as per-equipment arrays
instead of an object per sample, so a recompute over months of per-minute samples is
bounded by reading them, not by Python:

- sealed days (`signal_blocks_read`): the blocks of the window's closed days, a few
  compressed arrays per equipment, metric and day instead of thousands of rows;
- the rest of the window (days not sealed yet, or whose block a late sample dropped): the
  raw rows of those stretches only — on PostgreSQL by one binary COPY per batch of
  equipment, each (equipment, metric, stretch) aggregated into two arrays (device times;
  values, with a state's code worked out in SQL) that numpy reads straight from the COPY
  buffer; on SQLite (tests, a demo) as rows;
- the rows before the window and the context rows (a few per order change), as rows.

Both kinds are read and decoded a batch of equipment at a time — on a thread, while the
caller works on the equipment already read, unless the caller is one of several processes
sharing the cores (a thread would only add switching); each series comes out in device-time order,
whether a day was sealed or not (tested equal: tests/integration/test_signal_blocks.py).

Which samples count, as in `signals_queries`: every counter, heartbeat, context and
well-formed state sample is a sign of life; a counter sample is a count when its value is
a number at least 0 (cut to a whole number).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shopfloor.kernel.clock import as_utc
from shopfloor.machines.domain import ContextSignal, EquipmentProfile
from shopfloor.machines.domain.tallies import Codes, SignalArrays, Times, epoch_us
from shopfloor.machines.signal_blocks import SEALED_METRICS
from shopfloor.machines.signal_blocks_read import (
    STATE_METRICS,
    Samples,
    sample_value,
    window_samples,
)
from shopfloor.machines.signals_queries import (
    CONTEXT_FIELDS,
    COUNTERS,
    HISTORY_METRICS,
    carry_in_rows,
)
from shopfloor.machines.tables import MchSignal

__all__ = ["ARRAY_METRICS", "SignalReading", "signal_arrays"]
ARRAY_METRICS = SEALED_METRICS  # read as arrays; the context fields are read as rows
BATCH = 20  # equipment read together: one blocks query and one COPY each
T = TypeVar("T")


@dataclass(frozen=True)
class SignalReading:
    """A window's signals: each equipment's context signals (read at once, as rows) and
    its arrays, read (on a thread, reading ahead) as `arrays` is iterated — each
    equipment once, in any order; the session must not be used until that iterator is
    done."""

    contexts: Mapping[int, tuple[ContextSignal, ...]]
    arrays: Iterator[tuple[int, SignalArrays]]


def signal_arrays(
    session: Session,
    profiles: dict[int, EquipmentProfile],
    start: datetime,
    end: datetime,
    *,
    read_ahead: bool = True,
) -> SignalReading:
    """The samples of [start, end) of each equipment, and what carries into it; with
    `read_ahead`, the next batch is read on a thread while the caller works."""
    ids = list(profiles)
    if not ids:
        return SignalReading({}, iter(()))
    start, end = as_utc(start), as_utc(end)
    if session.get_bind().dialect.name == "postgresql":
        rows = _carry_in_rows(session, ids, start)
    else:
        rows = carry_in_rows(session, ids, start)
    rows += _context_rows(session, ids, start, end)
    by_equipment: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_equipment[row.equipment_id].append(row)
    contexts = {i: _context_signals(profiles[i].equipment, by_equipment[i]) for i in ids}
    connection = session.connection()

    def read() -> Iterator[tuple[int, SignalArrays]]:
        for first in range(0, len(ids), BATCH):
            batch = ids[first : first + BATCH]
            for i, samples in window_samples(connection, batch, start, end):
                yield i, _arrays(samples, by_equipment[i], contexts[i])

    return SignalReading(contexts, _on_a_thread(read, "oee-read") if read_ahead else read())


_DONE = object()


def _on_a_thread(produce: Callable[[], Iterator[T]], name: str) -> Iterator[T]:
    """The items of `produce()`, made on a thread while the caller works on the ones
    handed out already. Stopping early stops the thread (and closes `produce()`'s
    iterator) before it returns; an exception on the thread is raised to the caller."""
    handed: queue.Queue[Any] = queue.Queue(BATCH * 2)
    stop = threading.Event()

    def hand(item: Any) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                handed.put(item, timeout=0.05)
                return

    def run() -> None:
        items = produce()
        try:
            for item in items:
                if stop.is_set():
                    return
                hand(item)
            hand(_DONE)
        except BaseException as exc:  # handed to the caller
            hand(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (item := handed.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()  # the session is free again


_BY_TIME_AND_METRIC = attrgetter("device_time", "metric")
_CARRY_IN = text(
    "SELECT s.equipment_id, s.metric, s.device_time, s.num_value, s.text_value "
    "FROM unnest(CAST(:ids AS int[])) AS e(id) CROSS JOIN unnest(CAST(:metrics AS text[])) "
    "AS m(name) CROSS JOIN LATERAL (SELECT equipment_id, metric, device_time, num_value, "
    "text_value FROM mch_signal WHERE equipment_id = e.id AND metric = m.name "
    "AND device_time < :start ORDER BY device_time DESC LIMIT 1) AS s"
)


def _carry_in_rows(session: Session, ids: Sequence[int], start: datetime) -> list[Any]:
    """The last row before `start` of each (equipment, metric), as `carry_in_rows` finds
    it: one index probe each, in one statement."""
    arguments = {"ids": list(ids), "metrics": list(HISTORY_METRICS), "start": start}
    return list(session.execute(_CARRY_IN, arguments).all())


def _context_rows(
    session: Session, ids: Sequence[int], start: datetime, end: datetime
) -> list[Any]:
    statement = select(
        MchSignal.equipment_id,
        MchSignal.metric,
        MchSignal.device_time,
        MchSignal.num_value,
        MchSignal.text_value,
    ).where(
        MchSignal.equipment_id.in_(ids),
        MchSignal.metric.in_(CONTEXT_FIELDS),
        MchSignal.device_time >= start,
        MchSignal.device_time < end,
    )
    return list(session.execute(statement).all())


def _arrays(
    samples: Samples, rows: Sequence[Any], contexts: tuple[ContextSignal, ...]
) -> SignalArrays:
    """One equipment's arrays from its samples (blocks, raw stretches), its other rows
    (carry-in, context) and its context signals."""
    extra: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        metric = row.metric
        instants, numbers = extra[metric]
        instants.append(epoch_us(row.device_time))
        numbers.append(sample_value(metric, row.num_value, row.text_value))
    joined = dict(samples)
    for metric, (instants, numbers) in extra.items():
        if metric not in HISTORY_METRICS:
            continue
        pair = (np.array(instants, dtype=np.int64), np.array(numbers, dtype=np.float64))
        if metric in joined:
            pair = (
                np.concatenate((joined[metric][0], pair[0])),
                np.concatenate((joined[metric][1], pair[1])),
            )
        joined[metric] = pair
    alive: list[Times] = []
    state_t: list[Times] = []
    codes: list[Codes] = []
    for metric, (moments, values) in joined.items():
        if metric in STATE_METRICS:
            parsed = values >= 0
            if not parsed.all():  # the usual case: every state sample is well-formed
                moments, values = moments[parsed], values[parsed]
            alive.append(moments)
            state_t.append(moments)
            codes.append(values.astype(np.int8))
        else:
            alive.append(moments)
    total_t, total = _counter(joined.get(COUNTERS[0]))
    reject_t, reject = _counter(joined.get(COUNTERS[1]))
    return SignalArrays(
        alive=_join(alive),
        state_t=_join(state_t),
        state=np.concatenate(codes) if codes else np.zeros(0, dtype=np.int8),
        total_t=total_t,
        total=total,
        reject_t=reject_t,
        reject=reject,
        contexts=contexts,
    )


def _join(parts: list[Times]) -> Times:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _counter(pair: tuple[Times, np.ndarray[Any, Any]] | None) -> tuple[Times, Times]:
    """The samples that are counts: a number at least 0, cut to a whole number."""
    if pair is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    moments, values = pair
    whole = np.trunc(values)
    counted = (whole >= 0) & (whole < np.inf)  # NaN compares False
    if counted.all():  # the usual case: no copies
        return moments, whole.astype(np.int64)
    return moments[counted], whole[counted].astype(np.int64)


def _context_signals(code: str, rows: Sequence[Any]) -> tuple[ContextSignal, ...]:
    """Context signals as `signals_queries` builds them: each context row (in device-time
    then metric order) carries all three fields as they stand at that moment."""
    context: dict[str, str | None] = dict.fromkeys(CONTEXT_FIELDS)
    found = []
    fields = [row for row in rows if row.metric in CONTEXT_FIELDS]
    for row in sorted(fields, key=_BY_TIME_AND_METRIC):
        context[row.metric] = row.text_value
        found.append(
            ContextSignal(
                code, row.device_time, context["order"], context["operation"], context["product"]
            )
        )
    return tuple(found)
