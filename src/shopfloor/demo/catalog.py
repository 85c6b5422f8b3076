"""The demo plant's master data as plain values: who, where, what and how it is made.

Dates are fixed (not relative to today) so seeding the plant again sends exactly the same
records and changes nothing. Only the orders and their facts are placed relative to the
time of seeding, so the demo looks alive on the day it is started.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from shopfloor.masterdata.domain import AlternativeSpec, BomLineSpec, BreakSpec, OperationSpec

D = Decimal
VALID_FROM = date(2025, 1, 1)
EXPIRED_FROM, EXPIRED_ON = date(2024, 1, 1), date(2025, 6, 30)

# A fixed, public password: demo mode only (printed by `shopfloor demo`).
DEMO_PASSWORD = "floor-demo-2026"

# username, printed name, roles
USERS = (
    ("admin", "Ada Admin", ("admin",)),
    ("planner", "Pia Planner", ("planner",)),
    ("supervisor", "Sven Supervisor", ("supervisor",)),
    ("quality", "Quinn Quality", ("quality",)),
    ("anna", "Anna Berg", ("operator",)),
    ("ben", "Ben Okafor", ("operator",)),
    ("chen", "Chen Wei", ("operator",)),
    ("dana", "Dana Novak", ("operator",)),
    ("erp", "ERP integration client", ("integration",)),
)

UNITS = (
    ("pcs", "pieces", "count"),
    ("box", "box", "count"),
    ("kg", "kilogram", "mass"),
    ("g", "gram", "mass"),
    ("m", "metre", "length"),
)
# from, to, factor, item (None: for every item)
CONVERSIONS = (
    ("kg", "g", D(1000), None),
    ("box", "pcs", D(100), "FST-M3"),
)

CALENDAR = ("2-SHIFT", "Two shifts, Monday to Friday", "UTC")
BREAKS = (BreakSpec("Coffee break", 120, 15), BreakSpec("Lunch break", 240, 30))
# code, name, starts at, minutes
SHIFTS = (
    ("EARLY", "Early shift", time(6, 0), 480),
    ("LATE", "Late shift", time(14, 0), 480),
)
WEEKDAYS = (0, 1, 2, 3, 4)

# code, name, level, parent
EQUIPMENT = (
    ("ACME", "ACME Instruments", "enterprise", None),
    ("PLANT-1", "Plant 1, Linz", "site", "ACME"),
    ("HALL-A", "Production hall A", "area", "PLANT-1"),
    ("L1", "Line 1, electronics assembly", "line", "HALL-A"),
    ("L2", "Line 2, machining", "line", "HALL-A"),
    ("L1-ASSY", "Line 1 assembly", "work_center", "L1"),
    ("L1-TEST", "Line 1 functional test", "work_center", "L1"),
    ("L1-PACK", "Line 1 packing", "work_center", "L1"),
    ("L2-CNC", "Line 2 CNC machining", "work_center", "L2"),
    ("L2-DEBURR", "Line 2 deburring", "work_center", "L2"),
    ("L2-INSPECT", "Line 2 inspection", "work_center", "L2"),
)

SKILLS = (
    ("ASSEMBLY", "Electronics assembly"),
    ("TESTING", "Functional testing"),
    ("PACKING", "Packing"),
    ("CNC", "CNC machining"),
    ("DEBURR", "Deburring"),
    ("INSPECTION", "Dimensional inspection"),
)
# username, skill, valid from, expires on. Ben's test certificate ran out: he may assemble
# and pack, but the plant refuses to let him start a functional test.
CERTIFICATIONS = (
    ("anna", "ASSEMBLY", VALID_FROM, None),
    ("anna", "TESTING", VALID_FROM, None),
    ("anna", "PACKING", VALID_FROM, None),
    ("ben", "ASSEMBLY", VALID_FROM, None),
    ("ben", "PACKING", VALID_FROM, None),
    ("ben", "TESTING", EXPIRED_FROM, EXPIRED_ON),
    ("chen", "CNC", VALID_FROM, None),
    ("chen", "DEBURR", VALID_FROM, None),
    ("chen", "INSPECTION", VALID_FROM, None),
    ("dana", "CNC", VALID_FROM, None),
    ("dana", "INSPECTION", VALID_FROM, None),
    ("dana", "TESTING", VALID_FROM, None),
)
# code, name, shift, members
CREWS = (
    ("CREW-A", "Crew A (early)", "EARLY", ("anna", "chen")),
    ("CREW-B", "Crew B (late)", "LATE", ("ben", "dana")),
)

# code, name, level, parent, planned
DOWNTIME_REASONS = (
    ("PLANNED", "Planned stops", "category", None, True),
    ("BREAK", "Planned break", "reason", "PLANNED", True),
    ("MAINT", "Preventive maintenance", "reason", "PLANNED", True),
    ("CHANGEOVER", "Changeover", "reason", "PLANNED", True),
    ("CHANGEOVER-TOOL", "Tool change", "detail", "CHANGEOVER", True),
    ("UNPLANNED", "Unplanned stops", "category", None, False),
    ("WAIT-MAT", "Waiting for material", "reason", "UNPLANNED", False),
    ("WAIT-MAT-CABLE", "Waiting for material: cable", "detail", "WAIT-MAT", False),
    ("WAIT-MAT-BOARD", "Waiting for material: board", "detail", "WAIT-MAT", False),
    ("BREAKDOWN", "Machine breakdown", "reason", "UNPLANNED", False),
    ("BREAKDOWN-SPINDLE", "Spindle failure", "detail", "BREAKDOWN", False),
    ("NO-OPERATOR", "No operator available", "reason", "UNPLANNED", False),
    ("QUALITY-STOP", "Quality problem", "reason", "UNPLANNED", False),
)
# code, name, kind
QUALITY_CODES = (
    ("DEF-BOARD", "Defective board", "defect"),
    ("DEF-SOLDER", "Solder joint defect", "defect"),
    ("DEF-HOUSING", "Scratched or cracked housing", "defect"),
    ("SCR-HANDLING", "Damaged in handling", "scrap"),
    ("SCR-SETUP", "Setup scrap", "scrap"),
    ("SCR-DIMENSION", "Out of tolerance", "scrap"),
    ("RWK-RESOLDER", "Resolder", "rework"),
    ("RWK-RETEST", "Retest after repair", "rework"),
)

# code, name, unit, lot tracked
ITEMS = (
    ("WS-100", "Weather station WS-100", "pcs", True),
    ("WS-200", "Weather station WS-200 Pro", "pcs", True),
    ("BRK-10", "Machined mounting bracket", "pcs", False),
    ("SHF-20", "Machined rotor shaft", "pcs", False),
    ("HSG-100", "Housing", "pcs", False),
    ("PCB-100", "Controller board", "pcs", True),
    ("PCB-200", "Controller board, Pro", "pcs", True),
    ("CBL-100", "Sensor cable", "pcs", True),
    ("CBL-101", "Sensor cable, second source", "pcs", True),
    ("SEN-200", "Wind sensor module", "pcs", False),
    ("FST-M3", "Fastener M3", "pcs", False),
    ("PKG-100", "Packaging set", "pcs", False),
    ("ALU-BAR", "Aluminium bar stock", "kg", True),
    ("STL-ROD", "Steel rod", "m", True),
)

CABLE_ALTERNATIVE = (AlternativeSpec("CBL-101", D(1)),)


def _line(
    no: int,
    item: str,
    quantity: str,
    op: int,
    tolerance: str = "0",
    unit: str = "pcs",
    alternatives: tuple[AlternativeSpec, ...] = (),
) -> BomLineSpec:
    return BomLineSpec(no, item, D(quantity), unit, D(tolerance), op, alternatives)


# item, version, effective from, effective to, lines. WS-100 version A was the first
# design (6 fasteners); version B is the one of the acceptance scenario.
BOMS = (
    (
        "WS-100",
        "A",
        date(2024, 1, 1),
        date(2024, 12, 31),
        (
            _line(10, "HSG-100", "1", 10),
            _line(20, "PCB-100", "1", 10),
            _line(30, "CBL-100", "2", 10, alternatives=CABLE_ALTERNATIVE),
            _line(40, "FST-M3", "6", 10),
            _line(50, "PKG-100", "1", 30),
        ),
    ),
    (
        "WS-100",
        "B",
        VALID_FROM,
        None,
        (
            _line(10, "HSG-100", "1", 10),
            _line(20, "PCB-100", "1", 10),
            _line(30, "CBL-100", "2", 10, alternatives=CABLE_ALTERNATIVE),
            _line(40, "FST-M3", "8", 10),
            _line(50, "PKG-100", "1", 30),
        ),
    ),
    (
        "WS-200",
        "A",
        VALID_FROM,
        None,
        (
            _line(10, "HSG-100", "1", 10),
            _line(20, "PCB-200", "1", 10),
            _line(30, "CBL-100", "3", 10, alternatives=CABLE_ALTERNATIVE),
            _line(40, "SEN-200", "1", 10),
            _line(50, "FST-M3", "10", 10),
            _line(60, "PKG-100", "1", 30),
        ),
    ),
    ("BRK-10", "A", VALID_FROM, None, (_line(10, "ALU-BAR", "0.35", 10, "5", "kg"),)),
    ("SHF-20", "A", VALID_FROM, None, (_line(10, "STL-ROD", "0.25", 10, "2", "m"),)),
)


def _op(no: int, name: str, center: str, skill: str, setup: str, cycle: str) -> OperationSpec:
    return OperationSpec(no, name, center, D(setup), D(cycle), skill)


LINE_1 = (
    _op(10, "Assembly", "L1-ASSY", "ASSEMBLY", "15", "240"),
    _op(20, "Functional test", "L1-TEST", "TESTING", "5", "120"),
    _op(30, "Pack", "L1-PACK", "PACKING", "0", "60"),
)
LINE_2 = (
    _op(10, "CNC machining", "L2-CNC", "CNC", "30", "90"),
    _op(20, "Deburr", "L2-DEBURR", "DEBURR", "0", "30"),
    _op(30, "Inspect", "L2-INSPECT", "INSPECTION", "0", "45"),
)
# item, version, effective from, operations
ROUTINGS = (
    ("WS-100", "A", VALID_FROM, LINE_1),
    ("WS-200", "A", VALID_FROM, LINE_1),
    ("BRK-10", "A", VALID_FROM, LINE_2),
    ("SHF-20", "A", VALID_FROM, LINE_2),
)

# item, lot, status. Received from ERP; one board lot waits on hold for incoming inspection.
LOTS = (
    ("PCB-100", "PCB-L2401", "released"),
    ("PCB-100", "PCB-L2402", "released"),
    ("PCB-100", "PCB-L2403", "on_hold"),
    ("PCB-200", "PCB2-L0501", "released"),
    ("CBL-100", "CBL-L7001", "released"),
    ("CBL-100", "CBL-L7002", "released"),
    ("CBL-101", "CBL101-L0001", "released"),
    ("ALU-BAR", "ALU-H1187", "released"),
    ("STL-ROD", "STL-R0420", "released"),
)
LOT_EXPIRY = date(2030, 12, 31)
