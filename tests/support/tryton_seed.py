"""Reference data of the Tryton test ERP, written once into the template database.

Run with `.venv-tryton/bin/python tests/support/tryton_seed.py CONFIG DATABASE PASSWORD`
(never imported by shopfloor's tests: importing trytond changes TZ and the decimal context
of the whole process). It plays the ERP administrator's part of the WS-100 plant:

- company ACME (EUR); warehouse WH with its storage STO, production location PROD and a
  waste location WASTE listed in the warehouse's waste locations;
- products WS-100 (producible, lot required in storage) and its components HOUSING, BOARD
  (lots), CABLE (lots), FASTENER, PACKAGING, all counted in units;
- BOM "WS-100" (per unit: 1 housing, 1 board, 2 cables, 8 fasteners, 1 packaging);
- routing "WS-100" 10 assembly → 20 test → 30 pack, each operation with a work center
  category; work centers WC-ASSY, WC-TEST, WC-PACK under LINE-1;
- stock to consume: 100 housings, board lot BRD-0301 (50), cable lots CBL-0217 (30) and
  CBL-0218 (30), 1,000 fasteners, 50 packagings;
- user `shopfloor` (the adapter): the Production group plus read/create on stock.lot.
"""

from __future__ import annotations

import sys
from decimal import Decimal


def main(config: str, database: str, password: str) -> None:
    from trytond import config as tryton_config

    tryton_config.update_etc(config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(database)
    pool.init()
    with Transaction().start(database, 0, readonly=False) as transaction:
        with transaction.set_context(active_test=False):
            seed(pool, password)
        transaction.commit()


def seed(pool, password: str) -> None:
    from trytond.transaction import Transaction

    model_data = pool.get("ir.model.data")
    ref = model_data.get_id
    Party = pool.get("party.party")
    Currency = pool.get("currency.currency")
    Company = pool.get("company.company")
    User = pool.get("res.user")
    Location = pool.get("stock.location")

    eur = Currency(name="Euro", code="EUR", symbol="€", rounding=Decimal("0.01"), digits=2)
    eur.save()
    company = Company(party=Party(name="ACME"), currency=eur)
    company.party.save()
    company.save()
    [admin] = User.search([("login", "=", "admin")])
    admin.companies = [company]
    admin.company = company
    admin.save()

    with Transaction().set_context(company=company.id, user=admin.id):
        config = pool.get("production.configuration")(1)
        sequence = config.production_sequence
        sequence.prefix, sequence.padding = "MO-", 4
        sequence.save()
        warehouse = Location(ref("stock", "location_warehouse"))
        waste = Location(name="Waste", code="WASTE", type="lost_found")
        waste.save()
        warehouse.waste_locations = [waste]
        warehouse.save()
        unit = pool.get("product.uom")(ref("product", "uom_unit"))
        products = _products(pool, unit)
        bom = _bom(pool, products, unit)
        _routing(pool, warehouse, company, bom)
        _stock(pool, warehouse, company, eur, products, unit)
        _adapter_user(pool, company, password)


def _products(pool, unit) -> dict[str, object]:
    Template = pool.get("product.template")
    lots = ["storage"]
    made = {}
    for code, name, producible, lot in (
        ("WS-100", "weather station", True, True),
        ("HOUSING", "housing", False, False),
        ("BOARD", "board", False, True),
        ("CABLE", "cable", False, True),
        ("FASTENER", "fastener", False, False),
        ("PACKAGING", "packaging", False, False),
    ):
        template = Template(
            name=name,
            code=code,
            type="goods",
            default_uom=unit,
            producible=producible,
            lot_required=lots if lot else [],
            list_price=Decimal(0),
            products=[{"cost_price": Decimal("2.00")}],
        )
        template.save()
        made[code] = template.products[0]
    return made


def _bom(pool, products, unit):
    Bom = pool.get("production.bom")
    Input = pool.get("production.bom.input")
    Output = pool.get("production.bom.output")
    ProductBom = pool.get("product.product-production.bom")
    bom = Bom(name="WS-100")
    bom.inputs = [
        Input(product=products[code], quantity=quantity, unit=unit)
        for code, quantity in (
            ("HOUSING", 1),
            ("BOARD", 1),
            ("CABLE", 2),
            ("FASTENER", 8),
            ("PACKAGING", 1),
        )
    ]
    bom.outputs = [Output(product=products["WS-100"], quantity=1, unit=unit)]
    bom.save()
    ProductBom(product=products["WS-100"], bom=bom).save()
    return bom


def _routing(pool, warehouse, company, bom) -> None:
    Category = pool.get("production.work.center.category")
    Center = pool.get("production.work.center")
    Operation = pool.get("production.routing.operation")
    Routing = pool.get("production.routing")
    Step = pool.get("production.routing.step")
    line = Center(name="LINE-1", warehouse=warehouse, company=company, cost_method="hour",
                  cost_price=Decimal("30"))  # fmt: skip
    line.save()
    steps = []
    for sequence, operation_name, center_code in (
        (10, "assembly", "WC-ASSY"),
        (20, "test", "WC-TEST"),
        (30, "pack", "WC-PACK"),
    ):
        category = Category(name=operation_name)
        category.save()
        Center(name=center_code, parent=line, category=category, warehouse=warehouse,
               company=company, cost_method="hour", cost_price=Decimal("30")).save()  # fmt: skip
        operation = Operation(name=operation_name, work_center_category=category)
        operation.save()
        steps.append(Step(sequence=sequence, operation=operation))
    routing = Routing(name="WS-100", steps=steps, boms=[bom])
    routing.save()


def _stock(pool, warehouse, company, currency, products, unit) -> None:
    Lot = pool.get("stock.lot")
    Move = pool.get("stock.move")
    supplier = pool.get("stock.location")(
        pool.get("ir.model.data").get_id("stock", "location_supplier")
    )
    moves = []
    for code, lot_number, quantity in (
        ("HOUSING", None, 100),
        ("BOARD", "BRD-0301", 50),
        ("CABLE", "CBL-0217", 30),
        ("CABLE", "CBL-0218", 30),
        ("FASTENER", None, 1000),
        ("PACKAGING", None, 50),
    ):
        lot = None
        if lot_number:
            lot = Lot(number=lot_number, product=products[code])
            lot.save()
        moves.append(
            Move(
                product=products[code],
                unit=unit,
                quantity=quantity,
                from_location=supplier,
                to_location=warehouse.storage_location,
                lot=lot,
                company=company,
                unit_price=Decimal("2.00"),
                currency=currency,
            )
        )
    Move.save(moves)
    Move.do(moves)


def _adapter_user(pool, company, password: str) -> None:
    User = pool.get("res.user")
    Group = pool.get("res.group")
    Access = pool.get("ir.model.access")
    ref = pool.get("ir.model.data").get_id
    lots = Group(name="shopfloor: lots")
    lots.save()
    Access(model="stock.lot", group=lots, perm_read=True, perm_write=True, perm_create=True,
           perm_delete=False).save()  # fmt: skip
    User(
        login="shopfloor",
        name="shopfloor MES",
        password=password,
        companies=[company],
        company=company,
        groups=[Group(ref("production", "group_production")), lots],
    ).save()


if __name__ == "__main__":
    main(*sys.argv[1:4])
