"""Drill-down (lines sum to the cell, entries paged in SQL, entry detail) and the CLI contract
of `matrix` and `drill` (40-interfaces §5), run as a subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from ledger_builder import LedgerBuilder

from invrecon.drilldown import drill_entries, drill_lines, entry_detail
from invrecon.errors import InputError
from invrecon.filters import LedgerFilter
from invrecon.posting import PostingRequest, post_inventory_cost
from invrecon.reconciliation import COLUMN_KEYS, ROW_KEYS, compute_matrix, is_blank_by_design

INV = "inventory"


@pytest.fixture
def ledger(db):
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    b.value_entry(item_no="A", cost_amount_actual="100", location_code="BLUE")
    b.value_entry(item_no="B", cost_amount_actual="50", location_code="RED")
    b.value_entry(item_no="A", item_ledger_entry_type="Sale", cost_amount_actual="-30",
                  cost_amount_expected="-10", expected_cost=0)
    b.value_entry(item_ledger_entry_type="", cost_amount_actual="20", order_type="Production")
    b.value_entry(item_no="B", item_ledger_entry_type="Consumption", cost_amount_actual="-15",
                  order_type="Production")
    post_inventory_cost(db, PostingRequest())
    b = LedgerBuilder(db)
    b.value_entry(item_no="B", item_ledger_entry_type="Sale", cost_amount_actual="-7")
    b.gl_entry("2130", "1.50")
    return db


@pytest.mark.parametrize("filters", [LedgerFilter(), LedgerFilter(item="A"),
                                     LedgerFilter(location="RED")], ids=["all", "item", "loc"])
def test_drill_lines_and_entries_sum_to_every_cell(ledger, filters):
    db = ledger
    m = compute_matrix(db, filters)
    for r in ROW_KEYS:
        for c in COLUMN_KEYS:
            if is_blank_by_design(r, c):
                assert drill_lines(db, r, c, filters).lines == []
                continue
            res = drill_lines(db, r, c, filters)
            assert res.total == m.amount(r, c), (r, c)
            assert sum(ln.amount for ln in res.lines) == m.amount(r, c)
            page = drill_entries(db, r, c, filters, limit=10000)
            if "difference" in (r, c):
                gl = drill_entries(db, r, c, filters, side="gl", limit=10000)
                it = drill_entries(db, r, c, filters, side="item", limit=10000)
                assert (sum(e["amount"] for e in gl.rows) + sum(e["amount"] for e in it.rows)
                        == m.amount(r, c)), (r, c)
            else:
                assert sum(e["amount"] for e in page.rows) == m.amount(r, c), (r, c)
            for ln in res.lines:  # each line drills to its own entries
                if "difference" in (r, c):
                    continue
                sub = drill_entries(db, r, c, filters, no=ln.no, limit=10000)
                assert sum(e["amount"] for e in sub.rows) == ln.amount, (r, c, ln)


def test_difference_drill_gives_both_sides_and_causes(ledger):
    res = drill_lines(ledger, "difference", INV)
    kinds = {(ln.type, ln.no): ln.amount for ln in res.lines}
    assert kinds[("gl_account", "2130")] == 10000 + 5000 - 3000 - 1500 + 150
    assert kinds[("item", "B")] == -(5000 - 1500 - 700)
    assert res.total == compute_matrix(ledger).amount("difference", INV)
    assert {c.cause for c in res.causes} == {"not_posted_actual", "unlinked_gl"}
    js = res.to_json()
    assert set(js) >= {"row", "column", "filters", "lines", "entries_query"}
    assert set(js["lines"][0]) >= {"type", "no", "description", "amount"}


def test_entries_are_paged_in_entry_order(ledger):
    full = drill_entries(ledger, "total", INV, limit=1000)
    assert [r["entry_no"] for r in full.rows] == sorted(r["entry_no"] for r in full.rows)
    p1 = drill_entries(ledger, "total", INV, limit=2, offset=0)
    p2 = drill_entries(ledger, "total", INV, limit=2, offset=2)
    assert p1.total_count == full.total_count == 5
    assert [r["entry_no"] for r in p1.rows + p2.rows] == [r["entry_no"] for r in full.rows[:4]]
    gl = drill_entries(ledger, "gl_total", INV)
    assert gl.kind == "gl_entry" and all(r["gl_account_no"] == "2130" for r in gl.rows)
    with pytest.raises(InputError):
        drill_entries(ledger, "nope", INV)


def test_entry_detail_links_both_ways(ledger):
    ve = entry_detail(ledger, "value_entry", 1)
    assert {g["gl_account_no"] for g in ve["gl_entries"]} == {"2130", "7290"}
    g = ve["gl_entries"][0]["entry_no"]
    gl = entry_detail(ledger, "gl_entry", g)
    assert [v["entry_no"] for v in gl["value_entries"]] == [1]
    with pytest.raises(InputError):
        entry_detail(ledger, "value_entry", 999)


def run(db_path, *args):
    return subprocess.run([sys.executable, "-m", "invrecon", "--db", str(db_path), *args],
                          capture_output=True, text=True)


def test_cli_matrix_json_shape(ledger, db_path):
    p = run(db_path, "matrix", "--json", "--warnings")
    assert p.returncode == 0, p.stderr
    js = json.loads(p.stdout)
    assert set(js) >= {"filters", "columns", "rows", "warnings"}
    assert js["filters"] == {"from": None, "to": None, "item": None, "location": None,
                             "show_warning": True, "include_closing": True}
    assert js["columns"] == list(COLUMN_KEYS)
    assert [r["key"] for r in js["rows"]] == list(ROW_KEYS)
    diff = next(r for r in js["rows"] if r["key"] == "difference")
    assert diff["cells"]["inventory"] == "8.50"
    assert sum(int(c["amount"].replace(".", "")) for c in diff["explanation"]
               if c["column"] == "inventory") == 850
    for r in js["rows"]:
        assert set(r) >= {"key", "name", "cells", "warning", "explanation"}
        for c in r["explanation"]:
            assert set(c) >= {"cause", "title", "amount", "entries"}
    for w in js["warnings"]:
        assert set(w) >= {"code", "title", "detail", "cells"}


def test_cli_matrix_text_csv_and_filters(ledger, db_path):
    p = run(db_path, "matrix", "--from", "2025-01-01", "--to", "2025-12-31", "--item", "A|B",
            "--location", "BLUE|RED|''", "--no-closing")
    assert p.returncode == 0, p.stderr
    assert "Inventory - G/L Reconciliation" in p.stdout and "Difference" in p.stdout
    assert "Differences explained:" in p.stdout
    p = run(db_path, "matrix", "--csv")
    rows = list(csv.reader(io.StringIO(p.stdout)))
    assert rows[0][:2] == ["row", "name"] and rows[0][2:8] == list(COLUMN_KEYS)
    assert [r[0] for r in rows[1:]] == list(ROW_KEYS)
    p = run(db_path, "matrix", "--item", "A..")
    assert p.returncode == 0
    p = run(db_path, "matrix", "--from", "2025-13-01")
    assert p.returncode == 2 and p.stderr.count("\n") == 1


def test_cli_drill_json_and_entries(ledger, db_path):
    p = run(db_path, "drill", "--row", "cogs", "--column", "inventory", "--json")
    assert p.returncode == 0, p.stderr
    js = json.loads(p.stdout)
    assert set(js) >= {"row", "column", "filters", "lines", "entries_query"}
    assert {(ln["type"], ln["no"], ln["amount"]) for ln in js["lines"]} == {
        ("item", "A", "30.00"), ("item", "B", "7.00")}
    p = run(db_path, "drill", "--row", "cogs", "--column", "inventory", "--entries", "--json",
            "--limit", "1", "--offset", "1")
    js = json.loads(p.stdout)
    assert js["total_count"] == 2 and len(js["rows"]) == 1 and js["rows"][0]["amount"] == "7.00"
    assert set(js["rows"][0]) >= {"entry_no", "posting_date", "document_no", "amount"}
    p = run(db_path, "drill", "--row", "difference", "--column", "inventory", "--entries",
            "--cause", "unlinked_gl", "--csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [r["amount"] for r in rows] == ["1.50"]
    p = run(db_path, "drill", "--row", "bogus", "--column", "inventory")
    assert p.returncode == 1 and "unknown row" in p.stderr
