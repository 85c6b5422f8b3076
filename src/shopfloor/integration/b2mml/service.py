"""B2MML use cases: an OperationsSchedule into the ERP inbox, and the OperationsPerformance
of orders out. Never commits: the CLI, the API's command runner or the adapter's caller owns
the transaction.

A schedule is validated against the official schema and mapped whole before anything is
filed: an invalid or unmappable document changes nothing and lists every problem with its
line. A valid one becomes `order` documents handed to the inbox, which files each once per
message id (so a re-sent schedule makes no second order) and applies it through the same
orders service as `shopfloor import` and `POST /orders`.

A performance document is built from the recorded facts and checked against the schema
before it is returned: shopfloor never hands out B2MML that the official schema refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from shopfloor.integration.b2mml import domain, queries
from shopfloor.integration.b2mml.performance import performance_xml
from shopfloor.integration.b2mml.validation import InvalidDocument, parse_valid, validate
from shopfloor.integration.erp.ports import InboundDocument
from shopfloor.integration.inbox import service as inbox
from shopfloor.kernel.context import CommandContext
from shopfloor.kernel.errors import NotFound, RuleViolation, ShopfloorError

SOURCE = "b2mml"  # the inbox files documents of the CLI and the API under this source


class ExportNotValid(ShopfloorError):
    """shopfloor built a performance document the schema refuses: a defect, never sent."""

    status = 500
    code = "b2mml-export-invalid"
    title = "Performance document failed schema validation"


def schedule_documents(xml: bytes, what: str = "the document") -> list[InboundDocument]:
    """The order documents of a valid OperationsSchedule; InvalidDocument lists every schema
    violation or mapping problem with its line."""
    tree = parse_valid(xml, "schedule", what)
    documents, problems = domain.schedule_documents(tree.getroot())
    if problems:
        raise InvalidDocument(problems, what)
    return documents


def receive_schedule(
    session: Session, ctx: CommandContext, xml: bytes, *, source: str = SOURCE
) -> list[inbox.Received]:
    """Validate and map a schedule, then hand its orders to the ERP inbox (one outcome per
    order: applied, duplicate, waiting or rejected)."""
    return inbox.receive(session, ctx, source, schedule_documents(xml))


def performance_of_orders(
    session: Session,
    order_ids: Sequence[int],
    *,
    document_id: str,
    published: datetime,
    site: str,
) -> bytes:
    """The schema-valid OperationsPerformance of these orders (shopfloor ids)."""
    if not order_ids:
        raise NotFound("no orders to report")
    orders = [queries.order_actuals(session, order_id) for order_id in order_ids]
    xml = performance_xml(document_id, orders, published=published, site=site)
    problems = validate(xml, "performance")
    if problems:
        listed = "; ".join(str(p) for p in problems[:5])
        raise ExportNotValid(f"the performance document of {document_id} is not valid: {listed}")
    return xml


def performance_for(
    session: Session,
    *,
    erp_order_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    published: datetime,
    site: str,
) -> bytes:
    """The OperationsPerformance of one order (by ERP order id) or of the orders completed
    in [since, until)."""
    stamp = published.strftime("%Y%m%dT%H%M%SZ")
    if erp_order_id is not None:
        ids = [queries.order_id_of(session, erp_order_id)]
        document_id = f"shopfloor-{site}-{erp_order_id}-{stamp}"
    elif since is not None and until is not None:
        if since >= until:
            raise RuleViolation("the range must end after it starts")
        ids = queries.orders_completed_between(session, since, until)
        if not ids:
            raise NotFound(
                f"no order completed between {since.isoformat()} and {until.isoformat()}"
            )
        document_id = f"shopfloor-{site}-{since:%Y%m%dT%H%M%S}-{until:%Y%m%dT%H%M%S}"
    else:
        raise RuleViolation("name an order, or a range with both ends (since and until)")
    return performance_of_orders(
        session, ids, document_id=document_id, published=published, site=site
    )
