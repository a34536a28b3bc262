"""pydantic v2 row models for the ledger CSV files (40-interfaces §2): the trust boundary.

One model per file. A field's name is the SQLite column (also the accepted snake_case header),
its alias is the Business Central caption (the header that export writes). Every field takes the
raw CSV cell text and turns it into the value stored in SQLite:

- money: INTEGER cents, at most 2 decimals (``money.parse_cents``), never rounded;
- quantities, unit costs, cost per unit: INTEGER 1/100,000 units (``money.parse_units``);
- dates: ``YYYY-MM-DD`` (a real calendar date); a G/L posting date may carry a ``C`` prefix;
- booleans: ``Yes/No``, ``true/false``, ``1/0`` (any case) -> 0/1;
- enumerations: BC captions (``enums.py``); an unknown value names the allowed ones;
- text and codes: as written, except that one leading apostrophe before ``= + - @ TAB CR`` is
  removed (export adds it so a spreadsheet does not run the cell as a formula);
- a blank optional cell takes the column's default (blank, 0, No, or the schema's default);
  a blank item no. / G/L account no. on an entry is NULL (no reference).

Validators raise ``ValueError`` with a message that does not repeat the column name; the importer
prefixes ``file:row: column:``.
"""

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from invrecon import enums
from invrecon.money import INT64_MAX, format_cents, format_units, parse_cents, parse_units

MAX_TEXT_CHARS = 2048
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")


# --------------------------------------------------------------------------- cell kinds


@dataclass(frozen=True)
class CellKind:
    """Marker in a field's metadata: how export formats the stored value."""

    name: str  # text | code_or_null | cents | units | int | bool | date | date_or_blank | enum | gl_date


def _kind(model: type[BaseModel], field: str) -> str:
    for m in model.model_fields[field].metadata:
        if isinstance(m, CellKind):
            return m.name
    raise LookupError(f"{model.__name__}.{field} has no CellKind")


# ---- text


def unescape_text(value: str) -> str:
    """Reverse export's formula neutralisation: "'=1+1" -> "=1+1", "''=x" -> "'=x"."""
    if value[:1] == "'" and _NEUTRALISED.match(value):
        return value[1:]
    return value


def neutralise_text(value: str) -> str:
    """Prefix an apostrophe to a text cell a spreadsheet would run as a formula.

    Also to text that already starts with apostrophes followed by such a character, so that
    ``unescape_text(neutralise_text(x)) == x`` for every x.
    """
    if value and (value[0] in FORMULA_CHARS or (value[0] == "'" and _NEUTRALISED.match(value))):
        return "'" + value
    return value


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected text, got {type(value).__name__}")
    if not value:
        return value
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"text is longer than {MAX_TEXT_CHARS} characters")
    if "\x00" in value:
        raise ValueError("text contains a NUL character")
    if value[:1] == "'":
        value = unescape_text(value)
    return value


def _code_or_null(value: Any) -> str | None:
    text = _text(value)
    return text if text else None


def _required_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must not be blank")
    return text


# ---- numbers

_CENTS_2 = re.compile(r"-?\d{1,16}\.\d\d\Z")
_CENTS_FAST = re.compile(r"(-?)(\d{1,16})(?:\.(\d{1,2}))?\Z")
_UNITS_FAST = re.compile(r"(-?)(\d{1,13})(?:\.(\d{1,5}))?\Z")
_INT = re.compile(r"\d{1,30}\Z")


def _cents_text(value: str) -> int:
    # Fast paths for the canonical forms; everything else goes through money.parse_cents,
    # which gives the same result or the error message.
    if _CENTS_2.match(value):
        return int(value.replace(".", "", 1))
    m = _CENTS_FAST.match(value)
    if m:
        sign, whole, frac = m.groups()
        n = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
        return -n if sign else n
    try:
        return parse_cents(value, "amount")
    except ArithmeticError:
        raise ValueError(f"amount {value!r} is not a usable decimal number") from None


def _units_text(value: str, what: str) -> int:
    m = _UNITS_FAST.match(value)
    if m:
        sign, whole, frac = m.groups()
        n = int(whole) * 100_000 + (int(frac.ljust(5, "0")) if frac else 0)
        return -n if sign else n
    try:
        return parse_units(value, what)
    except ArithmeticError:
        raise ValueError(f"{what} {value!r} is not a usable decimal number") from None


def _check_str(value: Any) -> str:
    if not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _cents(value: Any) -> int:
    if type(value) is not str:
        value = _check_str(value)
    if value == "":
        return 0
    return _cents_text(value)


def _required_cents(value: Any) -> int:
    if type(value) is not str:
        value = _check_str(value)
    if value == "":
        raise ValueError("must not be blank (an amount such as 0.00 or -12.50)")
    return _cents_text(value)


def _units_parser(what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if type(value) is not str:
            value = _check_str(value)
        if value == "":
            return 0
        return _units_text(value, what)

    return parse


def _int_text(value: str, *, minimum: int, what: str) -> int:
    if len(value) < 19 and value.isascii() and value.isdigit():  # fast path: plain digits
        n = int(value)
        if n >= minimum:
            return n
    s = value.strip()
    if not _INT.match(s):
        if s.startswith("-") and _INT.match(s[1:]):
            raise ValueError(f"{what} {value!r} must not be negative")
        raise ValueError(f"{what} {value!r} is not a whole number")
    n = int(s)
    if n > INT64_MAX:
        raise ValueError(f"{what} {s} is too large (at most {INT64_MAX})")
    if n < minimum:
        raise ValueError(f"{what} {s} must be at least {minimum}")
    return n


def _int_parser(*, minimum: int = 0, required: bool = False, what: str = "number") -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if type(value) is not str:
            value = _check_str(value)
        if value == "":
            if required:
                raise ValueError(f"must not be blank (a {what})")
            return 0
        return _int_text(value, minimum=minimum, what=what)

    return parse


# ---- booleans

_TRUE = frozenset({"yes", "true", "1"})
_FALSE = frozenset({"no", "false", "0"})


def _bool_parser(default: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if type(value) is not str:
            value = _check_str(value)
        if value == "":
            return default
        v = value.strip().lower()
        if v in _TRUE:
            return 1
        if v in _FALSE:
            return 0
        raise ValueError(f"{value!r} is not a boolean (use Yes/No, true/false or 1/0)")

    return parse


# ---- dates

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


@functools.lru_cache(maxsize=8192)
def _date_text(value: str) -> str:
    if not _DATE.match(value):
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid calendar date") from None
    return value


def _date(value: Any) -> str:
    if type(value) is not str:
        value = _check_str(value)
    if value == "":
        raise ValueError("must not be blank (a date YYYY-MM-DD)")
    return _date_text(value.strip())


def _date_or_blank(value: Any) -> str:
    if type(value) is not str:
        value = _check_str(value)
    if value.strip() == "":
        return ""
    return _date_text(value.strip())


def _gl_date(value: Any) -> str:
    """A G/L posting date; 'C2025-12-31' is the closing date (kept with the C here)."""
    if type(value) is not str:
        value = _check_str(value)
    value = value.strip()
    if value == "":
        raise ValueError("must not be blank (a date YYYY-MM-DD, or C + date for a closing date)")
    if value[:1] == "C":
        return "C" + _date_text(value[1:])
    return _date_text(value)


# ---- enumerations


def _enum_parser(enum: type[StrEnum], default: str | None) -> Callable[[Any], str]:
    """BC caption (exact, else case-insensitive). Blank: the enum's blank member if it has one,
    else ``default``; ``default=None`` makes blank an error."""
    values = [m.value for m in enum]
    exact = set(values)
    folded = {v.lower(): v for v in values}
    allowed = ", ".join(v if v else "(blank)" for v in values)
    blank_ok = "" in exact

    def parse(value: Any) -> str:
        if type(value) is not str:
            value = _check_str(value)
        if value in exact:
            return value
        v = value.strip()
        if v == "":
            if blank_ok:
                return ""
            if default is not None:
                return default
            raise ValueError(f"must not be blank; allowed: {allowed}")
        hit = folded.get(v.lower())
        if hit is not None:
            return hit
        raise ValueError(f"unknown value {value!r}; allowed: {allowed}")

    return parse


# --------------------------------------------------------------------------- field types

Text = Annotated[str, BeforeValidator(_text), CellKind("text")]
RequiredText = Annotated[str, BeforeValidator(_required_text), CellKind("text")]
CodeOrNull = Annotated[str | None, BeforeValidator(_code_or_null), CellKind("code_or_null")]
Cents = Annotated[int, BeforeValidator(_cents), CellKind("cents")]
RequiredCents = Annotated[int, BeforeValidator(_required_cents), CellKind("cents")]
Quantity = Annotated[int, BeforeValidator(_units_parser("quantity")), CellKind("units")]
UnitCost = Annotated[int, BeforeValidator(_units_parser("unit cost")), CellKind("units")]
EntryNo = Annotated[int, BeforeValidator(_int_parser(minimum=1, required=True, what="entry no.")),
                    CellKind("int")]
RefNo = Annotated[int, BeforeValidator(_int_parser(what="entry no.")), CellKind("int")]
RequiredRefNo = Annotated[int, BeforeValidator(_int_parser(minimum=1, required=True, what="entry no.")),
                          CellKind("int")]
Number = Annotated[int, BeforeValidator(_int_parser(what="number")), CellKind("int")]
DimSetId = Annotated[int, BeforeValidator(_int_parser(what="dimension set ID")), CellKind("int")]
RequiredDimSetId = Annotated[
    int, BeforeValidator(_int_parser(minimum=1, required=True, what="dimension set ID")), CellKind("int")
]
TableId = Annotated[int, BeforeValidator(_int_parser(required=True, what="table ID")), CellKind("int")]
BoolNo = Annotated[int, BeforeValidator(_bool_parser(0)), CellKind("bool")]
BoolYes = Annotated[int, BeforeValidator(_bool_parser(1)), CellKind("bool")]
Date = Annotated[str, BeforeValidator(_date), CellKind("date")]
DateOrBlank = Annotated[str, BeforeValidator(_date_or_blank), CellKind("date")]
GLDate = Annotated[str, BeforeValidator(_gl_date), CellKind("gl_date")]


def _enum(enum: type[StrEnum], default: str | None = None) -> Any:
    return Annotated[str, BeforeValidator(_enum_parser(enum, default)), CellKind("enum")]


def F(caption: str, default: Any = ...) -> Any:  # noqa: N802 - short on purpose
    """A field with its BC caption (export header, accepted import header)."""
    return Field(default, alias=caption)


# --------------------------------------------------------------------------- row models


class CsvRow(BaseModel):
    """Base of the row models. Subclasses set the ClassVars below."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=False,
                              frozen=True)

    file_name: ClassVar[str]
    table: ClassVar[str]
    key: ClassVar[tuple[str, ...]]
    required: ClassVar[tuple[str, ...]]  # columns the header must have
    mode: ClassVar[str]  # 'insert' (entries), 'upsert' (master data), 'replace' (one-row setup)
    # BC fields of this table that invrecon does not use: accepted in a header and ignored.
    ignorable: ClassVar[frozenset[str]] = frozenset()

    def db_values(self) -> tuple[Any, ...]:
        """Values in the order of ``db_columns()``."""
        return self.db_values_from_fields(list(self.__dict__.values()))

    @classmethod
    def db_values_from_fields(cls, values: list[Any]) -> tuple[Any, ...]:
        """Field values (in field order) -> values in the order of ``db_columns()``."""
        return tuple(values)

    @classmethod
    def db_columns(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def row_parser(cls, mapping: list[tuple[int, str]]) -> Callable[[list[str]], tuple[Any, ...]]:
        """A fast equivalent of ``model_validate({column: row[i]}).db_values()`` for the rows of
        one CSV file whose header maps cell ``i`` to ``column``.

        It applies exactly this model's field validators (the BeforeValidator of each field,
        which returns the final value) and the defaults of the columns the file lacks, without
        building a model instance: about twice as fast on big files. It raises on the first bad
        cell; the caller then runs ``model_validate`` to list every problem of the row.
        (``tests/test_ledger_csv_fuzz.py`` checks the equivalence.)
        """
        by_column = {column: i for i, column in mapping}
        anchor = mapping[0][0] if mapping else 0  # a cell the defaults' steps may read
        steps: list[tuple[int, Callable[[Any], Any]]] = []
        for name, f in cls.model_fields.items():
            if name in by_column:
                steps.append((by_column[name], _field_validator(f)))
            elif f.is_required():
                raise ValueError(f"column {name!r} is required")
            else:
                steps.append((anchor, functools.partial(_constant, f.default)))
        finish = cls.db_values_from_fields
        if not mapping:
            defaults = [func("") for _, func in steps]
            return lambda row: finish(list(defaults))

        def parse(row: list[str]) -> tuple[Any, ...]:
            return finish([func(row[i]) for i, func in steps])

        return parse

    @classmethod
    def captions(cls) -> dict[str, str]:
        """column -> BC caption, in export order."""
        return {name: f.alias or name for name, f in cls.model_fields.items()}

    @classmethod
    def export_formatters(cls) -> list[Callable[[Any], str]]:
        """One formatter per ``db_columns()`` value (see ``export_row``)."""
        return [_FORMATTERS[_kind(cls, name)] for name in cls.model_fields]

    @classmethod
    def export_row(cls, formatters: list[Callable[[Any], str]], values: tuple[Any, ...]) -> list[str]:
        return [f(v) for f, v in zip(formatters, values, strict=True)]


def _field_validator(f: Any) -> Callable[[Any], Any]:
    for m in f.metadata:
        if isinstance(m, BeforeValidator):
            return m.func  # type: ignore[return-value]
    raise LookupError("a CSV field needs a BeforeValidator")


def _constant(value: Any, _cell: Any) -> Any:
    return value


def _fmt_text(v: Any) -> str:
    return neutralise_text(v) if v else ""


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "text": _fmt_text,
    "code_or_null": _fmt_text,
    "cents": format_cents,
    "units": format_units,
    "int": str,
    "bool": lambda v: "Yes" if v else "No",
    "date": lambda v: v,
    "enum": lambda v: v,
    "gl_date": lambda v: v,
}

# BC fields found in exports of every table (system fields, dimensions, audit fields).
_COMMON_IGNORABLE = frozenset({
    "$systemId", "SystemId", "SystemCreatedAt", "SystemCreatedBy", "SystemModifiedAt",
    "SystemModifiedBy", "timestamp", "Primary Key", "Global Dimension 1 Code",
    "Global Dimension 2 Code", *(f"Shortcut Dimension {i} Code" for i in range(1, 9)),
    "User ID", "Last Date Modified", "Last Modified Date Time", "Last Modified DateTime",
})


def _ignorable(*captions: str) -> frozenset[str]:
    return _COMMON_IGNORABLE | frozenset(captions)


class GLAccountRow(CsvRow):
    file_name: ClassVar[str] = "gl_accounts.csv"
    table: ClassVar[str] = "gl_account"
    key: ClassVar[tuple[str, ...]] = ("no",)
    required: ClassVar[tuple[str, ...]] = ("no",)
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Search Name", "Account Category", "Account Subcategory", "Account Subcategory Descript.",
        "Debit/Credit", "No. 2", "Totaling", "New Page", "No. of Blank Lines", "Indentation",
        "Balance", "Net Change", "Balance at Date", "Debit Amount", "Credit Amount",
        "Gen. Posting Type", "Gen. Bus. Posting Group", "Gen. Prod. Posting Group",
        "VAT Bus. Posting Group", "VAT Prod. Posting Group", "Reconciliation Account",
        "Consol. Translation Method", "Consol. Debit Acc.", "Consol. Credit Acc.",
        "Default IC Partner G/L Acc. No", "Omit Default Descr. in Jnl.", "Tax Area Code",
        "Tax Liable", "Tax Group Code", "Exchange Rate Adjustment", "Comment",
        "Default Deferral Template Code", "Additional-Currency Balance", "Budgeted Amount",
    )

    no: RequiredText = F("No.")
    name: Text = F("Name", "")
    account_type: _enum(enums.AccountType, "Posting") = F("Account Type", "Posting")
    income_balance: _enum(enums.IncomeBalance, "Balance Sheet") = F("Income/Balance", "Balance Sheet")
    direct_posting: BoolNo = F("Direct Posting", 0)
    blocked: BoolNo = F("Blocked", 0)


class ItemRow(CsvRow):
    file_name: ClassVar[str] = "items.csv"
    table: ClassVar[str] = "item"
    key: ClassVar[tuple[str, ...]] = ("no",)
    required: ClassVar[tuple[str, ...]] = ("no",)
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "No. 2", "Description 2", "Search Description", "Base Unit of Measure", "Unit Price",
        "Last Direct Cost", "Vendor No.", "Vendor Item No.", "Inventory", "Item Category Code",
        "VAT Prod. Posting Group", "Tax Group Code", "Replenishment System", "Blocked",
        "Sales Blocked", "Purchasing Blocked", "Price/Profit Calculation", "Profit %",
        "Indirect Cost %", "Overhead Rate", "Gross Weight", "Net Weight", "Unit Volume",
        "Lead Time Calculation", "Reorder Point", "Reorder Quantity", "Maximum Inventory",
        "Safety Stock Quantity", "Item Disc. Group", "Assembly BOM", "Assembly Policy",
        "Production BOM No.", "Routing No.", "Flushing Method", "Manufacturing Policy",
        "Sales Unit of Measure", "Purch. Unit of Measure", "Shelf No.", "Tariff No.",
        "Country/Region of Origin Code", "GTIN", "Item Tracking Code", "Price Includes VAT",
        "Allow Invoice Disc.", "Unit List Price", "Qty. on Purch. Order", "Qty. on Sales Order",
        "Net Invoiced Qty.", "Stockout Warning", "Prevent Negative Inventory", "Reordering Policy",
        "Service Item Group", "Common Item No.", "Variant Mandatory if Exists", "Picture",
    )

    no: RequiredText = F("No.")
    description: Text = F("Description", "")
    type: _enum(enums.ItemType, "Inventory") = F("Type", "Inventory")
    inventory_posting_group: Text = F("Inventory Posting Group", "")
    gen_prod_posting_group: Text = F("Gen. Prod. Posting Group", "")
    costing_method: _enum(enums.CostingMethod, "FIFO") = F("Costing Method", "FIFO")
    unit_cost: UnitCost = F("Unit Cost", 0)
    standard_cost: UnitCost = F("Standard Cost", 0)
    cost_is_adjusted: BoolYes = F("Cost is Adjusted", 1)
    allow_online_adjustment: BoolYes = F("Allow Online Adjustment", 1)


class LocationRow(CsvRow):
    file_name: ClassVar[str] = "locations.csv"
    table: ClassVar[str] = "location"
    key: ClassVar[tuple[str, ...]] = ("code",)
    required: ClassVar[tuple[str, ...]] = ("code",)
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Name 2", "Address", "Address 2", "City", "Post Code", "County", "Country/Region Code",
        "Phone No.", "Phone No. 2", "Fax No.", "Contact", "E-Mail", "Home Page",
        "Use As In-Transit", "Require Put-away", "Require Pick", "Require Receive",
        "Require Shipment", "Bin Mandatory", "Directed Put-away and Pick", "Default Bin Code",
        "Use Cross-Docking", "Do Not Use For Tax Calculation",
    )

    code: RequiredText = F("Code")
    name: Text = F("Name", "")


class InventoryPostingSetupRow(CsvRow):
    file_name: ClassVar[str] = "inventory_posting_setup.csv"
    table: ClassVar[str] = "inventory_posting_setup"
    key: ClassVar[tuple[str, ...]] = ("location_code", "invt_posting_group_code")
    required: ClassVar[tuple[str, ...]] = ("location_code", "invt_posting_group_code")
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Description", "View All Accounts on Lookup", "Mat. Non-Inv. Variance Acc.",
        "Inventory Account Description", "Inventory Account (Interim) Description",
    )

    location_code: Text = F("Location Code")
    invt_posting_group_code: Text = F("Invt. Posting Group Code")
    inventory_account: Text = F("Inventory Account", "")
    inventory_account_interim: Text = F("Inventory Account (Interim)", "")
    wip_account: Text = F("WIP Account", "")
    material_variance_account: Text = F("Material Variance Account", "")
    capacity_variance_account: Text = F("Capacity Variance Account", "")
    mfg_overhead_variance_account: Text = F("Mfg. Overhead Variance Account", "")
    cap_overhead_variance_account: Text = F("Cap. Overhead Variance Account", "")
    subcontracted_variance_account: Text = F("Subcontracted Variance Account", "")


class GeneralPostingSetupRow(CsvRow):
    file_name: ClassVar[str] = "general_posting_setup.csv"
    table: ClassVar[str] = "general_posting_setup"
    key: ClassVar[tuple[str, ...]] = ("gen_bus_posting_group", "gen_prod_posting_group")
    required: ClassVar[tuple[str, ...]] = ("gen_bus_posting_group", "gen_prod_posting_group")
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Description", "View All Accounts on Lookup", "Sales Account", "Sales Line Disc. Account",
        "Sales Inv. Disc. Account", "Sales Pmt. Disc. Debit Acc.", "Sales Pmt. Disc. Credit Acc.",
        "Sales Pmt. Tol. Debit Acc.", "Sales Pmt. Tol. Credit Acc.", "Sales Credit Memo Account",
        "Sales Prepayments Account", "Purch. Account", "Purch. Line Disc. Account",
        "Purch. Inv. Disc. Account", "Purch. Pmt. Disc. Debit Acc.",
        "Purch. Pmt. Disc. Credit Acc.", "Purch. Pmt. Tol. Debit Acc.",
        "Purch. Pmt. Tol. Credit Acc.", "Purch. Credit Memo Account", "Purch. FA Disc. Account",
        "Purch. Prepayments Account", "Direct Cost Non-Inv. App. Acc.", "Sales Account Descr.",
        "Purch. Account Descr.",
    )

    gen_bus_posting_group: Text = F("Gen. Bus. Posting Group")
    gen_prod_posting_group: Text = F("Gen. Prod. Posting Group")
    cogs_account: Text = F("COGS Account", "")
    cogs_account_interim: Text = F("COGS Account (Interim)", "")
    inventory_adjmt_account: Text = F("Inventory Adjmt. Account", "")
    invt_accrual_acc_interim: Text = F("Invt. Accrual Acc. (Interim)", "")
    direct_cost_applied_account: Text = F("Direct Cost Applied Account", "")
    overhead_applied_account: Text = F("Overhead Applied Account", "")
    purchase_variance_account: Text = F("Purchase Variance Account", "")
    blocked: BoolNo = F("Blocked", 0)


class InventorySetupRow(CsvRow):
    file_name: ClassVar[str] = "inventory_setup.csv"
    table: ClassVar[str] = "inventory_setup"
    key: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    mode: ClassVar[str] = "replace"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Location Mandatory", "Item Nos.", "Invt. Cost Jnl. Template Name",
        "Invt. Cost Jnl. Batch Name", "Prevent Negative Inventory", "Default Costing Method",
        "Copy Comments Order to Shpt.", "Copy Comments Order to Rcpt.",
        "Outbound Whse. Handling Time", "Inbound Whse. Handling Time", "Variant Mandatory if Exists",
        "Skip Prompt to Create Item", "Copy Item Descr. to Entries", "Transfer Order Nos.",
        "Posted Transfer Shpt. Nos.", "Posted Transfer Rcpt. Nos.", "Inventory Put-away Nos.",
        "Inventory Pick Nos.", "Physical Invt. Order Nos.", "Allow Invt. Doc. Reservation",
    )

    automatic_cost_posting: BoolNo = F("Automatic Cost Posting", 0)
    expected_cost_posting_to_gl: BoolNo = F("Expected Cost Posting to G/L", 0)
    automatic_cost_adjustment: _enum(enums.AutomaticCostAdjustment, "Never") = F(
        "Automatic Cost Adjustment", "Never")
    average_cost_calc_type: _enum(enums.AverageCostCalcType, "Item") = F(
        "Average Cost Calc. Type", "Item")
    average_cost_period: _enum(enums.AverageCostPeriod, "Day") = F("Average Cost Period", "Day")


class GeneralLedgerSetupRow(CsvRow):
    file_name: ClassVar[str] = "general_ledger_setup.csv"
    table: ClassVar[str] = "general_ledger_setup"
    key: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    mode: ClassVar[str] = "replace"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Register Time", "LCY Code", "Local Currency Symbol", "Local Currency Description",
        "Additional Reporting Currency", "Journal Templ. Name Mandatory",
        "Inv. Rounding Precision (LCY)", "Inv. Rounding Type (LCY)", "Amount Rounding Precision",
        "Unit-Amount Rounding Precision", "Amount Decimal Places", "Unit-Amount Decimal Places",
        "Allow G/L Acc. Deletion Before", "Pmt. Disc. Excl. VAT", "Adjust for Payment Disc.",
        "Unrealized VAT", "Max. VAT Difference Allowed", "VAT Rounding Type",
        "Bank Account Nos.", "Mark Cr. Memos as Corrections", "Local Address Format",
        "Allow Deferral Posting From", "Allow Deferral Posting To", "Show Amounts",
        "Acc. Sched. for Balance Sheet", "Acc. Sched. for Income Stmt.",
    )

    allow_posting_from: DateOrBlank = F("Allow Posting From", "")
    allow_posting_to: DateOrBlank = F("Allow Posting To", "")


class AccountingPeriodRow(CsvRow):
    file_name: ClassVar[str] = "accounting_periods.csv"
    table: ClassVar[str] = "accounting_period"
    key: ClassVar[tuple[str, ...]] = ("starting_date",)
    required: ClassVar[tuple[str, ...]] = ("starting_date",)
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Name", "Date Locked", "Inventory Period Closed", "Average Cost Calc. Type",
        "Average Cost Period",
    )

    starting_date: Date = F("Starting Date")
    new_fiscal_year: BoolNo = F("New Fiscal Year", 0)
    closed: BoolNo = F("Closed", 0)


class DimensionSetEntryRow(CsvRow):
    file_name: ClassVar[str] = "dimension_set_entries.csv"
    table: ClassVar[str] = "dimension_set_entry"
    key: ClassVar[tuple[str, ...]] = ("dimension_set_id", "dimension_code")
    required: ClassVar[tuple[str, ...]] = ("dimension_set_id", "dimension_code")
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Dimension Value ID", "Dimension Name", "Dimension Value Name", "Global Dimension No.",
    )

    dimension_set_id: RequiredDimSetId = F("Dimension Set ID")
    dimension_code: RequiredText = F("Dimension Code")
    dimension_value_code: Text = F("Dimension Value Code", "")


class DefaultDimensionRow(CsvRow):
    file_name: ClassVar[str] = "default_dimensions.csv"
    table: ClassVar[str] = "default_dimension"
    key: ClassVar[tuple[str, ...]] = ("table_id", "no", "dimension_code")
    required: ClassVar[tuple[str, ...]] = ("table_id", "no", "dimension_code")
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Table Caption", "Multi Selection Action", "Parent Type", "Allowed Values Filter",
        "ParentId", "DimensionId", "DimensionValueId", "Dimension Value Type",
    )

    table_id: TableId = F("Table ID")
    no: Text = F("No.")
    dimension_code: RequiredText = F("Dimension Code")
    dimension_value_code: Text = F("Dimension Value Code", "")
    value_posting: _enum(enums.ValuePosting) = F("Value Posting", "")


_ENTRY_IGNORABLE = (
    "Description", "Variant Code", "Job No.", "Job Task No.", "Job Ledger Entry No.",
    "Source Code", "Reason Code", "Journal Batch Name", "Journal Templ. Name", "Document Type",
    "Document Date", "Document Line No.", "Order Line No.", "Return Reason Code",
    "Drop Shipment", "Lot No.", "Serial No.", "Package No.", "VAT Reporting Date",
    "Unit of Measure Code", "Qty. per Unit of Measure",
)


class ItemLedgerEntryRow(CsvRow):
    file_name: ClassVar[str] = "item_ledger_entries.csv"
    table: ClassVar[str] = "item_ledger_entry"
    key: ClassVar[tuple[str, ...]] = ("entry_no",)
    required: ClassVar[tuple[str, ...]] = ("entry_no", "posting_date", "entry_type")
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        *_ENTRY_IGNORABLE, "Source Type", "Source No.", "Completely Invoiced", "Last Invoice Date",
        "Cost Amount (Actual)", "Cost Amount (Expected)", "Cost Amount (Non-Invtbl.)",
        "Sales Amount (Actual)", "Sales Amount (Expected)", "Purchase Amount (Actual)",
        "Purchase Amount (Expected)", "Cost Amount (Actual) (ACY)", "Cost Amount (Expected) (ACY)",
        "Expiration Date", "Warranty Date", "Shipped Qty. Not Returned", "Reserved Quantity",
        "Item Tracking", "Correction", "Nonstock", "Dimension Set ID", "External Document No.",
        "Country/Region Code", "Transaction Type", "Transport Method", "Entry/Exit Point", "Area",
        "Transaction Specification", "No. Series", "Purchasing Code", "Prod. Order Comp. Line No.",
        "Assemble to Order", "Item Category Code", "Item Reference No.",
        "Originally Ordered No.", "Originally Ordered Var. Code", "Out-of-Stock Substitution",
        "Derived from Blanket Order", "Cross-Reference No.", "Bin Code",
    )

    entry_no: EntryNo = F("Entry No.")
    item_no: CodeOrNull = F("Item No.", None)
    posting_date: Date = F("Posting Date")
    entry_type: _enum(enums.ItemLedgerEntryType) = F("Entry Type")
    document_no: Text = F("Document No.", "")
    location_code: Text = F("Location Code", "")
    quantity: Quantity = F("Quantity", 0)
    invoiced_quantity: Quantity = F("Invoiced Quantity", 0)
    remaining_quantity: Quantity = F("Remaining Quantity", 0)
    open: BoolNo = F("Open", 0)
    positive: BoolNo = F("Positive", 0)
    applied_entry_to_adjust: BoolNo = F("Applied Entry to Adjust", 0)
    order_type: _enum(enums.OrderType) = F("Order Type", "")
    order_no: Text = F("Order No.", "")
    applies_to_entry: RefNo = F("Applies-to Entry", 0)


class ItemApplicationEntryRow(CsvRow):
    file_name: ClassVar[str] = "item_application_entries.csv"
    table: ClassVar[str] = "item_application_entry"
    key: ClassVar[tuple[str, ...]] = ("entry_no",)
    required: ClassVar[tuple[str, ...]] = ("entry_no", "item_ledger_entry_no", "posting_date")
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "Cost Application", "Output Completely Invd. Date",
        "Outbound Entry is Updated", "Creation Date", "Created By User", "Last Modified Date",
        "Last Modified By User", "Item No.", "Location Code", "Variant Code",
    )

    entry_no: EntryNo = F("Entry No.")
    item_ledger_entry_no: RequiredRefNo = F("Item Ledger Entry No.")
    inbound_item_entry_no: RefNo = F("Inbound Item Entry No.", 0)
    outbound_item_entry_no: RefNo = F("Outbound Item Entry No.", 0)
    quantity: Quantity = F("Quantity", 0)
    posting_date: Date = F("Posting Date")
    transferred_from_entry_no: RefNo = F("Transferred-from Entry No.", 0)


class AvgCostAdjmtEntryPointRow(CsvRow):
    """Table 5804 Avg. Cost Adjmt. Entry Point: where average-cost adjustment must start."""

    file_name: ClassVar[str] = "avg_cost_adjmt_entry_points.csv"
    table: ClassVar[str] = "avg_cost_adjmt_entry_point"
    key: ClassVar[tuple[str, ...]] = ("item_no", "location_code", "valuation_date")
    required: ClassVar[tuple[str, ...]] = ("item_no", "location_code", "valuation_date")
    mode: ClassVar[str] = "upsert"
    ignorable: ClassVar[frozenset[str]] = _ignorable("Variant Code")

    item_no: RequiredText = F("Item No.")
    location_code: Text = F("Location Code")
    valuation_date: Date = F("Valuation Date")
    cost_is_adjusted: BoolNo = F("Cost Is Adjusted", 0)


class ValueEntryRow(CsvRow):
    file_name: ClassVar[str] = "value_entries.csv"
    table: ClassVar[str] = "value_entry"
    key: ClassVar[tuple[str, ...]] = ("entry_no",)
    required: ClassVar[tuple[str, ...]] = ("entry_no", "posting_date", "entry_type")
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        *_ENTRY_IGNORABLE, "Sales Amount (Actual)", "Sales Amount (Expected)",
        "Purchase Amount (Actual)", "Purchase Amount (Expected)", "Discount Amount",
        "Cost Amount (Actual) (ACY)", "Cost Amount (Expected) (ACY)",
        "Cost Amount (Non-Invtbl.)", "Cost Amount (Non-Invtbl.)(ACY)", "Cost Posted to G/L (ACY)",
        "Exp. Cost Posted to G/L (ACY)", "Cost per Unit (ACY)", "Item Ledger Entry Quantity",
        "Inventoriable", "Salespers./Purch. Code", "Source Posting Group", "Partial Revaluation",
        "Valued By Average Cost", "Average Cost Exception", "Item Category Code",
        "Purchase Amount", "Sales Amount", "Exp. Cost Posted to G/L (ACY)", "Job No.",
    )

    entry_no: EntryNo = F("Entry No.")
    item_no: CodeOrNull = F("Item No.", None)
    posting_date: Date = F("Posting Date")
    item_ledger_entry_type: _enum(enums.ItemLedgerEntryType) = F("Item Ledger Entry Type", "")
    item_ledger_entry_no: RefNo = F("Item Ledger Entry No.", 0)
    entry_type: _enum(enums.EntryType) = F("Entry Type")
    variance_type: _enum(enums.VarianceType) = F("Variance Type", "")
    adjustment: BoolNo = F("Adjustment", 0)
    document_no: Text = F("Document No.", "")
    external_document_no: Text = F("External Document No.", "")
    location_code: Text = F("Location Code", "")
    inventory_posting_group: Text = F("Inventory Posting Group", "")
    gen_bus_posting_group: Text = F("Gen. Bus. Posting Group", "")
    gen_prod_posting_group: Text = F("Gen. Prod. Posting Group", "")
    source_type: _enum(enums.SourceType) = F("Source Type", "")
    source_no: Text = F("Source No.", "")
    order_type: _enum(enums.OrderType) = F("Order Type", "")
    order_no: Text = F("Order No.", "")
    type: _enum(enums.CapacityType) = F("Type", "")
    no: Text = F("No.", "")
    capacity_ledger_entry_no: RefNo = F("Capacity Ledger Entry No.", 0)
    item_charge_no: Text = F("Item Charge No.", "")
    valued_quantity: Quantity = F("Valued Quantity", 0)
    invoiced_quantity: Quantity = F("Invoiced Quantity", 0)
    cost_per_unit: UnitCost = F("Cost per Unit", 0)
    cost_amount_actual: Cents = F("Cost Amount (Actual)", 0)
    cost_amount_expected: Cents = F("Cost Amount (Expected)", 0)
    cost_posted_to_gl: Cents = F("Cost Posted to G/L", 0)
    expected_cost_posted_to_gl: Cents = F("Expected Cost Posted to G/L", 0)
    expected_cost: BoolNo = F("Expected Cost", 0)
    applies_to_entry: RefNo = F("Applies-to Entry", 0)
    dimension_set_id: DimSetId = F("Dimension Set ID", 0)
    valuation_date: DateOrBlank = F("Valuation Date", "")


class GLEntryRow(CsvRow):
    file_name: ClassVar[str] = "gl_entries.csv"
    table: ClassVar[str] = "gl_entry"
    key: ClassVar[tuple[str, ...]] = ("entry_no",)
    required: ClassVar[tuple[str, ...]] = ("entry_no", "posting_date", "amount")
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        *_ENTRY_IGNORABLE, "G/L Account Name", "Debit Amount", "Credit Amount",
        "Additional-Currency Amount", "Add.-Currency Debit Amount", "Add.-Currency Credit Amount",
        "Gen. Posting Type", "Gen. Bus. Posting Group", "Gen. Prod. Posting Group",
        "VAT Bus. Posting Group", "VAT Prod. Posting Group", "VAT Amount", "Bal. Account Type",
        "Bal. Account No.", "Source Type", "Source No.", "System-Created Entry", "Prior-Year Entry",
        "Quantity", "Prod. Order No.", "FA Entry Type", "FA Entry No.", "Tax Area Code",
        "Tax Liable", "Tax Group Code", "Use Tax", "IC Partner Code", "Reversed",
        "Reversed by Entry No.", "Reversed Entry No.", "Business Unit Code",
        "Close Income Statement Dim. ID", "Account Id", "Dimension Changes Count",
        "No. Series", "Transaction Type", "Last Dim. Correction Entry No.",
        "Last Dim. Correction Node", "Allocation Account No.",
    )

    entry_no: EntryNo = F("Entry No.")
    gl_account_no: CodeOrNull = F("G/L Account No.", None)
    posting_date: GLDate = F("Posting Date")
    document_no: Text = F("Document No.", "")
    external_document_no: Text = F("External Document No.", "")
    description: Text = F("Description", "")
    amount: RequiredCents = F("Amount")
    source_code: Text = F("Source Code", "")
    transaction_no: Number = F("Transaction No.", 0)
    dimension_set_id: DimSetId = F("Dimension Set ID", 0)

    # The C prefix becomes closing = 1 in SQLite (posting_date holds the bare date).
    @classmethod
    def db_columns(cls) -> tuple[str, ...]:
        return (*cls.model_fields, "closing")

    @classmethod
    def db_values_from_fields(cls, values: list[Any]) -> tuple[Any, ...]:
        d = values[2]  # posting_date
        closing = 0
        if d[:1] == "C":
            values[2] = d[1:]
            closing = 1
        return (*values, closing)

    @classmethod
    def export_formatters(cls) -> list[Callable[[Any], str]]:
        return [*super().export_formatters(), str]

    @classmethod
    def export_row(cls, formatters: list[Callable[[Any], str]], values: tuple[Any, ...]) -> list[str]:
        cells = [f(v) for f, v in zip(formatters, values, strict=True)]
        closing = cells.pop()
        if closing == "1":
            cells[2] = "C" + cells[2]
        return cells


class GLItemLedgerRelationRow(CsvRow):
    file_name: ClassVar[str] = "gl_item_ledger_relations.csv"
    table: ClassVar[str] = "gl_item_ledger_relation"
    key: ClassVar[tuple[str, ...]] = ("gl_entry_no", "value_entry_no")
    required: ClassVar[tuple[str, ...]] = ("gl_entry_no", "value_entry_no")
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable()

    gl_entry_no: RequiredRefNo = F("G/L Entry No.")
    value_entry_no: RequiredRefNo = F("Value Entry No.")
    gl_register_no: RefNo = F("G/L Register No.", 0)


class GLRegisterRow(CsvRow):
    file_name: ClassVar[str] = "gl_registers.csv"
    table: ClassVar[str] = "gl_register"
    key: ClassVar[tuple[str, ...]] = ("no",)
    required: ClassVar[tuple[str, ...]] = ("no",)
    mode: ClassVar[str] = "insert"
    ignorable: ClassVar[frozenset[str]] = _ignorable(
        "From VAT Entry No.", "To VAT Entry No.", "Creation Time", "Journal Batch Name",
        "Journal Templ. Name", "Reversed", "From Value Entry No.", "To Value Entry No.",
        "From Entry No. (Item)", "To Entry No. (Item)", "Creation DateTime",
    )

    no: EntryNo = F("No.")
    from_entry_no: RefNo = F("From Entry No.", 0)
    to_entry_no: RefNo = F("To Entry No.", 0)
    creation_date: DateOrBlank = F("Creation Date", "")
    source_code: Text = F("Source Code", "")


# Import (dependency) order: master data, setup, then entries; relations after both entry tables.
ROW_MODELS: tuple[type[CsvRow], ...] = (
    GLAccountRow,
    ItemRow,
    LocationRow,
    InventoryPostingSetupRow,
    GeneralPostingSetupRow,
    InventorySetupRow,
    GeneralLedgerSetupRow,
    AccountingPeriodRow,
    DimensionSetEntryRow,
    DefaultDimensionRow,
    ItemLedgerEntryRow,
    ItemApplicationEntryRow,
    AvgCostAdjmtEntryPointRow,
    ValueEntryRow,
    GLEntryRow,
    GLRegisterRow,
    GLItemLedgerRelationRow,
)

MODEL_BY_FILE: dict[str, type[CsvRow]] = {m.file_name: m for m in ROW_MODELS}


def snake_case(caption: str) -> str:
    """'Cost Amount (Actual) (ACY)' -> 'cost_amount_actual_acy'; 'G/L Entry No.' -> 'gl_entry_no'."""
    s = caption.replace("G/L", "GL").replace("%", " pct ")
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    return s
