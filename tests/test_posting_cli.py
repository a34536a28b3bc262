"""``invrecon post`` / ``invrecon post-test`` end to end: the real command in a subprocess,
a real ledger file (40-interfaces §1, §4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_builder import LedgerBuilder

from invrecon.ledger import open_ledger
from invrecon.schema import LEDGER_TABLES


def invrecon(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INVRECON_DB": ""}
    return subprocess.run([sys.executable, "-m", "invrecon", "--db", str(db_path), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def dump(path: Path) -> dict:
    db = open_ledger(path, readonly=True)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in LEDGER_TABLES}
    finally:
        db.close()


@pytest.fixture
def ledger(db_path: Path) -> Path:
    db = open_ledger(db_path, create=True)
    b = LedgerBuilder.standard(db)
    b.ips("RED", "RESALE", inventory_account="")
    b.value_entry(item_no="A", cost_amount_actual="100.00", document_no="P1", source_no="V1")
    b.value_entry(item_no="A", item_ledger_entry_type="Sale", cost_amount_actual="-40.00",
                  document_no="S1", source_no="C1")
    b.value_entry(item_no="B", location_code="RED", cost_amount_actual="5.00", document_no="P2")
    b.value_entry(item_ledger_entry_type="", order_type="Production", order_no="PO1",
                  cost_amount_actual="7.00", document_no="PO1")
    db.close()
    return db_path


@pytest.fixture
def clean_ledger(db_path: Path) -> Path:
    db = open_ledger(db_path, create=True)
    b = LedgerBuilder.standard(db)
    b.value_entry(item_no="A", cost_amount_actual="100.00", document_no="P1")
    db.close()
    return db_path


def test_post_json_exit_3_when_skipped_and_second_run_posts_nothing(ledger):
    proc = invrecon(ledger, "post", "--json")
    assert proc.returncode == 3, proc.stderr
    js = json.loads(proc.stdout)
    assert js["mode"] == "per-entry" and js["preview"] is False and js["document_no"] is None
    assert js["register_no"] == 1
    assert js["posted_value_entries"] == 3 and js["gl_entries_created"] == 6
    assert [(ln["gl_account_no"], ln["amount"], ln["value_entry_nos"]) for ln in js["lines"]] == [
        ("2130", "100.00", [1]), ("7290", "-100.00", [1]),
        ("2130", "-40.00", [2]), ("7190", "40.00", [2]),
        ("2140", "7.00", [4]), ("7290", "-7.00", [4])]
    assert js["lines"][0]["description"] == "Direct Cost V1 on 2025-01-15"
    assert js["totals_by_account_type"]["inventory"] == "60.00"
    assert [(s["value_entry_no"], s["reason_code"], s["cost_amount"]) for s in js["skipped"]] == [
        (3, "blank_account", "5.00")]
    again = invrecon(ledger, "post", "--json")
    assert again.returncode == 3  # the skipped entry is still skipped
    js2 = json.loads(again.stdout)
    assert js2["posted_value_entries"] == 0 and js2["register_no"] is None and js2["lines"] == []


def test_post_exit_0_when_nothing_skipped(clean_ledger):
    proc = invrecon(clean_ledger, "post")
    assert proc.returncode == 0, proc.stderr
    assert "1 value entries have been posted to the general ledger (G/L register 1, 2 G/L entries)." in proc.stdout
    proc = invrecon(clean_ledger, "post")
    assert proc.returncode == 0
    assert "There is nothing to post to the general ledger." in proc.stdout


def test_post_text_report_like_bc(ledger):
    proc = invrecon(ledger, "post", "--per-posting-group", "--document-no", "INVT-01")
    assert proc.returncode == 3
    out = proc.stdout
    assert "Posted per Posting Group" in out and "Document No.: INVT-01" in out
    assert "Item value entries" in out and "Capacity value entries" in out
    for col in ("COGS", "Inventory Adjustment", "Direct Cost Applied", "WIP Inventory", "Inventory"):
        assert col in out
    item_a = next(line for line in out.splitlines() if line.startswith("A "))
    assert "Item A" in item_a and "40.00" in item_a and "-100.00" in item_a and "60.00" in item_a
    assert "Per Posting Group" in out
    assert "Inventory Cost Posted to G/L" in out
    assert "Skipped Entries (1)" in out
    skipped = next(line for line in out.splitlines() if line.startswith("B "))
    assert "blank_account" in skipped and "Inventory Account is missing in Inventory Posting Setup, RED RESALE" in skipped
    db = open_ledger(ledger, readonly=True)
    try:
        assert {r[0] for r in db.execute("SELECT document_no FROM gl_entry")} == {"INVT-01"}
    finally:
        db.close()


def test_preview_writes_nothing(ledger):
    before = dump(ledger)
    mtime = ledger.stat().st_mtime_ns
    proc = invrecon(ledger, "post", "--preview", "--json")
    assert proc.returncode == 3
    js = json.loads(proc.stdout)
    assert js["preview"] is True and js["register_no"] is None and js["posted_value_entries"] == 3
    text = invrecon(ledger, "post", "--preview")
    assert "Test Report (Not Posted)" in text.stdout and "Nothing was written." in text.stdout
    assert dump(ledger) == before
    assert ledger.stat().st_mtime_ns == mtime


def test_post_test_json_lists_the_runs_skips(ledger):
    before = dump(ledger)
    proc = invrecon(ledger, "post-test", "--json")
    assert proc.returncode == 0, proc.stderr
    js = json.loads(proc.stdout)
    assert set(js) == {"lines", "problems"}
    assert js["problems"] == [{"value_entry_no": 3, "reason_code": "blank_account",
                               "reason": js["problems"][0]["reason"], "kind": "skip"}]
    assert len(js["lines"]) == 6
    assert dump(ledger) == before
    text = invrecon(ledger, "post-test")
    assert "Warnings (1)" in text.stdout and "blank_account" in text.stdout
    run = json.loads(invrecon(ledger, "post", "--json").stdout)
    assert [(s["value_entry_no"], s["reason_code"], s["reason"]) for s in run["skipped"]] == [
        (p["value_entry_no"], p["reason_code"], p["reason"]) for p in js["problems"]]


def test_post_test_per_posting_group_lines(ledger):
    js = json.loads(invrecon(ledger, "post-test", "--per-posting-group", "--document-no", "D",
                             "--json").stdout)
    assert [(ln["account_type"], ln["amount"], ln["value_entry_nos"]) for ln in js["lines"]] == [
        ("inventory", "100.00", [1]), ("inventory", "-40.00", [2]), ("wip_inventory", "7.00", [4]),
        ("direct_cost_applied", "-100.00", [1]),  # bal. Inventory
        ("direct_cost_applied", "-7.00", [4]),  # bal. WIP Inventory
        ("cogs", "40.00", [2])]


def test_filters(ledger):
    proc = invrecon(ledger, "post", "--item", "A", "--from", "2025-01-01", "--to", "2025-01-31",
                    "--json")
    assert proc.returncode == 0, proc.stderr
    js = json.loads(proc.stdout)
    assert js["posted_value_entries"] == 2 and js["skipped"] == []
    proc = invrecon(ledger, "post", "--to", "2024-12-31", "--json")
    assert json.loads(proc.stdout)["posted_value_entries"] == 0


@pytest.mark.parametrize("args, message", [
    (["post", "--per-posting-group"], "needs --document-no"),
    (["post", "--document-no", "X"], "Do not enter a Document No."),
    (["post", "--per-entry", "--document-no", "X"], "Do not enter a Document No."),
    (["post-test", "--per-posting-group"], "needs --document-no"),
    (["post", "--per-entry", "--per-posting-group"], "not allowed with"),
    (["post", "--from", "2025-13-01"], "usage error"),
    (["post", "--item", "A&B"], "usage error"),
])
def test_usage_errors_exit_2_and_write_nothing(ledger, args, message):
    before = dump(ledger)
    proc = invrecon(ledger, *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert dump(ledger) == before


def test_not_a_ledger_exit_1(tmp_path):
    bad = tmp_path / "x.db"
    bad.write_bytes(b"not a database at all, really")
    proc = invrecon(bad, "post")
    assert proc.returncode == 1
    assert "not an SQLite database" in proc.stderr and proc.stderr.count("\n") == 1
    assert bad.read_bytes() == b"not a database at all, really"


def test_busy_ledger_exit_1_with_clear_message(clean_ledger):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(clean_ledger)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = invrecon(clean_ledger, "post")
        assert proc.returncode == 1
        assert "busy" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert invrecon(clean_ledger, "post").returncode == 0


def test_help_lists_options():
    proc = subprocess.run([sys.executable, "-m", "invrecon", "post", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0
    for opt in ("--per-entry", "--per-posting-group", "--document-no", "--preview", "--from",
                "--to", "--item", "--json"):
        assert opt in proc.stdout


@pytest.fixture
def huge_ledger(db_path: Path) -> Path:
    """Two items' purchases of 50,000,000,000,000,000.00 each on one day: every entry and each
    item's totals fit in 64-bit cents, their sum on the Inventory account does not."""
    db = open_ledger(db_path, create=True)
    b = LedgerBuilder.standard(db)
    for item in "AB":
        b.value_entry(item_no=item, cost_amount_actual=5 * 10**18, document_no=f"P{item}")
    db.close()
    return db_path


@pytest.mark.parametrize("mode", [[], ["--per-posting-group", "--document-no", "B1"]])
def test_a_gl_total_beyond_64_bits_is_a_one_line_error_and_writes_nothing(huge_ledger, mode):
    before = dump(huge_ledger)
    proc = invrecon(huge_ledger, "post", *mode)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "the amounts are too large" in proc.stderr and "nothing was written" in proc.stderr
    assert dump(huge_ledger) == before


def test_a_matrix_total_beyond_64_bits_is_a_one_line_error(huge_ledger):
    proc = invrecon(huge_ledger, "matrix")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "the amounts are too large" in proc.stderr
