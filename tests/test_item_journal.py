"""Item journal (`invrecon journal`): parsing, posting, application rules, errors."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from invrecon.cost_adjustment import run_automatic_adjustment
from invrecon.errors import InputError
from invrecon.item_journal import COLUMNS, parse_journal_text
from invrecon.item_posting import post_journal_lines
from invrecon.ledger import write_transaction

_KEYS = {
    "date": "Posting Date", "type": "Entry Type", "doc": "Document No.", "item": "Item No.",
    "loc": "Location Code", "new_loc": "New Location Code", "qty": "Quantity",
    "cost": "Unit Cost", "amount": "Amount", "invoice": "Invoice", "of": "Invoice Of",
    "applies": "Applies-to Entry", "bus": "Gen. Bus. Posting Group",
}


def journal_csv(*rows: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(COLUMNS))
    for r in rows:
        vals = {_KEYS[k]: str(v) for k, v in r.items()}
        vals.setdefault("Item No.", "A")
        w.writerow([vals.get(c, "") for c in COLUMNS])
    return buf.getvalue()


def post(db, *rows: dict, source: str = "j.csv"):
    """Post a journal like the CLI does (one transaction, then automatic adjustment)."""
    lines = parse_journal_text(journal_csv(*rows), source)
    auto_post = bool(db.execute("SELECT automatic_cost_posting FROM inventory_setup").fetchone()[0])
    with write_transaction(db):
        res = post_journal_lines(db, lines)
        run_automatic_adjustment(db, post=auto_post)
    return res


def P(date, qty, cost, doc="", invoice="Yes", **kw):  # noqa: N802 - purchase line
    return {"date": date, "type": "Purchase", "doc": doc, "qty": qty, "cost": cost,
            "invoice": invoice, **kw}


def S(date, qty, doc="", invoice="Yes", **kw):  # noqa: N802 - sale line
    return {"date": date, "type": "Sale", "doc": doc, "qty": qty, "invoice": invoice, **kw}


def ile(db, no):
    cur = db.execute("SELECT * FROM item_ledger_entry WHERE entry_no = ?", [no])
    return dict(zip([c[0] for c in cur.description], cur.fetchone(), strict=True))


def ves(db, ile_no=None, **where):
    sql = "SELECT * FROM value_entry"
    cond, params = [], []
    if ile_no is not None:
        cond.append("item_ledger_entry_no = ?")
        params.append(ile_no)
    for k, v in where.items():
        cond.append(f"{k} = ?")
        params.append(v)
    if cond:
        sql += " WHERE " + " AND ".join(cond)
    cur = db.execute(sql + " ORDER BY entry_no", params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def ile_cost(db, no):
    return db.execute("SELECT sum(cost_amount_actual), sum(cost_amount_expected) FROM value_entry "
                      "WHERE item_ledger_entry_no = ?", [no]).fetchone()


def apps(db):
    return [tuple(r) for r in db.execute(
        "SELECT posting_date, inbound_item_entry_no, outbound_item_entry_no, quantity, "
        "item_ledger_entry_no FROM item_application_entry ORDER BY entry_no")]


U = 100_000  # one unit in 1/100,000


# ---------------------------------------------------------------------------------------------


def test_d02_application_entries(builder, db):
    post(db, P("2020-01-01", 10, "1.00"), S("2020-01-03", 5))
    assert apps(db) == [("2020-01-01", 1, 0, 10 * U, 1), ("2020-01-03", 1, 2, -5 * U, 2)]
    e1 = ile(db, 1)
    assert (e1["remaining_quantity"], e1["open"]) == (5 * U, 1)
    e2 = ile(db, 2)
    assert (e2["quantity"], e2["remaining_quantity"], e2["open"]) == (-5 * U, 0, 0)


def test_purchase_receipt_then_partial_invoices(builder, db):
    post(db, P("2025-01-03", 10, "10.00", doc="R1", invoice="No"))
    [ve1] = ves(db, 1)
    assert (ve1["cost_amount_expected"], ve1["cost_amount_actual"], ve1["expected_cost"]) == (
        10000, 0, 1)
    assert ve1["valuation_date"] == "2025-01-03"
    post(db, P("2025-01-20", 4, "11.00", doc="I1", of="R1", invoice=""))
    ve2 = ves(db, 1)[1]
    assert (ve2["cost_amount_actual"], ve2["cost_amount_expected"]) == (4400, -4000)
    assert (ve2["invoiced_quantity"], ve2["valued_quantity"]) == (4 * U, 4 * U)
    assert ve2["valuation_date"] == "2025-01-03" and ve2["posting_date"] == "2025-01-20"
    assert ile(db, 1)["invoiced_quantity"] == 4 * U
    post(db, P("2025-01-25", 6, "12.00", doc="I2", of="R1"))
    ve3 = ves(db, 1)[2]
    assert (ve3["cost_amount_actual"], ve3["cost_amount_expected"]) == (7200, -6000)
    assert ile_cost(db, 1) == (11600, 0)
    with pytest.raises(InputError, match=r"j.csv:2: column 'Quantity': invoices 1 but only 0"):
        post(db, P("2025-01-26", 1, "12.00", doc="I3", of="R1"))


def test_sale_shipment_and_invoice(builder, db):
    post(db, P("2025-01-01", 10, "10.00"), S("2025-01-05", 4, doc="SH1", invoice="No"))
    [v] = ves(db, 2)
    assert (v["cost_amount_expected"], v["expected_cost"], v["invoiced_quantity"]) == (-4000, 1, 0)
    post(db, S("2025-01-06", 4, doc="SI1", of="SH1"))
    v2 = ves(db, 2)[1]
    assert (v2["cost_amount_actual"], v2["cost_amount_expected"]) == (-4000, 4000)
    assert v2["invoiced_quantity"] == -4 * U and v2["document_no"] == "SI1"
    assert ile(db, 2)["invoiced_quantity"] == -4 * U


def test_negative_inventory_closed_by_later_inbound(builder, db):
    db.execute("UPDATE item SET unit_cost = 800000 WHERE no = 'A'")
    post(db, S("2025-02-01", 5))
    e = ile(db, 1)
    assert (e["remaining_quantity"], e["open"]) == (-5 * U, 1)
    assert ves(db, 1)[0]["cost_amount_actual"] == -4000
    post(db, P("2025-02-03", 5, "10.00"))
    assert apps(db)[-1] == ("2025-02-03", 2, 1, -5 * U, 1)
    assert ile(db, 1)["open"] == 0 and ile(db, 2)["open"] == 0
    assert ile(db, 2)["applied_entry_to_adjust"] == 1
    assert ves(db, 1)[0]["valuation_date"] == "2025-02-03"


def test_fifo_and_lifo_application_order_per_location(builder, db):
    db.execute("UPDATE item SET costing_method = 'LIFO' WHERE no = 'B'")
    for item in ("A", "B"):
        post(db, P("2025-01-01", 1, "10.00", item=item, loc="BLUE"),
             P("2025-01-02", 1, "20.00", item=item, loc="BLUE"),
             P("2025-01-02", 1, "30.00", item=item, loc="RED"))
    post(db, S("2025-01-05", 1, item="A", loc="BLUE"), S("2025-01-05", 1, item="B", loc="BLUE"))
    a = db.execute("SELECT inbound_item_entry_no FROM item_application_entry WHERE "
                   "item_ledger_entry_no = 7").fetchone()[0]
    b = db.execute("SELECT inbound_item_entry_no FROM item_application_entry WHERE "
                   "item_ledger_entry_no = 8").fetchone()[0]
    assert (a, b) == (1, 5)


def test_fixed_application(builder, db):
    post(db, P("2020-01-04", 10, "10.00"), P("2020-01-05", 10, "20.00"))
    post(db, {"date": "2020-01-06", "type": "Negative Adjmt.", "qty": 10, "applies": 2})
    assert apps(db)[-1] == ("2020-01-06", 2, 3, -10 * U, 3)
    assert ile_cost(db, 3) == (-20000, 0)


def test_transfer_takes_outbound_cost(builder, db):
    post(db, P("2025-03-01", 10, "10.00", loc="BLUE"),
         {"date": "2025-03-02", "type": "Transfer", "doc": "T1", "loc": "BLUE",
          "new_loc": "RED", "qty": 4})
    out, inn = ile(db, 2), ile(db, 3)
    assert (out["location_code"], out["quantity"], out["order_type"]) == ("BLUE", -4 * U,
                                                                          "Transfer")
    assert (inn["location_code"], inn["quantity"]) == ("RED", 4 * U)
    assert ile_cost(db, 2) == (-4000, 0) and ile_cost(db, 3) == (4000, 0)
    assert ves(db, 3)[0]["order_type"] == "Transfer"
    tf = db.execute("SELECT transferred_from_entry_no FROM item_application_entry "
                    "WHERE item_ledger_entry_no = 3 AND outbound_item_entry_no = 0").fetchone()
    assert tf == (2,)


def test_item_charge_and_revaluation_entries(builder, db):
    post(db, P("2020-01-01", 2, "10.00"))
    post(db, {"date": "2020-01-15", "type": "Item Charge", "doc": "FR1", "amount": "8.00",
              "applies": 1})
    v = ves(db, 1)[1]
    assert (v["cost_amount_actual"], v["item_charge_no"], v["invoiced_quantity"]) == (800, "CHARGE",
                                                                                     0)
    assert v["valuation_date"] == "2020-01-01" and v["document_no"] == "FR1"
    post(db, {"date": "2020-03-01", "type": "Revaluation", "doc": "RV", "cost": "10.00",
              "applies": 1})
    r = ves(db, 1)[2]
    assert (r["entry_type"], r["cost_amount_actual"], r["valued_quantity"]) == (
        "Revaluation", -800, 2 * U)
    assert r["valuation_date"] == "2020-03-01"


def test_value_entry_fields(builder, db):
    post(db, P("2025-01-01", 1, "10.00", doc="R1", loc="BLUE", bus="DOMESTIC"))
    v = ves(db, 1)[0]
    assert (v["inventory_posting_group"], v["gen_prod_posting_group"], v["gen_bus_posting_group"],
            v["location_code"], v["dimension_set_id"], v["item_ledger_entry_type"],
            v["document_no"], v["cost_per_unit"]) == (
        "RESALE", "RETAIL", "DOMESTIC", "BLUE", 0, "Purchase", "R1", 10 * U)
    assert db.execute("SELECT cost_is_adjusted FROM item WHERE no = 'A'").fetchone() == (0,)


@pytest.mark.parametrize(("row", "message"), [
    ({"date": "2025-01-01", "type": "Purchase", "item": "ZZ", "qty": 1, "cost": 1},
     r"j.csv:3: column 'Item No.': item 'ZZ' does not exist"),
    ({"date": "2025-01-01", "type": "Purchase", "loc": "GREEN", "qty": 1, "cost": 1},
     r"j.csv:3: column 'Location Code': location 'GREEN' has no inventory posting setup"),
    ({"date": "2025-01-01", "type": "Sale", "qty": -1},
     r"j.csv:3: column 'Quantity': -1 must be positive"),
    ({"date": "2025-01-01", "type": "Sale", "qty": 0},
     r"j.csv:3: column 'Quantity': 0 must be positive"),
    ({"date": "2025-13-01", "type": "Sale", "qty": 1},
     r"j.csv:3: column 'Posting Date': '2025-13-01' is not a YYYY-MM-DD date"),
    ({"date": "2025-01-01", "type": "Purchase", "qty": 1, "cost": "1.000001"},
     r"j.csv:3: column 'Unit Cost': .*more than 5 decimals"),
    ({"date": "2025-01-01", "type": "Purchase", "qty": 1, "cost": 2, "of": "NOPE"},
     r"j.csv:3: column 'Invoice Of': no receipt 'NOPE'"),
    ({"date": "2025-01-01", "type": "Item Charge", "amount": "1.001", "applies": 1},
     r"j.csv:3: column 'Amount': .*more than 2 decimals"),
    ({"date": "2025-01-01", "type": "Shipment", "qty": 1},
     r"j.csv:3: column 'Entry Type': 'Shipment' is not one of"),
    ({"date": "2025-01-01", "type": "Transfer", "loc": "BLUE", "new_loc": "RED", "qty": 5},
     r"j.csv:3: column 'Quantity': only 0 of item 'A' on hand at location 'BLUE'"),
])
def test_errors_name_the_line_and_roll_back_the_file(builder, db, row, message):
    good = P("2025-01-01", 1, "1.00")
    with pytest.raises(InputError, match=message):
        post(db, good, row)
    assert db.execute("SELECT count(*) FROM item_ledger_entry").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM value_entry").fetchone() == (0,)


def test_posting_date_in_closed_period_or_outside_allowed_range(builder, db):
    db.execute("INSERT INTO accounting_period (starting_date, closed) VALUES "
               "('2025-01-01', 1), ('2025-02-01', 0)")
    with pytest.raises(InputError, match="closed accounting period"):
        post(db, P("2025-01-31", 1, "1.00"))
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-02-10'")
    with pytest.raises(InputError, match="not within the allowed posting dates"):
        post(db, P("2025-02-05", 1, "1.00"))


def test_cli_journal_end_to_end(builder, db, db_path, tmp_path):
    db.close()
    f = tmp_path / "j.csv"
    f.write_text(journal_csv(P("2025-01-01", 2, "5.00", doc="R1"), S("2025-01-02", 1)))
    exe = Path(sys.executable).parent / "invrecon"
    r = subprocess.run([str(exe), "--db", str(db_path), "journal", str(f), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert '"lines_posted": 2' in r.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(journal_csv(P("2025-01-03", 1, "5.00"), S("2025-01-03", 1, item="NOPE")))
    r = subprocess.run([str(exe), "--db", str(db_path), "journal", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip() == ("invrecon: error: bad.csv:3: column 'Item No.': item 'NOPE' "
                                "does not exist")


def test_a_journal_cell_limit_does_not_depend_on_an_earlier_import(tmp_path):
    """The csv module's field limit is global; the ledger CSV import raises it. A journal read
    after an import in the same process still refuses a cell beyond its own limit."""
    from invrecon.item_journal import MAX_FIELD_CHARS
    from invrecon.ledger import open_ledger
    from invrecon.ledger_csv import MAX_FIELD_CHARS as IMPORT_LIMIT
    from invrecon.ledger_csv import import_ledger

    assert IMPORT_LIMIT > MAX_FIELD_CHARS
    ledger = open_ledger(tmp_path / "l.db", create=True)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "locations.csv").write_text("code,name\nBLUE,Blue\n", encoding="utf-8")
    import_ledger(ledger, tmp_path / "in")
    ledger.close()
    assert csv.field_size_limit() == IMPORT_LIMIT  # what the import left behind
    text = ("Posting Date,Entry Type,Document No.,Item No.,Quantity\n"
            f"2025-02-01,Purchase,{'X' * (MAX_FIELD_CHARS + 10)},A,1\n")
    with pytest.raises(InputError, match=r"journal.csv:2: not readable as CSV"):
        parse_journal_text(text, "journal.csv")


def test_cli_journal_json_lists_the_automatic_adjustment(builder, db, db_path, tmp_path):
    """--json prints the automatic adjustment's entries (streamed one at a time), or null when
    Inventory Setup never adjusts automatically."""
    import json

    db.execute("UPDATE inventory_setup SET automatic_cost_adjustment = 'Always'")
    db.close()
    exe = Path(sys.executable).parent / "invrecon"
    f = tmp_path / "j.csv"
    f.write_text(journal_csv(P("2025-01-01", 1, "10.00"), P("2025-01-01", 1, "30.00"),
                             S("2025-01-02", 1), S("2025-01-03", 1)))
    r = subprocess.run([str(exe), "--db", str(db_path), "journal", str(f), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lines_posted"] == 4
    assert [(e["item_ledger_entry_no"], e["cost_amount_actual"])
            for e in out["automatic_adjustment"]] == [(3, "10.00"), (4, "-10.00")]
    assert list(out) == ["lines_posted", "item_ledger_entries", "value_entries",
                         "application_entries", "automatic_adjustment", "posted_to_gl"]
    from invrecon.ledger import open_ledger
    db = open_ledger(db_path)
    db.execute("UPDATE inventory_setup SET automatic_cost_adjustment = 'Never'")
    db.close()
    f.write_text(journal_csv(P("2025-01-04", 1, "5.00")))
    r = subprocess.run([str(exe), "--db", str(db_path), "journal", str(f), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["automatic_adjustment"] is None
