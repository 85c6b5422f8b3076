"""Every table of every domain, imported once so the metadata is complete (Alembic, tests)."""

from shopfloor.audit import tables as audit_tables
from shopfloor.execution import tables as execution_tables
from shopfloor.identity import tables as identity_tables
from shopfloor.integration import tables as integration_tables
from shopfloor.integration.inbox import tables as inbox_tables
from shopfloor.machines import maintenance_tables
from shopfloor.machines import tables as machines_tables
from shopfloor.masterdata import tables as masterdata_tables
from shopfloor.materials import tables as materials_tables
from shopfloor.orders import tables as orders_tables
from shopfloor.platform import idempotency, outbox
from shopfloor.platform.db import Base

metadata = Base.metadata

__all__ = [
    "audit_tables",
    "execution_tables",
    "idempotency",
    "identity_tables",
    "inbox_tables",
    "integration_tables",
    "machines_tables",
    "maintenance_tables",
    "masterdata_tables",
    "materials_tables",
    "metadata",
    "orders_tables",
    "outbox",
]
