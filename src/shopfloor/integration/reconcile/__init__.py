"""Reconciliation with ERP (DESIGN §2 step 6): per order, operation and shift, what shopfloor
recorded beside what ERP has posted, and a named cause for every difference.

`domain` holds the matching rules (pure), `queries` reads the facts and their deliveries,
`service` reads shopfloor first, then asks the subscriber's ERP adapter for its postings.
It owns no table and writes nothing.
"""
