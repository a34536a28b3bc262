"""The posting run: selection and order, skips with reasons, dimension overrides, grouping,
transactions/registers/relations, preview and test report, cancellation, concurrency, automatic
cost posting (spec 20 §3-§6, 40-interfaces §4)."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading

import pytest
from ledger_builder import LedgerBuilder

import invrecon.posting as posting
from invrecon import preaggregates
from invrecon.errors import LedgerBusyError
from invrecon.filters import LedgerFilter
from invrecon.ledger import open_ledger, write_transaction
from invrecon.posting import (
    AutomaticPostingError,
    PostingCancelled,
    PostingRequest,
    count_queue,
    post_automatically,
    post_inventory_cost,
    test_posting,
)
from invrecon.schema import LEDGER_TABLES

PER_GROUP = PostingRequest(mode="per-posting-group", document_no="GRP-1")


def dump(db) -> dict[str, list]:
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in LEDGER_TABLES}


def gl(db, cols="gl_account_no, amount"):
    return [tuple(r) for r in db.execute(f"SELECT {cols} FROM gl_entry ORDER BY entry_no")]


def posted(db):
    return db.execute("SELECT entry_no, cost_posted_to_gl, expected_cost_posted_to_gl FROM value_entry "
                      "ORDER BY entry_no").fetchall()


# --- request validation -------------------------------------------------------------------------

def test_request_document_no_rules():
    with pytest.raises(ValueError, match="Please enter a Document No."):
        PostingRequest(mode="per-posting-group")
    with pytest.raises(ValueError, match="Do not enter a Document No."):
        PostingRequest(mode="per-entry", document_no="X")
    r = PostingRequest(mode="per-posting-group", document_no="X")
    with pytest.raises(ValueError):
        r.preview = True  # frozen


# --- selection ----------------------------------------------------------------------------------

def test_selection_order_items_then_capacity_and_non_inventory_passed_over(db):
    b = LedgerBuilder.standard(db)
    b.item("SVC", type="Service", inventory_posting_group="RESALE", gen_prod_posting_group="RETAIL")
    e_b1 = b.value_entry(item_no="B", posting_date="2025-01-10", cost_amount_actual=1)
    e_a2 = b.value_entry(item_no="A", posting_date="2025-01-20", cost_amount_actual=2)
    e_a1 = b.value_entry(item_no="A", posting_date="2025-01-10", cost_amount_actual=3)
    cap2 = b.value_entry(item_ledger_entry_type="", order_type="Production", order_no="PO2",
                         cost_amount_actual=4)
    cap1 = b.value_entry(item_ledger_entry_type="", order_type="Production", order_no="PO1",
                         cost_amount_actual=5)
    cap_asm = b.value_entry(item_ledger_entry_type="", order_type="Assembly", order_no="AO9",
                            cost_amount_actual=6)
    svc = b.value_entry(item_no="SVC", cost_amount_actual=7)
    e_a3 = b.value_entry(item_no="A", posting_date="2025-01-10", cost_amount_actual=8)
    assert count_queue(db, PostingRequest()) == 7  # the service item is not in the queue
    report = post_inventory_cost(db, PostingRequest())
    order = [ln.value_entry_nos[0] for ln in report.lines][::2]
    assert order == [e_a1, e_a3, e_a2, e_b1, cap1, cap2, cap_asm]
    assert report.skipped == []
    assert db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?", [svc]).fetchone()[0] == 0
    assert count_queue(db, PostingRequest()) == 0


def test_filters_item_date_and_location(db):
    b = LedgerBuilder.standard(db)
    a_jan = b.value_entry(item_no="A", posting_date="2025-01-10", cost_amount_actual=1)
    b.value_entry(item_no="A", posting_date="2025-02-10", cost_amount_actual=2)
    b.value_entry(item_no="B", posting_date="2025-01-10", cost_amount_actual=3)
    a_jan_blue = b.value_entry(item_no="A", posting_date="2025-01-11", location_code="BLUE",
                               cost_amount_actual=4)
    req = PostingRequest(filters=LedgerFilter.from_text("2025-01", "2025-01", item="A"))
    assert count_queue(db, req) == 2
    report = post_inventory_cost(db, req)
    assert report.posted_value_entries == 2
    assert [r[0] for r in db.execute("SELECT entry_no FROM value_entry WHERE cost_posted_to_gl <> 0")] == [
        a_jan, a_jan_blue]
    req_loc = PostingRequest(filters=LedgerFilter(location="BLUE"))
    assert count_queue(db, req_loc) == 0
    assert count_queue(db, PostingRequest(filters=LedgerFilter(location="''"))) == 2


# --- G/L entries, transactions, registers, relations ----------------------------------------------

def test_per_entry_transactions_registers_and_numbering_continue(db):
    b = LedgerBuilder.standard(db)
    b.gl_entry("3000", "10", transaction_no=41)
    b.gl_entry("2130", "-10", transaction_no=41)
    db.execute("INSERT INTO gl_register (no, from_entry_no, to_entry_no) VALUES (7, 1, 2)")
    v1 = b.value_entry(document_no="D1", cost_amount_actual=100, external_document_no="EXT1",
                       dimension_set_id=0, source_no="V10000")
    v2 = b.value_entry(document_no="D1", cost_amount_actual=200)  # same doc and date: same txn
    v3 = b.value_entry(document_no="D1", posting_date="2025-01-16", cost_amount_actual=300)
    v4 = b.value_entry(document_no="D2", posting_date="2025-01-16", cost_amount_actual=400)
    report = post_inventory_cost(db, PostingRequest())
    assert report.register_no == 8
    assert report.gl_entries_created == 8
    rows = gl(db, "entry_no, document_no, external_document_no, description, transaction_no, posting_date")[2:]
    assert rows == [
        (3, "D1", "EXT1", "Direct Cost V10000 on 2025-01-15", 42, "2025-01-15"),
        (4, "D1", "EXT1", "Direct Cost V10000 on 2025-01-15", 42, "2025-01-15"),
        (5, "D1", "", "Direct Cost  on 2025-01-15", 42, "2025-01-15"),
        (6, "D1", "", "Direct Cost  on 2025-01-15", 42, "2025-01-15"),
        (7, "D1", "", "Direct Cost  on 2025-01-16", 43, "2025-01-16"),
        (8, "D1", "", "Direct Cost  on 2025-01-16", 43, "2025-01-16"),
        (9, "D2", "", "Direct Cost  on 2025-01-16", 44, "2025-01-16"),
        (10, "D2", "", "Direct Cost  on 2025-01-16", 44, "2025-01-16"),
    ]
    assert db.execute("SELECT * FROM gl_register WHERE no = 8").fetchone()[:3] == (8, 3, 10)
    rel = db.execute("SELECT gl_entry_no, value_entry_no, gl_register_no FROM gl_item_ledger_relation "
                     "ORDER BY 1").fetchall()
    assert rel == [(3, v1, 8), (4, v1, 8), (5, v2, 8), (6, v2, 8), (7, v3, 8), (8, v3, 8),
                   (9, v4, 8), (10, v4, 8)]
    for txn in (42, 43, 44):
        assert db.execute("SELECT sum(amount) FROM gl_entry WHERE transaction_no = ?", [txn]).fetchone()[0] == 0


def test_description_is_cut_to_100_characters(db):
    b = LedgerBuilder.standard(db)
    b.value_entry(source_no="S" * 120, cost_amount_actual=1)
    post_inventory_cost(db, PostingRequest())
    desc = db.execute("SELECT description FROM gl_entry").fetchone()[0]
    assert len(desc) == 100 and desc.startswith("Direct Cost SSS")


def test_per_posting_group_key_merging_negative_split_and_order(db):
    b = LedgerBuilder.standard(db)
    db.execute("INSERT INTO dimension_set_entry VALUES (5, 'DEPT', 'SALES')")
    # same key -> merged
    p1 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=100)
    p2 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=50)
    # negative purchase (return): Negative split keeps it apart on both accounts
    p3 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=-30)
    # another dimension set -> own group
    p4 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=7, dimension_set_id=5)
    # another location / bus. group -> own groups; other date -> later, new transaction
    p5 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=11, location_code="BLUE")
    p6 = b.value_entry(posting_date="2025-01-15", cost_amount_actual=13, gen_bus_posting_group="DOMESTIC")
    s1 = b.value_entry(posting_date="2025-01-14", item_ledger_entry_type="Sale", cost_amount_actual=-40)
    report = post_inventory_cost(db, PER_GROUP)
    assert report.posted_value_entries == 7  # counted per entry, not per call (BC's bug)
    got = [(ln.posting_date, ln.account_type.value, ln.location_code, ln.gen_bus_posting_group,
            ln.dimension_set_id, ln.amount, list(ln.value_entry_nos)) for ln in report.lines]
    assert got == [
        ("2025-01-14", "Inventory", "", "", 0, -40, [s1]),
        ("2025-01-14", "COGS", "", "", 0, 40, [s1]),
        ("2025-01-15", "Inventory", "", "", 0, 150, [p1, p2]),
        ("2025-01-15", "Inventory", "", "", 0, -30, [p3]),
        ("2025-01-15", "Inventory", "", "", 5, 7, [p4]),
        ("2025-01-15", "Inventory", "", "DOMESTIC", 0, 13, [p6]),
        ("2025-01-15", "Inventory", "BLUE", "", 0, 11, [p5]),
        ("2025-01-15", "Direct Cost Applied", "", "", 0, 30, [p3]),
        ("2025-01-15", "Direct Cost Applied", "", "", 0, -150, [p1, p2]),
        ("2025-01-15", "Direct Cost Applied", "", "", 5, -7, [p4]),
        ("2025-01-15", "Direct Cost Applied", "", "DOMESTIC", 0, -13, [p6]),
        ("2025-01-15", "Direct Cost Applied", "BLUE", "", 0, -11, [p5]),
    ]
    rows = gl(db, "document_no, external_document_no, transaction_no, dimension_set_id, description")
    assert {r[0] for r in rows} == {"GRP-1"} and {r[1] for r in rows} == {""}
    assert [r[2] for r in rows] == [1, 1] + [2] * 10  # new transaction when the date changes
    assert rows[0][4] == "Inventory - COGS, ,RESALE,,RETAIL"
    assert rows[6][4] == "Inventory - Direct Cost Applied, BLUE,RESALE,,RETAIL"
    assert db.execute("SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0] == 14
    assert db.execute("SELECT count(DISTINCT gl_register_no) FROM gl_item_ledger_relation").fetchone()[0] == 1
    assert [r[1] for r in posted(db)] == [100, 50, -30, 7, 11, 13, -40]


def test_second_run_posts_nothing(db):
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    b.value_entry(cost_amount_actual=100)
    b.value_entry(cost_amount_expected=50, expected_cost=1)
    first = post_inventory_cost(db, PostingRequest())
    assert first.posted_value_entries == 2
    before = dump(db)
    second = post_inventory_cost(db, PostingRequest())
    assert (second.posted_value_entries, second.gl_entries_created, second.register_no) == (0, 0, None)
    assert dump(db) == before
    third = post_inventory_cost(db, PER_GROUP)
    assert third.gl_entries_created == 0 and dump(db) == before


# --- skips ------------------------------------------------------------------------------------------

def _skip_case(db, case):
    """Build a ledger where value entry 'bad' meets one problem; returns (bad, reason_code)."""
    ecp = case == "expected_cost_posting_off"
    b = LedgerBuilder.standard(db)
    good = b.value_entry(item_no="B", cost_amount_actual=100)
    kw: dict = {"cost_amount_actual": 250}
    if case == "missing_inventory_posting_setup":
        kw["inventory_posting_group"] = "NOGROUP"
    elif case == "missing_general_posting_setup":
        kw["gen_prod_posting_group"] = "NOPROD"
    elif case == "blank_account":
        b.ips("RED", "RESALE", inventory_account="")
        kw["location_code"] = "RED"
    elif case == "blocked_account":
        b.account("2150", "Blocked inv", blocked=1)
        b.ips("RED", "RESALE", inventory_account="2150")
        kw["location_code"] = "RED"
    elif case == "account_not_found":
        db.execute("PRAGMA foreign_keys = OFF")
        b.ips("RED", "RESALE", inventory_account="9999")
        kw["location_code"] = "RED"
    elif case == "account_not_posting":
        b.account("2100", "Inventory heading", account_type="Heading")
        b.gps("DOMESTIC", "RETAIL", direct_cost_applied_account="2100")
        kw["gen_bus_posting_group"] = "DOMESTIC"
    elif case == "general_posting_setup_blocked":
        b.gps("DOMESTIC", "RETAIL", blocked=1)
        kw["gen_bus_posting_group"] = "DOMESTIC"
    elif case == "posting_date_not_allowed":
        db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01', "
                   "allow_posting_to = '2025-12-31'")
        kw["posting_date"] = "2024-12-31"
        b.value_entry(item_no="B", posting_date="2025-12-31", cost_amount_actual=1)
    elif case == "invalid_combination":
        kw.update(item_ledger_entry_type="Sale", entry_type="Indirect Cost")
    elif ecp:
        # posted while the setting was off: expected-cost entry with an actual amount
        kw.update(expected_cost=1, cost_amount_expected=80)
    bad = b.value_entry(**kw)
    return good, bad


SKIP_CASES = [
    "missing_inventory_posting_setup", "missing_general_posting_setup", "blank_account",
    "blocked_account", "account_not_found", "account_not_posting", "general_posting_setup_blocked",
    "posting_date_not_allowed", "invalid_combination", "expected_cost_posting_off",
]


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
@pytest.mark.parametrize("case", SKIP_CASES)
def test_every_skip_reason_skips_the_whole_entry_and_goes_on(db, case, mode):
    good, bad = _skip_case(db, case)
    req = PostingRequest(mode=mode, document_no="D" if mode != "per-entry" else None)
    queued = count_queue(db, req)
    test = test_posting(db, req)
    report = post_inventory_cost(db, req)
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [(bad, case)]
    s = report.skipped[0]
    assert s.reason and s.item_no == "A" and s.entry_type
    assert s.cost_amount == (80 if case == "expected_cost_posting_off" else 250)
    assert report.posted_value_entries == queued - 1
    # the skipped entry is untouched and still waits; nothing of it reached the G/L
    assert db.execute("SELECT cost_posted_to_gl, expected_cost_posted_to_gl FROM value_entry "
                      "WHERE entry_no = ?", [bad]).fetchone() == (0, 0)
    assert db.execute("SELECT count(*) FROM gl_item_ledger_relation WHERE value_entry_no = ?",
                      [bad]).fetchone()[0] == 0
    assert db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?", [good]).fetchone()[0] == 100
    assert count_queue(db, req) == 1
    # the test report listed exactly this problem with the same code and reason
    assert test.problems() == [{"value_entry_no": bad, "reason_code": case, "reason": s.reason,
                                "kind": "skip"}]
    # next run retries it and skips it again
    again = post_inventory_cost(db, req)
    assert [x.reason_code for x in again.skipped] == [case]


def test_skip_reasons_are_actionable_texts(db):
    b = LedgerBuilder.standard(db)
    b.ips("RED", "RESALE", inventory_account="")
    b.value_entry(location_code="RED", cost_amount_actual=1)
    b.value_entry(inventory_posting_group="NOGROUP", location_code="BLUE", cost_amount_actual=1)
    b.value_entry(gen_bus_posting_group="X", cost_amount_actual=1)
    report = post_inventory_cost(db, PostingRequest())
    reasons = [s.reason for s in report.skipped]
    assert reasons[0].startswith("Inventory Account is missing in Inventory Posting Setup, RED RESALE")
    assert reasons[1].startswith("Inventory Posting Setup is missing for Location Code 'BLUE' and "
                                 "Invt. Posting Group Code 'NOGROUP'")
    assert reasons[2].startswith("General Posting Setup is missing for Gen. Bus. Posting Group 'X' "
                                 "and Gen. Prod. Posting Group 'RETAIL'")


def test_expected_cost_only_entry_is_left_alone_when_setting_is_off(db):
    b = LedgerBuilder.standard(db, expected_cost_posting=False)
    ve = b.value_entry(cost_amount_expected=500, expected_cost=1)
    assert count_queue(db, PostingRequest()) == 0
    before = dump(db)
    report = post_inventory_cost(db, PostingRequest())
    assert report.skipped == [] and report.posted_value_entries == 0
    assert dump(db) == before
    # the invoice: actual posted, the expected reversal ignored (interim untouched)
    inv = b.value_entry(cost_amount_expected=-500, cost_amount_actual=520)
    report = post_inventory_cost(db, PostingRequest())
    assert gl(db) == [("2130", 520), ("7290", -520)]
    assert posted(db) == [(ve, 0, 0), (inv, 520, 0)]


def test_expected_cost_posted_earlier_reversal_ignored_when_setting_switched_off(db):
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    ve = b.value_entry(cost_amount_expected=500, expected_cost=1)
    post_inventory_cost(db, PostingRequest())
    db.execute("UPDATE inventory_setup SET expected_cost_posting_to_gl = 0")
    inv = b.value_entry(cost_amount_expected=-500, cost_amount_actual=520, expected_cost=1,
                        expected_cost_posted_to_gl=0)
    report = post_inventory_cost(db, PostingRequest())
    # an expected-cost entry with nothing posted yet and the setting off: skipped
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [(inv, "expected_cost_posting_off")]
    assert posted(db)[0] == (ve, 0, 500)


# --- dimensions ---------------------------------------------------------------------------------------

def test_dimension_problems_never_skip_the_entry_is_posted_with_its_own_dimensions(db):
    b = LedgerBuilder.standard(db)
    db.execute("INSERT INTO dimension_set_entry VALUES (3, 'AREA', '30'), (3, 'DEPT', 'PROD')")
    db.execute("INSERT INTO default_dimension VALUES (15, '2130', 'DEPT', 'SALES', 'Same Code'), "
               "(15, '2130', 'PROJECT', '', 'Code Mandatory'), (15, '7290', 'AREA', '', 'No Code'), "
               "(15, '7290', 'DEPT', '', '')")
    ve = b.value_entry(cost_amount_actual=100, dimension_set_id=3)
    ok = b.value_entry(cost_amount_actual=100, dimension_set_id=0, item_no="B")
    same = "Select Dimension Value Code SALES for the Dimension Code DEPT for G/L Account 2130."
    mandatory = "Select a Dimension Value Code for the Dimension Code PROJECT for G/L Account 2130."
    no_code = "Dimension Code AREA must not be used for G/L Account 7290."
    expected = [(ve, "2130", same), (ve, "2130", mandatory), (ve, "7290", no_code),
                (ok, "2130", same), (ok, "2130", mandatory)]
    for req in (PostingRequest(), PER_GROUP):
        test = test_posting(db, req)
        assert [(p["value_entry_no"], p["kind"], p["reason_code"], p["reason"]) for p in test.problems()] == [
            (v, "dimension-override", "dimension_value_posting", m) for v, _, m in expected]
    report = post_inventory_cost(db, PostingRequest())
    assert report.skipped == []
    assert [(d.value_entry_no, d.gl_account_no, d.message) for d in report.dimension_overrides] == expected
    assert gl(db, "gl_account_no, amount, dimension_set_id") == [
        ("2130", 100, 3), ("7290", -100, 3), ("2130", 100, 0), ("7290", -100, 0)]
    assert report.to_json()["dimension_overrides"][0] == {
        "value_entry_no": ve, "gl_account_no": "2130",
        "message": "Select Dimension Value Code SALES for the Dimension Code DEPT for G/L Account 2130."}


# --- preview and test report ------------------------------------------------------------------------

@pytest.mark.parametrize("req", [PostingRequest(preview=True),
                                 PostingRequest(mode="per-posting-group", document_no="G", preview=True)])
def test_preview_writes_nothing_and_reports_what_the_run_does(db, req):
    _skip_case(db, "blank_account")
    b = LedgerBuilder(db)
    b.value_entry(item_ledger_entry_type="Sale", cost_amount_actual=-70, document_no="S1")
    before = dump(db)
    preview = post_inventory_cost(db, req)
    assert dump(db) == before
    assert preview.preview and preview.register_no is None
    real = post_inventory_cost(db, req.model_copy(update={"preview": False}))
    p_json, r_json = preview.to_json(), real.to_json()
    assert p_json["preview"] is True and r_json["preview"] is False
    for k in ("posted_value_entries", "gl_entries_created", "lines", "totals_by_account_type",
              "skipped", "dimension_overrides"):
        assert p_json[k] == r_json[k], k
    assert r_json["register_no"] == 1


def test_preview_on_a_read_only_connection(db_path, db):
    _skip_case(db, "blocked_account")
    ro = open_ledger(db_path, readonly=True)
    try:
        report = post_inventory_cost(ro, PostingRequest(preview=True))
        assert [s.reason_code for s in report.skipped] == ["blocked_account"]
        assert report.posted_value_entries == 1
    finally:
        ro.close()


def test_test_report_problems_equal_the_real_runs_skips(db):
    b = LedgerBuilder.standard(db)
    b.ips("RED", "RESALE", inventory_account="")
    db.execute("UPDATE general_ledger_setup SET allow_posting_to = '2025-06-30'")
    b.value_entry(location_code="RED", cost_amount_actual=1)
    b.value_entry(posting_date="2025-07-01", cost_amount_actual=2)
    b.value_entry(item_ledger_entry_type="Sale", entry_type="Variance", cost_amount_actual=3)
    b.value_entry(cost_amount_actual=4)
    test = test_posting(db, PostingRequest())
    js = test.to_json()
    assert set(js) == {"lines", "problems"}
    assert len(js["lines"]) == 2
    real = post_inventory_cost(db, PostingRequest())
    assert [(p["value_entry_no"], p["reason_code"], p["reason"]) for p in js["problems"]] == [
        (s.value_entry_no, s.reason_code, s.reason) for s in real.skipped]
    assert [p["reason_code"] for p in js["problems"]] == [
        "blank_account", "invalid_combination", "posting_date_not_allowed"]


def test_check_order_setup_before_date_before_account(db):
    """Test report order (§5): setup row/blank account before the posting date, the posting date
    before the G/L account check."""
    b = LedgerBuilder.standard(db)
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2026-01-01'")
    b.account("2150", "Blocked", blocked=1)
    b.ips("RED", "RESALE", inventory_account="2150")
    b.ips("BLUE", "RESALE", inventory_account="")
    v1 = b.value_entry(location_code="BLUE", cost_amount_actual=1)
    v2 = b.value_entry(location_code="RED", cost_amount_actual=1)
    v3 = b.value_entry(location_code="RED", posting_date="2026-01-02", cost_amount_actual=1)
    report = post_inventory_cost(db, PostingRequest())
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [
        (v1, "blank_account"), (v2, "posting_date_not_allowed"), (v3, "blocked_account")]


# --- report JSON ------------------------------------------------------------------------------------

def test_report_json_shape(db):
    _skip_case(db, "blank_account")
    report = post_inventory_cost(db, PostingRequest())
    js = report.to_json()
    assert list(js) == ["mode", "preview", "document_no", "register_no", "posted_value_entries",
                        "gl_entries_created", "lines", "totals_by_account_type",
                        "dimension_overrides", "skipped"]
    assert js["lines"][0] == {"posting_date": "2025-01-15", "gl_account_no": "2130",
                              "account_type": "inventory", "amount": "1.00", "document_no": "DOC1",
                              "description": "Direct Cost  on 2025-01-15", "value_entry_nos": [1]}
    assert js["totals_by_account_type"]["inventory"] == "1.00"
    assert js["totals_by_account_type"]["direct_cost_applied"] == "-1.00"
    assert len(js["totals_by_account_type"]) == 15
    assert set(js["skipped"][0]) == {"value_entry_no", "item_no", "posting_date",
                                     "item_ledger_entry_type", "entry_type", "document_no",
                                     "location_code", "cost_amount", "reason_code", "reason"}
    assert js["skipped"][0]["cost_amount"] == "2.50"
    buf = io.StringIO()
    report.write_json(buf)
    assert json.loads(buf.getvalue()) == js


def test_lines_spill_to_disk_beyond_the_memory_limit(db, monkeypatch):
    monkeypatch.setattr(posting, "LINES_IN_MEMORY", 50)
    monkeypatch.setattr(posting, "BATCH_SIZE", 7)
    b = LedgerBuilder.standard(db)
    nos = [b.value_entry(cost_amount_actual=i + 1) for i in range(120)]
    report = post_inventory_cost(db, PostingRequest())
    assert report.lines_spilled
    assert len(report.lines) == 240
    lines = list(report.lines)
    assert [ln.value_entry_nos[0] for ln in lines[::2]] == nos
    assert [ln.amount for ln in lines[:4]] == [1, -1, 2, -2]
    assert [ln.gl_entry_no for ln in lines] == list(range(1, 241))
    assert report.lines[239].amount == -120
    buf = io.StringIO()
    report.write_json(buf)
    assert len(json.loads(buf.getvalue())["lines"]) == 240
    report.close()


# --- progress, cancel, concurrency --------------------------------------------------------------------

def test_progress_reports_batches_and_streams_new_skips(db, monkeypatch):
    monkeypatch.setattr(posting, "BATCH_SIZE", 1000)
    b = LedgerBuilder.standard(db)
    rows = []
    for i in range(2500):
        rows.append(dict(entry_no=i + 1, item_no="A", posting_date="2025-01-15",
                         item_ledger_entry_type="Purchase", item_ledger_entry_no=i + 1,
                         entry_type="Direct Cost", inventory_posting_group="RESALE",
                         gen_prod_posting_group="RETAIL", cost_amount_actual=100,
                         location_code="NOWHERE" if i in (5, 1500) else ""))
    db.table("value_entry").insert_all(rows)
    del b
    seen = []
    report = post_inventory_cost(db, PostingRequest(), on_progress=seen.append)
    assert [(p.processed, p.total, p.posted, p.skipped_so_far) for p in seen] == [
        (1000, 2500, 999, 1), (2000, 2500, 1998, 2), (2500, 2500, 2498, 2), (2500, 2500, 2498, 2)]
    assert [[s.value_entry_no for s in p.new_skipped] for p in seen] == [[6], [1501], [], []]
    assert report.posted_value_entries == 2498


def test_cancel_rolls_everything_back(db, monkeypatch):
    monkeypatch.setattr(posting, "BATCH_SIZE", 10)
    b = LedgerBuilder.standard(db)
    for i in range(50):
        b.value_entry(cost_amount_actual=i + 1)
    before = dump(db)
    cancel = threading.Event()

    def progress(p):
        if p.processed >= 20:
            cancel.set()

    with pytest.raises(PostingCancelled):
        post_inventory_cost(db, PostingRequest(), on_progress=progress, cancel=cancel)
    assert dump(db) == before
    assert not db.conn.in_transaction


def test_error_mid_run_rolls_back(db, monkeypatch):
    b = LedgerBuilder.standard(db)
    for i in range(5):
        b.value_entry(cost_amount_actual=i + 1)
    before = dump(db)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(posting._Engine, "write_register", boom)
    with pytest.raises(RuntimeError):
        post_inventory_cost(db, PostingRequest())
    assert dump(db) == before


def test_second_writer_waits_then_fails_with_busy_error(db_path, db):
    b = LedgerBuilder.standard(db)
    b.value_entry(cost_amount_actual=1)
    other = open_ledger(db_path, busy_timeout_ms=200)
    try:
        with write_transaction(db):
            with pytest.raises(LedgerBusyError, match="busy"):
                post_inventory_cost(other, PostingRequest())
        assert other.execute("SELECT count(*) FROM gl_entry").fetchone()[0] == 0
        post_inventory_cost(other, PostingRequest())
        assert other.execute("SELECT count(*) FROM gl_entry").fetchone()[0] == 2
    finally:
        other.close()


def test_two_concurrent_runs_post_once(db_path, db):
    b = LedgerBuilder.standard(db)
    for i in range(300):
        b.value_entry(cost_amount_actual=i + 1)
    results: list = []

    def run():
        conn = open_ledger(db_path, busy_timeout_ms=20_000)
        try:
            results.append(post_inventory_cost(conn, PostingRequest()).posted_value_entries)
        except Exception as exc:  # pragma: no cover - reported below
            results.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 300]
    assert db.execute("SELECT count(*) FROM gl_entry").fetchone()[0] == 600
    assert db.execute("SELECT count(*) FROM gl_register").fetchone()[0] == 1


# --- automatic cost posting ---------------------------------------------------------------------------

def test_post_automatically_inside_the_callers_transaction(db):
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    b.value_entry(cost_amount_actual=5)  # waiting in the queue, not named: untouched
    with write_transaction(db):
        v1 = b.value_entry(cost_amount_expected=100, expected_cost=1, document_no="R1")
        v2 = b.value_entry(item_ledger_entry_type="Sale", cost_amount_actual=-60, document_no="S1")
        n = post_automatically(db, [v2, v1])
    assert n == 4
    assert gl(db, "gl_account_no, amount, document_no, transaction_no") == [
        ("2131", 100, "R1", 1), ("5290", -100, "R1", 1), ("2130", -60, "S1", 2), ("7190", 60, "S1", 2)]
    assert db.execute("SELECT no, from_entry_no, to_entry_no FROM gl_register").fetchall() == [(1, 1, 4)]
    assert posted(db) == [(1, 0, 0), (v1, 0, 100), (v2, -60, 0)]
    with write_transaction(db):
        assert post_automatically(db, [v1, v2]) == 0  # nothing left to post


@pytest.mark.parametrize("case", ["blank_account", "posting_date_not_allowed", "blocked_account",
                                  "general_posting_setup_blocked", "dimension"])
def test_post_automatically_errors_are_hard(db, case):
    b = LedgerBuilder.standard(db)
    kw: dict = {"cost_amount_actual": 10}
    if case == "blank_account":
        b.ips("RED", "RESALE", inventory_account="")
        kw["location_code"] = "RED"
    elif case == "posting_date_not_allowed":
        db.execute("UPDATE general_ledger_setup SET allow_posting_to = '2024-12-31'")
    elif case == "blocked_account":
        b.account("7290", "Direct Cost Applied", blocked=1)
    elif case == "general_posting_setup_blocked":
        b.gps("", "RETAIL", blocked=1)
    else:
        db.execute("INSERT INTO default_dimension VALUES (15, '2130', 'DEPT', '', 'Code Mandatory')")
    before = dump(db)
    with pytest.raises(AutomaticPostingError) as err:
        with write_transaction(db):
            ve = b.value_entry(**kw)
            post_automatically(db, [ve])
    assert err.value.value_entry_no == ve
    assert err.value.reason_code == ("dimension_value_posting" if case == "dimension" else case)
    assert f"value entry {ve}" in str(err.value)
    assert dump(db) == before


def test_post_automatically_needs_an_open_transaction(db):
    with pytest.raises(RuntimeError):
        post_automatically(db, [1])


def test_register_creation_date_is_today(db):
    b = LedgerBuilder.standard(db)
    b.value_entry(cost_amount_actual=1)
    post_inventory_cost(db, PostingRequest())
    assert db.execute("SELECT creation_date FROM gl_register").fetchone()[0] == dt.date.today().isoformat()


# --- pre-aggregates (issue 7): triggers for small runs, bulk rebuild for large ones ---------------

@pytest.mark.parametrize("bulk", [False, True])
@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_preaggregates_stay_exact_on_both_write_paths(db, monkeypatch, bulk, mode):
    from invrecon import preaggregates

    if not preaggregates.available(db):
        pytest.skip("this ledger has no pre-aggregates")
    monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1 if bulk else 10**9)
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    for i in range(30):
        b.value_entry(item_no="AB"[i % 2], posting_date=f"2025-01-{1 + i % 28:02d}",
                      item_ledger_entry_type=("Purchase", "Sale", "Output")[i % 3],
                      cost_amount_actual=(i + 1) * (-1 if i % 3 == 1 else 1),
                      cost_amount_expected=7 if i % 5 == 0 else 0,
                      location_code="BLUE" if i % 4 else "")
    calls = []
    real_bulk = preaggregates.posting_load
    monkeypatch.setattr(preaggregates, "posting_load", lambda d: calls.append(1) or real_bulk(d))
    req = PostingRequest(mode=mode, document_no="G" if mode != "per-entry" else None)
    report = post_inventory_cost(db, req)
    assert report.posted_value_entries == 30
    assert len(calls) == (1 if bulk else 0)
    assert preaggregates.available(db)
    assert preaggregates.check(db) == []


@pytest.mark.parametrize("bulk", [False, True])
def test_per_group_members_beyond_32_bit_entry_numbers(db, monkeypatch, bulk):
    """The group buffer keeps entry nos. in 4 bytes while they fit and switches a group to 8
    bytes for a larger one."""
    if bulk:
        monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1)
        monkeypatch.setattr(posting, "BULK_SHARE_DIVISOR", 10**12)
    b = LedgerBuilder.standard(db)
    small = b.value_entry(cost_amount_actual=100)
    big = b.value_entry(entry_no=2**31 + 5, cost_amount_actual=250)
    bigger = b.value_entry(entry_no=2**40, cost_amount_actual=50)
    report = post_inventory_cost(db, PostingRequest(mode="per-posting-group", document_no="G"))
    assert report.posted_value_entries == 3
    assert [list(ln.value_entry_nos) for ln in report.lines] == [[small, big, bigger]] * 2
    assert [ln.amount for ln in report.lines] == [400, -400]
    rel = db.execute("SELECT value_entry_no FROM gl_item_ledger_relation "
                     "ORDER BY gl_entry_no, value_entry_no").fetchall()
    assert [r[0] for r in rel] == [small, big, bigger] * 2
    if bulk:
        assert [m.table for m in preaggregates.check(db)] == []
