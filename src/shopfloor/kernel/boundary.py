"""The seven boundary decisions between ERP and shopfloor, as plant configuration. Pure.

Every plant running shopfloor next to an ERP answers the same seven questions (seed 002,
DESIGN §1): where orders originate, who owns the BOM, where lots are created, how inventory
movements reach ERP, where the batch record lives, where deviations live, who owns the cost
of finished goods. Three of them differ between plants and are chosen in the settings;
four are fixed by what shopfloor is (the system of record for execution facts, never of
money or the normative plan) and are stated here so a deployment can read them, not change
them. A plant never gets a code fork: the services read the one `Boundary` handed to them in
the `CommandContext` and apply the rules below.

Decisions taken (docs/boundary.md says the same for the plant):
- Order origin is checked when an order is first received. Versions of an order already
  received still apply (ERP must still be able to close it after a plant switches).
- Lot creation `erp`: purchased material has lots only from ERP's goods receipt; the floor
  still creates the lots of what it makes (an item with a BOM: an order's product lot),
  because a product lot is born where it is made and ERP learns it from `lot.created`.
  A lot ERP assigned in advance is used as it is. `mes`: lots are created on the floor —
  a component lot is registered at its first use (consumption) — and lots sent by ERP are
  refused, never silently ignored, so the import report or the API client shows the
  refusal. `both`: both.
- ERP posting is the default aggregation of subscribers with transport `erp`; a subscriber
  that names its own `aggregation` keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from shopfloor.kernel.errors import RuleViolation, ShopfloorError

ORDER_ORIGINS = ("erp", "mes", "both")
LOT_CREATIONS = ("erp", "mes", "both")
ERP_POSTINGS = ("realtime", "operation", "shift")

# The environment variable that sets each decision.
SETTING = {
    "order_origin": "SHOPFLOOR_ORDER_ORIGIN",
    "bom_owner": "SHOPFLOOR_BOM_OWNER",
    "lot_creation": "SHOPFLOOR_LOT_CREATION",
    "erp_posting": "SHOPFLOOR_ERP_POSTING",
    "batch_record": "SHOPFLOOR_BATCH_RECORD",
    "deviations": "SHOPFLOOR_DEVIATIONS",
    "finished_goods_cost": "SHOPFLOOR_FINISHED_GOODS_COST",
}

# The subscriber aggregation each ERP posting mode stands for.
AGGREGATION_OF_POSTING = {"realtime": "event", "operation": "operation", "shift": "shift"}

_TITLES = {
    "order_origin": "Where work orders originate",
    "bom_owner": "Who owns the BOM",
    "lot_creation": "Where lots are created",
    "erp_posting": "How inventory movements reach ERP",
    "batch_record": "Where the batch record (eBR/eDHR) lives",
    "deviations": "Where deviations live",
    "finished_goods_cost": "Who owns finished-goods cost",
}

_OPTIONS: dict[str, tuple[str, ...]] = {
    "order_origin": ORDER_ORIGINS,
    "bom_owner": ("erp",),
    "lot_creation": LOT_CREATIONS,
    "erp_posting": ERP_POSTINGS,
    "batch_record": ("shopfloor",),
    "deviations": ("shopfloor",),
    "finished_goods_cost": ("erp",),
}

_MEANINGS = {
    ("order_origin", "erp"): "Orders come from ERP only; unplanned orders opened on the floor "
    "(origin mes) are refused.",
    ("order_origin", "mes"): "Orders are opened on the floor only (unplanned work); orders "
    "sent by ERP are refused.",
    ("order_origin", "both"): "Orders come from ERP, and unplanned work may also be opened on "
    "the floor (origin mes).",
    ("bom_owner", "erp"): "ERP owns the normative BOM and routing; shopfloor caches their "
    "versions and expands each order into its execution BOM. Fixed.",
    ("lot_creation", "erp"): "Lots of purchased material come from ERP goods receipt (or the "
    "import); the floor consumes only registered lots. The floor still creates lots of what "
    "it makes (items with a BOM).",
    ("lot_creation", "mes"): "Lots are created on the floor: a component lot is registered at "
    "first use, product lots when made. Lots sent by ERP are refused.",
    ("lot_creation", "both"): "Lots come from ERP goods receipt and are also created on the "
    "floor: an unknown component lot is registered at first use.",
    ("erp_posting", "realtime"): "Each fact goes to ERP as its own event (subscribers with "
    "transport erp default to aggregation 'event').",
    ("erp_posting", "operation"): "Facts go to ERP batched when their operation completes "
    "(one operation.summary; aggregation 'operation').",
    ("erp_posting", "shift"): "Facts go to ERP batched when their shift ends (one "
    "shift.summary; aggregation 'shift', the subscriber gives shift_starts).",
    ("batch_record", "shopfloor"): "The electronic batch / device history record belongs to "
    "shopfloor: generated from its facts, never typed, never kept in ERP. Fixed.",
    ("deviations", "shopfloor"): "Execution-time deviations belong to shopfloor; one that needs "
    "a CAPA graduates to the QMS by a link kept on both sides. Fixed.",
    ("finished_goods_cost", "erp"): "ERP values stock and computes cost; shopfloor sends "
    "quantities and times, never money. Fixed.",
}


class BoundaryConfigError(ShopfloorError, ValueError):
    """A boundary setting has a value shopfloor does not offer (refused at start-up)."""

    code = "boundary-config"
    title = "Boundary setting not valid"


@dataclass(frozen=True)
class Decision:
    """One of the seven decisions as shown to a person: its current value and meaning."""

    number: int
    key: str
    title: str
    setting: str
    value: str
    options: tuple[str, ...]
    fixed: bool
    meaning: str


@dataclass(frozen=True)
class Boundary:
    """The plant's answers to the seven boundary decisions; the defaults keep a plant that
    sets nothing working as shopfloor always has (ERP orders plus unplanned work, ERP lots,
    real-time postings)."""

    order_origin: str = "both"
    bom_owner: str = "erp"
    lot_creation: str = "erp"
    erp_posting: str = "realtime"
    batch_record: str = "shopfloor"
    deviations: str = "shopfloor"
    finished_goods_cost: str = "erp"

    def __post_init__(self) -> None:
        for spec in fields(self):
            value, options = getattr(self, spec.name), _OPTIONS[spec.name]
            if value in options:
                continue
            setting = SETTING[spec.name]
            if len(options) == 1:
                raise BoundaryConfigError(
                    f"{setting} is fixed at '{options[0]}', not '{value}': "
                    f"{_MEANINGS[(spec.name, options[0])]}"
                )
            raise BoundaryConfigError(
                f"{setting} must be one of {', '.join(options)}, not '{value}'"
            )

    # ------------------------------------------------------------------ order origin

    def check_order_origin(self, origin: str) -> None:
        """A new order from `origin` ('erp' or 'mes') is refused unless the plant lets
        orders originate there: one owner of the plan, no order slipping in by the side."""
        if self.order_origin in ("both", origin):
            return
        source = "ERP" if origin == "erp" else "the floor (unplanned work, origin mes)"
        raise RuleViolation(
            f"orders from {source} are not accepted in this plant: "
            f"{SETTING['order_origin']}={self.order_origin}",
            setting=SETTING["order_origin"],
            value=self.order_origin,
        )

    # ------------------------------------------------------------------ lot creation

    def check_new_lot(self, origin: str, *, made_here: bool) -> None:
        """May a lot that is new to shopfloor be registered from `origin` ('erp_receipt' or
        'floor')? `made_here`: the lot is of an item the plant makes (it has a BOM).

        ERP receipts are refused when lots are created only on the floor; a lot of
        purchased material created on the floor is refused when lots come only from ERP.
        The floor may always create lots of what it makes."""
        setting, mode = SETTING["lot_creation"], self.lot_creation
        if origin == "erp_receipt" and mode == "mes":
            raise RuleViolation(
                f"lots are created on the floor in this plant ({setting}=mes): a lot received "
                "from ERP is not accepted; register it at first use on the floor",
                setting=setting,
                value=mode,
            )
        if origin == "floor" and mode == "erp" and not made_here:
            raise RuleViolation(
                f"lots of purchased material come from ERP goods receipt in this plant "
                f"({setting}=erp): the floor may create lots only of items it makes",
                setting=setting,
                value=mode,
            )

    @property
    def lots_at_first_use(self) -> bool:
        """Consuming a component lot shopfloor does not know registers it (on the floor)."""
        return self.lot_creation in ("mes", "both")

    def unknown_lot_hint(self) -> str:
        """Why an unknown lot cannot simply be consumed here, for the refusal's message."""
        return f"lots come from ERP goods receipt ({SETTING['lot_creation']}=erp)"

    # ------------------------------------------------------------------ ERP posting

    @property
    def erp_aggregation(self) -> str:
        """The aggregation of an ERP subscriber that does not name its own."""
        return AGGREGATION_OF_POSTING[self.erp_posting]

    # ------------------------------------------------------------------ display

    def decisions(self) -> tuple[Decision, ...]:
        """The seven decisions in the seed's order, with the current values."""
        return tuple(
            Decision(
                number=number,
                key=spec.name,
                title=_TITLES[spec.name],
                setting=SETTING[spec.name],
                value=getattr(self, spec.name),
                options=_OPTIONS[spec.name],
                fixed=len(_OPTIONS[spec.name]) == 1,
                meaning=_MEANINGS[(spec.name, getattr(self, spec.name))],
            )
            for number, spec in enumerate(fields(self), start=1)
        )


DEFAULT_BOUNDARY = Boundary()
