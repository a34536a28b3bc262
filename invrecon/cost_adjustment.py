"""Adjust Cost - Item Entries (30-cost-adjustment §5-§7), for FIFO, LIFO and Average (calc type
Item) items.

One run, per item to adjust (``item.cost_is_adjusted = 0`` or an ILE with
``applied_entry_to_adjust = 1``), in item order:

1. **Applied-cost pass** (§5): from every flagged ILE, cost is forwarded along the application
   entries that carry cost (all of them for FIFO/LIFO, fixed applications for Average) to the
   outbound entries, on through transfers (the receiving entry takes the transfer-out's cost) and
   on to whatever was applied to the receiving entry. Each outbound's new cost is the sum of its
   per-application shares ``round(inbound adjusted cost x applied qty / inbound qty)``; the
   inbound adjusted cost is actual + expected cost of the uninvoiced part, plus the revaluations
   that apply to that outbound (later entry or later valuation date). A closed, completely
   invoiced inbound entry whose applications add up to its quantity gets a Rounding entry for
   the difference (§5.5).
2. **Average pass** (§6.3, calc type Item): from the first unadjusted entry point, every average
   cost period holding average-valued outbound entries is re-costed from the cumulative totals
   up to the period end without the period's outbound entries, walking them in entry order
   (the residual is carried, no rounding entry). Later periods see the earlier adjustments.
3. New cost is split over the outbound's invoiced documents (carrying the rounding residual);
   the uninvoiced remainder is expected cost. For each original value entry at most one net
   adjustment entry (§7.2) is written, dated per §7.3.

Everything is computed as "new total - current total including queued adjustments", so a
second run creates nothing. Runs inside the caller's write transaction.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sqlite_utils import Database

from invrecon.errors import InvreconError
from invrecon.filters import compile_filter
from invrecon.item_history import Ile, Ve, load_item_history
from invrecon.item_posting import (
    amount_of,
    first_allowed_posting_date,
    period_bounds,
    post_value_entries,
    rdiv,
    round_frac,
    unit_cost_of,
)
from invrecon.spill import SpillList

SUPPORTED_METHODS = ("FIFO", "LIFO", "Average")


@dataclass(slots=True)
class AdjustmentEntry:
    entry_no: int
    item_no: str
    item_ledger_entry_no: int
    entry_type: str
    posting_date: str
    cost_amount_actual: int
    cost_amount_expected: int
    applies_to_entry: int

    def as_json(self) -> dict:
        from invrecon.money import format_cents
        return {
            "entry_no": self.entry_no, "item_no": self.item_no,
            "item_ledger_entry_no": self.item_ledger_entry_no, "entry_type": self.entry_type,
            "posting_date": self.posting_date,
            "cost_amount_actual": format_cents(self.cost_amount_actual),
            "cost_amount_expected": format_cents(self.cost_amount_expected),
            "applies_to_entry": self.applies_to_entry,
        }


def _entry_fields(e: AdjustmentEntry) -> tuple:
    return (e.entry_no, e.item_no, e.item_ledger_entry_no, e.entry_type, e.posting_date,
            e.cost_amount_actual, e.cost_amount_expected, e.applies_to_entry)


def _entry_from_fields(t: tuple) -> AdjustmentEntry:
    return AdjustmentEntry(*t)


_REPORT_CHUNK = 10_000


def _entry_list() -> SpillList[AdjustmentEntry]:
    """The run's adjustment entries for the report: a run over a large ledger makes millions,
    so all but the last chunk wait in a temp file."""
    return SpillList(chunk=_REPORT_CHUNK, encode=_entry_fields, decode=_entry_from_fields)


@dataclass
class AdjustResult:
    items_adjusted: list[str] = field(default_factory=list)
    entries: SpillList[AdjustmentEntry] = field(default_factory=_entry_list)
    posted_to_gl: int = 0
    still_pending: list[str] = field(default_factory=list)

    @property
    def value_entry_nos(self) -> Sequence[int]:
        """The new entries' numbers: a range, as a run numbers them consecutively."""
        if not self.entries:
            return range(0)
        first, last = self.entries[0].entry_no, self.entries[-1].entry_no
        if last - first + 1 == len(self.entries):
            return range(first, last + 1)
        return [e.entry_no for e in self.entries]


class _ItemAdjuster:
    """Computes the adjustments of one item (pure over the loaded rows)."""

    def __init__(self, db: Database, item_no: str, method: str, avg_period: str,
                 calc_type: str) -> None:
        self.db = db
        self.item_no = item_no
        self.method = method
        self.avg_period = avg_period
        self.calc_type = calc_type
        self._load()
        self.queued: dict[tuple[int, str], int] = defaultdict(int)  # (ve no, 'A'|'E'|'R')
        self.queued_ile: dict[int, int] = defaultdict(int)
        self.t_memo: dict[int, int] = {}
        self.shares: dict[tuple[int, int], int] = {}
        self._busy: set[int] = set()
        self.reflag: set[int] = set()
        self.visited: set[int] = set()

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        h = load_item_history(self.db.conn, self.item_no)
        self.iles = h.iles
        self.ves = h.ves
        self.out_apps = h.out_apps
        self.in_apps = h.in_apps
        self.tin_by_out = h.tin_by_out
        self.tfrom = h.tfrom

    # -- helpers -----------------------------------------------------------------------------

    def _queue(self, ve_no: int, kind: str, ile_no: int, diff: int) -> None:
        if diff:
            self.queued[(ve_no, kind)] += diff
            self.queued_ile[ile_no] += diff

    def cur_cost(self, ile_no: int) -> int:
        return sum(v.actual + v.expected for v in self.ves[ile_no]
                   if v.entry_type != "Rounding") + self.queued_ile[ile_no]

    def _originals(self, ile_no: int) -> list[Ve]:
        return [v for v in self.ves[ile_no]
                if not v.adjustment and v.entry_type == "Direct Cost" and not v.charge]

    def cost_app(self, outbound: int) -> bool:
        return self.method != "Average" or bool(self.iles[outbound].applies_to)

    def _first_ve(self, ile_no: int) -> Ve | None:
        vs = self.ves[ile_no]
        return vs[0] if vs else None

    # -- applied-cost pass ---------------------------------------------------------------------

    def _inbound_base(self, i: int) -> Fraction:
        """Inbound adjusted cost without revaluations (actual + expected of uninvoiced part)."""
        if i in self.tfrom and self.method != "Average" and self.tfrom[i] in self.iles:
            src = self.tfrom[i]
            base = -self.T(src)
            base += sum(v.actual + v.expected for v in self.ves[i]
                        if v.charge or v.entry_type not in ("Direct Cost", "Revaluation",
                                                             "Rounding"))
            return Fraction(base)
        return Fraction(sum(v.actual + v.expected for v in self.ves[i]
                            if v.entry_type not in ("Rounding", "Revaluation"))
                        + self.queued_ile[i])

    def _revals(self, i: int) -> list[Ve]:
        return [v for v in self.ves[i] if v.entry_type == "Revaluation"]

    def inbound_cost_for(self, i: int, o: int) -> Fraction:
        cost = self._inbound_base(i)
        revals = self._revals(i)
        if revals:
            first = self._first_ve(o)
            o_no = first.no if first else 0
            o_vd = first.valuation_date if first else ""
            qty = self.iles[i].quantity
            for r in revals:
                if r.valued_qty and (o_no > r.no or o_vd > r.valuation_date):
                    cost += Fraction(r.actual + r.expected) * qty / r.valued_qty
        return cost

    def T(self, o: int) -> int:
        """New total cost of outbound ILE o (sum of shares + open part at its posting cost)."""
        if o in self.t_memo:
            return self.t_memo[o]
        if o in self._busy:
            raise InvreconError(f"item {self.item_no}: application loop through entry {o}")
        self._busy.add(o)
        oi = self.iles[o]
        total = 0
        for i, a in self.in_apps[o]:
            ii = self.iles.get(i)
            if ii is None or not ii.quantity:
                continue
            c = self.inbound_cost_for(i, o)
            if c.denominator == 1:
                share = -rdiv(c.numerator * a, ii.quantity)
            else:
                share = -round_frac(c * a / ii.quantity)
            self.shares[(i, o)] = self.shares.get((i, o), 0) + share
            total += share
        if oi.remaining:
            origs = self._originals(o)
            cpu = origs[0].cost_per_unit if origs else 0
            total += amount_of(oi.remaining, cpu)
        self._busy.discard(o)
        self.t_memo[o] = total
        return total

    def apply_target(self, o: int, target: int) -> None:
        """Queue adjustments so outbound o's total cost becomes ``target``."""
        oi = self.iles[o]
        origs = self._originals(o)
        if not origs or not oi.quantity:
            return
        prev = 0
        cum = 0
        for g in origs:
            if g.expected_cost or not g.invoiced_qty:
                continue
            cum += g.invoiced_qty
            tgt_cum = rdiv(target * cum, oi.quantity)
            new_g = tgt_cum - prev
            prev = tgt_cum
            cur_g = g.actual + self.ves.adjusted_actual.get(g.no, 0) + self.queued.get(
                (g.no, "A"), 0)
            self._queue(g.no, "A", o, new_g - cur_g)
        exp_target = target - prev if oi.invoiced != oi.quantity else 0
        exp_cur = sum(v.expected for v in self.ves[o]) + sum(
            self.queued.get((v.no, "E"), 0) for v in origs)
        if exp_target != exp_cur:
            anchor = next((v for v in origs if v.expected_cost), origs[0])
            self._queue(anchor.no, "E", o, exp_target - exp_cur)

    def apply_transfer_in(self, r: int, target: int) -> None:
        origs = self._originals(r)
        if not origs:
            return
        cur = sum(v.actual + v.expected for v in self.ves[r]
                  if v.entry_type == "Direct Cost" and not v.charge) + self.queued[
                      (origs[-1].no, "A")]
        self._queue(origs[-1].no, "A", r, target - cur)

    def applied_cost_pass(self) -> None:
        work = self.iles.flagged()
        done: set[int] = set()
        k = 0
        while k < len(work):
            x = work[k]
            k += 1
            e = self.iles[x]
            if e.positive:
                if x in self.visited:
                    continue
                self.visited.add(x)
                for o, _a in self.out_apps[x]:
                    if self.cost_app(o) and o not in done:
                        done.add(o)
                        work.extend(self._recost(o))
            elif x not in done and self.cost_app(x):
                done.add(x)
                work.extend(self._recost(x))
        # Rounding entries (non-average) and the "visit again" list (§5.4, §5.5).
        for i in sorted(self.visited):
            ii = self.iles[i]
            outs = [(o, a) for o, a in self.out_apps[i] if self.cost_app(o)]
            if any(self.iles[o].invoiced != self.iles[o].quantity for o, _a in outs):
                self.reflag.add(i)
            if (self.method == "Average" or ii.remaining != 0 or ii.invoiced != ii.quantity
                    or sum(a for _o, a in outs) != ii.quantity):
                continue
            total = self._inbound_base(i) + sum(r.actual + r.expected for r in self._revals(i))
            shares = sum(self.shares.get((i, o), 0) for o, _a in outs)
            target = -round_frac(total + shares)
            cur = sum(v.actual for v in self.ves[i] if v.entry_type == "Rounding") + self.queued[
                (i, "R")]
            if target != cur:
                self.queued[(i, "R")] += target - cur

    def _recost(self, o: int) -> list[int]:
        t = self.T(o)
        self.apply_target(o, t)
        more = []
        if self.iles[o].entry_type == "Transfer":
            for r in self.tin_by_out[o]:
                if r in self.iles:
                    self.apply_transfer_in(r, -t)
                    more.append(r)
        return more

    # -- average pass ------------------------------------------------------------------------

    def average_pass(self) -> None:
        rows = self.db.execute(
            "SELECT valuation_date, cost_is_adjusted FROM avg_cost_adjmt_entry_point "
            "WHERE item_no = ?", [self.item_no]).fetchall()
        if rows:
            pending = [d for d, ok in rows if not ok]
            if not pending:
                return
            start = period_bounds(min(pending), self.avg_period, self.db)[0]
        else:
            start = ""
        # Cumulative quantity and cost by valuation date (only their sums up to each period end
        # matter), and the average-valued outbound entries by period.
        by_date: dict[str, list[int]] = {}
        periods: dict[str, list[int]] = defaultdict(list)
        bounds_cache: dict[str, tuple[str, str]] = {}
        for no, e in self.iles.items():
            vs = self.ves[no]
            vd = next((v.valuation_date for v in vs
                       if not v.adjustment and v.entry_type == "Direct Cost"), None)
            if vd is None:
                continue
            if not _outside_average(e):
                by_date.setdefault(vd, [0, 0])[0] += e.quantity
                for v in vs:
                    by_date.setdefault(v.valuation_date, [0, 0])[1] += v.actual + v.expected
            if e.positive or e.applies_to:
                continue
            b = bounds_cache.get(vd)
            if b is None:
                b = bounds_cache[vd] = period_bounds(vd, self.avg_period, self.db)
            if b[1] >= start:
                periods[b[1]].append(no)
        dates = sorted(by_date)
        pos = 0
        cum_q = cum_c = 0
        for end in sorted(periods):
            hi = bisect.bisect_right(dates, end)
            for d in dates[pos:hi]:
                q, c = by_date[d]
                cum_q += q
                cum_c += c
            pos = hi
            outs = sorted(periods[end])
            counted = [o for o in outs if not _outside_average(self.iles[o])]
            rem_q = cum_q - sum(self.iles[o].quantity for o in counted)
            rem_c = cum_c - sum(self.cur_cost(o) for o in counted)
            for o in outs:
                oi = self.iles[o]
                if not oi.positive and oi.remaining != 0:
                    continue  # open outbound (negative inventory): waits for its inbound
                if rem_q <= 0:
                    continue
                new = rdiv(rem_c * oi.quantity, rem_q)
                before = self.queued_ile[o]
                self.apply_target(o, new)
                if oi.entry_type == "Transfer":
                    for r in self.tin_by_out[o]:
                        if r in self.iles:
                            self.apply_transfer_in(r, -new)
                    continue
                rem_c += new
                rem_q += oi.quantity
                cum_c += self.queued_ile[o] - before

    # -- run -----------------------------------------------------------------------------------

    def run(self) -> None:
        self.applied_cost_pass()
        if self.method == "Average":
            self.average_pass()


def _outside_average(e: Ile) -> bool:
    """Transfers and open outbound entries take no part in the average cost (§6.3)."""
    return e.entry_type == "Transfer" or (not e.positive and e.remaining != 0)


def _items_to_adjust(db: Database, item_filter: str | None, online: bool) -> list[tuple]:
    f = compile_filter("i.no", item_filter)
    online_sql = " AND i.allow_online_adjustment = 1" if online else ""
    return db.execute(
        "SELECT i.no, i.costing_method FROM item i WHERE "
        "(i.cost_is_adjusted = 0 OR EXISTS (SELECT 1 FROM item_ledger_entry l WHERE "
        "l.item_no = i.no AND l.applied_entry_to_adjust = 1)) "
        f"AND {f.sql}{online_sql} ORDER BY i.no", list(f.params)).fetchall()


# Columns an adjustment or rounding entry copies from the value entry it is made from.
_COPY = ("item_no", "item_ledger_entry_type", "item_ledger_entry_no", "document_no",
         "external_document_no", "location_code", "inventory_posting_group",
         "gen_bus_posting_group", "gen_prod_posting_group", "source_type", "source_no",
         "order_type", "order_no", "dimension_set_id")

# One new entry from its template entry t: the computed fields as parameters, the rest copied
# in SQL (no row of the template passes through Python). A NULL valuation date keeps t's.
_INSERT_FROM_TEMPLATE = (
    "INSERT INTO value_entry (entry_no, posting_date, entry_type, adjustment, applies_to_entry, "
    "expected_cost, valued_quantity, invoiced_quantity, cost_per_unit, cost_amount_actual, "
    f"cost_amount_expected, valuation_date, {', '.join(_COPY)}) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, coalesce(?, t.valuation_date), "
    f"{', '.join('t.' + c for c in _COPY)} FROM value_entry t WHERE t.entry_no = ?")

_WRITE_CHUNK = 2_000


def adjust_cost(db: Database, *, item_filter: str | None = None, post: bool = False,
                online: bool = False) -> AdjustResult:
    """Run the adjustment (inside the caller's write transaction).

    ``online=True`` is the automatic run after posting: only items whose 'Allow Online
    Adjustment' is still Yes. ``post=True`` hands the new entries to the G/L posting engine.
    """
    setup = db.execute("SELECT average_cost_period, average_cost_calc_type FROM inventory_setup "
                       "WHERE id = 1").fetchone()
    avg_period, calc_type = setup
    result = AdjustResult()
    first_allowed = first_allowed_posting_date(db)
    next_ve = db.execute("SELECT coalesce(max(entry_no), 0) + 1 FROM value_entry").fetchone()[0]
    for item_no, method in _items_to_adjust(db, item_filter, online):
        if method not in SUPPORTED_METHODS:
            result.still_pending.append(item_no)
            continue
        if method == "Average" and calc_type != "Item":
            raise InvreconError(
                f"item {item_no}: Average Cost Calc. Type '{calc_type}' is not supported by "
                "adjust-cost (only 'Item')")
        adj = _ItemAdjuster(db, item_no, method, avg_period, calc_type)
        adj.run()
        next_ve = _write(db, adj, first_allowed, next_ve, result)
        _finish_item(db, adj, result)
        # One item's history in memory at a time: without this the previous item's adjuster
        # lived on while the next one loaded (at 10M two large items together, 1.87 GB).
        del adj
    if post and result.entries:
        result.posted_to_gl = post_value_entries(db, result.value_entry_nos)
    return result


def _write(db: Database, adj: _ItemAdjuster, first_allowed: str | None, next_ve: int,
           result: AdjustResult) -> int:
    """Insert the item's queued adjustments as value entries numbered from ``next_ve``, in
    the order BC posts them: by the entry each is made from (a rounding entry from its inbound
    entry's last invoice, after that entry's own adjustments). Returns the next free number."""
    # (template value entry, is rounding, queued key..., valuation date of a rounding entry)
    todo: list[tuple[int, bool, int, str, int, str | None]] = []
    for (ref, kind), diff in adj.queued.items():
        if not diff:
            continue
        if kind == "R":
            src = _last_invoice_ve(adj, ref)
            todo.append((src.no, True, ref, kind, diff, src.valuation_date))
        else:
            todo.append((ref, False, ref, kind, diff, None))
    todo.sort()
    conn = db.conn
    for lo in range(0, len(todo), _WRITE_CHUNK):
        part = todo[lo:lo + _WRITE_CHUNK]
        ids = sorted({t[0] for t in part})
        templates: dict[int, tuple[int, str, str, int]] = {}
        for k in range(0, len(ids), 500):
            sub = ids[k:k + 500]
            for no, *info in conn.execute(
                    "SELECT entry_no, item_ledger_entry_no, posting_date, entry_type, "
                    f"valued_quantity FROM value_entry WHERE entry_no IN "
                    f"({','.join('?' * len(sub))})", sub):
                templates[no] = tuple(info)  # type: ignore[assignment]
        params = []
        for tpl, rounding, ref, kind, diff, vdate in part:
            ile, date, etype, valued = templates[tpl]
            if first_allowed and date < first_allowed:
                date = first_allowed
            if rounding:
                etype, applies_to, expected = "Rounding", 0, False
                params.append((next_ve, date, etype, 0, 0, 0, adj.iles[ref].quantity, 0, diff,
                               0, vdate, tpl))
            else:
                applies_to, expected = ref, kind == "E"
                params.append((next_ve, date, etype, 1, ref, int(expected), valued,
                               abs(unit_cost_of(diff, valued)), 0 if expected else diff,
                               diff if expected else 0, None, tpl))
            result.entries.append(AdjustmentEntry(
                next_ve, adj.item_no, ile, etype, date, 0 if expected else diff,
                diff if expected else 0, applies_to))
            next_ve += 1
        written = conn.executemany(_INSERT_FROM_TEMPLATE, params).rowcount
        if written != len(params):
            raise RuntimeError(f"adjust-cost: {len(params) - written} template value "
                               "entries vanished during the run")
    return next_ve


def _last_invoice_ve(adj: _ItemAdjuster, ile_no: int) -> Ve:
    vs = [v for v in adj.ves[ile_no] if v.entry_type == "Direct Cost" and not v.adjustment
          and v.invoiced_qty]
    return vs[-1] if vs else adj.ves[ile_no][0]


def _finish_item(db: Database, adj: _ItemAdjuster, result: AdjustResult) -> None:
    item = adj.item_no
    db.execute("UPDATE item_ledger_entry SET applied_entry_to_adjust = 0 "
               "WHERE item_no = ? AND applied_entry_to_adjust = 1", [item])
    for no in sorted(adj.reflag):
        db.execute("UPDATE item_ledger_entry SET applied_entry_to_adjust = 1 WHERE entry_no = ?",
                   [no])
    db.execute("UPDATE avg_cost_adjmt_entry_point SET cost_is_adjusted = 1 "
               "WHERE item_no = ? AND cost_is_adjusted = 0", [item])
    q = db.execute("SELECT coalesce(sum(quantity), 0) FROM item_ledger_entry WHERE item_no = ?",
                   [item]).fetchone()[0]
    v = db.execute("SELECT coalesce(sum(cost_amount_actual + cost_amount_expected), 0) "
                   "FROM value_entry WHERE item_no = ?", [item]).fetchone()[0]
    unit_cost_sql = ", unit_cost = ?" if q > 0 else ""
    params: list = [int(not adj.reflag)]
    if q > 0:
        params.append(unit_cost_of(v, q))
    db.execute(f"UPDATE item SET cost_is_adjusted = ?, allow_online_adjustment = 1"
               f"{unit_cost_sql} WHERE no = ?", [*params, item])
    if adj.reflag:
        result.still_pending.append(item)
    else:
        result.items_adjusted.append(item)


def pending_adjustment(db: Database, item_filter: str | None = None) -> list[dict]:
    """Items (and their entries) that still need cost adjustment, for the reconciliation's
    'Costs not adjusted' warning: item.cost_is_adjusted = 0, an ILE with
    applied_entry_to_adjust = 1, or an unadjusted average-cost entry point.

    Each dict: item_no, costing_method, cost_is_adjusted (bool), entries_to_adjust (ILE nos),
    unadjusted_periods (entry point dates), oldest_date (earliest date concerned or None).
    """
    f = compile_filter("i.no", item_filter)
    out = []
    rows = db.execute(
        "SELECT i.no, i.costing_method, i.cost_is_adjusted FROM item i WHERE "
        "(i.cost_is_adjusted = 0 OR EXISTS (SELECT 1 FROM item_ledger_entry l WHERE "
        "l.item_no = i.no AND l.applied_entry_to_adjust = 1) OR EXISTS (SELECT 1 FROM "
        "avg_cost_adjmt_entry_point p WHERE p.item_no = i.no AND p.cost_is_adjusted = 0)) "
        f"AND {f.sql} ORDER BY i.no", list(f.params)).fetchall()
    for no, method, ok in rows:
        ents = db.execute(
            "SELECT entry_no, posting_date FROM item_ledger_entry WHERE item_no = ? AND "
            "applied_entry_to_adjust = 1 ORDER BY entry_no", [no]).fetchall()
        pts = [r[0] for r in db.execute(
            "SELECT valuation_date FROM avg_cost_adjmt_entry_point WHERE item_no = ? AND "
            "cost_is_adjusted = 0 ORDER BY valuation_date", [no])]
        dates = [d for _n, d in ents] + pts
        out.append({
            "item_no": no, "costing_method": method, "cost_is_adjusted": bool(ok),
            "entries_to_adjust": [n for n, _d in ents], "unadjusted_periods": pts,
            "oldest_date": min(dates) if dates else None,
        })
    return out


def run_automatic_adjustment(db: Database, *, post: bool) -> AdjustResult | None:
    """After a journal: BC's automatic cost adjustment when Inventory Setup says so (§7.6)."""
    setting = db.execute(
        "SELECT automatic_cost_adjustment FROM inventory_setup WHERE id = 1").fetchone()[0]
    if setting == "Never":
        return None
    return adjust_cost(db, post=post, online=True)


__all__: Sequence[str] = (
    "AdjustResult", "AdjustmentEntry", "adjust_cost", "pending_adjustment",
    "run_automatic_adjustment",
)
