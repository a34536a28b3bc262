"""Exact money and quantities.

SQLite holds every amount as an INTEGER number of minor units (cents) and every quantity and
unit cost as an INTEGER number of 1/100,000 units. Python works with ``Decimal``; no ``float``
ever touches an amount. JSON and CSV carry amounts as strings with exactly two decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

CENTS = 100
QTY_SCALE = 100_000  # quantities and unit costs: 5 decimals
_CENT = Decimal("0.01")
_QTY = Decimal("0.00001")
# SQLite INTEGER is a signed 64-bit value.
INT64_MAX = 2**63 - 1


def _parse_decimal(text: str, what: str) -> Decimal:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be text, got {type(text).__name__}")
    s = text.strip()
    if not s:
        raise ValueError(f"{what} is empty")
    # Plain decimals only: optional sign, digits, optional '.' and digits. No exponents,
    # no thousands separators, no NaN/Infinity, no leading '+' ambiguity with formulas.
    body = s[1:] if s[0] in "+-" else s
    if not body or body.count(".") > 1 or not body.replace(".", "").isdigit() or not body.isascii():
        raise ValueError(f"{what} {text!r} is not a plain decimal number")
    if body.startswith(".") or body.endswith("."):
        raise ValueError(f"{what} {text!r} is not a plain decimal number")
    try:
        value = Decimal(s)
    except InvalidOperation as exc:  # pragma: no cover - guarded above
        raise ValueError(f"{what} {text!r} is not a decimal number") from exc
    return value


def _scaled(value: Decimal, quantum: Decimal, scale: int, what: str, places: int) -> int:
    if value.is_finite() and value.adjusted() > 18:  # quantize() would raise InvalidOperation
        raise ValueError(f"{what} {value} is too large")
    if value != value.quantize(quantum, rounding=ROUND_HALF_UP) if value.is_finite() else True:
        raise ValueError(f"{what} {value} has more than {places} decimals")
    units = int(value * scale)
    if abs(units) > INT64_MAX:
        raise ValueError(f"{what} {value} is too large")
    if units == 0:
        return 0  # normalise negative zero
    return units


def parse_cents(text: str, what: str = "amount") -> int:
    """'12.30' -> 1230. More than two decimals, exponents, NaN, etc. are errors, never rounded."""
    return _scaled(_parse_decimal(text, what), _CENT, CENTS, what, 2)


def decimal_to_cents(value: Decimal, what: str = "amount") -> int:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal")
    return _scaled(value, _CENT, CENTS, what, 2)


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / CENTS).quantize(_CENT)


def format_cents(cents: int) -> str:
    """1230 -> '12.30'; -5 -> '-0.05'. The canonical JSON/CSV form."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), CENTS)
    return f"{sign}{whole}.{frac:02d}"


def format_cents_grouped(cents: int) -> str:
    """1234567 -> '12,345.67' for screens and text reports."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), CENTS)
    return f"{sign}{whole:,}.{frac:02d}"


def parse_units(text: str, what: str = "quantity") -> int:
    """Quantities and unit costs: up to five decimals, stored in 1/100,000 units."""
    return _scaled(_parse_decimal(text, what), _QTY, QTY_SCALE, what, 5)


def decimal_to_units(value: Decimal, what: str = "quantity") -> int:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal")
    return _scaled(value, _QTY, QTY_SCALE, what, 5)


def units_to_decimal(units: int) -> Decimal:
    return (Decimal(units) / QTY_SCALE).normalize() if units else Decimal(0)


def format_units(units: int) -> str:
    """Quantities in CSV: no trailing zeros beyond what is needed ('3', '2.5', '0.00001')."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), QTY_SCALE)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:05d}".rstrip("0")


def round_cents(value: Decimal) -> int:
    """Round a computed Decimal amount (e.g. quantity x unit cost) half-up to whole cents."""
    return int(value.quantize(_CENT, rounding=ROUND_HALF_UP) * CENTS)


def _money_before(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("amount must be a decimal, not a boolean")
    if isinstance(value, float):
        raise ValueError("amount must not be a float; pass a string or Decimal")
    if isinstance(value, int):
        return Decimal(value).quantize(_CENT)
    if isinstance(value, Decimal):
        return cents_to_decimal(decimal_to_cents(value))
    if isinstance(value, str):
        return cents_to_decimal(parse_cents(value))
    raise ValueError(f"amount of type {type(value).__name__} is not accepted")


Money = Annotated[
    Decimal,
    BeforeValidator(_money_before),
    PlainSerializer(lambda d: format_cents(decimal_to_cents(d)), return_type=str, when_used="json"),
]
"""The one money type at the trust boundaries: exact two-decimal Decimal, serialised as '12.30'."""
