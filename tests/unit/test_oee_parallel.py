"""How a full OEE recompute is shared among processes (`machines.oee_parallel`): when it
is, how the equipment are cut into chunks, that chunks add up to the same Decimals in any
order, that a worker that ends without its chunks is an error, not a wait, and that a
database another process cannot read keeps the recompute in-process."""

from __future__ import annotations

import multiprocessing
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from shopfloor.machines import oee_parallel
from shopfloor.machines.oee_parallel import chunked, process_count, shareable_url
from shopfloor.machines.oee_tallies import add_tallies, new_tallies
from shopfloor.machines.oee_workers import Claims, Job, OeeWorkerError, Share
from shopfloor.platform.db import make_engine

MONTH = timedelta(days=30)


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oee_parallel, "cores", lambda: 4)


def test_a_large_recompute_uses_one_process_per_core(four_cores: None) -> None:
    assert process_count(None, 200, MONTH) == 4
    assert process_count(0, 200, MONTH) == 4
    assert process_count(2, 200, MONTH) == 2
    assert process_count(16, 200, MONTH) == 4  # never more than the cores
    assert process_count(None, 9, MONTH) == 4


def test_a_small_or_short_recompute_stays_in_process(four_cores: None) -> None:
    assert process_count(None, 7, MONTH) == 1  # few equipment
    assert process_count(None, 200, timedelta(days=1)) == 1  # a day or less: live figures
    assert process_count(1, 200, MONTH) == 1  # asked for


def test_one_core_means_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oee_parallel, "cores", lambda: 1)
    assert process_count(None, 200, MONTH) == 1


@pytest.mark.parametrize(
    ("equipment", "processes"), [(8, 2), (9, 2), (200, 2), (200, 8), (1000, 4)]
)
def test_chunks_hold_every_equipment_once_and_shrink_towards_the_end(
    equipment: int, processes: int
) -> None:
    codes = [f"M{n:04d}" for n in range(equipment)]
    chunks = chunked(codes + codes[:3], processes)  # a code given twice is tallied once
    assert [code for chunk in chunks for code in chunk] == codes
    sizes = [len(chunk) for chunk in chunks]
    assert max(sizes) <= oee_parallel.LARGEST_CHUNK
    assert len(chunks) >= min(equipment, 2 * processes)  # every process gets some
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)  # guided: large first


def test_chunk_tallies_add_up_to_the_same_decimals_in_any_order() -> None:
    rng = random.Random(4)
    chunks = [
        {
            ("M1", n % 3): {
                "running_ms": rng.randrange(10**9),
                "total_count": rng.randrange(10**6),
                "ideal_ms": Decimal(rng.randrange(10**6)) * Decimal("1234.5") / 10,
            }
            for n in range(rng.randrange(1, 6))
        }
        for _ in range(12)
    ]
    summed = []
    for _ in range(5):
        rng.shuffle(chunks)
        tallies = new_tallies()
        for chunk in chunks:
            add_tallies(tallies, chunk)
        summed.append({g: {k: str(v) for k, v in t.items()} for g, t in tallies.items()})
    assert all(s == summed[0] for s in summed)


class _Ended:
    """A worker whose process has ended: its pipe is closed, nothing was sent."""

    def __init__(self) -> None:
        self.connection, theirs = multiprocessing.Pipe()
        theirs.close()
        self.ended = False

    def ending(self) -> str:
        return "pid 0, exit code -9"


def test_a_worker_that_ends_without_its_chunks_is_an_error_not_a_wait() -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    share = Share("sqlite://", start, start + MONTH, ("equipment",), (("M1",), ("M2",)))
    claims = Claims(multiprocessing.get_context())
    job = Job(7, share, claims, [_Ended()])
    claims.open(7)
    assert (claims.take(7, 2), claims.take(7, 2)) == (0, 1)  # both claimed, by the worker
    with pytest.raises(OeeWorkerError, match=r"2 of 2 chunks .* never came back.*exit code -9"):
        list(oee_parallel._gather(None, job, caller_works=False))


def test_chunks_are_claimed_once_and_only_for_the_recompute_under_way() -> None:
    claims = Claims(multiprocessing.get_context())
    claims.open(3)
    assert [claims.take(3, 3) for _ in range(4)] == [0, 1, 2, None]
    assert claims.take(2, 3) is None  # a worker late for an earlier recompute
    claims.open(4)
    assert claims.take(3, 3) is None
    claims.close(4)
    assert claims.take(4, 3) is None  # failed or over: nobody takes more


def test_sqlite_in_memory_or_on_one_shared_connection_stays_in_process(tmp_path) -> None:
    memory = make_engine("sqlite://")
    shared = create_engine(f"sqlite:///{tmp_path / 'one.db'}", poolclass=StaticPool)
    for engine in (memory, shared):
        with Session(engine) as session:
            assert shareable_url(session) is None
        engine.dispose()


def test_a_sqlite_file_is_shared_unless_the_session_has_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///plant.db")  # relative: workers get the absolute path
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    with Session(engine) as session:
        assert shareable_url(session) == f"sqlite:///{tmp_path / 'plant.db'}"
        session.execute(text("INSERT INTO t VALUES (1)"))  # not committed: others see none
        assert shareable_url(session) is None
        session.commit()
        assert shareable_url(session) == f"sqlite:///{tmp_path / 'plant.db'}"
    engine.dispose()
