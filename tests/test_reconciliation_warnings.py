"""Show Warning: each warning's trigger and non-trigger, raised per cell on its own evidence."""

from __future__ import annotations

from ledger_builder import LedgerBuilder

from invrecon.filters import LedgerFilter
from invrecon.posting import PostingRequest, post_inventory_cost
from invrecon.reconciliation import compute_matrix

INV = "inventory"


def codes(m) -> dict[str, list[tuple[str, str]]]:
    return {w.code: w.cells for w in m.warnings}


def clean(db, builder):
    builder.value_entry(cost_amount_actual="100")
    builder.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-40")
    post_inventory_cost(db, PostingRequest())
    return LedgerBuilder(db)


def test_no_warnings_on_a_clean_ledger(db, builder):
    clean(db, builder)
    m = compute_matrix(db, show_warning=True)
    assert m.warnings == [] and all(r.warning is None for r in m.rows)
    assert compute_matrix(db).warnings == []  # Show Warning off: none computed


def test_post_cost_to_gl_only_on_the_cells_it_affects(db, builder):
    b = clean(db, builder)
    b.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-5")
    m = compute_matrix(db, show_warning=True)
    assert codes(m) == {"post_cost_to_gl": [("difference", INV), ("cogs", "difference")]}
    assert m.row("cogs").warning.title == "Post Cost to G/L"
    assert m.row("direct_cost_applied").warning is None
    assert "invrecon post" in m.warnings[0].detail


def test_expected_cost_setup(db, builder):
    builder.value_entry(cost_amount_expected="10", expected_cost=1)
    m = compute_matrix(db, show_warning=True)
    c = codes(m)
    assert c["expected_cost_setup"] == [("difference", "inventory_interim"),
                                        ("invt_accrual_interim", "difference")]
    assert "post_cost_to_gl" not in c
    assert "setup_expected_cost_posting_off" in c
    db.execute("UPDATE inventory_setup SET expected_cost_posting_to_gl = 1")
    c = codes(compute_matrix(db, show_warning=True))
    assert "expected_cost_setup" not in c and "post_cost_to_gl" in c
    assert "setup_expected_cost_posting_off" not in c


def test_direct_posting(db, builder):
    b = clean(db, builder)
    b.gl_entry("2130", "1")
    m = compute_matrix(db, show_warning=True)
    assert codes(m) == {"direct_posting": [("difference", INV)]}
    assert m.row("difference").warning.code == "direct_posting"


def test_closed_fiscal_year(db, builder):
    builder.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-10",
                        posting_date="2024-03-01")
    b = LedgerBuilder(db)
    post_inventory_cost(db, PostingRequest())
    b = LedgerBuilder(db)
    db.execute("INSERT INTO accounting_period VALUES ('2024-01-01', 1, 1), ('2025-01-01', 1, 0)")
    b.gl_entry("7190", "-10", posting_date="2024-12-31", closing=1)
    m = compute_matrix(db, show_warning=True)
    w = next(w for w in m.warnings if w.code == "closed_fiscal_year")
    assert w.cells == [("cogs", "difference")] and "C2024-12-31" in w.detail
    assert "closed_fiscal_year" not in codes(compute_matrix(
        db, LedgerFilter.from_text("2024", "2024"), show_warning=True))
    assert codes(compute_matrix(db, LedgerFilter(include_closing=False), show_warning=True)) == {}


def test_deleted_accounts(db, builder):
    clean(db, builder)
    db.execute("UPDATE gl_entry SET gl_account_no = NULL WHERE gl_account_no = '7190'")
    c = codes(compute_matrix(db, show_warning=True))
    assert c["deleted_accounts"] == [("cogs", "difference")]


def test_deleted_accounts_unlinked_entries_still_warn(db, builder):
    b = clean(db, builder)
    b.gl_entry(None, "3")
    c = codes(compute_matrix(db, show_warning=True))
    assert c == {"deleted_accounts": []}


def test_posting_date(db, builder):
    builder.value_entry(cost_amount_actual="100", posting_date="2025-01-31")
    post_inventory_cost(db, PostingRequest())
    db.execute("UPDATE gl_entry SET posting_date = '2025-02-01'")
    m = compute_matrix(db, LedgerFilter.from_text("2025-01", "2025-01"), show_warning=True)
    assert codes(m) == {"posting_date": [("difference", INV), ("direct_cost_applied", "difference")]}
    assert codes(compute_matrix(db, show_warning=True)) == {}


def test_posting_group_when_setup_changed(db, builder):
    clean(db, builder)
    builder.account("7199", "COGS new")
    db.execute("UPDATE general_posting_setup SET cogs_account = '7199'")
    c = codes(compute_matrix(db, show_warning=True))
    assert c == {"posting_group": [("cogs", "difference")]}


def test_similar_accounts_and_setup_shared_account(db, builder):
    db.execute("UPDATE general_posting_setup SET purchase_variance_account = '7180'")
    builder.value_entry(entry_type="Variance", variance_type="Purchase", cost_amount_actual="-5")
    post_inventory_cost(db, PostingRequest())
    c = codes(compute_matrix(db, show_warning=True))
    assert c["setup_shared_account"] == [("inventory_adjmt", "gl_total"),
                                         ("purchase_variance", "gl_total")]
    assert c["similar_accounts"] == [("inventory_adjmt", "difference")]


def test_costs_not_adjusted(db, builder):
    clean(db, builder)
    assert "costs_not_adjusted" not in codes(compute_matrix(db, show_warning=True))
    db.execute("UPDATE item SET cost_is_adjusted = 0 WHERE no = 'B'")
    m = compute_matrix(db, show_warning=True)
    w = next(w for w in m.warnings if w.code == "costs_not_adjusted")
    assert "(B)" in w.detail and w.cells == [("total", INV)]
    assert "costs_not_adjusted" not in codes(compute_matrix(db, LedgerFilter(item="A"),
                                                            show_warning=True))
    db.execute("UPDATE item SET cost_is_adjusted = 1")
    db.execute("INSERT INTO item_ledger_entry (entry_no, item_no, posting_date, entry_type, "
               "applied_entry_to_adjust) VALUES (1, 'A', '2025-01-15', 'Purchase', 1)")
    assert "costs_not_adjusted" in codes(compute_matrix(db, show_warning=True))
    assert "costs_not_adjusted" not in codes(compute_matrix(
        db, LedgerFilter.from_text("2025-02", "2025-02"), show_warning=True))


def test_setup_direct_posting(db, builder):
    clean(db, builder)
    db.execute("UPDATE gl_account SET direct_posting = 1 WHERE no IN ('2130', '7190')")
    c = codes(compute_matrix(db, show_warning=True))
    assert c == {"setup_direct_posting": [("gl_total", INV)]}  # COGS is not an inventory account


def test_setup_missing_account(db, builder):
    builder.value_entry(location_code="GREEN", cost_amount_actual="1")
    db.execute("UPDATE general_posting_setup SET cogs_account = ''")
    builder.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-1")
    c = codes(compute_matrix(db, show_warning=True))
    assert c["setup_missing_account"] == [("difference", INV), ("cogs", "difference")]
    w = next(w for w in compute_matrix(db, show_warning=True).warnings
             if w.code == "setup_missing_account")
    assert "location 'GREEN'" in w.detail and "blank account" in w.detail


def test_unexplained_difference_warning(db, builder):
    builder.value_entry(cost_amount_actual="1", cost_posted_to_gl="1")
    c = codes(compute_matrix(db, show_warning=True))
    assert c == {"unexplained_difference": [("difference", INV), ("direct_cost_applied", "difference")]}


def test_each_cell_gets_its_own_reason(db, builder):
    """BC would label every differing cell with one reason; here each has its own."""
    b = clean(db, builder)
    b.value_entry(item_ledger_entry_type="Sale", cost_amount_actual="-5")   # COGS + Inventory
    b.gl_entry("7290", "2")                                                 # DCA only
    m = compute_matrix(db, show_warning=True)
    assert m.row("cogs").warning.code == "post_cost_to_gl"
    assert m.row("direct_cost_applied").warning.code == "direct_posting"
    js = m.to_json()
    assert {w["code"] for w in js["warnings"]} == {"post_cost_to_gl", "direct_posting"}
    row = next(r for r in js["rows"] if r["key"] == "direct_cost_applied")
    assert set(row["warning"]) == {"code", "title", "detail"}
