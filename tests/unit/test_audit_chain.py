from shopfloor.audit.domain import GENESIS, SealedEntry, entry_hash, verify_chain


def chain(n):
    entries, previous = [], GENESIS
    for seq in range(1, n + 1):
        content = {"id": seq, "action": "x", "new_value": {"v": seq}}
        digest = entry_hash(previous, seq, content)
        entries.append(SealedEntry(seq, previous, digest, content))
        previous = digest
    return entries


def test_intact_chain_has_no_breaks():
    assert verify_chain(chain(10)) == []


def test_edit_removal_and_relink_are_each_found():
    entries = chain(6)
    edited = [
        *entries[:2],
        SealedEntry(3, entries[2].prev_hash, entries[2].hash, {"id": 3, "action": "y"}),
        *entries[3:],
    ]
    assert [b.seq for b in verify_chain(edited)] == [3]
    removed = entries[:3] + entries[4:]
    problems = verify_chain(removed)
    assert problems[0].problem.startswith("entries 4..4 missing")
