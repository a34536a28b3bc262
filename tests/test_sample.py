"""``invrecon sample``: determinism, internal consistency, planted faults, posting, scale."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrecon.filters import LedgerFilter
from invrecon.ledger import open_ledger
from invrecon.ledger_csv import export_ledger
from invrecon.money import QTY_SCALE, round_cents
from invrecon.posting import PostingRequest, test_posting
from invrecon.sample import (
    DEFAULT_VALUE_ENTRIES,
    FAULTS,
    POST_CUTOFF,
    amount,
    fault_entries,
    generate_sample,
    unit_cost_of,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BULK = ("value_entry", "item_ledger_entry", "item_application_entry")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    summary = generate_sample(path)
    db = open_ledger(path, readonly=True)
    yield db, summary, path
    db.close()


def q(db, sql, params=()):
    return db.execute(sql, params).fetchall()


def one(db, sql, params=()):
    return db.execute(sql, params).fetchone()[0]


# -- arithmetic ---------------------------------------------------------------------------------

@given(st.integers(-10**9, 10**9), st.integers(-10**9, 10**9))
def test_amount_is_round_cents_of_quantity_times_unit_cost(qty, unit):
    exact = Decimal(qty) / QTY_SCALE * (Decimal(unit) / QTY_SCALE)
    assert amount(qty, unit) == round_cents(exact)


def test_amount_and_unit_cost_examples():
    assert amount(3 * QTY_SCALE, 1_234_000) == 3702  # 3 x 12.34 = 37.02
    assert amount(QTY_SCALE // 2, 1_235_000) == 618  # 0.5 x 12.35 = 6.175 -> 6.18
    assert amount(-QTY_SCALE // 2, 1_235_000) == -618
    assert unit_cost_of(1000, 3 * QTY_SCALE) == 333_333  # 10.00 / 3 = 3.33333
    assert unit_cost_of(-3702, -3 * QTY_SCALE) == 1_234_000


# -- the shipped sample.db ----------------------------------------------------------------------

def _export(path: Path, directory: Path) -> list[str]:
    db = open_ledger(path, readonly=True)
    try:
        export_ledger(db, directory)
    finally:
        db.close()
    return sorted(p.name for p in directory.iterdir())


def test_shipped_sample_db_is_what_the_generator_makes(sample, tmp_path):
    _, summary, path = sample
    shipped = ROOT / "sample.db"
    assert shipped.exists(), "sample.db must be committed at the repository root"
    files = _export(path, tmp_path / "new")
    assert _export(shipped, tmp_path / "shipped") == files
    assert "value_entries.csv" in files and "gl_entries.csv" in files
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "new", tmp_path / "shipped", files,
                                               shallow=False)
    assert mismatch == [] and errors == [], (
        f"sample.db differs from 'invrecon --db sample.db sample' in {mismatch + errors}; "
        "regenerate it with: invrecon --db sample.db sample --force")
    assert summary.value_entries == one(open_ledger(shipped, readonly=True),
                                        "SELECT count(*) FROM value_entry")


def _dump(path: Path) -> dict[str, list[tuple]]:
    db = open_ledger(path, readonly=True)
    try:
        out = {}
        for table in ("value_entry", "item_ledger_entry", "item_application_entry", "gl_entry",
                      "gl_register", "gl_item_ledger_relation", "item", "gl_account",
                      "inventory_posting_setup", "general_posting_setup", "default_dimension",
                      "dimension_set_entry", "accounting_period", "general_ledger_setup",
                      "inventory_setup", "location"):
            cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            out[table] = db.execute(
                f"SELECT * FROM {table} ORDER BY {', '.join(cols)}").fetchall()
        return out
    finally:
        db.close()


def test_same_seed_same_ledger_other_seed_other_ledger(tmp_path):
    a = generate_sample(tmp_path / "a.db", value_entries=1500, seed=5)
    b = generate_sample(tmp_path / "b.db", value_entries=1500, seed=5)
    c = generate_sample(tmp_path / "c.db", value_entries=1500, seed=6)
    da, db_, dc = _dump(tmp_path / "a.db"), _dump(tmp_path / "b.db"), _dump(tmp_path / "c.db")
    assert da == db_
    assert a.value_entries == b.value_entries
    assert da["value_entry"] != dc["value_entry"]
    assert da["item"] != dc["item"]  # unit costs come from the seed
    assert c.posted_value_entries > 0


@pytest.mark.parametrize("n", [300, 2000, 12000])
def test_value_entries_land_near_n(tmp_path, n):
    s = generate_sample(tmp_path / "n.db", value_entries=n, seed=3, post=False)
    assert abs(s.value_entries - n) <= 0.05 * n, s.value_entries


# -- internal consistency -----------------------------------------------------------------------

def test_sqlite_integrity_and_check_constraints(sample):
    db, _, _ = sample
    assert q(db, "PRAGMA integrity_check") == [("ok",)]  # also verifies every CHECK
    assert q(db, "PRAGMA foreign_key_check") == []


def test_ile_quantity_equals_its_application_quantities(sample):
    db, _, _ = sample
    assert one(db, "SELECT count(*) FROM item_ledger_entry") > 1000
    assert q(db, """
        SELECT i.entry_no FROM item_ledger_entry i
        WHERE i.quantity <> (SELECT coalesce(sum(a.quantity), 0) FROM item_application_entry a
                             WHERE a.item_ledger_entry_no = i.entry_no)""") == []


def test_remaining_quantities_and_open_flags(sample):
    db, _, _ = sample
    # inbound: remaining = quantity - what outbound entries applied to it, never negative
    assert q(db, """
        SELECT i.entry_no FROM item_ledger_entry i WHERE i.positive = 1 AND
          i.remaining_quantity <> i.quantity + (
            SELECT coalesce(sum(a.quantity), 0) FROM item_application_entry a
            WHERE a.inbound_item_entry_no = i.entry_no AND a.outbound_item_entry_no <> 0)""") == []
    assert q(db, """SELECT entry_no FROM item_ledger_entry WHERE remaining_quantity < 0
                    OR (positive = 1 AND open <> (remaining_quantity > 0))
                    OR (positive = 0 AND (open <> 0 OR remaining_quantity <> 0))
                    OR positive <> (quantity > 0)""") == []
    assert one(db, "SELECT count(*) FROM item_ledger_entry WHERE open = 1") > 10
    assert one(db, "SELECT count(*) FROM item_ledger_entry WHERE positive = 1 AND open = 0") > 10
    # an application's inbound entry is inbound and of the same item and location
    assert q(db, """
        SELECT a.entry_no FROM item_application_entry a
        JOIN item_ledger_entry o ON o.entry_no = a.outbound_item_entry_no
        JOIN item_ledger_entry n ON n.entry_no = a.inbound_item_entry_no
        WHERE n.positive = 0 OR o.positive = 1 OR n.item_no <> o.item_no
           OR n.location_code <> o.location_code OR a.quantity >= 0
           OR n.posting_date > o.posting_date""") == []


def test_value_entries_reference_their_item_ledger_entries(sample):
    db, _, _ = sample
    assert q(db, """
        SELECT v.entry_no FROM value_entry v WHERE v.item_ledger_entry_no <> 0 AND NOT EXISTS (
          SELECT 1 FROM item_ledger_entry i WHERE i.entry_no = v.item_ledger_entry_no
            AND i.item_no = v.item_no AND i.entry_type = v.item_ledger_entry_type
            AND i.location_code = v.location_code AND i.posting_date <= v.posting_date)""") == []
    # capacity entries: no item, no location, blank ILE type, production or assembly
    assert q(db, """
        SELECT entry_no FROM value_entry WHERE item_ledger_entry_no = 0 AND (
          item_no IS NOT NULL OR location_code <> '' OR item_ledger_entry_type <> ''
          OR order_type NOT IN ('Production', 'Assembly') OR capacity_ledger_entry_no = 0
          OR type NOT IN ('Work Center', 'Machine Center', 'Resource'))""") == []
    assert q(db, """SELECT i.entry_no FROM item_ledger_entry i WHERE NOT EXISTS (
                      SELECT 1 FROM value_entry v WHERE v.item_ledger_entry_no = i.entry_no)""") == []


def test_invoiced_quantities_and_expected_cost_reversal(sample):
    db, _, _ = sample
    assert q(db, """
        SELECT i.entry_no FROM item_ledger_entry i
        WHERE i.invoiced_quantity <> (SELECT sum(v.invoiced_quantity) FROM value_entry v
                                      WHERE v.item_ledger_entry_no = i.entry_no)
           OR abs(i.invoiced_quantity) > abs(i.quantity)""") == []
    # a completely invoiced entry has reversed all of its expected cost
    assert q(db, """
        SELECT i.entry_no FROM item_ledger_entry i WHERE i.invoiced_quantity = i.quantity
          AND (SELECT sum(v.cost_amount_expected) FROM value_entry v
               WHERE v.item_ledger_entry_no = i.entry_no) <> 0""") == []
    # expected-cost entries carry no actual cost; only direct cost/revaluation carry expected
    assert q(db, """SELECT entry_no FROM value_entry WHERE
                    (expected_cost = 1 AND (cost_amount_actual <> 0 OR invoiced_quantity <> 0))
                    OR (entry_type NOT IN ('Direct Cost', 'Revaluation')
                        AND (expected_cost = 1 OR cost_amount_expected <> 0))""") == []
    # some receipts and shipments are still waiting for their invoice
    assert one(db, """SELECT count(*) FROM item_ledger_entry WHERE invoiced_quantity = 0
                      AND entry_type IN ('Purchase', 'Sale', 'Output')""") > 0
    assert one(db, """SELECT count(*) FROM item_ledger_entry WHERE invoiced_quantity <> 0
                      AND invoiced_quantity <> quantity AND entry_type = 'Purchase'""") >= 0


def test_cost_amounts_are_quantity_times_unit_cost(sample):
    db, _, _ = sample
    rows = q(db, """SELECT entry_no, valued_quantity, cost_per_unit,
                           cost_amount_expected + cost_amount_actual
                    FROM value_entry WHERE entry_type = 'Direct Cost' AND adjustment = 0
                      AND item_ledger_entry_type IN ('Purchase', 'Positive Adjmt.')
                      AND item_charge_no = '' AND (expected_cost = 1 OR cost_amount_expected = 0)""")
    assert len(rows) > 200
    for entry_no, qty, unit, cost in rows:
        exact = Decimal(qty) / QTY_SCALE * (Decimal(unit) / QTY_SCALE)
        assert cost == round_cents(exact), entry_no


def test_outbound_cost_comes_from_the_applied_inbound(sample):
    db, _, _ = sample
    # per item and location with nothing left in stock, the value is zero unless the item's
    # cost is flagged as not adjusted (cost changes that were not forwarded yet)
    bad = q(db, """
        SELECT v.item_no, v.location_code, sum(v.cost_amount_actual + v.cost_amount_expected)
        FROM value_entry v JOIN item it ON it.no = v.item_no
        WHERE it.cost_is_adjusted = 1 AND v.item_no IS NOT NULL
        GROUP BY v.item_no, v.location_code
        HAVING sum(v.cost_amount_actual + v.cost_amount_expected) <> 0
           AND (SELECT coalesce(sum(i.remaining_quantity), 0) FROM item_ledger_entry i
                WHERE i.item_no = v.item_no AND i.location_code = v.location_code) = 0""")
    assert bad == []
    assert one(db, "SELECT count(*) FROM item WHERE cost_is_adjusted = 1 AND type = 'Inventory'") > 0


def test_transfers_come_in_pairs(sample):
    db, _, _ = sample
    rows = q(db, """SELECT document_no, count(*), sum(quantity), sum(positive),
                           count(DISTINCT location_code), min(order_type), min(order_no)
                    FROM item_ledger_entry WHERE entry_type = 'Transfer' AND order_type = 'Transfer'
                    GROUP BY document_no""")
    assert len(rows) > 10
    for doc, n, qty, pos, locs, otype, ono in rows:
        assert (n, qty, pos, locs, otype) == (2, 0, 1, 2, "Transfer") and ono, doc
    # the receiving side's application names the shipping side
    assert q(db, """
        SELECT a.entry_no FROM item_application_entry a
        JOIN item_ledger_entry i ON i.entry_no = a.item_ledger_entry_no
        WHERE i.entry_type = 'Transfer' AND i.positive = 1 AND a.outbound_item_entry_no = 0
          AND NOT EXISTS (SELECT 1 FROM item_ledger_entry s WHERE
                          s.entry_no = a.transferred_from_entry_no AND s.positive = 0
                          AND s.document_no = i.document_no)""") == []
    # the direct cost of the two sides is equal and opposite
    assert q(db, """
        SELECT i.document_no FROM item_ledger_entry i JOIN value_entry v
          ON v.item_ledger_entry_no = i.entry_no AND v.entry_type = 'Direct Cost'
          AND v.adjustment = 0
        WHERE i.entry_type = 'Transfer' GROUP BY i.document_no
        HAVING sum(v.cost_amount_actual) <> 0""") == []


def test_production_and_assembly_shape(sample):
    db, _, _ = sample
    # consumption names the produced item; capacity entries carry the order
    assert q(db, """SELECT v.entry_no FROM value_entry v WHERE v.item_ledger_entry_type
                    IN ('Consumption', 'Assembly Consumption') AND (v.source_type <> 'Item'
                    OR v.source_no = v.item_no OR v.source_no = '' OR v.order_no = ''
                    OR (v.entry_type = 'Direct Cost' AND v.cost_amount_actual >= 0))""") == []
    assert q(db, """SELECT v.entry_no FROM value_entry v WHERE v.item_ledger_entry_type =
                    'Consumption' AND NOT EXISTS (SELECT 1 FROM item_ledger_entry o WHERE
                    o.entry_type = 'Output' AND o.order_no = v.order_no
                    AND o.item_no = v.source_no)""") == []
    # a finished production order: WIP is cleared by the output's actual direct cost
    rows = q(db, """
        SELECT v.order_no, sum(CASE WHEN v.item_ledger_entry_type = 'Consumption'
                                    AND v.entry_type = 'Direct Cost' AND v.adjustment = 0
                                    THEN -v.cost_amount_actual ELSE 0 END)
          + sum(CASE WHEN v.item_ledger_entry_type = '' THEN v.cost_amount_actual ELSE 0 END)
          - sum(CASE WHEN v.item_ledger_entry_type = 'Output' AND v.entry_type = 'Direct Cost'
                     THEN v.cost_amount_actual ELSE 0 END)
        FROM value_entry v WHERE v.order_type = 'Production'
        GROUP BY v.order_no
        HAVING sum(v.item_ledger_entry_type = 'Output' AND v.invoiced_quantity <> 0) > 0""")
    assert len(rows) > 10
    assert [r for r in rows if r[1] != 0] == []
    # output of a standard item: direct + indirect + variances = standard cost = expected cost
    assert q(db, """
        SELECT i.entry_no FROM item_ledger_entry i JOIN item it ON it.no = i.item_no
        WHERE i.entry_type = 'Output' AND i.invoiced_quantity = i.quantity
          AND (SELECT sum(v.cost_amount_actual) FROM value_entry v
               WHERE v.item_ledger_entry_no = i.entry_no AND v.entry_type <> 'Revaluation'
                 AND v.entry_type <> 'Rounding')
              <> (SELECT v.cost_amount_expected FROM value_entry v
                  WHERE v.item_ledger_entry_no = i.entry_no AND v.expected_cost = 1)""") == []
    # assembly: consumption + resources = output direct cost (Inventory Adjmt. nets to zero)
    rows = q(db, """
        SELECT order_no,
          sum(CASE WHEN item_ledger_entry_type = 'Assembly Output' AND entry_type = 'Direct Cost'
                   THEN cost_amount_actual ELSE 0 END)
          - sum(CASE WHEN item_ledger_entry_type = '' THEN cost_amount_actual ELSE 0 END)
          + sum(CASE WHEN item_ledger_entry_type = 'Assembly Consumption'
                     AND entry_type = 'Direct Cost' THEN cost_amount_actual ELSE 0 END)
        FROM value_entry WHERE order_type = 'Assembly' AND adjustment = 0
        GROUP BY order_no""")
    assert len(rows) > 10
    assert [r for r in rows if r[1] != 0] == []


EVERY_KIND = [
    # (ILE type, entry type, variance type, expected cost, adjustment, item charge)
    ("Purchase", "Direct Cost", "", 1, 0, 0),
    ("Purchase", "Direct Cost", "", 0, 0, 0),
    ("Purchase", "Direct Cost", "", 0, 0, 1),
    ("Purchase", "Indirect Cost", "", 0, 0, 0),
    ("Purchase", "Variance", "Purchase", 0, 0, 0),
    ("Purchase", "Revaluation", "", 0, 0, 0),
    ("Sale", "Direct Cost", "", 1, 0, 0),
    ("Sale", "Direct Cost", "", 0, 0, 0),
    ("Sale", "Direct Cost", "", 0, 1, 0),
    ("Sale", "Rounding", "", 0, 1, 0),
    ("Positive Adjmt.", "Direct Cost", "", 0, 0, 0),
    ("Negative Adjmt.", "Direct Cost", "", 0, 0, 0),
    ("Transfer", "Direct Cost", "", 0, 0, 0),
    ("Consumption", "Direct Cost", "", 0, 0, 0),
    ("Consumption", "Rounding", "", 0, 1, 0),
    ("", "Direct Cost", "", 0, 0, 0),
    ("", "Indirect Cost", "", 0, 0, 0),
    ("Output", "Direct Cost", "", 1, 0, 0),
    ("Output", "Direct Cost", "", 0, 1, 0),
    ("Output", "Indirect Cost", "", 0, 1, 0),
    ("Output", "Variance", "Material", 0, 1, 0),
    ("Output", "Variance", "Capacity", 0, 1, 0),
    ("Output", "Variance", "Subcontracted", 0, 1, 0),
    ("Output", "Variance", "Capacity Overhead", 0, 1, 0),
    ("Output", "Variance", "Manufacturing Overhead", 0, 1, 0),
    ("Assembly Consumption", "Direct Cost", "", 0, 0, 0),
    ("Assembly Output", "Direct Cost", "", 0, 0, 0),
    ("Assembly Output", "Indirect Cost", "", 0, 0, 0),
]


def test_every_kind_of_value_entry_is_there(sample):
    db, _, _ = sample
    kinds = set(q(db, """SELECT DISTINCT item_ledger_entry_type, entry_type, variance_type,
                                expected_cost, adjustment, item_charge_no <> ''
                         FROM value_entry"""))
    missing = [k for k in EVERY_KIND if k not in kinds]
    assert missing == []
    assert set(r[0] for r in q(db, "SELECT DISTINCT order_type FROM value_entry "
                               "WHERE item_ledger_entry_type = ''")) == {"Production", "Assembly"}
    assert set(r[0] for r in q(db, "SELECT DISTINCT costing_method FROM item")) >= {
        "FIFO", "LIFO", "Average", "Standard"}
    assert q(db, "SELECT count(*) FROM item WHERE type = 'Service'") == [(1,)]
    assert q(db, "SELECT count(*) FROM value_entry v JOIN item i ON i.no = v.item_no "
                 "WHERE i.type = 'Service'") == [(0,)]
    assert one(db, "SELECT count(DISTINCT location_code) FROM value_entry") >= 5
    assert one(db, "SELECT count(DISTINCT dimension_set_id) FROM value_entry") >= 5
    # partial purchase invoices: receipts invoiced by more than one invoice
    assert one(db, """SELECT count(*) FROM (SELECT item_ledger_entry_no FROM value_entry
                      WHERE item_ledger_entry_type = 'Purchase' AND invoiced_quantity <> 0
                      GROUP BY 1 HAVING count(*) > 1)""") > 0
    # purchases invoiced at another cost than received
    assert one(db, """SELECT count(*) FROM value_entry WHERE item_ledger_entry_type = 'Purchase'
                      AND entry_type = 'Direct Cost' AND cost_amount_expected <> 0
                      AND cost_amount_actual <> -cost_amount_expected""") > 0


# -- setup and G/L ------------------------------------------------------------------------------

def test_setup_rows(sample):
    db, _, _ = sample
    assert q(db, "SELECT expected_cost_posting_to_gl, automatic_cost_posting "
                 "FROM inventory_setup") == [(1, 0)]
    assert q(db, "SELECT allow_posting_from, allow_posting_to FROM general_ledger_setup") == [
        ("2025-01-01", "2025-12-31")]
    periods = q(db, "SELECT starting_date, new_fiscal_year, closed FROM accounting_period "
                    "ORDER BY 1")
    assert periods[0] == ("2024-01-01", 1, 1) and ("2024-12-01", 0, 1) in periods
    assert ("2025-01-01", 1, 0) in periods and ("2025-12-01", 0, 0) in periods
    assert {r[0] for r in q(db, "SELECT gen_bus_posting_group FROM general_posting_setup")} == {
        "", "DOMESTIC", "EXPORT"}
    assert {r[0] for r in q(db, "SELECT invt_posting_group_code FROM inventory_posting_setup")} \
        == {"RESALE", "RAW", "FINISHED"}
    assert q(db, "SELECT count(*) FROM default_dimension WHERE table_id = 15 AND "
                 "value_posting = 'Code Mandatory'") != [(0,)]
    assert one(db, "SELECT count(*) FROM gl_account WHERE income_balance = 'Balance Sheet'") > 5


def test_gl_balances_per_transaction_and_year_end_close(sample):
    db, _, _ = sample
    assert q(db, "SELECT transaction_no FROM gl_entry GROUP BY transaction_no "
                 "HAVING sum(amount) <> 0") == []
    assert one(db, "SELECT count(*) FROM gl_entry WHERE transaction_no = 0") == 0
    # opening balances on an inventory account, against equity
    opening = q(db, "SELECT gl_account_no, amount FROM gl_entry WHERE document_no = 'OPEN-2024' "
                    "ORDER BY gl_account_no")
    assert ("2130", 1_234_567) in opening and sum(a for _, a in opening) == 0
    # a manual entry on an inventory account, with no value entry behind it
    manual = q(db, "SELECT g.gl_account_no, g.amount, count(r.value_entry_no) FROM gl_entry g "
                   "LEFT JOIN gl_item_ledger_relation r ON r.gl_entry_no = g.entry_no "
                   "WHERE g.document_no = 'GJ-2025-0042' GROUP BY g.entry_no ORDER BY 1")
    assert manual == [("2130", -15_000, 0), ("7180", 15_000, 0)]
    # the closing entry clears every income-statement account of 2024 against equity
    assert one(db, "SELECT count(*) FROM gl_entry WHERE closing = 1 AND "
                   "posting_date = '2024-12-31' AND document_no = 'CLOSE-2024'") > 5
    assert one(db, "SELECT count(*) FROM gl_entry WHERE closing = 1 AND "
                   "document_no <> 'CLOSE-2024'") == 0
    assert q(db, """SELECT g.gl_account_no FROM gl_entry g JOIN gl_account a
                    ON a.no = g.gl_account_no WHERE a.income_balance = 'Income Statement'
                    AND g.posting_date <= '2024-12-31' GROUP BY 1 HAVING sum(g.amount) <> 0""") == []
    assert one(db, "SELECT count(*) FROM gl_entry WHERE closing = 1 AND gl_account_no = '3200'") == 1


# -- posting and planted faults -----------------------------------------------------------------

def test_every_planted_fault_is_present(sample):
    db, summary, _ = sample
    faults = fault_entries(db)
    assert set(faults) == set(FAULTS)
    assert summary.faults == faults
    assert {k: len(v) > 0 for k, v in faults.items()} == {k: True for k in FAULTS}
    assert q(db, "SELECT count(*) FROM inventory_posting_setup WHERE location_code = 'YELLOW' "
                 "AND invt_posting_group_code = 'FINISHED'") == [(0,)]
    assert q(db, "SELECT cogs_account FROM general_posting_setup WHERE "
                 "gen_bus_posting_group = 'EXPORT' AND gen_prod_posting_group = 'RETAIL'") == [("",)]
    assert q(db, "SELECT g.blocked FROM inventory_posting_setup s JOIN gl_account g "
                 "ON g.no = s.inventory_account WHERE s.location_code = 'OUTLET'") == [(1,)]


def test_posting_runs_posted_everything_up_to_the_cutoff_but_the_faults(sample):
    db, summary, _ = sample
    assert len(summary.posting_runs) >= 4
    assert {r.mode for r in summary.posting_runs} == {"per-entry", "per-posting-group"}
    faults = fault_entries(db)
    skipped_faults = {n for k in ("missing_inventory_posting_setup", "blank_account",
                                  "blocked_account", "posting_date_not_allowed")
                      for n in faults[k]}
    waiting = {r[0] for r in q(db, """
        SELECT entry_no FROM value_entry WHERE posting_date <= ? AND
          (cost_amount_actual <> cost_posted_to_gl
           OR cost_amount_expected <> expected_cost_posted_to_gl)""",
        [POST_CUTOFF.isoformat()])}
    assert waiting == skipped_faults
    assert sum(r.skipped for r in summary.posting_runs) == len(skipped_faults) - len(
        faults["posting_date_not_allowed"])
    # the dimension conflicts were posted (overridden), and reported
    assert q(db, f"""SELECT count(*) FROM value_entry WHERE entry_no IN
                     ({','.join(map(str, faults['dimension_conflict']))})
                     AND cost_posted_to_gl = cost_amount_actual""") == [
        (len(faults["dimension_conflict"]),)]
    assert sum(r.dimension_overrides for r in summary.posting_runs) >= len(
        faults["dimension_conflict"])
    # the last weeks wait
    assert one(db, """SELECT count(*) FROM value_entry WHERE posting_date > ? AND
                      cost_posted_to_gl = 0 AND expected_cost_posted_to_gl = 0""",
               [POST_CUTOFF.isoformat()]) > 20
    assert one(db, "SELECT count(*) FROM value_entry WHERE posting_date > ? AND "
                   "(cost_posted_to_gl <> 0 OR expected_cost_posted_to_gl <> 0)",
               [POST_CUTOFF.isoformat()]) == 0
    # the inventory G/L entries come from the engine: linked to value entries, in registers
    assert one(db, "SELECT count(DISTINCT value_entry_no) FROM gl_item_ledger_relation") == \
        summary.posted_value_entries
    # registers are dated by the run, not by the day the sample was generated
    assert one(db, "SELECT count(*) FROM gl_register WHERE creation_date > '2025-12-31'") == 0
    assert one(db, "SELECT count(DISTINCT r.gl_register_no) FROM gl_item_ledger_relation r") == \
        len(summary.posting_runs)


def test_post_test_lists_exactly_the_planted_skips(sample):
    db, _, _ = sample
    faults = fault_entries(db)
    report = test_posting(db, PostingRequest(mode="per-entry", filters=LedgerFilter(
        date_to=POST_CUTOFF))).report
    try:
        skips = {s.value_entry_no: s.reason_code for s in report.skipped}
    finally:
        report.close()
    expected = {n: code for code in ("missing_inventory_posting_setup", "blank_account",
                                     "blocked_account", "posting_date_not_allowed")
                for n in faults[code]}
    assert skips == expected


def test_check_command_finds_the_sample_consistent(sample):
    _, _, path = sample
    r = subprocess.run([PYTHON, "-m", "invrecon", "--db", str(path), "check", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


# -- CLI ----------------------------------------------------------------------------------------

def run_cli(*args, cwd=None):
    return subprocess.run([PYTHON, "-m", "invrecon", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_cli_writes_new_file_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "x.db"
    r = run_cli("--db", str(target), "sample", "--value-entries", "400", "--seed", "9")
    assert r.returncode == 0, r.stderr
    assert "value entries" in r.stdout and "planted blank_account" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]  # no .tmp, no -wal left
    before = target.read_bytes()
    r = run_cli("--db", str(target), "sample", "--value-entries", "400")
    assert r.returncode == 1
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert target.read_bytes() == before
    r = run_cli("--db", str(target), "sample", "--value-entries", "400", "--seed", "10",
                "--force", "--no-post")
    assert r.returncode == 0, r.stderr
    db = open_ledger(target, readonly=True)
    try:
        assert one(db, "SELECT count(*) FROM gl_item_ledger_relation") == 0
    finally:
        db.close()
    r = run_cli("--db", str(target), "sample", "--value-entries", "10")
    assert r.returncode == 2 and "at least" in r.stderr


def test_empty_file_is_not_refused(tmp_path):
    target = tmp_path / "empty.db"
    target.write_bytes(b"")
    r = run_cli("--db", str(target), "sample", "--value-entries", "300", "--no-post")
    assert r.returncode == 0, r.stderr


def test_interrupted_generation_leaves_nothing(tmp_path):
    target = tmp_path / "y.db"

    def boom(phase, done, total):
        if phase == "indexes":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_sample(target, value_entries=500, on_progress=boom)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_replacement_keeps_the_old_ledger(tmp_path):
    target = tmp_path / "z.db"
    generate_sample(target, value_entries=300, post=False)
    before = _dump(target)

    def boom(phase, done, total):
        if phase.startswith("posting"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_sample(target, value_entries=600, seed=2, on_progress=boom)
    assert _dump(target) == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


# -- scale --------------------------------------------------------------------------------------

_MEASURE = """
import json, resource, sys
from pathlib import Path
from invrecon.sample import generate_sample
s = generate_sample(Path(sys.argv[1]), value_entries=int(sys.argv[2]), post=False)
# VmHWM is this process's own peak: ru_maxrss also counts the parent's RSS at fork on Linux,
# so a large pytest process would inflate it.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"ve": s.value_entries, "rss_kb": hwm}))
"""


def _measure(path: Path, n: int) -> dict:
    r = subprocess.run([PYTHON, "-c", _MEASURE, str(path), str(n)], capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_memory_is_bounded(tmp_path):
    small = _measure(tmp_path / "small.db", 20_000)
    big = _measure(tmp_path / "big.db", 200_000)
    assert abs(big["ve"] - 200_000) <= 10_000
    # ten times the entries, far from ten times the memory: the generator streams
    assert big["rss_kb"] < 250 * 1024, big
    # What may grow with the ledger is SQLite's page cache, capped at 64 MiB per connection
    # (ledger.py); everything else must stay flat: at most 16 MiB more on top of the cache.
    assert big["rss_kb"] - small["rss_kb"] < (64 + 16) * 1024, (small, big)


def test_default_size_is_the_shipped_size():
    assert 2000 <= DEFAULT_VALUE_ENTRIES <= 5000
    if (ROOT / "sample.db").exists():
        db = open_ledger(ROOT / "sample.db", readonly=True)
        try:
            n = one(db, "SELECT count(*) FROM value_entry")
        finally:
            db.close()
        assert abs(n - DEFAULT_VALUE_ENTRIES) <= 0.05 * DEFAULT_VALUE_ENTRIES


def test_environment_does_not_change_the_ledger(tmp_path):
    # hash randomisation and the working directory play no part
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    code = ("import sys; from pathlib import Path; from invrecon.sample import generate_sample;"
            "generate_sample(Path(sys.argv[1]), value_entries=800, seed=4)")
    subprocess.run([PYTHON, "-c", code, str(tmp_path / "h1.db")], check=True, env=env,
                   cwd=tmp_path)
    env["PYTHONHASHSEED"] = "999"
    subprocess.run([PYTHON, "-c", code, str(tmp_path / "h2.db")], check=True, env=env)
    assert _dump(tmp_path / "h1.db") == _dump(tmp_path / "h2.db")


def test_pre_aggregates_are_in_place_and_exact(sample):
    from invrecon import preaggregates

    db, _, _ = sample
    assert preaggregates.available(db)
    assert preaggregates.check(db) == []
