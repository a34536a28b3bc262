"""*Post Inventory Cost to G/L*: the engine, its preview and test report, automatic cost posting.

Spec: ``20-posting-bc-reference.md`` (§2 rules, §3 the batch, §4 problems, §6.1 automatic
posting), ``40-interfaces.md`` §4 (JSON), ``50-product.md`` §1-2 (skip-not-abort, reasons).

How a run works (``post_inventory_cost``):

* **Queue** (derived, 40-interfaces §2): value entries with Cost Amount (Actual) <> Cost Posted
  to G/L, or (Expected Cost Posting to G/L on) Cost Amount (Expected) <> Expected Cost Posted to
  G/L, within the filters (posting date range, item filter and location filter), items whose
  Type is not Inventory passed over. Item entries in (Item No., Posting Date, Entry No.) order
  through the partial index ``value_entry_unposted``, then capacity entries (blank Item Ledger
  Entry Type) in (Order Type, Order No., Entry No.) order. Read with a cursor in batches of
  ``BATCH_SIZE``; nothing holds the whole queue.
* **Per entry**: validation (``_Engine._plan``, shared by the run, the preview, the test report
  and automatic cost posting): expected-cost gate, rule combination, setup rows, blank accounts,
  allowed posting dates, G/L accounts. Any problem skips the whole entry with a reason; dimension
  problems only add an override to the report. The plan per combination of (types, setup keys,
  signs) is cached, so the per-entry cost is a dict lookup and the arithmetic.
* **Writing** (one ``write_transaction``): per entry, G/L rows and relation rows go out with
  ``executemany`` per batch; per posting group, the lines are summed in a dict keyed by the
  nine-part group key (bounded by the number of groups) with the fed value entry numbers in
  compact ``array('q')`` buffers, and written at the end. The posted fields are assigned with one
  set-based UPDATE over the same queue condition, minus the skipped entries (a temp table).
  One G/L register per run (source code INVTPCOST), transaction numbers change with document
  no. or posting date, G/L entry numbers continue from the highest.
* **Large runs** (``_bulk_writes``: the queue is a large part of the ledger) drop the
  pre-aggregate triggers and add the deltas the engine collects (``preaggregates.PostingLoad``);
  from ``posting_worker.MIN_QUEUE`` entries on a WAL ledger the engine itself runs in a process
  of its own beside this (writing) one (``invrecon.posting_worker``), so that the engine's
  Python and SQLite's inserts use both cores. The engine's output goes through its ``_emit_*``
  methods, which the writing process also uses to apply what the engine process sends.
* **Report lines**: per entry, batches of lines pickled (``PostingReport.add_lines``), per
  posting group ``PostingLine`` tuples, both in ``spill.SpillList``s (a bounded number in
  memory, the rest in an anonymous temporary file) read back lazily by
  ``PostingReport.iter_lines()`` / ``write_json()``. Skipped entries spill the same way.
  Everything else in the report is bounded (totals per account type, per item and per capacity
  order sums), except the dimension overrides.

Descriptions per entry use ISO dates: ``"<Entry Type> <Source No.> on <YYYY-MM-DD>"``.
"""

from __future__ import annotations

import array
import datetime as dt
import json
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from sqlite_utils import Database

from invrecon.enums import PostingAccountType
from invrecon.errors import InvreconError
from invrecon.filters import LedgerFilter
from invrecon.ledger import write_transaction
from invrecon.money import format_cents
from invrecon.posting_rules import (
    ACCOUNT_TYPES,
    PostingSetup,
    Problem,
    Reason,
    RuleSet,
    rules_for,
)
from invrecon.preaggregates import ve_key
from invrecon.spill import SpillList

SOURCE_CODE = "INVTPCOST"
BATCH_SIZE = 1000
STAGE_KEYS = 20_000  # pre-aggregate delta keys held before they go to the pre-aggregates
LINES_IN_MEMORY = 100_000
SKIPPED_IN_MEMORY = 10_000  # skipped entries per in-memory chunk (invrecon.spill)
GROUP_LINES_IN_MEMORY = 10_000  # per posting group: G/L lines per in-memory chunk
GROUP_WRITE_BATCH = 50_000  # per posting group: relation rows per write batch
DESCRIPTION_LENGTH = 100
DIMENSION_REASON_CODE = "dimension_value_posting"
# Runs of at least this many queued entries, and this share of the ledger, use the bulk path
# for the pre-aggregates (drop triggers, rebuild at the end).
BULK_MIN_ENTRIES = 20_000
BULK_SHARE_DIVISOR = 5  # at least one fifth of the ledger (integer arithmetic)

T = PostingAccountType


class PostingCancelled(InvreconError):
    """The run was cancelled; the transaction was rolled back, nothing was posted."""


class AutomaticPostingError(InvreconError):
    """Automatic cost posting met a problem; the caller's item posting must fail."""

    def __init__(self, message: str, value_entry_no: int, reason_code: str):
        super().__init__(message)
        self.value_entry_no = value_entry_no
        self.reason_code = reason_code


# --- request -------------------------------------------------------------------------------------

class PostingRequest(BaseModel):
    """What to post. ``filters``: posting date range, item filter and location filter are
    applied to the queue (BC has no location filter; invrecon applies it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["per-entry", "per-posting-group"] = "per-entry"
    document_no: str | None = None
    preview: bool = False
    filters: LedgerFilter = LedgerFilter()

    @model_validator(mode="after")
    def _document_no_rules(self) -> PostingRequest:
        doc = (self.document_no or "").strip()
        if self.mode == "per-posting-group" and not doc:
            raise ValueError("Please enter a Document No. when posting per Posting Group.")
        if self.mode == "per-entry" and doc:
            raise ValueError("Do not enter a Document No. when posting per Entry.")
        if len(doc) > 20:
            raise ValueError(f"Document No. '{doc}' is longer than 20 characters")
        return self


# --- report objects ------------------------------------------------------------------------------

@dataclass(slots=True)
class SkippedEntry:
    value_entry_no: int
    item_no: str | None
    posting_date: str
    item_ledger_entry_type: str
    entry_type: str
    document_no: str
    location_code: str
    cost_amount: int  # cents: the expected amount if Expected Cost = Yes, else the actual
    reason_code: str
    reason: str
    # extra columns of BC's Skipped section
    source_no: str = ""
    inventory_posting_group: str = ""
    gen_bus_posting_group: str = ""
    gen_prod_posting_group: str = ""
    expected_cost: bool = False

    def as_tuple(self) -> tuple:
        return (self.value_entry_no, self.item_no, self.posting_date, self.item_ledger_entry_type,
                self.entry_type, self.document_no, self.location_code, self.cost_amount,
                self.reason_code, self.reason, self.source_no, self.inventory_posting_group,
                self.gen_bus_posting_group, self.gen_prod_posting_group, self.expected_cost)

    @classmethod
    def from_tuple(cls, t: tuple) -> SkippedEntry:
        return cls(*t)

    def to_json(self) -> dict[str, Any]:
        return {
            "value_entry_no": self.value_entry_no,
            "item_no": self.item_no,
            "posting_date": self.posting_date,
            "item_ledger_entry_type": self.item_ledger_entry_type,
            "entry_type": self.entry_type,
            "document_no": self.document_no,
            "location_code": self.location_code,
            "cost_amount": format_cents(self.cost_amount),
            "reason_code": self.reason_code,
            "reason": self.reason,
        }


@dataclass(slots=True)
class DimensionOverride:
    value_entry_no: int
    gl_account_no: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"value_entry_no": self.value_entry_no, "gl_account_no": self.gl_account_no,
                "message": self.message}


@dataclass(slots=True)
class PostingLine:
    """One G/L line of the run (posted, or planned in a preview/test report)."""

    gl_entry_no: int  # planned number in a preview
    posting_date: str
    gl_account_no: str
    account_type: PostingAccountType
    amount: int  # cents
    document_no: str
    description: str
    value_entry_nos: Sequence[int]
    transaction_no: int
    dimension_set_id: int
    external_document_no: str = ""
    # per posting group: the rest of the group key
    bal_account_type: PostingAccountType | None = None
    location_code: str | None = None
    inventory_posting_group: str | None = None
    gen_bus_posting_group: str | None = None
    gen_prod_posting_group: str | None = None

    def as_tuple(self) -> tuple:
        return (self.gl_entry_no, self.posting_date, self.gl_account_no, self.account_type.ordinal,
                self.amount, self.document_no, self.description, self.value_entry_nos,
                self.transaction_no, self.dimension_set_id, self.external_document_no,
                None if self.bal_account_type is None else self.bal_account_type.ordinal,
                self.location_code, self.inventory_posting_group, self.gen_bus_posting_group,
                self.gen_prod_posting_group)

    @classmethod
    def from_tuple(cls, t: tuple) -> PostingLine:
        return cls(t[0], t[1], t[2], ACCOUNT_TYPES[t[3]], *t[4:11],
                   None if t[11] is None else ACCOUNT_TYPES[t[11]], *t[12:])

    def to_json(self) -> dict[str, Any]:
        return {
            "posting_date": self.posting_date,
            "gl_account_no": self.gl_account_no,
            "account_type": self.account_type.key,
            "amount": format_cents(self.amount),
            "document_no": self.document_no,
            "description": self.description,
            "value_entry_nos": list(self.value_entry_nos),
        }


@dataclass(slots=True)
class PostingProgress:
    processed: int
    total: int
    posted: int
    skipped_so_far: int
    new_skipped: list[SkippedEntry]


# Columns of BC's report 1002 (§3.10) and which account types feed them.
REPORT_COLUMNS: tuple[str, ...] = (
    "COGS", "Inventory Adjustment", "Direct Cost Applied", "Overhead Applied",
    "Purchase Variance", "Mfg. Direct Cost Variance", "Manufacturing Ovhd Variance",
    "WIP Inventory", "Inventory",
)
_COLUMN_OF: dict[PostingAccountType, int] = {
    T.COGS: 0, T.COGS_INTERIM: 0,
    T.INVENTORY_ADJMT: 1, T.INVT_ACCRUAL_INTERIM: 1,
    T.DIRECT_COST_APPLIED: 2,
    T.OVERHEAD_APPLIED: 3,
    T.PURCHASE_VARIANCE: 4,
    T.MATERIAL_VARIANCE: 5, T.CAPACITY_VARIANCE: 5, T.SUBCONTRACTED_VARIANCE: 5,
    T.CAP_OVERHEAD_VARIANCE: 5,
    T.MFG_OVERHEAD_VARIANCE: 6,
    T.WIP_INVENTORY: 7,
    T.INVENTORY: 8, T.INVENTORY_INTERIM: 8,
}
_COLUMN_BY_ORDINAL: tuple[int, ...] = tuple(_COLUMN_OF[t] for t in ACCOUNT_TYPES)


def _pickle_lines(gl_rows: list, ordinals: bytes, rel_rows: list) -> bytes:
    """One batch of per-entry lines as the report keeps it (see ``PostingReport.add_lines``)."""
    return pickle.dumps((gl_rows, ordinals, rel_rows), protocol=pickle.HIGHEST_PROTOCOL)


class PostingLines(Sequence[PostingLine]):
    """The lines of a report: a lazy sequence (reads spilled lines back on iteration)."""

    def __init__(self, report: PostingReport):
        self._report = report
        self._cache: list[PostingLine] | None = None

    def __len__(self) -> int:
        return self._report._line_count()

    def __iter__(self) -> Iterator[PostingLine]:
        if self._cache is not None:
            return iter(self._cache)
        return self._report.iter_lines()

    def __getitem__(self, index):  # type: ignore[override]
        if self._cache is None:
            self._cache = list(self._report.iter_lines())
        return self._cache[index]


class PostingReport:
    """The result of a run (or of a preview). ``to_json()`` is 40-interfaces §4 ``post --json``."""

    def __init__(self, request: PostingRequest):
        self.request = request
        self.mode = request.mode
        self.preview = request.preview
        self.document_no = request.document_no
        self.filters = request.filters
        self.register_no: int | None = None
        self.posted_value_entries = 0
        self.gl_entries_created = 0  # planned lines in a preview
        self.processed = 0
        # Bounded memory: a run can skip millions of entries (invrecon.spill).
        self.skipped: SpillList[SkippedEntry] = SpillList(
            chunk=SKIPPED_IN_MEMORY, encode=SkippedEntry.as_tuple, decode=SkippedEntry.from_tuple)
        self.dimension_overrides: list[DimensionOverride] = []
        self._totals: list[int] = [0] * len(ACCOUNT_TYPES)
        # Per item (item entries) and per order no. (capacity entries): BC's report columns.
        self.item_columns: dict[str, list[int]] = {}
        self.capacity_columns: dict[str, list[int]] = {}
        # per entry: batches of lines, pickled (``add_lines``), LINES_IN_MEMORY lines in memory
        self._entry_lines: SpillList[bytes] | None = None
        self._entry_line_count = 0
        self._group_lines: SpillList[PostingLine] | None = None

    def add_lines(self, data: bytes, count: int) -> None:
        """Keep a batch of ``count`` per-entry lines, pickled by ``_pickle_lines`` (the
        engine process sends them so; they are kept as they came)."""
        if self._entry_lines is None:
            self._entry_lines = SpillList(chunk=max(1, LINES_IN_MEMORY // BATCH_SIZE))
        self._entry_lines.append(data)
        self._entry_line_count += count

    # -- lines --

    def _line_count(self) -> int:
        if self._group_lines is not None:
            return len(self._group_lines)
        return self._entry_line_count

    @property
    def lines(self) -> PostingLines:
        return PostingLines(self)

    def iter_lines(self) -> Iterator[PostingLine]:
        if self._group_lines is not None:
            yield from self._group_lines
            return
        if self._entry_lines is None:
            return
        types = ACCOUNT_TYPES
        for data in self._entry_lines:
            gl_rows, ordinals, rel_rows = pickle.loads(data)
            for row, ordinal, rel in zip(gl_rows, ordinals, rel_rows, strict=True):
                no, acc, date, doc, ext, desc, amount, txn, dimset = row
                yield PostingLine(no, date, acc, types[ordinal], amount, doc, desc, (rel[1],),
                                  txn, dimset, ext)

    @property
    def lines_spilled(self) -> bool:
        return self._entry_lines is not None and self._entry_lines.spilled

    # -- totals --

    @property
    def totals_by_account_type(self) -> dict[str, int]:
        """Cents per account type (snake_case keys, BC's ordinal order)."""
        return {t.key: self._totals[i] for i, t in enumerate(ACCOUNT_TYPES)}

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)

    def column_totals(self) -> list[int]:
        out = [0] * len(REPORT_COLUMNS)
        for cols in (*self.item_columns.values(), *self.capacity_columns.values()):
            for i, v in enumerate(cols):
                out[i] += v
        return out

    # -- JSON --

    def _head_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "preview": self.preview,
            "document_no": self.document_no,
            "register_no": self.register_no,
            "posted_value_entries": self.posted_value_entries,
            "gl_entries_created": self.gl_entries_created,
        }

    def _tail_json(self) -> dict[str, Any]:
        return {
            "totals_by_account_type": {k: format_cents(v)
                                       for k, v in self.totals_by_account_type.items()},
            "dimension_overrides": [d.to_json() for d in self.dimension_overrides],
            "skipped": _Stream(s.to_json() for s in self.skipped),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole report as one dict (materialises every line; for huge runs prefer
        ``write_json``, which streams the lines)."""
        tail = {k: list(v) if isinstance(v, _Stream) else v for k, v in self._tail_json().items()}
        return {**self._head_json(), "lines": [ln.to_json() for ln in self.iter_lines()], **tail}

    def write_json(self, fp: IO[str]) -> None:
        """Write ``to_json()`` to ``fp`` without building the line list in memory."""
        _write_json_object(fp, self._head_json(), "lines",
                           (ln.to_json() for ln in self.iter_lines()), self._tail_json())

    def close(self) -> None:
        if self._entry_lines is not None:
            self._entry_lines.close()


class _Stream:
    """A list value of a JSON report written item by item (never held in memory whole)."""

    def __init__(self, items: Iterable[Any]):
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)


def _write_stream(fp: IO[str], items: Iterable[Any]) -> None:
    """Write a list exactly as ``json.dumps(list, indent=2)`` nested one level would."""
    fp.write("[")
    first = True
    for item in items:
        fp.write("\n    " if first else ",\n    ")
        fp.write(json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n    "))
        first = False
    fp.write("]" if first else "\n  ]")


def _write_json_object(fp: IO[str], head: dict[str, Any], list_key: str,
                       items: Iterator[dict[str, Any]], tail: dict[str, Any]) -> None:
    fp.write("{\n")
    for k, v in head.items():
        fp.write(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n")
    fp.write(f"  {json.dumps(list_key)}: [")
    first = True
    for item in items:
        fp.write("\n    " if first else ",\n    ")
        fp.write(json.dumps(item, ensure_ascii=False))
        first = False
    fp.write("\n  ]" if not first else "]")
    for k, v in tail.items():
        if isinstance(v, _Stream):
            fp.write(f",\n  {json.dumps(k)}: ")
            _write_stream(fp, v)
            continue
        body = json.dumps(v, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        fp.write(f",\n  {json.dumps(k)}: {body}")
    fp.write("\n}\n")


class PostingTestReport:
    """``post-test``: every problem the real run would meet, and the planned G/L lines."""

    def __init__(self, report: PostingReport):
        self.report = report

    @property
    def lines(self) -> PostingLines:
        return self.report.lines

    @property
    def skipped(self) -> Sequence[SkippedEntry]:
        return self.report.skipped

    @property
    def dimension_overrides(self) -> list[DimensionOverride]:
        return self.report.dimension_overrides

    def iter_problems(self) -> Iterator[dict[str, Any]]:
        for s in self.report.skipped:
            yield {"value_entry_no": s.value_entry_no, "reason_code": s.reason_code,
                   "reason": s.reason, "kind": "skip"}
        for d in self.report.dimension_overrides:
            yield {"value_entry_no": d.value_entry_no, "reason_code": DIMENSION_REASON_CODE,
                   "reason": d.message, "kind": "dimension-override"}

    def problems(self) -> list[dict[str, Any]]:
        return list(self.iter_problems())

    def to_json(self) -> dict[str, Any]:
        return {"lines": [ln.to_json() for ln in self.report.iter_lines()],
                "problems": self.problems()}

    def write_json(self, fp: IO[str]) -> None:
        _write_json_object(fp, {}, "lines", (ln.to_json() for ln in self.report.iter_lines()),
                           {"problems": _Stream(self.iter_problems())})


# --- the queue -----------------------------------------------------------------------------------

_SELECT_COLUMNS = (
    "ve.entry_no, ve.item_no, ve.posting_date, ve.item_ledger_entry_type, ve.entry_type, "
    "ve.variance_type, ve.document_no, ve.external_document_no, ve.location_code, "
    "ve.inventory_posting_group, ve.gen_bus_posting_group, ve.gen_prod_posting_group, "
    "ve.source_type, ve.source_no, ve.order_type, ve.order_no, ve.cost_amount_actual, "
    "ve.cost_amount_expected, ve.cost_posted_to_gl, ve.expected_cost_posted_to_gl, "
    "ve.expected_cost, ve.dimension_set_id"
)

# Exactly the partial index's condition, so SQLite can use value_entry_unposted.
_UNPOSTED = ("(ve.cost_amount_actual <> ve.cost_posted_to_gl "
             "OR ve.cost_amount_expected <> ve.expected_cost_posted_to_gl)")
_INVENTORY_ITEMS_ONLY = ("(ve.item_no IS NULL OR ve.item_no NOT IN "
                         "(SELECT no FROM item WHERE type <> 'Inventory'))")


# BC sorts Order Type by its ordinal: ' ', Production, Transfer, Service, Assembly.
_ORDER_TYPE_ORDINAL = ("CASE ve.order_type WHEN '' THEN 0 WHEN 'Production' THEN 1 "
                       "WHEN 'Transfer' THEN 2 WHEN 'Service' THEN 3 ELSE 4 END")


def _expected_cost_posting(db: Database) -> bool:
    row = db.conn.execute("SELECT expected_cost_posting_to_gl FROM inventory_setup").fetchone()
    return bool(row[0]) if row else False


def _queue_where(filters: LedgerFilter, ecp: bool,
                 alias: str = "ve") -> tuple[str, tuple[object, ...]]:
    f = filters.value_entry_sql(alias)
    parts = [_UNPOSTED]
    if not ecp:
        parts.append("ve.cost_amount_actual <> ve.cost_posted_to_gl")
    parts.append(_INVENTORY_ITEMS_ONLY)
    sql = " AND ".join(parts).replace("ve.", f"{alias}.")
    return f"{sql} AND {f.sql}", f.params


def count_queue(db: Database, request: PostingRequest) -> int:
    """Value entries waiting to be posted within the request's filters (one SQL count)."""
    where, params = _queue_where(request.filters, _expected_cost_posting(db))
    return db.conn.execute(f"SELECT count(*) FROM value_entry ve WHERE {where}", params).fetchone()[0]


def _queue_cursors(db: Database, filters: LedgerFilter, ecp: bool,
                   large: bool = False) -> Iterator[Any]:
    """The queue in BC's order: item entries, then capacity entries. ``large``: the queue is
    a large part of the ledger (a bulk run): the capacity entries (a small part of it, found
    only by reading each queued row) come from one pass over the table in its own order
    instead of a row visit per entry of the partial index."""
    where, params = _queue_where(filters, ecp)
    yield db.conn.execute(
        f"SELECT {_SELECT_COLUMNS} FROM value_entry ve INDEXED BY value_entry_unposted "
        f"WHERE {where} AND ve.item_ledger_entry_type <> '' "
        "ORDER BY ve.item_no, ve.posting_date, ve.entry_no", params)
    yield db.conn.execute(
        f"SELECT {_SELECT_COLUMNS} FROM value_entry ve {'NOT INDEXED' if large else ''} "
        f"WHERE {where} AND ve.item_ledger_entry_type = '' "
        f"ORDER BY {_ORDER_TYPE_ORDINAL}, ve.order_no, ve.entry_no", params)


# --- the engine ----------------------------------------------------------------------------------

@dataclass(slots=True)
class _Plan:
    """The validated G/L lines of one combination (types, setup keys, signs of the parts)."""

    early: Problem | None  # setup row missing/blocked, blank account, invalid combination
    late: Problem | None  # the G/L account (after the posting date check)
    # (account no., type ordinal, bal. type ordinal, sign, is expected part, line's invt. group)
    lines: tuple[tuple[str, int, int, int, bool, str], ...] = ()
    dim_accounts: tuple[str, ...] = ()


@dataclass
class _Engine:
    db: Database
    setup: PostingSetup
    report: PostingReport
    per_group: bool
    write: bool
    strict: bool = False  # automatic cost posting: problems raise
    on_progress: Callable[[PostingProgress], None] | None = None
    cancel: threading.Event | None = None
    total: int = 0
    _plans: dict[tuple, _Plan] = field(default_factory=dict)
    _groups: dict[tuple, list] = field(default_factory=dict)
    _strings: dict[str, str] = field(default_factory=dict)  # shared by the group keys
    _skipped_batch: list[tuple[int]] = field(default_factory=list)
    _new_skipped: list[tuple] = field(default_factory=list)  # SkippedEntry.as_tuple form
    posted_entry_nos: list[int] | None = None
    agg: Any = None  # a preaggregates.PostingLoad in a large run: collects the deltas
    # entries whose posted fields were set batch by batch (assign_posted_now); None: at the end
    posted_as_it_goes: int | None = None

    def __post_init__(self) -> None:
        conn = self.db.conn
        self.next_gl = conn.execute("SELECT coalesce(max(entry_no), 0) FROM gl_entry").fetchone()[0] + 1
        self.first_gl = self.next_gl
        self.txn = conn.execute("SELECT coalesce(max(transaction_no), 0) FROM gl_entry").fetchone()[0]
        self.register_no = conn.execute("SELECT coalesce(max(no), 0) FROM gl_register").fetchone()[0] + 1
        self._last_doc_date: tuple[str, str] | None = None
        self.document_no = self.report.document_no or ""
        if self.write:
            self._prepare_output()
        if self.agg is not None:
            # the G/L amounts and pieces of the new entries are known here (per posting group
            # unless a group's split turns out irregular: see finish_groups)
            self.agg.collect_lines()

    # -- validation (shared by every mode) --

    def _plan(self, ile: str, et: str, vt: str, ot: str, expected_cost: bool, has_exp: bool,
              loc: str, ig: str, wg: str | None, bus: str, prod: str, se: int, sa: int) -> _Plan:
        rs = rules_for(ile, et, vt if et == "Variance" else "", ot if ile == "" else "",
                       expected_cost, has_exp)
        if isinstance(rs, Problem):
            return _Plan(rs, None)
        assert isinstance(rs, RuleSet)
        pairs = []  # (account type, bal. type, +1 account / -1 balancing, is expected part)
        if se:
            if rs.expected is None:
                return _Plan(Problem(
                    Reason.INVALID_COMBINATION,
                    f"the entry carries expected cost, but Item Ledger Entry Type = "
                    f"{ile or '(blank)'}, Entry Type = {et} has no interim posting rule (BC drops "
                    "the expected part silently); correct the value entry",
                ), None)
            pairs.append((rs.expected.account, rs.expected.balancing, 1, True))
            pairs.append((rs.expected.balancing, rs.expected.account, -1, True))
        if sa:
            pairs.append((rs.actual.account, rs.actual.balancing, 1, False))
            pairs.append((rs.actual.balancing, rs.actual.account, -1, False))
        setup = self.setup
        resolved = []
        early: Problem | None = None
        for acc_type, bal_type, sign, is_exp in pairs:
            group = ig
            if acc_type is T.WIP_INVENTORY:
                if wg is None:
                    early = early or Problem(
                        Reason.MISSING_INVENTORY_POSTING_SETUP,
                        "the produced item (Source No.) of this consumption does not exist, so "
                        "the WIP Account's Inventory Posting Group is unknown; correct the entry",
                    )
                    continue
                group = wg
            account, problem = setup.setup_account(acc_type, loc, group, bus, prod)
            if problem is not None:
                # setup row problems come before blank-account problems (test report order)
                if early is None or (early.reason_code is Reason.BLANK_ACCOUNT
                                     and problem.reason_code is not Reason.BLANK_ACCOUNT):
                    early = problem
                continue
            resolved.append((account, acc_type.ordinal, bal_type.ordinal, sign, is_exp, group))
        if early is not None:
            return _Plan(early, None)
        late = None
        for line in resolved:
            late = setup.account_problem(line[0])
            if late is not None:
                break
        # BC's key order inside one entry: account type, Negative, bal. account type.
        resolved.sort(key=lambda x: (x[1], x[3] * (se if x[4] else sa) < 0, x[2]))
        dim_accounts = tuple(dict.fromkeys(
            a for a, *_ in resolved if a in setup.dimension_rules))
        return _Plan(None, late, tuple(resolved), dim_accounts)

    def _skip(self, row: tuple, problem: Problem) -> None:
        (ve_no, item_no, pdate, ile, et, _vt, doc, _ext, loc, ig, bus, prod, _st, sno, _ot, _ono,
         caa, cae, _cpg, _ecpg, expflag, _dim) = row
        if self.strict:
            raise AutomaticPostingError(
                f"automatic cost posting of value entry {ve_no} failed: {problem.reason}",
                ve_no, str(problem.reason_code))
        s = (ve_no, item_no, pdate, ile, et, doc, loc, cae if expflag else caa,
             str(problem.reason_code), problem.reason, sno, ig, bus, prod, bool(expflag))
        self._emit_skip(s)

    # -- where the engine's output goes (overridden by the engine process of a large run:
    #    invrecon.posting_worker sends it to the writing process, which applies it with these)

    def _prepare_output(self) -> None:
        conn = self.db.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS invrecon_posting_skipped "
                     "(entry_no INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.invrecon_posting_skipped")

    def _emit_skip(self, s: tuple) -> None:
        """A skipped entry (``SkippedEntry.as_tuple`` form)."""
        self.report.skipped.append_encoded(s)
        if self.write:  # to temp.invrecon_posting_skipped at the end of the batch
            self._skipped_batch.append((s[0],))
        if self.on_progress is not None:
            self._new_skipped.append(s)

    def _emit_lines(self, gl_rows: list, ordinals: bytes, rel_rows: list) -> None:
        """A batch of per-entry G/L rows and relation rows."""
        if gl_rows:
            self.apply_lines(_pickle_lines(gl_rows, ordinals, rel_rows), gl_rows, rel_rows)

    def apply_lines(self, data: bytes, gl_rows: list, rel_rows: list) -> None:
        if self.write:
            self.insert(self.db, gl_rows, rel_rows)
        self.report.add_lines(data, len(gl_rows))

    def _end_batch(self) -> None:
        if self._skipped_batch:  # the final UPDATE leaves these out (never held in memory)
            self.db.conn.executemany("INSERT OR IGNORE INTO temp.invrecon_posting_skipped "
                                     "VALUES (?)", self._skipped_batch)
            self._skipped_batch = []
        self._hand_over_when_full()

    def _hand_over_when_full(self) -> None:
        agg = self.agg
        if agg is not None and agg.pending() > STAGE_KEYS:  # bounded memory: hand them over
            self._emit_deltas(agg.take())

    def _emit_deltas(self, taken: tuple) -> None:
        self.agg.add_deltas(self.db.conn, taken)

    def _emit_groups(self, gl_rows: list, lines: list[tuple], multi_rows: list[tuple]) -> None:
        """Per posting group: G/L rows, relation rows, report lines (``PostingLine.as_tuple``)
        and agg_gl_multi rows of a batch of groups."""
        if self.write:
            if gl_rows:
                self._write_groups(gl_rows, lines)
            if multi_rows:
                self.agg.add_multi(self.db.conn, multi_rows)
        group_lines = self.report._group_lines
        if group_lines is None:
            group_lines = self.report._group_lines = SpillList(
                chunk=GROUP_LINES_IN_MEMORY, encode=PostingLine.as_tuple,
                decode=PostingLine.from_tuple)
        for t in lines:
            group_lines.append_encoded(t)

    def _emit_irregular(self, irregular: list[tuple[int, int]]) -> None:
        if self.write:
            self.agg.correct_pieces(self.db.conn, irregular, self.setup.expected_cost_posting)

    def assign_posted_now(self, nos: Iterable[int]) -> None:
        """Set the posted fields (``_assign_posted_fields``) of entries the engine has posted,
        now instead of at the end: per posting group the writing process of a run with an
        engine process would otherwise wait for the engine's pass over the queue. What each
        entry had left to post (the lines of its G/L lines) is kept in
        ``temp.invrecon_posted_before`` for ``PostingLoad.correct_pieces``, which reads it
        after the posted fields are set. The engine process reads the queue from its own
        snapshot, so it never sees these updates."""
        conn = self.db.conn
        if self.posted_as_it_goes is None:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS invrecon_posted_now "
                         "(entry_no INTEGER PRIMARY KEY)")
            conn.execute("DROP TABLE IF EXISTS temp.invrecon_posted_before")
            conn.execute("CREATE TEMP TABLE invrecon_posted_before (entry_no INTEGER PRIMARY KEY, "
                         "act INTEGER NOT NULL, exp INTEGER NOT NULL)")
            self.posted_as_it_goes = 0
            if self.agg is not None:
                self.agg.posted_before = "temp.invrecon_posted_before"
        conn.execute("DELETE FROM temp.invrecon_posted_now")
        conn.executemany("INSERT INTO temp.invrecon_posted_now VALUES (?)", ((n,) for n in nos))
        conn.execute(
            "INSERT INTO temp.invrecon_posted_before SELECT ve.entry_no, "
            "ve.cost_amount_actual - ve.cost_posted_to_gl, "
            "ve.cost_amount_expected - ve.expected_cost_posted_to_gl "
            "FROM temp.invrecon_posted_now n JOIN value_entry ve ON ve.entry_no = n.entry_no")
        cur = conn.execute(
            f"UPDATE value_entry SET {_posted_fields(self.setup.expected_cost_posting)} "
            "WHERE entry_no IN (SELECT entry_no FROM temp.invrecon_posted_now)")
        self.posted_as_it_goes += cur.rowcount

    # -- the loop --

    def process(self, rows: list[tuple]) -> None:
        """Validate and post (or plan) one batch of value entries."""
        setup = self.setup
        report = self.report
        ecp = setup.expected_cost_posting
        plans = self._plans
        allow_from, allow_to = setup.allow_from, setup.allow_to
        totals = report._totals
        col_of = _COLUMN_BY_ORDINAL
        per_group = self.per_group
        groups = self._groups
        strs = self._strings
        dim_rules = setup.dimension_rules
        gl_rows: list[tuple] = []
        rel_rows: list[tuple[int, int]] = []
        ordinals = bytearray()
        gl_no = self.next_gl
        txn = self.txn
        last = self._last_doc_date
        item_columns = report.item_columns
        capacity_columns = report.capacity_columns
        posted = 0
        posted_nos = self.posted_entry_nos
        agg = self.agg
        ve_delta: Any = None
        gl_delta: Any = None
        piece_delta: Any = None
        if agg is not None:
            ve_delta = agg.ve_delta
            gl_delta = agg.gl_delta
            piece_delta = agg.piece_delta
        for row in rows:
            (ve_no, item_no, pdate, ile, et, vt, doc, ext, loc, ig, bus, prod, st, sno, ot, ono,
             caa, cae, cpg, ecpg, expflag, dimset) = row
            act = caa - cpg
            if ecp:
                exp = cae - ecpg
            else:
                exp = 0
                if expflag and ecpg == 0:
                    if act and not self.strict:
                        self._skip(row, Problem(
                            Reason.EXPECTED_COST_POSTING_OFF,
                            "expected cost — Expected Cost Posting to G/L is off, so this "
                            "expected-cost entry is not posted; switch the setting on in "
                            "Inventory Setup or post the invoice",
                        ))
                    continue
            if not act and not exp:
                continue  # nothing to post: leaves the queue silently
            wg = ig
            if st == "Item" and sno and sno != item_no:
                wg = setup.item_posting_group(sno)
            key = (ile, et, vt, ot, expflag, cae != 0, loc, ig, wg, bus, prod,
                   (exp > 0) - (exp < 0), (act > 0) - (act < 0))
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._plan(ile, et, vt, ot, bool(expflag), cae != 0, loc, ig,
                                               wg, bus, prod, key[11], key[12])
            if plan.early is not None:
                self._skip(row, plan.early)
                continue
            if (allow_from and pdate < allow_from) or (allow_to and pdate > allow_to):
                self._skip(row, setup.date_problem(pdate))  # type: ignore[arg-type]
                continue
            if plan.late is not None:
                self._skip(row, plan.late)
                continue
            if plan.dim_accounts and dim_rules:
                for acc in plan.dim_accounts:
                    for msg in setup.dimension_problems(dimset, acc):
                        if self.strict:
                            raise AutomaticPostingError(
                                f"automatic cost posting of value entry {ve_no} failed: {msg}",
                                ve_no, DIMENSION_REASON_CODE)
                        report.dimension_overrides.append(DimensionOverride(ve_no, acc, msg))
            posted += 1
            if posted_nos is not None:
                posted_nos.append(ve_no)
            if agg is not None:  # the posted fields become the amounts: their deltas
                vkey = ve_key(pdate, item_no, ile, et, vt, ot, loc, ig, bus, prod, st, sno)
                d = ve_delta.get(vkey)
                if d is None:
                    ve_delta[vkey] = [act, exp]
                else:
                    d[0] += act
                    d[1] += exp
            if ile:
                cols = item_columns.get(item_no or "")
                if cols is None:
                    cols = item_columns[item_no or ""] = [0] * 9
            else:
                cols = capacity_columns.get(ono)
                if cols is None:
                    cols = capacity_columns[ono] = [0] * 9
            if per_group:
                for acc, o, bo, sign, is_exp, lgroup in plan.lines:
                    amount = exp * sign if is_exp else act * sign
                    gkey = (pdate, o, loc, lgroup, bus, prod, dimset, amount < 0, bo)
                    g = groups.get(gkey)
                    if g is None:  # one copy of each code/date string for all the groups
                        gkey = tuple(strs.setdefault(x, x) if type(x) is str else x
                                     for x in gkey)
                        # members: 4-byte entry nos. while they fit (a group buffer holds
                        # every posted entry's number, twice)
                        g = groups[gkey] = ([0, array.array("i"), acc] if piece_delta is None
                                            else [0, array.array("i"), acc,
                                                  array.array("q", (0, 0, 3 | is_exp << 2))])
                    g[0] += amount
                    try:
                        g[1].append(ve_no)
                    except OverflowError:  # an entry no. beyond 2^31: 8 bytes each
                        g[1] = array.array("q", g[1])
                        g[1].append(ve_no)
                    totals[o] += amount
                    cols[col_of[o]] += amount
                    if piece_delta is not None:
                        # The piece this member gets if the G/L entry's split is regular (see
                        # finish_groups): its own line amount. g[3] (compact): the sums of the
                        # posted amounts' sizes, and bits 1 / 2: every member's line is the
                        # size of its posted actual / expected amount (bit 4: the line posts
                        # the expected part).
                        stats = g[3]
                        pa = caa
                        pe = cae if ecp else ecpg
                        size = abs(amount)
                        try:
                            stats[0] += abs(pa)
                            stats[1] += abs(pe)
                        except OverflowError:
                            raise InvreconError(
                                f"value entry {ve_no}: the posted amounts of its posting "
                                "group add up beyond 64 bits; nothing was posted") from None
                        if size != abs(pa):
                            stats[2] &= ~1
                        if size != abs(pe):
                            stats[2] &= ~2
                        # preaggregates.piece_delta_key, inlined
                        pk = (vkey, acc or "", (amount == pa) | (amount == -pa) << 1
                              | (amount == pe) << 2 | (amount == -pe) << 3)
                        d = piece_delta.get(pk)
                        if d is None:
                            piece_delta[pk] = [amount, 1]
                        else:
                            d[0] += amount
                            d[1] += 1
            else:
                if last != (doc, pdate):
                    txn += 1
                    last = (doc, pdate)
                desc = f"{et} {sno} on {pdate}"
                if len(desc) > DESCRIPTION_LENGTH:
                    desc = desc[:DESCRIPTION_LENGTH]
                for acc, o, _bo, sign, is_exp, _lg in plan.lines:
                    amount = exp * sign if is_exp else act * sign
                    gl_rows.append((gl_no, acc, pdate, doc, ext, desc, amount, txn, dimset))
                    rel_rows.append((gl_no, ve_no))
                    ordinals.append(o)
                    gl_no += 1
                    totals[o] += amount
                    cols[col_of[o]] += amount
                    if piece_delta is not None:  # a single link: the piece is the amount
                        gk = (acc or "", pdate, 0)
                        g = gl_delta.get(gk)
                        if g is None:
                            gl_delta[gk] = [amount, 1]
                        else:
                            g[0] += amount
                            g[1] += 1
                        pe = cae if ecp else ecpg  # preaggregates.piece_delta_key, inlined
                        pk = (vkey, acc or "", (amount == caa) | (amount == -caa) << 1
                              | (amount == pe) << 2 | (amount == -pe) << 3)
                        g = piece_delta.get(pk)
                        if g is None:
                            piece_delta[pk] = [amount, 1]
                        else:
                            g[0] += amount
                            g[1] += 1
        report.posted_value_entries += posted
        report.processed += len(rows)
        self.txn = txn
        self._last_doc_date = last
        if not per_group:
            n = gl_no - self.next_gl
            self.next_gl = gl_no
            report.gl_entries_created += n
            self._emit_lines(gl_rows, bytes(ordinals), rel_rows)
        self._end_batch()

    def insert(self, db: Database, gl_rows: list, rel_rows: list) -> None:
        """Write one batch of per-entry G/L entries and their relation rows."""
        conn = db.conn
        conn.executemany(
            "INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, document_no, "
            "external_document_no, description, amount, source_code, transaction_no, "
            f"dimension_set_id) VALUES (?, ?, ?, ?, ?, ?, ?, '{SOURCE_CODE}', ?, ?)",
            gl_rows)
        conn.executemany(
            "INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no, "
            f"gl_register_no) VALUES (?, ?, {int(self.register_no)})", rel_rows)

    def progress(self) -> None:
        if self.on_progress is not None:
            r = self.report
            self.on_progress(PostingProgress(r.processed, self.total, r.posted_value_entries,
                                             len(r.skipped),
                                             [SkippedEntry(*t) for t in self._new_skipped]))
        self._new_skipped = []

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise PostingCancelled("posting cancelled; nothing was posted")

    # -- per posting group: the buffer becomes G/L entries --

    def finish_groups(self) -> None:
        """The buffered groups become G/L entries, in key order. Each group is dropped as its
        line is made, and the lines and rows go out in batches (``_emit_groups``; the report's
        lines spill to a temp file past a chunk): memory stays near the size of the buffer."""
        report = self.report
        doc = self.document_no
        gl_no = self.next_gl
        txn = self.txn
        last_date = None
        types = ACCOUNT_TYPES
        groups = self._groups
        write = self.write
        gl_rows: list[tuple] = []
        members_in_batch = 0
        lines: list[tuple] = []  # PostingLine.as_tuple form
        agg = self.agg
        gl_delta = agg.gl_delta if agg is not None else None
        multi_rows: list[tuple] = []
        irregular: list[tuple[int, int]] = []  # (G/L entry no., posts the expected part)
        created = 0
        for gkey in sorted(groups):
            pdate, o, loc, lgroup, bus, prod, dimset, _neg, bo = gkey
            g = groups.pop(gkey)
            amount, members, acc = g[0], g[1], g[2]
            if gl_delta is not None:  # the split's facts
                spa, spe, bits = g[3]
            if amount == 0:  # cannot happen (the sign split); never post a zero line
                continue
            if gl_delta is not None:
                gk = (acc or "", pdate, 0)
                d = gl_delta.get(gk)
                if d is None:
                    gl_delta[gk] = [amount, 1]
                else:
                    d[0] += amount
                    d[1] += 1
                if len(members) > 1:  # agg_gl_multi's row; is the split what process assumed?
                    size = abs(amount)
                    case = ("A" if spa == size and spa > 0 else
                            "E" if spe == size and spe > 0 else "X")
                    multi_rows.append((gl_no, amount, spa, spe, case, "X"))
                    if not ((case == "A" and bits & 1) or (case == "E" and bits & 2)):
                        irregular.append((gl_no, bits >> 2))  # the pieces get corrected
            if pdate != last_date:
                txn += 1
                last_date = pdate
            t, b = types[o], types[bo]
            desc = f"{t.value} - {b.value}, {loc},{lgroup},{bus},{prod}"[:DESCRIPTION_LENGTH]
            members = array.array("q", sorted(members))
            lines.append((gl_no, pdate, acc, o, amount, doc, desc, members, txn, dimset, "", bo,
                          loc, lgroup, bus, prod))
            if write:
                gl_rows.append((gl_no, acc, pdate, doc, desc, amount, txn, dimset))
                members_in_batch += len(members)
            gl_no += 1
            created += 1
            if members_in_batch >= GROUP_WRITE_BATCH or len(lines) >= GROUP_LINES_IN_MEMORY:
                self._emit_groups(gl_rows, lines, multi_rows)
                gl_rows, lines, multi_rows = [], [], []
                members_in_batch = 0
        if lines or multi_rows:
            self._emit_groups(gl_rows, lines, multi_rows)
        if irregular:
            self._emit_irregular(irregular)
        self._groups = {}
        self.next_gl = gl_no
        self.txn = txn
        report.gl_entries_created = created

    def _write_groups(self, gl_rows: list, lines: list[tuple]) -> None:
        """The G/L rows of a batch of groups, and their relation rows from the lines' members
        (``PostingLine.as_tuple``: entry no. first, the member array eighth)."""
        conn = self.db.conn
        conn.executemany(
            "INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, document_no, "
            "external_document_no, description, amount, source_code, transaction_no, "
            f"dimension_set_id) VALUES (?, ?, ?, ?, '', ?, ?, '{SOURCE_CODE}', ?, ?)", gl_rows)
        conn.executemany(
            "INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no, "
            f"gl_register_no) VALUES (?, ?, {int(self.register_no)})",
            ((t[0], v) for t in lines for v in t[7]))

    def write_register(self) -> None:
        report = self.report
        if report.gl_entries_created == 0:
            return
        self.db.conn.execute(
            "INSERT INTO gl_register (no, from_entry_no, to_entry_no, creation_date, source_code) "
            "VALUES (?, ?, ?, ?, ?)",
            [self.register_no, self.first_gl, self.next_gl - 1, dt.date.today().isoformat(),
             SOURCE_CODE])
        report.register_no = self.register_no


def _run(db: Database, request: PostingRequest, *, write: bool,
         on_progress: Callable[[PostingProgress], None] | None,
         cancel: threading.Event | None, load: Any = None, queued: int = 0) -> PostingReport:
    from invrecon import posting_worker

    report = PostingReport(request)
    setup = PostingSetup(db)
    engine = _Engine(db, setup, report, per_group=request.mode == "per-posting-group",
                     write=write, on_progress=on_progress, cancel=cancel, agg=load)
    if on_progress is not None:
        engine.total = count_queue(db, request)
    ecp = setup.expected_cost_posting
    if write and load is not None and posting_worker.usable(db, queued):
        posting_worker.run(db, engine, request)  # the engine beside this (writing) process
    else:
        _process(db, engine, request, ecp)
        engine.check_cancel()
        if engine.per_group:
            engine.finish_groups()
    if write:
        engine.write_register()
        _assign_posted_fields(db, request, ecp, report, load, engine.posted_as_it_goes)
    engine.progress()
    return report


def _process(db: Database, engine: _Engine, request: PostingRequest, ecp: bool) -> None:
    for cursor in _queue_cursors(db, request.filters, ecp, large=engine.agg is not None):
        while True:
            engine.check_cancel()
            rows = cursor.fetchmany(BATCH_SIZE)
            if not rows:
                break
            engine.process(rows)
            engine.progress()


def _posted_fields(ecp: bool) -> str:
    """The SET clause: Cost Posted to G/L := Cost Amount (Actual) (and, with expected cost
    posting, Expected Cost Posted to G/L := Cost Amount (Expected))."""
    assign = "cost_posted_to_gl = cost_amount_actual"
    if ecp:
        assign += ", expected_cost_posted_to_gl = cost_amount_expected"
    return assign


def _assign_posted_fields(db: Database, request: PostingRequest, ecp: bool,
                          report: PostingReport, load: Any = None,
                          posted_as_it_goes: int | None = None) -> None:
    """Set the posted fields (``_posted_fields``) of every queued entry that was not skipped:
    one set-based UPDATE over the same queue condition the run read. ``posted_as_it_goes``:
    the run set them batch by batch (``_Engine.assign_posted_now``) for that many entries;
    only the checks are left."""
    conn = db.conn
    if posted_as_it_goes is not None:
        if load is not None:
            load.value_entries_posted("temp.invrecon_posted_before")
        if posted_as_it_goes != report.posted_value_entries:
            raise InvreconError(
                f"internal error: {posted_as_it_goes} value entries got their posted fields, "
                f"{report.posted_value_entries} were posted; nothing was written")
        # (correct_pieces, the one reader of what was left to post, has run)
        conn.execute("DROP TABLE IF EXISTS temp.invrecon_posted_now")
        conn.execute("DROP TABLE IF EXISTS temp.invrecon_posted_before")
        if report.skipped:
            conn.execute("DELETE FROM temp.invrecon_posting_skipped")
        return
    where, params = _queue_where(request.filters, ecp, alias="value_entry")
    skip_clause = ""
    if report.skipped:
        # (filled by the engine batch by batch)
        skip_clause = (" AND value_entry.entry_no NOT IN "
                       "(SELECT entry_no FROM temp.invrecon_posting_skipped)")
    # A large share of the table: one sequential pass in rowid order (each page written once)
    # beats visiting the rows in the partial index's (item, date) order.
    total = conn.execute("SELECT coalesce(max(entry_no), 0) FROM value_entry").fetchone()[0]
    scan = "NOT INDEXED" if report.processed * 8 > total else ""
    if load is not None:  # a bulk run: the pre-aggregates take this update's deltas first
        load.value_entries_posting(f"{where}{skip_clause}", params)
    cur = conn.execute(f"UPDATE value_entry {scan} SET {_posted_fields(ecp)} "
                       f"WHERE {where}{skip_clause}", params)
    if cur.rowcount != report.posted_value_entries:
        raise InvreconError(
            f"internal error: {cur.rowcount} value entries matched the posted-fields update, "
            f"{report.posted_value_entries} were posted; nothing was written")
    if report.skipped:
        conn.execute("DELETE FROM temp.invrecon_posting_skipped")


# --- public API ------------------------------------------------------------------------------------

def post_inventory_cost(
    db: Database,
    request: PostingRequest,
    *,
    on_progress: Callable[[PostingProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PostingReport:
    """Run *Post Inventory Cost to G/L*. One write transaction for the whole run (a preview
    reads in one read transaction and writes nothing). Raises ``LedgerBusyError`` when another
    write holds the ledger past the busy timeout, ``PostingCancelled`` when ``cancel`` is set
    (checked between batches; everything is rolled back)."""
    if request.preview:
        return _read_only_run(db, request, on_progress=on_progress, cancel=cancel)
    with write_transaction(db):
        queued = _bulk_writes(db, request)
        if queued:
            from invrecon import preaggregates

            with preaggregates.posting_load(db) as load:
                report = _run(db, request, write=True, on_progress=on_progress, cancel=cancel,
                              load=load, queued=queued)
        else:
            report = _run(db, request, write=True, on_progress=on_progress, cancel=cancel)
        # A cancel that arrives during the final writes still rolls the whole run back.
        if cancel is not None and cancel.is_set():
            raise PostingCancelled("posting cancelled; nothing was posted")
        return report


def _bulk_writes(db: Database, request: PostingRequest) -> int:
    """A large run (the queue is a large part of the ledger) drops the pre-aggregate triggers
    and adds its deltas to the pre-aggregates at its end, in the same transaction (issue 7's
    ``preaggregates.posting_load``): set-based deltas cost less than a trigger per row then.
    The queue size is estimated from the partial index alone (date and item filters); it is
    returned for a large run, 0 otherwise."""
    try:
        from invrecon import preaggregates
    except ImportError:  # pragma: no cover - the pre-aggregates are optional
        return 0
    if not preaggregates.available(db):
        return 0
    f = request.filters.model_copy(update={"location": None}).value_entry_sql("ve")
    queued = db.conn.execute(
        f"SELECT count(*) FROM value_entry ve INDEXED BY value_entry_unposted "
        f"WHERE {_UNPOSTED} AND {f.sql}", f.params).fetchone()[0]
    if queued < BULK_MIN_ENTRIES:
        return 0
    total = db.conn.execute("SELECT coalesce(max(entry_no), 0) FROM value_entry").fetchone()[0]
    return queued if queued * BULK_SHARE_DIVISOR >= total else 0


def _read_only_run(db: Database, request: PostingRequest, *,
                   on_progress: Callable[[PostingProgress], None] | None = None,
                   cancel: threading.Event | None = None) -> PostingReport:
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one consistent snapshot for the whole preview
    try:
        return _run(db, request, write=False, on_progress=on_progress, cancel=cancel)
    finally:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")


def test_posting(db: Database, request: PostingRequest) -> PostingTestReport:
    """``post-test``: the same selection and validation as the run, nothing written."""
    return PostingTestReport(_read_only_run(db, request.model_copy(update={"preview": True})))


test_posting.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def post_automatically(db: Database, value_entry_nos: Sequence[int]) -> int:
    """Automatic cost posting (BC §6.1) of new value entries, inside the caller's open write
    transaction. Per-entry form, a G/L register of its own. Any problem (dimension problems
    included) raises ``AutomaticPostingError`` naming the value entry and the reason; the
    caller's transaction must then be rolled back. Returns the number of G/L entries created."""
    conn = db.conn
    if not conn.in_transaction:
        raise RuntimeError("post_automatically must run inside the caller's write transaction")
    # A run's new entries are one range of numbers: kept as a range, not a list of ints.
    nos: Sequence[int] = (value_entry_nos if isinstance(value_entry_nos, range)
                          and value_entry_nos.step == 1
                          else sorted(set(int(n) for n in value_entry_nos)))
    if not nos:
        return 0
    request = PostingRequest()
    report = PostingReport(request)
    setup = PostingSetup(db)
    engine = _Engine(db, setup, report, per_group=False, write=True, strict=True)
    engine.posted_entry_nos = []
    non_inventory = {r[0] for r in conn.execute("SELECT no FROM item WHERE type <> 'Inventory'")}
    for i in range(0, len(nos), 500):
        chunk = nos[i:i + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT {_SELECT_COLUMNS} FROM value_entry ve WHERE ve.entry_no IN ({marks}) "
            "ORDER BY ve.entry_no", chunk).fetchall()
        found = {r[0] for r in rows}
        missing = [n for n in chunk if n not in found]
        if missing:
            raise AutomaticPostingError(
                f"automatic cost posting: value entry {missing[0]} does not exist",
                missing[0], "value_entry_not_found")
        engine.process([r for r in rows if r[1] not in non_inventory])
    engine.write_register()
    posted = engine.posted_entry_nos
    if posted:
        assign = "cost_posted_to_gl = cost_amount_actual"
        if setup.expected_cost_posting:
            assign += ", expected_cost_posted_to_gl = cost_amount_expected"
        conn.executemany(f"UPDATE value_entry SET {assign} WHERE entry_no = ?",
                         ((n,) for n in posted))
    report.close()
    return report.gl_entries_created
