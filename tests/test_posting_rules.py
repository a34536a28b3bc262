"""Every row of the rule table (spec 20 §2.3) in both modes and both signs, the interim
lifecycle (§2.6), the WIP posting-group exception (§2.2) and the invalid combinations (§2.4).

The expected accounts are written out here by hand from the spec's table, with the standard
chart of ``tests/ledger_builder.py`` (2130 Inventory, 2131 Inventory (Interim), 2140 WIP,
5290 Invt. Accrual (Interim), 7190 COGS, 7191 COGS (Interim), 7180 Inventory Adjmt.,
7290 Direct Cost Applied, 7291 Overhead Applied, 7292 Purchase Variance, 7890 Material Var.,
7891 Capacity Var., 7892 Subcontracted Var., 7893 Cap. Overhead Var., 7894 Mfg. Overhead Var.),
not derived from the engine's own table.
"""

from __future__ import annotations

import pytest

from invrecon.enums import PostingAccountType
from invrecon.posting import PostingRequest, post_inventory_cost
from invrecon.posting_rules import RULES, Part, Reason, rules_for

# Account no. by account type, in the standard chart.
ACC = {
    "Inventory (Interim)": "2131", "Invt. Accrual (Interim)": "5290", "Inventory": "2130",
    "WIP Inventory": "2140", "Inventory Adjmt.": "7180", "Direct Cost Applied": "7290",
    "Overhead Applied": "7291", "Purchase Variance": "7292", "COGS": "7190",
    "COGS (Interim)": "7191", "Material Variance": "7890", "Capacity Variance": "7891",
    "Subcontracted Variance": "7892", "Cap. Overhead Variance": "7893",
    "Mfg. Overhead Variance": "7894",
}

# code: (Item Ledger Entry Type, Entry Type, Variance Type, Order Type, part, account, balancing)
TABLE = [
    ("P1", "Purchase", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "Invt. Accrual (Interim)"),
    ("P2", "Purchase", "Direct Cost", "", "", "Act", "Inventory", "Direct Cost Applied"),
    ("P3", "Purchase", "Indirect Cost", "", "", "Act", "Inventory", "Overhead Applied"),
    ("P4", "Purchase", "Variance", "Purchase", "", "Act", "Inventory", "Purchase Variance"),
    ("P5", "Purchase", "Revaluation", "", "", "Exp", "Inventory (Interim)", "Invt. Accrual (Interim)"),
    ("P6", "Purchase", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("P7", "Purchase", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("S1", "Sale", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "COGS (Interim)"),
    ("S2", "Sale", "Direct Cost", "", "", "Act", "Inventory", "COGS"),
    ("S3", "Sale", "Revaluation", "", "", "Exp", "Inventory (Interim)", "COGS (Interim)"),
    ("S4", "Sale", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("S5", "Sale", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A1", "Positive Adjmt.", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "COGS (Interim)"),
    ("A1", "Negative Adjmt.", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "COGS (Interim)"),
    ("A1", "Transfer", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "COGS (Interim)"),
    ("A2", "Positive Adjmt.", "Direct Cost", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A2", "Negative Adjmt.", "Direct Cost", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A2", "Transfer", "Direct Cost", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A3", "Positive Adjmt.", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A3", "Negative Adjmt.", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A3", "Transfer", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("A3", "Transfer", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("C1", "Consumption", "Direct Cost", "", "", "Act", "Inventory", "WIP Inventory"),
    ("C2", "Consumption", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("C2", "Consumption", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("O1", "Output", "Direct Cost", "", "", "Exp", "Inventory (Interim)", "WIP Inventory"),
    ("O2", "Output", "Direct Cost", "", "", "Act", "Inventory", "WIP Inventory"),
    ("O4", "Output", "Indirect Cost", "", "", "Act", "Inventory", "Overhead Applied"),
    ("O5", "Output", "Variance", "Material", "", "Act", "Inventory", "Material Variance"),
    ("O7", "Output", "Variance", "Capacity", "", "Act", "Inventory", "Capacity Variance"),
    ("O8", "Output", "Variance", "Subcontracted", "", "Act", "Inventory", "Subcontracted Variance"),
    ("O9", "Output", "Variance", "Capacity Overhead", "", "Act", "Inventory", "Cap. Overhead Variance"),
    ("O10", "Output", "Variance", "Manufacturing Overhead", "", "Act", "Inventory", "Mfg. Overhead Variance"),
    ("O11", "Output", "Revaluation", "", "", "Exp", "Inventory (Interim)", "WIP Inventory"),
    ("O12", "Output", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("O13", "Output", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("M1", "Assembly Consumption", "Direct Cost", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("M1", "Assembly Consumption", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("M1", "Assembly Consumption", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("N1", "Assembly Output", "Direct Cost", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("N2", "Assembly Output", "Indirect Cost", "", "", "Act", "Inventory", "Overhead Applied"),
    ("N3", "Assembly Output", "Variance", "Material", "", "Act", "Inventory", "Material Variance"),
    ("N3", "Assembly Output", "Variance", "Capacity", "", "Act", "Inventory", "Capacity Variance"),
    ("N3", "Assembly Output", "Variance", "Subcontracted", "", "Act", "Inventory", "Subcontracted Variance"),
    ("N3", "Assembly Output", "Variance", "Capacity Overhead", "", "Act", "Inventory", "Cap. Overhead Variance"),
    ("N3", "Assembly Output", "Variance", "Manufacturing Overhead", "", "Act", "Inventory", "Mfg. Overhead Variance"),
    ("N4", "Assembly Output", "Revaluation", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("N4", "Assembly Output", "Rounding", "", "", "Act", "Inventory", "Inventory Adjmt."),
    ("K1", "", "Direct Cost", "", "Assembly", "Act", "Inventory Adjmt.", "Direct Cost Applied"),
    ("K2", "", "Indirect Cost", "", "Assembly", "Act", "Inventory Adjmt.", "Overhead Applied"),
    ("K3", "", "Direct Cost", "", "Production", "Act", "WIP Inventory", "Direct Cost Applied"),
    ("K3", "", "Direct Cost", "", "", "Act", "WIP Inventory", "Direct Cost Applied"),
    ("K4", "", "Indirect Cost", "", "Production", "Act", "WIP Inventory", "Overhead Applied"),
]

ORDINAL = {t.value: t.ordinal for t in PostingAccountType}


def _entry(builder, ile, et, vt, ot, part, amount_cents, **kw):
    fields = dict(item_ledger_entry_type=ile, entry_type=et, variance_type=vt, order_type=ot,
                  source_no="SRC1", **kw)
    if part == "Exp":
        fields["cost_amount_expected"] = amount_cents
        fields["expected_cost"] = 1 if et == "Direct Cost" else 0
    else:
        fields["cost_amount_actual"] = amount_cents
    if ile == "":
        fields.setdefault("order_no", "ORD1")
    return builder.value_entry(**fields)


def _gl(db):
    return [tuple(r) for r in db.execute(
        "SELECT gl_account_no, amount, document_no, description, transaction_no, source_code "
        "FROM gl_entry ORDER BY entry_no")]


def test_the_table_of_this_test_covers_every_rule_row_of_the_engine():
    codes = {row[0] for row in TABLE}
    assert codes == {r.code for r in RULES}
    # P1-P7, S1-S5, A1-A3, C1-C2, O1-O13 without O3/O6 (non-inventory), M1, N1-N4, K1-K4
    assert len(codes) == 7 + 5 + 3 + 2 + 11 + 1 + 4 + 4


@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]}-{r[1] or 'capacity'}-{r[2]}-{r[3]}-{r[4]}"
                                            for r in TABLE])
def test_rule_per_entry(db, row, sign):
    code, ile, et, vt, ot, part, account, balancing = row
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=(part == "Exp"))
    x = sign * 12345
    ve = _entry(b, ile, et, vt, ot, part, x)
    report = post_inventory_cost(db, PostingRequest())
    assert report.skipped == []
    assert report.posted_value_entries == 1
    lines = sorted([(ACC[account], x, account), (ACC[balancing], -x, balancing)],
                   key=lambda t: ORDINAL[t[2]])
    desc = f"{et} SRC1 on 2025-01-15"
    assert _gl(db) == [(a, amt, f"DOC{ve}", desc, 1, "INVTPCOST") for a, amt, _ in lines]
    assert [(ln.account_type.value, ln.amount, list(ln.value_entry_nos)) for ln in report.lines] == [
        (t, amt, [ve]) for _, amt, t in lines]
    # posted fields assigned, relation rows one per G/L entry, one register
    posted = db.execute("SELECT cost_posted_to_gl, expected_cost_posted_to_gl FROM value_entry").fetchone()
    assert tuple(posted) == ((0, x) if part == "Exp" else (x, 0))
    assert db.execute("SELECT gl_entry_no, value_entry_no, gl_register_no FROM gl_item_ledger_relation "
                      "ORDER BY gl_entry_no").fetchall() == [(1, ve, 1), (2, ve, 1)]
    assert db.execute("SELECT no, from_entry_no, to_entry_no, source_code FROM gl_register").fetchall() == [
        (1, 1, 2, "INVTPCOST")]


@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]}-{r[1] or 'capacity'}-{r[2]}-{r[3]}-{r[4]}"
                                            for r in TABLE])
def test_rule_per_posting_group(db, row, sign):
    code, ile, et, vt, ot, part, account, balancing = row
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=(part == "Exp"))
    x = sign * 500
    # two entries of the same group key merge into one G/L entry per account type
    ve1 = _entry(b, ile, et, vt, ot, part, x, location_code="BLUE", gen_bus_posting_group="DOMESTIC")
    ve2 = _entry(b, ile, et, vt, ot, part, 2 * x, location_code="BLUE", gen_bus_posting_group="DOMESTIC")
    report = post_inventory_cost(db, PostingRequest(mode="per-posting-group", document_no="INV-1"))
    assert report.skipped == [] and report.posted_value_entries == 2
    lines = sorted([(account, balancing, 3 * x), (balancing, account, -3 * x)],
                   key=lambda t: ORDINAL[t[0]])
    assert _gl(db) == [
        (ACC[a], amt, "INV-1", f"{a} - {bal}, BLUE,RESALE,DOMESTIC,RETAIL", 1, "INVTPCOST")
        for a, bal, amt in lines]
    rel = db.execute("SELECT gl_entry_no, value_entry_no FROM gl_item_ledger_relation "
                     "ORDER BY 1, 2").fetchall()
    assert rel == [(1, ve1), (1, ve2), (2, ve1), (2, ve2)]
    field = "expected_cost_posted_to_gl" if part == "Exp" else "cost_posted_to_gl"
    assert [r[0] for r in db.execute(f"SELECT {field} FROM value_entry ORDER BY entry_no")] == [x, 2 * x]


@pytest.mark.parametrize("flow", ["purchase", "sale", "output"])
def test_interim_lifecycle_receipt_then_invoice_nets_interim_to_zero(db, flow):
    """§2.6: receipt/shipment posts expected cost to interim; the invoice reverses it and posts
    the actual cost. Afterwards the interim accounts net to zero."""
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    ile, sign, bal_interim, bal_actual = {
        "purchase": ("Purchase", 1, "5290", "7290"),
        "sale": ("Sale", -1, "7191", "7190"),
        "output": ("Output", 1, "2140", "2140"),
    }[flow]
    e, a = sign * 10000, sign * 10500
    rcpt = b.value_entry(item_ledger_entry_type=ile, cost_amount_expected=e, expected_cost=1,
                         document_no="RCPT1")
    r1 = post_inventory_cost(db, PostingRequest())
    assert r1.register_no == 1
    assert _gl(db)[0][:2] == ("2131", e) and _gl(db)[1][:2] == (bal_interim, -e)
    inv = b.value_entry(item_ledger_entry_type=ile, cost_amount_expected=-e, cost_amount_actual=a,
                        document_no="INV1")
    r2 = post_inventory_cost(db, PostingRequest())
    assert r2.register_no == 2
    gl = _gl(db)[2:]
    # interim reversal first (Inventory (Interim) is ordinal 0), then the actual pair
    expected = [("2131", -e), (bal_interim, e), ("2130", a), (bal_actual, -a)]
    assert sorted(gl_row[:2] for gl_row in gl) == sorted(expected)
    assert all(g[4] == 2 for g in gl)  # one transaction (same document, same date)
    interim = db.execute("SELECT sum(amount) FROM gl_entry WHERE gl_account_no = '2131'").fetchone()[0]
    assert interim == 0
    assert db.execute("SELECT entry_no, cost_posted_to_gl, expected_cost_posted_to_gl FROM value_entry "
                      "ORDER BY entry_no").fetchall() == [(rcpt, 0, e), (inv, a, -e)]


def test_output_invoice_lines_follow_bc_key_order_with_negative_split(db):
    """Output with both parts: WIP appears twice (bal. Inventory (Interim) and bal. Inventory);
    order = account type ordinal, then Negative (No first), then bal. account type ordinal."""
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    b.value_entry(item_ledger_entry_type="Output", cost_amount_expected=-1000, cost_amount_actual=1200)
    report = post_inventory_cost(db, PostingRequest())
    assert [(ln.account_type.value, ln.amount) for ln in report.lines] == [
        ("Inventory (Interim)", -1000),  # O1 reversal
        ("Inventory", 1200),  # O2
        ("WIP Inventory", 1000),  # O1 balancing, Negative = No, bal. Inventory (Interim)
        ("WIP Inventory", -1200),  # O2 balancing, Negative = Yes
    ]


def test_wip_account_takes_the_produced_items_posting_group(db):
    """§2.2: consumption of component A into produced item P: the WIP line uses P's Inventory
    Posting Group (location stays the entry's); the Inventory line uses A's group."""
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db)
    b.account("2145", "WIP Finished")
    b.ips("BLUE", "FINISHED", wip_account="2145", inventory_account="2135")
    b.account("2135", "Inventory Finished")
    b.item("P", inventory_posting_group="FINISHED", gen_prod_posting_group="RETAIL")
    ve = b.value_entry(item_ledger_entry_type="Consumption", cost_amount_actual=-700,
                       location_code="BLUE", source_type="Item", source_no="P")
    post_inventory_cost(db, PostingRequest())
    assert [r[:2] for r in _gl(db)] == [("2130", -700), ("2145", 700)]
    # per posting group, the WIP line's key and description carry the produced item's group
    db.execute("DELETE FROM gl_item_ledger_relation")
    db.execute("DELETE FROM gl_entry")
    db.execute("DELETE FROM gl_register")
    db.execute("UPDATE value_entry SET cost_posted_to_gl = 0")
    report = post_inventory_cost(db, PostingRequest(mode="per-posting-group", document_no="D"))
    assert [(ln.gl_account_no, ln.inventory_posting_group, ln.description) for ln in report.lines] == [
        ("2130", "RESALE", "Inventory - WIP Inventory, BLUE,RESALE,,RETAIL"),
        ("2145", "FINISHED", "WIP Inventory - Inventory, BLUE,FINISHED,,RETAIL"),
    ]
    assert ve == 1


def test_wip_exception_with_missing_produced_item_skips(db):
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db)
    b.value_entry(item_ledger_entry_type="Consumption", cost_amount_actual=-700,
                  source_type="Item", source_no="NOPE")
    report = post_inventory_cost(db, PostingRequest())
    assert [s.reason_code for s in report.skipped] == ["missing_inventory_posting_setup"]
    assert "NOPE" not in report.skipped[0].reason or "produced item" in report.skipped[0].reason


INVALID = [
    # (Item Ledger Entry Type, Entry Type, Variance Type, Order Type)
    ("Sale", "Indirect Cost", "", ""),
    ("Sale", "Variance", "Material", ""),
    ("Positive Adjmt.", "Indirect Cost", "", ""),
    ("Negative Adjmt.", "Variance", "Material", ""),
    ("Transfer", "Indirect Cost", "", ""),
    ("Consumption", "Indirect Cost", "", ""),
    ("Consumption", "Variance", "Material", ""),
    ("Assembly Consumption", "Indirect Cost", "", ""),
    ("Assembly Consumption", "Variance", "Capacity", ""),
    ("Output", "Variance", "", ""),
    ("Output", "Variance", "Purchase", ""),
    ("Assembly Output", "Variance", "", ""),
    ("Assembly Output", "Variance", "Purchase", ""),
    ("", "Revaluation", "", "Production"),
    ("", "Rounding", "", "Assembly"),
    ("", "Variance", "Capacity", "Production"),
    ("Purchase", "Variance", "Material", ""),  # purchase variance must have type Purchase
    ("Purchase", "Variance", "", ""),
]


@pytest.mark.parametrize("combo", INVALID, ids=[f"{c[0] or 'capacity'}-{c[1]}-{c[2]}" for c in INVALID])
def test_invalid_combinations_are_skipped_with_reason(db, combo):
    from ledger_builder import LedgerBuilder
    ile, et, vt, ot = combo
    b = LedgerBuilder.standard(db)
    good = b.value_entry(cost_amount_actual=100)
    bad = b.value_entry(item_ledger_entry_type=ile, entry_type=et, variance_type=vt, order_type=ot,
                        cost_amount_actual=-250)
    report = post_inventory_cost(db, PostingRequest())
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [(bad, "invalid_combination")]
    assert report.skipped[0].cost_amount == -250
    assert report.posted_value_entries == 1
    assert db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?", [bad]).fetchone()[0] == 0
    assert db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?", [good]).fetchone()[0] == 100
    assert rules_for(ile, et, vt if et == "Variance" else "", ot if ile == "" else "", False, False).reason_code \
        is Reason.INVALID_COMBINATION


@pytest.mark.parametrize("et", ["Indirect Cost", "Rounding", "Variance"])
def test_expected_cost_on_non_direct_entries_is_invalid(db, et):
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    vt = "Purchase" if et == "Variance" else ""
    flagged = b.value_entry(entry_type=et, variance_type=vt, expected_cost=1, cost_amount_actual=10)
    amount = b.value_entry(entry_type=et, variance_type=vt, cost_amount_expected=10, cost_amount_actual=10)
    report = post_inventory_cost(db, PostingRequest())
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [
        (flagged, "invalid_combination"), (amount, "invalid_combination")]
    assert "Expected Cost must be No" in report.skipped[0].reason
    assert "Cost Amount (Expected) must be zero" in report.skipped[1].reason


@pytest.mark.parametrize("ile,et,ot", [("Consumption", "Direct Cost", ""),
                                       ("Assembly Output", "Direct Cost", ""),
                                       ("Transfer", "Revaluation", ""),
                                       ("", "Direct Cost", "Production")])
def test_expected_amount_without_interim_rule_is_skipped_not_dropped(db, ile, et, ot):
    """BC silently drops the expected part on families with no interim rule, which would leave
    the entry waiting forever; invrecon skips it with a reason."""
    from ledger_builder import LedgerBuilder
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    ve = b.value_entry(item_ledger_entry_type=ile, entry_type=et, order_type=ot,
                       cost_amount_expected=300, cost_amount_actual=100)
    report = post_inventory_cost(db, PostingRequest())
    assert [(s.value_entry_no, s.reason_code) for s in report.skipped] == [(ve, "invalid_combination")]
    assert "no interim posting rule" in report.skipped[0].reason


def test_rules_for_returns_expected_and_actual_rules():
    rs = rules_for("Purchase", "Direct Cost", "", "", True, True)
    assert (rs.expected.code, rs.actual.code) == ("P1", "P2")
    assert rs.expected.part is Part.EXPECTED and rs.expected.interim
    rs = rules_for("", "Direct Cost", "", "Assembly", False, False)
    assert (rs.expected, rs.actual.code) == (None, "K1")
    rs = rules_for("Output", "Variance", "Manufacturing Overhead", "", False, False)
    assert rs.actual.code == "O10"
