"""Filters shared by posting, reconciliation and the TUI: BC filter expressions and date ranges.

A BC filter is ``A|B`` (alternatives), ``A..C`` / ``..C`` / ``A..`` (ranges), ``*`` / ``?``
(wildcards), ``<>X`` (negation), ``<X``, ``<=X``, ``>X``, ``>=X`` and ``''`` (blank).
``compile_filter`` turns one into an SQL fragment with ``?`` parameters; user text never
reaches the SQL string.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class FilterError(ValueError):
    """A filter expression or date that cannot be understood; the message says why."""


@dataclass(frozen=True)
class SqlFilter:
    sql: str
    params: tuple[object, ...]


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term(column: str, term: str, nullable: bool) -> SqlFilter:
    blank_sql = f"({column} IS NULL OR {column} = '')" if nullable else f"{column} = ''"
    if term in ("''", '""'):
        return SqlFilter(blank_sql, ())
    if term.startswith("<>"):
        inner = _term(column, term[2:], nullable)
        if term[2:] in ("''", '""'):
            return SqlFilter(f"NOT {blank_sql}", ())
        # NULL (blank) is 'not X' too.
        null_part = f"{column} IS NULL OR " if nullable else ""
        return SqlFilter(f"({null_part}NOT ({inner.sql}))", inner.params)
    for op in ("<=", ">=", "<", ">"):
        if term.startswith(op):
            value = term[len(op):]
            if not value:
                raise FilterError(f"'{term}': '{op}' needs a value after it")
            return SqlFilter(f"{column} {op} ?", (value,))
    if ".." in term:
        lo, _, hi = term.partition("..")
        if ".." in hi:
            raise FilterError(f"'{term}': a range has one '..'")
        if not lo and not hi:
            raise FilterError(f"'{term}': a range needs a start or an end")
        parts, params = [], []
        if lo:
            parts.append(f"{column} >= ?")
            params.append(lo)
        if hi:
            parts.append(f"{column} <= ?")
            params.append(hi)
        return SqlFilter("(" + " AND ".join(parts) + ")", tuple(params))
    if "*" in term or "?" in term:
        pattern = _like_escape(term).replace("*", "%").replace("?", "_")
        return SqlFilter(f"{column} LIKE ? ESCAPE '\\'", (pattern,))
    if term == "":
        raise FilterError("empty alternative in filter (use '' for blank)")
    return SqlFilter(f"{column} = ?", (term,))


def compile_filter(column: str, expression: str | None, *, nullable: bool = False) -> SqlFilter:
    """SQL for a BC filter on ``column``; an empty/None expression matches everything ('1')."""
    if expression is None or expression.strip() == "":
        return SqlFilter("1", ())
    expr = expression.strip()
    if "&" in expr:
        raise FilterError(f"'{expr}': '&' is not supported; use '|' or a range")
    alternatives = [t.strip() for t in expr.split("|")]
    compiled = [_term(column, t, nullable) for t in alternatives]
    if len(compiled) == 1:
        return compiled[0]
    sql = "(" + " OR ".join(c.sql for c in compiled) + ")"
    return SqlFilter(sql, tuple(p for c in compiled for p in c.params))


def validate_filter(expression: str | None) -> str | None:
    """Return the expression unchanged if it is valid, else raise FilterError with the reason."""
    compile_filter("x", expression)
    return expression


_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_date(text: str, *, what: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"{what} '{text}' is not a valid YYYY-MM-DD date") from None


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """'2025' / '2025-Q1' / '2025-03' / '2025-03-15' -> (first day, last day)."""
    s = text.strip()
    if m := _YEAR.match(s):
        y = int(m[1])
        return dt.date(y, 1, 1), dt.date(y, 12, 31)
    if m := _QUARTER.match(s):
        y, q = int(m[1]), int(m[2])
        first_month = 3 * (q - 1) + 1
        last_month = first_month + 2
        return dt.date(y, first_month, 1), dt.date(
            y, last_month, calendar.monthrange(y, last_month)[1]
        )
    if m := _MONTH.match(s):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise FilterError(f"'{text}': month {mo} does not exist")
        return dt.date(y, mo, 1), dt.date(y, mo, calendar.monthrange(y, mo)[1])
    d = parse_date(s)
    return d, d


class LedgerFilter(BaseModel):
    """The filters of ``post``, ``post-test``, ``matrix``, ``drill`` and the TUI filter pane.

    ``date_from``/``date_to`` are inclusive; ``date_to`` without ``date_from`` means "as of".
    G/L entries on the closing date of ``date_to`` are outside the range (a closing date sorts
    after its day), those of earlier days inside it, unless ``include_closing`` is False.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    item: str | None = None
    location: str | None = None
    include_closing: bool = True

    @field_validator("item", "location")
    @classmethod
    def _valid_expression(cls, v: str | None) -> str | None:
        if v is not None and v.strip() == "":
            return None
        return validate_filter(v)

    @model_validator(mode="after")
    def _ordered(self) -> LedgerFilter:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date from {self.date_from} is after date to {self.date_to}")
        return self

    @classmethod
    def from_text(
        cls,
        date_from: str | None = None,
        date_to: str | None = None,
        item: str | None = None,
        location: str | None = None,
        include_closing: bool = True,
    ) -> LedgerFilter:
        """From user text: dates may be ISO dates or period shorthands (2025, 2025-Q1, 2025-03)."""
        f = parse_period(date_from)[0] if date_from else None
        t = parse_period(date_to)[1] if date_to else None
        try:
            return cls(date_from=f, date_to=t, item=item, location=location,
                       include_closing=include_closing)
        except ValueError as exc:
            # pydantic's ValidationError is a ValueError; keep the first message, one line.
            errors = getattr(exc, "errors", None)
            if callable(errors):
                first = errors()[0]
                loc = ".".join(str(x) for x in first.get("loc", ())) or "filter"
                raise FilterError(f"{loc}: {first['msg']}") from None
            raise FilterError(str(exc)) from None

    @property
    def has_item_or_location(self) -> bool:
        return bool(self.item or self.location)

    def value_entry_sql(self, alias: str = "value_entry") -> SqlFilter:
        """WHERE fragment for value entries (posting date, item, location)."""
        parts: list[str] = []
        params: list[object] = []
        if self.date_from:
            parts.append(f"{alias}.posting_date >= ?")
            params.append(self.date_from.isoformat())
        if self.date_to:
            parts.append(f"{alias}.posting_date <= ?")
            params.append(self.date_to.isoformat())
        for col, expr, nullable in (
            (f"{alias}.item_no", self.item, True),
            (f"{alias}.location_code", self.location, False),
        ):
            if expr:
                c = compile_filter(col, expr, nullable=nullable)
                parts.append(c.sql)
                params.extend(c.params)
        return SqlFilter(" AND ".join(parts) or "1", tuple(params))

    def gl_entry_date_sql(self, alias: str = "gl_entry") -> SqlFilter:
        """WHERE fragment for G/L entries by date, closing dates sorted after their day."""
        parts: list[str] = []
        params: list[object] = []
        if self.date_from:
            parts.append(f"{alias}.posting_date >= ?")
            params.append(self.date_from.isoformat())
        if self.date_to:
            parts.append(f"({alias}.posting_date < ? OR ({alias}.posting_date = ? AND {alias}.closing = 0))")
            params.extend([self.date_to.isoformat()] * 2)
        if not self.include_closing:
            parts.append(f"{alias}.closing = 0")
        return SqlFilter(" AND ".join(parts) or "1", tuple(params))

    def describe(self) -> str:
        bits = []
        if self.date_from or self.date_to:
            bits.append(f"date {self.date_from or ''}..{self.date_to or ''}")
        if self.item:
            bits.append(f"item {self.item}")
        if self.location:
            bits.append(f"location {self.location}")
        if not self.include_closing:
            bits.append("closing entries excluded")
        return ", ".join(bits) or "no filters"

    def to_json(self) -> dict[str, object]:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "item": self.item,
            "location": self.location,
        }
