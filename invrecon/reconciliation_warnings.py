"""Show Warning: BC's reconciliation warnings, raised per cell on that cell's own evidence, plus
invrecon's own (costs not adjusted, setup health).

BC's warnings (10-reconciliation §6) and the evidence each one needs here:

| code | BC label | raised on a Difference cell when its explanation has |
|---|---|---|
| expected_cost_setup | Expected Cost Setup | expected_cost_posting_off |
| post_cost_to_gl | Post Cost to G/L | not_posted_actual or not_posted_expected |
| posting_group | Posting Group | setup_changed |
| direct_posting | Direct Posting | unlinked_gl |
| posting_date | Posting Date | posting_date_outside |
| closed_fiscal_year | Closed Fiscal Year | closing_entries |
| similar_accounts | Similar Accounts | shared_account |
| deleted_accounts | Deleted Accounts | deleted_account (and G/L entries with a blank account in range) |

"Compression" cannot fire: the ledger has no date-compression register (nothing is ever
compressed). Ours: ``unexplained``, ``costs_not_adjusted`` and the ``setup_*`` health checks.
"""

from __future__ import annotations

from collections import defaultdict

from sqlite_utils import Database

from invrecon import preaggregates
from invrecon.money import format_cents_grouped
from invrecon.reconciliation import (
    ACCOUNT_TYPES,
    INVENTORY_TYPES,
    SETUP_FIELDS,
    TYPE_NAMES,
    Cause,
    ItemGroup,
    Matrix,
    Setup,
    Warning,
    _agg_value_entry_rows,
    difference_cell,
    gl_total_cell,
    legs,
    shared_accounts,
    use_preaggregates,
)

# BC's display priority (§6.1), then ours.
PRIORITY = {
    "expected_cost_setup": 1, "post_cost_to_gl": 2, "compression": 3, "posting_group": 4,
    "direct_posting": 5, "posting_date": 6, "closed_fiscal_year": 7, "similar_accounts": 8,
    "deleted_accounts": 9, "unexplained_difference": 10, "costs_not_adjusted": 11,
    "setup_missing_account": 12, "setup_shared_account": 13, "setup_direct_posting": 14,
    "setup_expected_cost_posting_off": 15,
}
TITLES = {
    "expected_cost_setup": "Expected Cost Setup",
    "post_cost_to_gl": "Post Cost to G/L",
    "compression": "Compression",
    "posting_group": "Posting Group",
    "direct_posting": "Direct Posting",
    "posting_date": "Posting Date",
    "closed_fiscal_year": "Closed Fiscal Year",
    "similar_accounts": "Similar Accounts",
    "deleted_accounts": "Deleted Accounts",
    "unexplained_difference": "Unexplained difference",
    "costs_not_adjusted": "Costs not adjusted",
    "setup_missing_account": "Setup: posting setup missing or blank",
    "setup_shared_account": "Setup: one account for several types",
    "setup_direct_posting": "Setup: inventory account allows direct posting",
    "setup_expected_cost_posting_off": "Setup: expected cost while expected cost posting is off",
}
_CAUSE_WARNING = {
    "expected_cost_posting_off": "expected_cost_setup",
    "not_posted_actual": "post_cost_to_gl",
    "not_posted_expected": "post_cost_to_gl",
    "setup_changed": "posting_group",
    "unlinked_gl": "direct_posting",
    "posting_date_outside": "posting_date",
    "closing_entries": "closed_fiscal_year",
    "shared_account": "similar_accounts",
    "deleted_account": "deleted_accounts",
    "unexplained": "unexplained_difference",
}


def _w(code: str, detail: str, cells: list[tuple[str, str]]) -> Warning:
    return Warning(code, TITLES[code], detail, cells, PRIORITY[code])


def _money(v: int) -> str:
    return format_cents_grouped(v)


def _cells_text(types: list[str]) -> str:
    return ", ".join(TYPE_NAMES[t] for t in types)


def compute_warnings(db: Database, m: Matrix, setup: Setup, groups: list[ItemGroup],
                     explained: dict[str, list[Cause]]) -> list[Warning]:
    f = m.filters
    out: list[Warning] = []
    # 1. Cause-driven warnings (BC's, each on its own evidence).
    by_code: dict[str, dict[str, int]] = defaultdict(dict)
    for t, causes in explained.items():
        for c in causes:
            code = _CAUSE_WARNING[c.cause]
            by_code[code][t] = by_code[code].get(t, 0) + c.amount
    details = {
        "expected_cost_setup": "Expected Cost Posting to G/L is off in Inventory Setup: expected "
        "(not yet invoiced) cost is projected on the item side but never posted to the interim "
        "accounts. Turn it on if you want interim accounts; otherwise this part is by design.",
        "post_cost_to_gl": "Value entries within the filters carry cost not yet posted to the "
        "G/L. Run 'invrecon post' (Post Inventory Cost to G/L), then reconcile again.",
        "posting_group": "Linked G/L entries sit on accounts that the current General/Inventory "
        "Posting Setup does not map to this type: the setup was changed after posting. Restore "
        "the setup or reclassify the balance in the G/L.",
        "direct_posting": "G/L entries on these accounts have no link to any value entry: they "
        "were posted directly (journals, documents) and bypass the inventory subledger. Block "
        "direct posting on inventory accounts and reverse or reclassify the entries.",
        "posting_date": "Linked G/L entries have a posting date on the other side of the date "
        "filter from their value entries. Compare the dates, or widen the date filter.",
        "closed_fiscal_year": "The date filter includes year-end closing-date G/L entries (Close "
        "Income Statement), which clear P&L accounts in the G/L while the value entries stay. "
        "Use a date range within one fiscal year or leave closing entries out (--no-closing).",
        "similar_accounts": "One G/L account is used for several account types, so its whole net "
        "change shows in each of them (BC's per-field de-duplication). Give each type its own "
        "account in the posting setup.",
        "deleted_accounts": "G/L entries with a blank account no. (a deleted account) hold "
        "inventory postings. The chart of accounts was restructured; restore the account or "
        "reclassify the entries.",
        "unexplained_difference": "Part of the difference has none of the known causes: value "
        "entries marked as posted whose G/L entries are missing or differ. Drill into the cell "
        "and run 'invrecon check'.",
    }
    for code, per_type in by_code.items():
        types = [t for t in ACCOUNT_TYPES if per_type.get(t)]
        if not types:
            continue
        amounts = "; ".join(f"{TYPE_NAMES[t]} {_money(per_type[t])}" for t in types)
        detail = f"{details[code]} Amounts: {amounts}."
        if code == "closed_fiscal_year":
            table, live = ((preaggregates.GL_DAY, " AND e.n <> 0") if use_preaggregates(db)
                           else ("gl_entry", ""))
            dates = [r[0] for r in db.execute(
                f"SELECT DISTINCT posting_date FROM {table} e WHERE closing = 1{live} AND "
                + f.gl_entry_date_sql("e").sql + " ORDER BY 1", f.gl_entry_date_sql("e").params)]
            closed = db.execute("SELECT count(*) FROM accounting_period WHERE closed = 1"
                                ).fetchone()[0]
            detail += (f" Closing dates in range: {', '.join('C' + d for d in dates)}."
                       + (f" {closed} accounting periods are closed." if closed else ""))
        out.append(_w(code, detail, [difference_cell(t) for t in types]))
    # Deleted accounts: G/L entries with a blank account within the date filter, even unlinked.
    g = f.gl_entry_date_sql("e")
    n, total = db.execute(f"SELECT count(*), coalesce(sum(amount), 0) FROM gl_entry e "
                          f"WHERE e.gl_account_no IS NULL AND {g.sql}", g.params).fetchone()
    if n and "deleted_accounts" not in by_code:
        out.append(_w("deleted_accounts", f"{n} G/L entries within the date filter have a blank "
                      f"account no. (total {_money(total)}): an account was deleted. Restore it "
                      "or reclassify the entries.", []))
    # 2. Costs not adjusted (the contract with cost adjustment).
    out += _not_adjusted(db, m)
    # 3. Setup health.
    out += _setup_health(db, m, setup, groups)
    out.sort(key=lambda w: w.priority)
    return out


def _not_adjusted(db: Database, m: Matrix) -> list[Warning]:
    from invrecon.filters import compile_filter

    f = m.filters
    it = compile_filter("no", f.item)
    items = [r[0] for r in db.execute(
        f"SELECT no FROM item WHERE cost_is_adjusted = 0 AND type = 'Inventory' AND {it.sql} "
        "ORDER BY no", it.params)]
    ile = f.value_entry_sql("ile")
    n_ile = db.execute(f"SELECT count(*) FROM item_ledger_entry ile WHERE applied_entry_to_adjust "
                       f"= 1 AND {ile.sql}", ile.params).fetchone()[0]
    if not items and not n_ile:
        return []
    bits = []
    if items:
        shown = ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")
        bits.append(f"{len(items)} items have Cost is Adjusted = No ({shown})")
    if n_ile:
        bits.append(f"{n_ile} item ledger entries within the filters are marked 'applied entry "
                    "to adjust'")
    return [_w("costs_not_adjusted", "; ".join(bits) + ". Inventory values are not final: run "
               "'invrecon adjust-cost --post' before reconciling.", [("total", "inventory")])]


def _setup_health(db: Database, m: Matrix, setup: Setup, groups: list[ItemGroup]) -> list[Warning]:
    out: list[Warning] = []
    # Inventory-type accounts open to direct posting.
    bad = [(t, a) for t in INVENTORY_TYPES for a in setup.type_accounts[t]
           if setup.accounts[a]["direct_posting"]]
    if bad:
        out.append(_w("setup_direct_posting", "Inventory-type accounts allow direct posting: "
                      + ", ".join(f"{a} ({TYPE_NAMES[t]})" for t, a in bad)
                      + ". Switch Direct Posting off so that only inventory posting reaches them.",
                      [gl_total_cell(t) for t in dict.fromkeys(t for t, _ in bad)]))
    # One account for several types.
    shared = shared_accounts(setup)
    if shared:
        types = list(dict.fromkeys(t for ts in shared.values() for t in ts))
        out.append(_w("setup_shared_account", "Accounts mapped to several account types: "
                      + "; ".join(f"{a} = {_cells_text(list(ts))}" for a, ts in shared.items())
                      + ". Their whole net change shows in each type (as in BC); the explanation "
                      "'Account also used for another account type' shows the share of the others.",
                      [gl_total_cell(t) for t in types]))
    # Setup rows used by value entries but missing or blank.
    problems: dict[tuple[str, str, str], int] = defaultdict(int)
    for g in groups:
        for leg in legs(g.ile, g.et, g.vt, g.asm):
            x = g.actual if leg.part == "A" else g.expected
            if not x:
                continue
            for t in (leg.debit, leg.credit):
                if not t:
                    continue
                acct, problem = setup.resolve(t, g.key)
                if problem:
                    where = (f"location '{g.key.location}', group '{g.key.ipg}'"
                             if SETUP_FIELDS[t][0] == "inventory_posting_setup"
                             else f"gen. bus. '{g.key.gen_bus}', gen. prod. '{g.key.gen_prod}'")
                    problems[(t, problem, where)] += g.count
    if problems:
        types = list(dict.fromkeys(t for t, _, _ in problems))
        text = "; ".join(f"{TYPE_NAMES[t]}: {p.replace('_', ' ')} ({w}), {n} value entries"
                         for (t, p, w), n in problems.items())
        out.append(_w("setup_missing_account", f"Value entries need setup that is missing or "
                      f"blank: {text}. These entries cannot be posted; complete the posting setup.",
                      [difference_cell(t) for t in types]))
    # Expected cost while expected cost posting is off.
    if not setup.expected_cost_posting:
        if not m.filters.item and use_preaggregates(db):
            # every value entry (non-inventory items too), from the pre-aggregates
            sums = _agg_value_entry_rows(db, m.filters, "1", 1, ("n_expected", "expected"),
                                         inventory_only=False)
            n, e = sums.get((1,), [0, 0])
        else:
            n, e = _raw_expected(db, m.filters)
        if n:
            types = [t for t in ("inventory_interim", "invt_accrual_interim", "cogs_interim",
                                 "wip_inventory") if m.amounts.get(difference_cell(t))]
            out.append(_w("setup_expected_cost_posting_off", f"{n} value entries within the "
                          f"filters carry expected cost (net {_money(e)}) while Expected Cost "
                          "Posting to G/L is off: the interim differences they cause are by "
                          "design, not errors.", [difference_cell(t) for t in types]))
    return out


def _raw_expected(db: Database, f) -> tuple[int, int]:
    w = f.value_entry_sql("ve")
    return tuple(db.execute(f"SELECT count(*), coalesce(sum(cost_amount_expected), 0) FROM "
                            f"value_entry ve WHERE cost_amount_expected <> 0 AND {w.sql}",
                            w.params).fetchone())


def row_warning(warnings: list[Warning], row_key: str) -> Warning | None:
    """The first warning (by priority) that applies to a cell of the row."""
    for w in sorted(warnings, key=lambda w: w.priority):
        if any(r == row_key for r, _ in w.cells):
            return w
    return None
