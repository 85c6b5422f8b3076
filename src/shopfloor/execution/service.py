"""Execution use cases, one function per command. Never commits: the entry point owns the
transaction. Each command locks the order, checks the rules, appends its facts, one audit
entry per change and its outbox events.

The commands live in modules by subject; this module is where callers find them all.
"""

from __future__ import annotations

from shopfloor.execution.consumption import consume_material, return_material
from shopfloor.execution.corrections import FACT_KINDS, reverse_fact
from shopfloor.execution.operations import (
    complete_operation,
    complete_order,
    pause_operation,
    resume_operation,
    start_operation,
)
from shopfloor.execution.reporting import report_production
from shopfloor.execution.timekeeping import append_downtime, record_downtime, record_labor

__all__ = [
    "FACT_KINDS",
    "append_downtime",
    "complete_operation",
    "complete_order",
    "consume_material",
    "pause_operation",
    "record_downtime",
    "record_labor",
    "report_production",
    "resume_operation",
    "return_material",
    "reverse_fact",
    "start_operation",
]
