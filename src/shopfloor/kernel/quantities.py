"""Exact decimal quantities; no floats ever touch an amount of material."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE = Decimal("0.000001")


def qty(value: object) -> Decimal:
    """A quantity as an exact Decimal with six places; rejects NaN and infinities."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"'{value}' is not a quantity") from exc
    if not number.is_finite():
        raise ValueError(f"'{value}' is not a finite quantity")
    return number.quantize(SCALE, rounding=ROUND_HALF_EVEN)


def fmt(value: Decimal) -> str:
    """A quantity printed without trailing zeros: 42, 0.5, 1.25."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
