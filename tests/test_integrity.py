"""``check_ledger`` / ``invrecon check``: a consistent ledger passes; each kind of damage is
reported with its own code, count and examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_builder import LedgerBuilder, cents

from invrecon.integrity import INVENTORY_POST_COST_SOURCE_CODE, check_ledger
from invrecon.ledger import open_ledger


class Poster:
    """Writes what a posting run writes: one register, G/L entries with source code INVTPCOST,
    one relation row per (G/L entry, value entry), and the posted fields."""

    def __init__(self, builder: LedgerBuilder):
        self.b = builder
        self.db = builder.db

    def run(self, lines: list[tuple[str, str, list[int]]], *, date: str = "2025-01-15",
            transaction_no: int | None = None) -> int:
        reg = (self.db.execute("SELECT coalesce(max(no), 0) + 1 FROM gl_register").fetchone()[0])
        txn = transaction_no or reg
        first = None
        last = None
        for account, amount, ves in lines:
            g = self.b.gl_entry(account, amount, posting_date=date, transaction_no=txn,
                                source_code=INVENTORY_POST_COST_SOURCE_CODE)
            first = first or g
            last = g
            for ve in ves:
                self.db.execute(
                    "INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no, gl_register_no)"
                    " VALUES (?, ?, ?)", [g, ve, reg])
        self.db.execute(
            "INSERT INTO gl_register (no, from_entry_no, to_entry_no, creation_date, source_code)"
            " VALUES (?, ?, ?, '2025-01-31', ?)", [reg, first, last, INVENTORY_POST_COST_SOURCE_CODE])
        return reg

    def mark_posted(self, ve: int, *, actual: bool = True, expected: bool = False) -> None:
        if actual:
            self.db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual "
                            "WHERE entry_no = ?", [ve])
        if expected:
            self.db.execute("UPDATE value_entry SET expected_cost_posted_to_gl = "
                            "cost_amount_expected WHERE entry_no = ?", [ve])


@pytest.fixture
def poster(builder) -> Poster:
    return Poster(builder)


def codes(db) -> list[str]:
    return sorted(f.code for f in check_ledger(db).findings)


def post_purchase(builder, poster, amount="100.00", **kw) -> int:
    ve = builder.value_entry(cost_amount_actual=amount, **kw)
    poster.run([("2130", amount, [ve]), ("7290", f"-{amount}", [ve])],
               date=kw.get("posting_date", "2025-01-15"))
    poster.mark_posted(ve)
    return ve


# ------------------------------------------------------------------------ consistent ledgers


def test_empty_ledger_is_consistent(db):
    report = check_ledger(db)
    assert report.ok
    assert report.findings == []
    assert "sqlite_integrity" in report.checks and "preaggregates" in report.checks
    assert json.loads(report.to_json())["ok"] is True


def test_per_entry_posted_purchase_is_consistent(builder, poster):
    post_purchase(builder, poster)
    assert codes(builder.db) == []


def test_unposted_entries_are_consistent(builder):
    builder.value_entry(cost_amount_actual="55.55")
    builder.value_entry(cost_amount_expected="12.00", expected_cost=1)
    assert codes(builder.db) == []


def test_expected_then_invoiced_purchase_with_interim_pairs_is_consistent(builder, poster):
    # receipt: expected 80 to interim; invoice: expected -80 reversal + actual 82.50
    r = builder.value_entry(cost_amount_expected="80.00", expected_cost=1)
    poster.run([("2131", "80.00", [r]), ("5290", "-80.00", [r])])
    poster.mark_posted(r, actual=False, expected=True)
    i = builder.value_entry(cost_amount_expected="-80.00", cost_amount_actual="82.50",
                            item_ledger_entry_no=r)
    poster.run([("2131", "-80.00", [i]), ("5290", "80.00", [i]),
                ("2130", "82.50", [i]), ("7290", "-82.50", [i])])
    poster.mark_posted(i, actual=True, expected=True)
    assert codes(builder.db) == []


def test_per_posting_group_lines_summing_several_entries_are_consistent(builder, poster):
    a = builder.value_entry(cost_amount_actual="100.00")
    b = builder.value_entry(cost_amount_actual="200.01")
    s = builder.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-150.00",
                            gen_bus_posting_group="DOMESTIC")
    poster.run([("2130", "300.01", [a, b]), ("2130", "-150.00", [s]),
                ("7290", "-300.01", [a, b]), ("7190", "150.00", [s])])
    for ve in (a, b, s):
        poster.mark_posted(ve)
    assert codes(builder.db) == []


def test_consumption_output_and_capacity_rules_are_consistent(builder, poster):
    # C1: Cr Inventory (component) / Dr WIP
    c = builder.value_entry(item_ledger_entry_type="Consumption", cost_amount_actual="-40.00",
                            source_type="Item", source_no="B")
    poster.run([("2130", "-40.00", [c]), ("2140", "40.00", [c])])
    # K3: capacity (production): Dr WIP / Cr Direct Cost Applied
    k = builder.value_entry(item_ledger_entry_type="", item_ledger_entry_no=0,
                            cost_amount_actual="25.00", order_type="Production")
    poster.run([("2140", "25.00", [k]), ("7290", "-25.00", [k])])
    # K1: capacity (assembly): Dr Inventory Adjmt. / Cr Direct Cost Applied
    a = builder.value_entry(item_ledger_entry_type="", item_ledger_entry_no=0,
                            cost_amount_actual="7.00", order_type="Assembly")
    poster.run([("7180", "7.00", [a]), ("7290", "-7.00", [a])])
    # O2: Dr Inventory / Cr WIP
    o = builder.value_entry(item_ledger_entry_type="Output", cost_amount_actual="65.00",
                            item_no="B")
    poster.run([("2130", "65.00", [o]), ("2140", "-65.00", [o])])
    for ve in (c, k, a, o):
        poster.mark_posted(ve)
    assert codes(builder.db) == []


def test_consistent_item_ledger_entries(db):
    LedgerBuilder.standard(db)
    db.execute("INSERT INTO item_ledger_entry (entry_no, item_no, posting_date, entry_type, "
               "quantity, remaining_quantity, open, positive) VALUES "
               "(1, 'A', '2025-01-01', 'Purchase', 1000000, 400000, 1, 1),"
               "(2, 'A', '2025-01-02', 'Sale', -600000, 0, 0, 0),"
               "(3, 'A', '2025-01-03', 'Sale', -100000, -100000, 1, 0)")
    assert codes(db) == []


# ------------------------------------------------------------------------ damage, one by one


def test_unbalanced_gl_entry_is_reported_in_total_and_per_transaction(builder):
    builder.gl_entry("3000", "10.00", transaction_no=7)
    report = check_ledger(builder.db)
    assert sorted(report.codes()) == ["gl_unbalanced_total", "gl_unbalanced_transaction"]
    by = {f.code: f for f in report.findings}
    assert by["gl_unbalanced_total"].examples == [{"sum": "10.00"}]
    assert by["gl_unbalanced_transaction"].count == 1
    assert by["gl_unbalanced_transaction"].examples == [{"transaction_no": 7, "sum": "10.00"}]


def test_transactions_unbalanced_but_total_balanced(builder):
    builder.gl_entry("3000", "10.00", transaction_no=1)
    builder.gl_entry("2130", "-10.00", transaction_no=2)
    builder.gl_entry("2130", "5.00", transaction_no=3)
    builder.gl_entry("2130", "-5.00", transaction_no=3)
    report = check_ledger(builder.db)
    assert report.codes() == {"gl_unbalanced_transaction"}
    f = report.findings[0]
    assert f.count == 2
    assert f.examples == [{"transaction_no": 1, "sum": "10.00"},
                          {"transaction_no": 2, "sum": "-10.00"}]


def test_posted_field_without_relation_rows(builder):
    ve = builder.value_entry(cost_amount_actual="100.00", cost_posted_to_gl="100.00")
    report = check_ledger(builder.db)
    assert report.codes() == {"posted_without_relation"}
    assert report.findings[0].examples == [{"value_entry_no": ve, "cost_posted_to_gl": "100.00",
                                            "expected_cost_posted_to_gl": "0.00"}]


def test_posted_field_partially_set_is_reported(builder, poster):
    ve = post_purchase(builder, poster)
    builder.db.execute("UPDATE value_entry SET cost_posted_to_gl = 4000 WHERE entry_no = ?", [ve])
    assert codes(builder.db) == ["posted_field_not_amount", "posted_fields_mismatch",
                                 "posted_fields_mismatch_by_date"]


def test_posted_field_forgotten_after_gl_written(builder, poster):
    # the G/L side was written but the value entry was not marked: a torn posting
    ve = builder.value_entry(cost_amount_actual="100.00")
    poster.run([("2130", "100.00", [ve]), ("7290", "-100.00", [ve])])
    report = check_ledger(builder.db)
    assert report.codes() == {"posted_fields_mismatch", "posted_fields_mismatch_by_date"}
    by = {f.code: f for f in report.findings}
    assert by["posted_fields_mismatch"].examples == [
        {"value_entry_no": ve, "posted": "0.00", "gl": "100.00"}]
    assert by["posted_fields_mismatch_by_date"].examples == [
        {"posting_date": "2025-01-15", "posted": "0.00", "gl": "100.00"}]


def test_per_group_mismatch_is_found_by_date(builder, poster):
    a = builder.value_entry(cost_amount_actual="100.00")
    b = builder.value_entry(cost_amount_actual="200.00")
    poster.run([("2130", "299.00", [a, b]), ("7290", "-299.00", [a, b])])
    poster.mark_posted(a)
    poster.mark_posted(b)
    report = check_ledger(builder.db)
    assert report.codes() == {"posted_fields_mismatch_by_date"}
    assert report.findings[0].examples == [
        {"posting_date": "2025-01-15", "posted": "300.00", "gl": "299.00"}]


def test_value_entry_gl_entries_not_balancing(builder, poster):
    ve = builder.value_entry(cost_amount_actual="100.00")
    poster.run([("2130", "100.00", [ve]), ("7290", "-90.00", [ve])])
    poster.mark_posted(ve)
    builder.gl_entry("3000", "-10.00", transaction_no=1)  # keeps the transaction balanced
    report = check_ledger(builder.db)
    assert report.codes() == {"value_entry_gl_unbalanced", "gl_register_unbalanced"}


def test_inventory_gl_entry_without_relation(builder):
    g1 = builder.gl_entry("2130", "100.00", transaction_no=1, source_code="INVTPCOST")
    builder.gl_entry("7290", "-100.00", transaction_no=1, source_code="INVTPCOST")
    builder.gl_entry("2130", "1.00", transaction_no=2)  # manual journal entries are not linked
    builder.gl_entry("3000", "-1.00", transaction_no=2)
    report = check_ledger(builder.db)
    assert report.codes() == {"gl_inventory_entry_without_relation"}
    f = report.findings[0]
    assert f.count == 2
    assert f.examples[0] == {"gl_entry_no": g1, "account": "2130", "amount": "100.00"}


def test_orphan_relation_rows_written_with_foreign_keys_off(builder, poster):
    post_purchase(builder, poster)
    db = builder.db
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("INSERT INTO gl_item_ledger_relation VALUES (999, 1, 1)")
    db.execute("INSERT INTO gl_item_ledger_relation VALUES (1, 888, 1)")
    db.execute("PRAGMA foreign_keys = ON")
    report = check_ledger(db)
    assert {"relation_orphan", "foreign_key_violation"} <= report.codes()
    by = {f.code: f for f in report.findings}
    assert by["relation_orphan"].count == 2
    assert by["relation_orphan"].examples == [{"gl_entry_no": 1, "value_entry_no": 888},
                                              {"gl_entry_no": 999, "value_entry_no": 1}]
    assert by["foreign_key_violation"].count == 2
    # the relation_outside_register finding names the G/L entry 999 too
    assert "relation_outside_register" in report.codes()


def test_relation_register_missing_and_outside_range(builder, poster):
    ve = post_purchase(builder, poster)
    db = builder.db
    db.execute("UPDATE gl_register SET to_entry_no = 1 WHERE no = 1")  # entry 2 falls outside
    report = check_ledger(db)
    assert report.codes() == {"relation_outside_register"}
    assert report.findings[0].examples == [{"gl_entry_no": 2, "register_no": 1, "range": "1..1"}]
    db.execute("DELETE FROM gl_register")
    report = check_ledger(db)
    assert report.codes() == {"relation_register_missing"}
    assert report.findings[0].count == 2
    assert report.findings[0].examples[0] == {"gl_entry_no": 1, "value_entry_no": ve,
                                              "register_no": 1}


def test_register_range_invalid_and_overlapping(db):
    db.execute("INSERT INTO gl_register (no, from_entry_no, to_entry_no) VALUES "
               "(1, 1, 10), (2, 11, 20), (3, 15, 30), (4, 40, 35)")
    report = check_ledger(db)
    assert report.codes() == {"gl_register_range_invalid", "gl_register_overlap"}
    by = {f.code: f for f in report.findings}
    assert by["gl_register_range_invalid"].examples == [{"register_no": 4, "range": "40..35"}]
    assert by["gl_register_overlap"].examples == [{"register_no": 3, "range": "15..30"}]


def test_item_ledger_entry_remaining_quantity_and_open_flag(db):
    LedgerBuilder.standard(db)
    db.execute("INSERT INTO item_ledger_entry (entry_no, item_no, posting_date, entry_type, "
               "quantity, remaining_quantity, open, positive) VALUES "
               "(1, 'A', '2025-01-01', 'Purchase', 1000000, 1100000, 1, 1),"
               "(2, 'A', '2025-01-01', 'Purchase', 1000000, -1, 1, 1),"
               "(3, 'A', '2025-01-02', 'Sale', -600000, 5, 1, 0),"
               "(4, 'A', '2025-01-02', 'Purchase', 1000000, 0, 1, 1)")
    report = check_ledger(db)
    by = {f.code: f for f in report.findings}
    assert set(by) == {"ile_remaining_out_of_range", "ile_open_flag_mismatch"}
    assert [e["item_ledger_entry_no"] for e in by["ile_remaining_out_of_range"].examples] == [1, 2, 3]
    assert [e["item_ledger_entry_no"] for e in by["ile_open_flag_mismatch"].examples] == [4]


def test_examples_are_capped_but_count_is_exact(builder):
    for i in range(12):
        builder.gl_entry("3000", "0.01", transaction_no=100 + i)
    report = check_ledger(builder.db)
    f = {x.code: x for x in report.findings}["gl_unbalanced_transaction"]
    assert f.count == 12
    assert len(f.examples) == 5
    assert f.line().endswith(", ...)")


def test_corrupted_file_is_reported_not_crashed(tmp_path):
    p = tmp_path / "big.db"
    db = open_ledger(p, create=True)
    b = LedgerBuilder.standard(db)
    for i in range(3000):
        b.value_entry(cost_amount_actual=cents(f"{i}.01"), document_no=f"D{i:06d}" * 8)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(p.read_bytes())
    page = 4096
    n_pages = len(data) // page
    # overwrite the body of pages in the last third (index / table b-tree pages) with junk
    for pg in range(n_pages * 2 // 3, n_pages - 1):
        data[pg * page + 100: pg * page + 400] = b"\xa5" * 300
    p.write_bytes(bytes(data))
    db = open_ledger(p, readonly=True)
    try:
        report = check_ledger(db)
    finally:
        db.close()
    assert not report.ok
    assert report.codes() & {"sqlite_integrity", "sqlite_error"}


# ------------------------------------------------------------------------ the command


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invrecon", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_check_consistent_ledger_exit_0(db_path, builder, poster):
    post_purchase(builder, poster)
    builder.db.close()
    proc = run_cli("--db", str(db_path), "check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{db_path}: consistent (9 groups of checks passed)"
    proc = run_cli("--db", str(db_path), "check", "--json")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["ok"] is True and out["findings"] == []
    assert out["checks"][0] == "sqlite_integrity"


def test_cli_check_findings_exit_1_text_and_json(db_path, builder):
    builder.gl_entry("3000", "10.00", transaction_no=7)
    builder.value_entry(cost_amount_actual="1.00", cost_posted_to_gl="1.00")
    builder.db.close()
    before = Path(db_path).read_bytes()
    proc = run_cli("--db", str(db_path), "check")
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines == [
        "gl_unbalanced_total: the 1 G/L entry sum to 10.00, not 0 (e.g. {sum 10.00})",
        "gl_unbalanced_transaction: 1 G/L transaction do not balance (Transaction No.: sum) "
        "(e.g. {transaction_no 7, sum 10.00})",
        "posted_without_relation: 1 value entry show cost posted to G/L but have no G/L - Item "
        "Ledger Relation rows (no G/L entries behind them) (e.g. {value_entry_no 1, "
        "cost_posted_to_gl 1.00, expected_cost_posted_to_gl 0.00})",
        f"{db_path}: 3 findings",
    ]
    proc = run_cli("--db", str(db_path), "check", "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    assert [f["code"] for f in out["findings"]] == [
        "gl_unbalanced_total", "gl_unbalanced_transaction", "posted_without_relation"]
    assert out["findings"][1] == {
        "code": "gl_unbalanced_transaction",
        "message": "1 G/L transaction do not balance (Transaction No.: sum)",
        "count": 1, "examples": [{"transaction_no": 7, "sum": "10.00"}]}
    assert Path(db_path).read_bytes() == before  # check writes nothing


def test_check_sees_a_consistent_snapshot_while_a_writer_is_mid_transaction(db_path, builder):
    post_purchase(builder, Poster(builder))
    writer = open_ledger(db_path)
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, amount, "
                   "transaction_no) VALUES (100, '3000', '2025-01-01', 500, 100)")
    reader = open_ledger(db_path, readonly=True)
    try:
        assert check_ledger(reader).ok  # the half-written transaction is invisible
    finally:
        writer.conn.execute("ROLLBACK")
        writer.close()
        reader.close()


def test_check_does_not_leave_a_transaction_open(db):
    check_ledger(db)
    assert not db.conn.in_transaction


def test_sample_ledger_with_every_kind_of_posting_is_consistent(tmp_path):
    # the generator posts through the real engines (per entry, per posting group, automatic),
    # and adds manual journals and closing entries
    p = tmp_path / "sample.db"
    proc = run_cli("--db", str(p), "sample", "--value-entries", "3000", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    db = open_ledger(p, readonly=True)
    try:
        shared = db.execute("SELECT count(*) FROM (SELECT gl_entry_no FROM gl_item_ledger_relation"
                            " GROUP BY gl_entry_no HAVING count(*) > 1)").fetchone()[0]
        report = check_ledger(db)
    finally:
        db.close()
    assert shared > 0  # per-posting-group lines are really there
    assert report.ok, report.to_json()
    proc = run_cli("--db", str(p), "check")
    assert proc.returncode == 0 and proc.stdout.endswith("consistent (9 groups of checks passed)\n")
