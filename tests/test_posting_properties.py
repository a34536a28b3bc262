"""Property test: for random valid ledgers (plus a few entries whose setup is missing), a posting
run balances every G/L transaction, leaves every value entry either fully posted or listed as
skipped (and untouched), links exactly the posted entries, and a second run posts nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_builder import LedgerBuilder

from invrecon.integrity import check_ledger
from invrecon.ledger import open_ledger
from invrecon.posting import PostingRequest, post_inventory_cost, test_posting

# (Item Ledger Entry Type, Entry Type, Variance Type, Order Type, may carry expected cost)
COMBOS = [
    ("Purchase", "Direct Cost", "", "", True),
    ("Purchase", "Indirect Cost", "", "", False),
    ("Purchase", "Variance", "Purchase", "", False),
    ("Purchase", "Revaluation", "", "", True),
    ("Purchase", "Rounding", "", "", False),
    ("Sale", "Direct Cost", "", "", True),
    ("Sale", "Revaluation", "", "", True),
    ("Sale", "Rounding", "", "", False),
    ("Positive Adjmt.", "Direct Cost", "", "", True),
    ("Negative Adjmt.", "Direct Cost", "", "", True),
    ("Transfer", "Direct Cost", "", "", True),
    ("Transfer", "Revaluation", "", "", False),
    ("Consumption", "Direct Cost", "", "", False),
    ("Consumption", "Rounding", "", "", False),
    ("Output", "Direct Cost", "", "", True),
    ("Output", "Indirect Cost", "", "", False),
    ("Output", "Variance", "Material", "", False),
    ("Output", "Variance", "Manufacturing Overhead", "", False),
    ("Output", "Revaluation", "", "", True),
    ("Assembly Consumption", "Direct Cost", "", "", False),
    ("Assembly Output", "Direct Cost", "", "", False),
    ("Assembly Output", "Variance", "Capacity", "", False),
    ("", "Direct Cost", "", "Production", False),
    ("", "Indirect Cost", "", "Assembly", False),
]
LOCATIONS = ["", "BLUE", "RED", "GREY"]  # GREY has no Inventory Posting Setup row
BUS = ["", "DOMESTIC", "EXPORT"]  # EXPORT has no General Posting Setup row
DATES = ["2025-01-14", "2025-01-15", "2025-02-01"]

amounts = st.integers(min_value=-10**9, max_value=10**9)

entry = st.tuples(
    st.integers(0, len(COMBOS) - 1),
    amounts,  # actual
    amounts,  # expected (used only where the combination carries expected cost)
    st.sampled_from(LOCATIONS),
    st.sampled_from(BUS),
    st.sampled_from(DATES),
    st.sampled_from(["none", "actual", "expected", "both"]),  # already posted before the run
    st.sampled_from(["A", "B"]),
    st.sampled_from([0, 1, 2]),  # dimension set
)


def _snapshot(db):
    return {r[0]: r[1:] for r in db.execute(
        "SELECT entry_no, cost_amount_actual, cost_posted_to_gl, cost_amount_expected, "
        "expected_cost_posted_to_gl FROM value_entry")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(entry, min_size=1, max_size=30), ecp=st.booleans(),
       per_group=st.booleans(), weird_setup=st.booleans())
def test_posting_run_properties(entries, ecp, per_group, weird_setup):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        db = open_ledger(path, create=True)
        try:
            _check(db, entries, ecp, per_group, weird_setup)
        finally:
            db.close()


def _check(db, entries, ecp, per_group, weird_setup):
    b = LedgerBuilder.standard(db, expected_cost_posting=ecp,
                               locations=("", "BLUE", "RED"))
    db.execute("INSERT INTO location (code) VALUES ('GREY')")
    db.execute("INSERT INTO dimension_set_entry VALUES (1, 'DEPT', 'A'), (2, 'DEPT', 'B')")
    if weird_setup:
        # an account mapped twice and a G/L default dimension: still valid, never a skip
        b.ips("RED", "RESALE", inventory_account_interim="2130")
        db.execute("INSERT INTO default_dimension VALUES (15, '2130', 'DEPT', 'A', 'Same Code')")
    for combo, act, exp, loc, bus, date, pre, item, dims in entries:
        ile, et, vt, ot, can_expect = COMBOS[combo]
        exp = exp if can_expect else 0
        fields = dict(item_ledger_entry_type=ile, entry_type=et, variance_type=vt, order_type=ot,
                      location_code=loc, gen_bus_posting_group=bus, posting_date=date,
                      cost_amount_actual=act, cost_amount_expected=exp,
                      expected_cost=1 if (exp and not act and et == "Direct Cost") else 0,
                      dimension_set_id=dims)
        if ile:
            fields["item_no"] = item
        if pre in ("actual", "both"):
            fields["cost_posted_to_gl"] = act
        if pre in ("expected", "both") and ecp:
            fields["expected_cost_posted_to_gl"] = exp
        b.value_entry(**fields)
    before = _snapshot(db)
    max_gl = db.execute("SELECT coalesce(max(entry_no), 0) FROM gl_entry").fetchone()[0]
    req = (PostingRequest(mode="per-posting-group", document_no="PG") if per_group
           else PostingRequest())
    test = test_posting(db, req)
    report = post_inventory_cost(db, req)
    after = _snapshot(db)
    skipped = {s.value_entry_no for s in report.skipped}
    assert [p["value_entry_no"] for p in test.problems() if p["kind"] == "skip"] == [
        s.value_entry_no for s in report.skipped]

    posted_now = set()
    for no, (caa, cpg, cae, ecpg) in before.items():
        waits = caa != cpg or (ecp and cae != ecpg)
        if no in skipped or not waits:
            assert after[no] == before[no]
            continue
        posted_now.add(no)
        a = after[no]
        assert a[1] == caa  # Cost Posted to G/L = Cost Amount (Actual)
        assert a[3] == (cae if ecp else ecpg)  # expected part only with the setting on
    assert report.posted_value_entries == len(posted_now)

    # every G/L transaction of the run balances; the register balances
    for txn, total in db.execute(
            "SELECT transaction_no, sum(amount) FROM gl_entry WHERE entry_no > ? GROUP BY 1", [max_gl]):
        assert total == 0, txn
    # relation rows link exactly the entries posted now
    linked = {r[0] for r in db.execute(
        "SELECT DISTINCT value_entry_no FROM gl_item_ledger_relation WHERE gl_entry_no > ?", [max_gl])}
    assert linked == posted_now
    # per entry: each posted entry's own lines balance and its account side equals what moved
    if not per_group and posted_now:
        for no in posted_now:
            total = db.execute(
                "SELECT sum(g.amount) FROM gl_entry g JOIN gl_item_ledger_relation r "
                "ON r.gl_entry_no = g.entry_no WHERE r.value_entry_no = ?", [no]).fetchone()[0]
            assert total == 0
    nonzero = db.execute("SELECT count(*) FROM gl_entry WHERE entry_no > ? AND amount = 0",
                         [max_gl]).fetchone()[0]
    assert nonzero == 0
    assert report.gl_entries_created == db.execute(
        "SELECT count(*) FROM gl_entry WHERE entry_no > ?", [max_gl]).fetchone()[0]
    if not weird_setup and not any(cpg or ecpg for (_caa, cpg, _cae, ecpg) in before.values()):
        # nothing was marked posted without G/L entries: the whole integrity check holds
        assert [f.code for f in check_ledger(db).findings] == []

    # a second run posts nothing
    again = post_inventory_cost(db, req)
    assert again.posted_value_entries == 0 and again.gl_entries_created == 0
    assert {s.value_entry_no for s in again.skipped} == skipped
    assert _snapshot(db) == after

