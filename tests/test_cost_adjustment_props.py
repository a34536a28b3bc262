"""X-05 properties (hypothesis), automatic cost adjustment (D-13), automatic posting, CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_builder import LedgerBuilder
from test_cost_adjustment import adjust, item_state, method, sales_at, setup, total
from test_item_journal import P, S, ile_cost, journal_csv, post, ves

from invrecon.ledger import open_ledger

# One FIFO item at one location: receipts (invoiced or not), invoices of open receipts at another
# price, item charges on receipts, sales. Quantities are whole units, costs cents.
op = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 7), st.integers(100, 5000), st.booleans()),
    st.tuples(st.just("sell"), st.integers(1, 7)),
    st.tuples(st.just("invoice"), st.integers(0, 20), st.integers(100, 5000)),
    st.tuples(st.just("charge"), st.integers(0, 20), st.integers(-300, 900)),
    st.tuples(st.just("adjust")),
)


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _run(db, ops, lifo):
    if lifo:
        method(db, "LIFO")
    receipts = []  # (doc, ile no)
    day = 1
    for o in ops:
        date = f"2021-{1 + day // 28:02d}-{1 + day % 28:02d}"
        day += 1
        if o[0] == "buy":
            doc = f"R{day}"
            post(db, P(date, o[1], _money(o[2]), doc=doc, invoice="Yes" if o[3] else "No"))
            receipts.append((doc, db.execute("SELECT max(entry_no) FROM item_ledger_entry"
                                             ).fetchone()[0]))
        elif o[0] == "sell":
            post(db, S(date, o[1]))
        elif o[0] == "invoice" and receipts:
            doc, no = receipts[o[1] % len(receipts)]
            q, inv = db.execute("SELECT quantity, invoiced_quantity FROM item_ledger_entry "
                                "WHERE entry_no = ?", [no]).fetchone()
            if q != inv:
                post(db, P(date, (q - inv) // 100_000, _money(o[2]), doc=f"I{day}", of=doc))
        elif o[0] == "charge" and receipts and o[2]:
            _doc, no = receipts[o[1] % len(receipts)]
            post(db, {"date": date, "type": "Item Charge", "amount": _money(o[2]), "applies": no})
        elif o[0] == "adjust":
            adjust(db)
    # Close every chain: invoice all receipts, cover negative stock, sell the rest.
    date = "2021-12-30"
    for doc, no in receipts:
        q, inv = db.execute("SELECT quantity, invoiced_quantity FROM item_ledger_entry "
                            "WHERE entry_no = ?", [no]).fetchone()
        if q != inv:
            post(db, P(date, (q - inv) // 100_000, "3.07", doc=f"IF{no}", of=doc))
    onhand = db.execute("SELECT coalesce(sum(quantity), 0) FROM item_ledger_entry").fetchone()[0]
    if onhand < 0:
        post(db, P(date, -onhand // 100_000, "4.11", doc="COVER"))
    elif onhand > 0:
        post(db, S("2021-12-31", onhand // 100_000))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=14), lifo=st.booleans())
def test_x05_closed_chains_balance_and_runs_are_idempotent(tmp_path_factory, ops, lifo):
    db = open_ledger(tmp_path_factory.mktemp("x05") / "l.db", create=True)
    try:
        LedgerBuilder.standard(db)
        _run(db, ops, lifo)
        before = db.execute("SELECT * FROM value_entry ORDER BY entry_no").fetchall()
        iles = db.execute("SELECT entry_no, quantity FROM item_ledger_entry").fetchall()
        adjust(db)
        # (d) append-only: no existing value entry or ILE quantity changed
        assert db.execute("SELECT * FROM value_entry ORDER BY entry_no").fetchall()[
            : len(before)] == before
        assert db.execute("SELECT entry_no, quantity FROM item_ledger_entry").fetchall() == iles
        # (a) a second run adds nothing
        assert adjust(db) == []
        # (b) every chain is closed and invoiced: the outbound cost equals the inbound cost to
        # the cent, rounding entries included -> value 0 at quantity 0.
        assert db.execute("SELECT count(*) FROM item_ledger_entry WHERE open = 1 OR "
                          "quantity <> invoiced_quantity").fetchone() == (0,)
        assert (total(db) or 0) == 0
        # ... and per inbound entry: its cost + the cost of what was applied to it
        # (one-to-one applications only) is 0 after the rounding entry.
        for (inbound,) in db.execute(
                "SELECT entry_no FROM item_ledger_entry WHERE positive = 1").fetchall():
            outs = db.execute(
                "SELECT a.outbound_item_entry_no, a.quantity, l.quantity FROM "
                "item_application_entry a JOIN item_ledger_entry l ON "
                "l.entry_no = a.outbound_item_entry_no WHERE a.inbound_item_entry_no = ? AND "
                "a.outbound_item_entry_no <> 0", [inbound]).fetchall()
            if outs and all(aq == lq for _o, aq, lq in outs) and all(
                db.execute("SELECT count(*) FROM item_application_entry WHERE "
                           "outbound_item_entry_no = ? AND item_ledger_entry_no = ?",
                           [o, o]).fetchone()[0] == 1 for o, _a, _l in outs):
                cost = sum(ile_cost(db, inbound)) + sum(sum(ile_cost(db, o)) for o, _a, _l in outs)
                assert cost == 0, (inbound, outs)
        assert item_state(db) == 1
    finally:
        db.close()


# --- D-13: automatic cost adjustment window and stickiness ------------------------------------

def _d13(db, setting):
    setup(db, automatic_cost_adjustment=setting)
    post(db, P("2020-01-10", 1, "10.00"))
    post(db, S("2020-01-15", 1))
    post(db, {"date": "2020-02-05", "type": "Item Charge", "amount": "2.00", "applies": 1})


def test_d13_month_window_adjusts_at_once(builder, db):
    _d13(db, "Month")
    assert ile_cost(db, 2)[0] == -1200 and item_state(db) == 1


def test_d13_always_adjusts_at_once(builder, db):
    _d13(db, "Always")
    assert ile_cost(db, 2)[0] == -1200


def test_d13_day_window_waits_and_is_sticky(builder, db):
    _d13(db, "Day")
    assert ile_cost(db, 2)[0] == -1000 and item_state(db) == 0
    assert db.execute("SELECT allow_online_adjustment FROM item WHERE no = 'A'").fetchone() == (0,)
    post(db, P("2020-02-05", 1, "10.00"))  # fresh and recent: still not adjusted online
    assert ile_cost(db, 2)[0] == -1000
    assert adjust(db) == [(2, "Direct Cost", "2020-01-15", -200, 0, 2)]
    assert db.execute("SELECT allow_online_adjustment FROM item WHERE no = 'A'").fetchone() == (1,)


def test_d13_never(builder, db):
    _d13(db, "Never")
    assert ile_cost(db, 2)[0] == -1000


def test_d06_average_transfer(builder, db):
    method(db, "Average")
    post(db, P("2020-01-01", 1, "10.00", loc="BLUE"), P("2020-01-01", 1, "20.00", loc="BLUE"))
    db.execute("UPDATE item SET unit_cost = 0")
    post(db, {"date": "2020-02-01", "type": "Transfer", "loc": "BLUE", "new_loc": "RED",
              "qty": 1})
    adjust(db)
    assert ile_cost(db, 3)[0] == -1500 and ile_cost(db, 4)[0] == 1500


# --- automatic cost posting and adjust-cost --post ------------------------------------------

def _gl(db):
    return [tuple(r) for r in db.execute(
        "SELECT g.posting_date, g.gl_account_no, g.amount FROM gl_entry g ORDER BY g.entry_no")]


def test_d12_with_automatic_posting(builder, db):
    setup(db, automatic_cost_posting=1, automatic_cost_adjustment="Always")
    post(db, P("2020-01-01", 1, "10.00"))
    post(db, S("2020-01-15", 1))
    assert _gl(db) == [("2020-01-01", "2130", 1000), ("2020-01-01", "7290", -1000),
                       ("2020-01-15", "2130", -1000), ("2020-01-15", "7190", 1000)]
    post(db, {"date": "2020-02-10", "type": "Item Charge", "amount": "2.00", "applies": 1})
    assert _gl(db)[4:] == [("2020-02-10", "2130", 200), ("2020-02-10", "7290", -200),
                           ("2020-01-15", "2130", -200), ("2020-01-15", "7190", 200)]
    assert db.execute("SELECT count(*) FROM value_entry WHERE cost_amount_actual <> "
                      "cost_posted_to_gl").fetchone() == (0,)


def test_automatic_posting_error_rolls_back_the_journal(builder, db):
    setup(db, automatic_cost_posting=1)
    db.execute("UPDATE general_posting_setup SET direct_cost_applied_account = '' "
               "WHERE gen_bus_posting_group = 'DOMESTIC'")
    import pytest

    from invrecon.errors import InvreconError
    with pytest.raises(InvreconError):
        post(db, P("2020-01-01", 1, "10.00"), P("2020-01-02", 1, "10.00", bus="DOMESTIC"))
    assert db.execute("SELECT count(*) FROM value_entry").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM gl_entry").fetchone() == (0,)


def _cli(db_path, *args):
    exe = Path(sys.executable).parent / "invrecon"
    return subprocess.run([str(exe), "--db", str(db_path), *args], capture_output=True, text=True)


def test_cli_adjust_cost_preview_post_and_json(builder, db, db_path, tmp_path):
    post(db, P("2020-01-01", 1, "10.00"))
    post(db, S("2020-01-15", 1))
    post(db, {"date": "2020-02-10", "type": "Item Charge", "amount": "2.00", "applies": 1})
    db.close()
    r = _cli(db_path, "adjust-cost", "--preview")
    assert r.returncode == 0, r.stderr
    assert "would create 1 adjustment entry" in r.stdout
    r = _cli(db_path, "adjust-cost", "--item", "A", "--post", "--json")
    assert r.returncode == 0, r.stderr
    assert '"cost_amount_actual": "-2.00"' in r.stdout and '"posted_to_gl": true' in r.stdout
    db2 = open_ledger(db_path)
    try:
        assert [v["adjustment"] for v in ves(db2, 2)] == [0, 1]
        assert db2.execute("SELECT sum(amount) FROM gl_entry WHERE gl_account_no = '7190'"
                           ).fetchone() == (200,)
    finally:
        db2.close()
    r = _cli(db_path, "adjust-cost")
    assert r.returncode == 0 and "created 0 adjustment entries" in r.stdout
    r = _cli(db_path, "adjust-cost", "--item", "A..")
    assert r.returncode == 0


def test_cli_journal_file_errors(builder, db, db_path, tmp_path):
    db.close()
    f = tmp_path / "j.csv"
    f.write_text(journal_csv(P("2020-01-01", 1, "10.00")).replace("Quantity", "Qty"))
    r = _cli(db_path, "journal", str(f))
    assert r.returncode == 1 and "unknown column(s) 'Qty'" in r.stderr
    r = _cli(db_path, "journal", str(tmp_path / "missing.csv"))
    assert r.returncode == 1 and "no such file" in r.stderr


def test_end_to_end_journal_adjust_post_matrix_zero_difference(builder, db, db_path, tmp_path):
    """journal (automatic cost posting, expected cost posting) -> adjust-cost --post -> matrix."""
    import json
    method(db, "Average", "B")
    setup(db, automatic_cost_posting=1, expected_cost_posting_to_gl=1)
    db.close()
    rows = []
    for item in ("A", "B"):
        rows += [
            P("2021-01-03", 10, "10.00", doc=f"R1{item}", invoice="No", item=item, loc="BLUE"),
            {"date": "2021-01-04", "type": "Positive Adjmt.", "qty": 2, "cost": "9.50",
             "item": item, "loc": "RED"},
            S("2021-01-05", 4, doc=f"SH1{item}", invoice="No", item=item, loc="BLUE",
              bus="DOMESTIC"),
            {"date": "2021-01-06", "type": "Transfer", "loc": "BLUE", "new_loc": "RED", "qty": 3,
             "item": item},
            S("2021-01-07", 6, item=item, loc="RED", bus="DOMESTIC"),  # 1 short: negative
            P("2021-01-10", 4, "11.00", doc=f"I1{item}", of=f"R1{item}", item=item,
              bus="DOMESTIC"),
            S("2021-01-12", 4, doc=f"SI1{item}", of=f"SH1{item}", item=item, bus="DOMESTIC"),
            {"date": "2021-01-13", "type": "Negative Adjmt.", "qty": 1, "item": item,
             "loc": "BLUE"},
            P("2021-01-14", 3, "12.00", item=item, loc="RED"),  # covers the negative entry
            P("2021-01-20", 6, "11.50", doc=f"I2{item}", of=f"R1{item}", item=item),
        ]
    rows += [
        {"date": "2021-01-21", "type": "Item Charge", "amount": "7.77", "applies": 1},
        {"date": "2021-01-22", "type": "Revaluation", "cost": "13.00", "loc": "RED", "item": "A"},
        {"date": "2021-01-31", "type": "Revaluation", "cost": "12.00", "loc": "BLUE",
         "item": "B"},
    ]
    f = tmp_path / "all.csv"
    f.write_text(journal_csv(*rows))
    r = _cli(db_path, "journal", str(f))
    assert r.returncode == 0, r.stderr
    r = _cli(db_path, "adjust-cost", "--post", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["entries"], "the scenario needs adjustments"
    r = _cli(db_path, "matrix", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    [diff] = [row for row in m["rows"] if row["key"] == "difference"]
    assert all(v in (None, "0.00") for v in diff["cells"].values()), diff
    [tot] = [row for row in m["rows"] if row["key"] == "total"]
    assert any(v not in (None, "0.00") for v in tot["cells"].values())
    db2 = open_ledger(db_path)
    try:
        assert db2.execute("SELECT count(*) FROM value_entry WHERE cost_amount_actual <> "
                           "cost_posted_to_gl OR cost_amount_expected <> "
                           "expected_cost_posted_to_gl").fetchone() == (0,)
        assert adjust(db2) == []
    finally:
        db2.close()


def _many_adjustments(db) -> None:
    """A FIFO ledger whose adjustment makes actual and expected adjustment entries and a
    rounding entry."""
    post(db, P("2020-01-01", 3, "3.33333"))
    sales_at(db, 3.33333, "2020-01-02", "2020-01-03", "2020-01-04")  # rounding on entry 1
    post(db, P("2020-01-05", 10, "10.00", doc="R1", invoice="No"))
    post(db, S("2020-01-06", 4, doc="SH1", invoice="No"))  # expected cost adjustment
    post(db, P("2020-01-20", 10, "11.00", doc="I1", of="R1"))
    post(db, P("2020-02-01", 5, "7.00"), P("2020-02-02", 5, "9.00"))
    sales_at(db, 1.00, *(f"2020-02-{d:02d}" for d in range(3, 15)))


_COPIED = ("item_no", "item_ledger_entry_type", "item_ledger_entry_no", "document_no",
           "external_document_no", "location_code", "inventory_posting_group",
           "gen_bus_posting_group", "gen_prod_posting_group", "source_type", "source_no",
           "order_type", "order_no", "dimension_set_id")


def _all_value_entries(db) -> list[tuple]:
    return db.execute("SELECT * FROM value_entry ORDER BY entry_no").fetchall()


def test_written_in_small_chunks_is_written_the_same(tmp_path, monkeypatch):
    """The adjustment entries are written a chunk at a time, copied from their template entry in
    SQL, and the report's entries wait in a temp file: with chunks of 1 and 2 the ledger and the
    report are exactly those of one chunk."""
    import shutil

    from invrecon import cost_adjustment
    from invrecon.cost_adjustment import adjust_cost
    from invrecon.ledger import write_transaction

    base = tmp_path / "base.db"
    db = open_ledger(base, create=True)
    LedgerBuilder.standard(db)
    _many_adjustments(db)
    first_new = db.execute("SELECT max(entry_no) + 1 FROM value_entry").fetchone()[0]
    db.close()
    results = {}
    for name, write_chunk, report_chunk in (("whole", 100_000, 100_000), ("small", 1, 2)):
        path = tmp_path / f"{name}.db"
        shutil.copy(base, path)
        monkeypatch.setattr(cost_adjustment, "_WRITE_CHUNK", write_chunk)
        monkeypatch.setattr(cost_adjustment, "_REPORT_CHUNK", report_chunk)
        db = open_ledger(path)
        with write_transaction(db):
            res = adjust_cost(db)
        results[name] = (res, _all_value_entries(db), db)
    (whole, whole_rows, db), (small, small_rows, _db2) = results["whole"], results["small"]
    assert small.entries.spilled and not whole.entries.spilled
    assert len(whole.entries) >= 6, "the scenario needs several adjustment entries"
    assert list(small.entries) == list(whole.entries)
    # what --post hands to the posting engine: the new entries' numbers, as one range
    assert whole.value_entry_nos == range(first_new, first_new + len(whole.entries))
    assert list(small.value_entry_nos) == [e.entry_no for e in whole.entries]
    assert small_rows == whole_rows
    kinds = {(e.entry_type, e.cost_amount_expected != 0, e.applies_to_entry != 0)
             for e in whole.entries}
    assert ("Rounding", False, False) in kinds and ("Direct Cost", True, True) in kinds, kinds
    # The report is what was written, and every new entry copies its template's fields.
    db = db.conn
    db.row_factory = sqlite3.Row
    new = db.execute("SELECT * FROM value_entry WHERE entry_no >= ? ORDER BY entry_no",
                     [first_new]).fetchall()
    assert [(r["entry_no"], r["item_no"], r["item_ledger_entry_no"], r["entry_type"],
             r["posting_date"], r["cost_amount_actual"], r["cost_amount_expected"],
             r["applies_to_entry"]) for r in new] == [
        (e.entry_no, e.item_no, e.item_ledger_entry_no, e.entry_type, e.posting_date,
         e.cost_amount_actual, e.cost_amount_expected, e.applies_to_entry)
        for e in whole.entries]
    for r in new:
        if r["entry_type"] == "Rounding":
            t = db.execute(
                "SELECT * FROM value_entry WHERE item_ledger_entry_no = ? AND adjustment = 0 "
                "AND entry_type = 'Direct Cost' AND invoiced_quantity <> 0 "
                "ORDER BY entry_no DESC LIMIT 1", [r["item_ledger_entry_no"]]).fetchone()
            assert r["adjustment"] == 0 and r["applies_to_entry"] == 0
        else:
            t = db.execute("SELECT * FROM value_entry WHERE entry_no = ?",
                           [r["applies_to_entry"]]).fetchone()
            assert r["adjustment"] == 1 and r["entry_type"] == t["entry_type"]
            assert r["valued_quantity"] == t["valued_quantity"]
        assert {c: r[c] for c in _COPIED} == {c: t[c] for c in _COPIED}
        assert r["valuation_date"] == (t["valuation_date"] or t["posting_date"])
        assert r["invoiced_quantity"] == 0
