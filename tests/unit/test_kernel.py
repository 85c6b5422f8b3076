from decimal import Decimal

import pytest

from shopfloor.kernel.errors import InvalidTransition
from shopfloor.kernel.ids import new_event_id
from shopfloor.kernel.quantities import fmt, qty
from shopfloor.kernel.workflow import Workflow, transitions

DOOR = Workflow("door", transitions(open=(("closed",), "open"), close=(("open",), "closed")))


def test_workflow_allows_only_listed_transitions():
    assert DOOR.target("open", "closed") == "open"
    with pytest.raises(InvalidTransition, match="only a door that is closed"):
        DOOR.target("open", "open")
    with pytest.raises(InvalidTransition, match="unknown command"):
        DOOR.target("paint", "open")
    assert DOOR.statuses == {"open", "closed"}
    assert DOOR.can("close", "open") and not DOOR.can("close", "closed")


def test_event_ids_are_unique_and_time_ordered():
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids)  # UUID version 7


def test_quantities_are_exact_decimals():
    assert qty("0.1") + qty("0.2") == Decimal("0.3")
    assert qty(42) == Decimal("42.000000")
    assert fmt(qty("42.500")) == "42.5"
    for bad in ("NaN", "inf", "abc"):
        with pytest.raises(ValueError):
            qty(bad)
