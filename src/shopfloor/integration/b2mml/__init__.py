"""ISA-95 B2MML (V07) for ERPs that speak XML: OperationsSchedule in (as orders for the ERP
inbox), OperationsPerformance out (built from the recorded facts), both checked against
MESA's official schemas shipped in `schemas/`; and the `b2mml` ERP adapter working with a
drop folder and an outbox folder. Owns no tables. See docs/b2mml.md for the mapping.

The Business To Manufacturing Markup Language (B2MML) is used courtesy of MESA International.
"""
