from sqlalchemy import text, update

from shopfloor.audit import service as audit
from shopfloor.audit.tables import AuditEntry


def test_sealed_chain_verifies_and_detects_tampering(session, ctx):
    for i in range(5):
        audit.record(
            session, ctx, "thing.changed", "thing", i, old={"v": i}, new={"v": i + 1}, reason="test"
        )
    session.commit()
    assert audit.seal(session) == 5
    session.commit()
    count, breaks = audit.verify(session)
    assert (count, breaks) == (5, [])

    session.execute(
        update(AuditEntry).where(AuditEntry.seq == 3).values(reason="edited behind our back")
    )
    session.commit()
    session.expire_all()
    _, breaks = audit.verify(session)
    assert [b.seq for b in breaks] == [3]


def test_removed_newest_entry_is_detected(session, ctx):
    for i in range(3):
        audit.record(session, ctx, "thing.changed", "thing", i, new={"v": i})
    session.commit()
    audit.seal(session)
    session.commit()
    session.query(AuditEntry).filter(AuditEntry.seq == 3).delete()
    session.commit()
    _, breaks = audit.verify(session)
    assert breaks and "removed" in breaks[-1].problem


def test_a_sealer_that_finds_another_at_work_leaves_the_round_to_it(sessions, ctx):
    with sessions() as session:
        for i in range(2):
            audit.record(session, ctx, "thing.changed", "thing", i, new={"v": i})
        session.commit()
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":  # SQLite: its write lock queues
            with sessions() as other:
                other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK_KEY})
                assert audit.seal(session, wait=False) == 0
                session.rollback()
        assert audit.seal(session, wait=False) == 2
        session.commit()
        assert audit.verify(session) == (2, [])
