"""The matrix: every row/column of the mapping table (10-reconciliation §3.3) with a value entry
of that kind, before and after a posting run; blank cells; invariants; filters."""

from __future__ import annotations

import pytest
from ledger_builder import LedgerBuilder

from invrecon.filters import LedgerFilter
from invrecon.posting import PostingRequest, post_inventory_cost
from invrecon.reconciliation import (
    ACCOUNT_TYPES,
    COLUMN_KEYS,
    INVENTORY_TYPES,
    ROW_KEYS,
    compute_matrix,
    difference_cell,
    is_blank_by_design,
    per_account_view,
)

INV, INT, WIP = "inventory", "inventory_interim", "wip_inventory"
VARIANCES = {"Material": "material_variance", "Capacity": "capacity_variance",
             "Subcontracted": "subcontracted_variance",
             "Capacity Overhead": "cap_overhead_variance",
             "Manufacturing Overhead": "mfg_overhead_variance"}


@pytest.fixture
def eb(db) -> LedgerBuilder:
    """Standard setup with expected cost posting on."""
    return LedgerBuilder.standard(db, expected_cost_posting=True)


def item_cells(m) -> dict[tuple[str, str], int]:
    """Every non-zero item-side cell (rows 1-15 x Inventory/Interim/WIP/Total)."""
    out = {}
    for r in ROW_KEYS:
        if r in ("gl_total", "difference"):
            continue
        for c in (INV, INT, WIP, "total"):
            v = m.cell(r, c)
            if v:
                out[(r, c)] = v
    return out


def contra(row, col, amount):
    """A contra row cell and its Total column."""
    return {(row, col): amount, (row, "total"): amount}


# (id, value entry fields, expected item-side cells in cents)
A, E = 10000, 4000
CASES = [
    ("purchase-dc-expected", dict(item_ledger_entry_type="Purchase", cost_amount_expected=E,
                                  expected_cost=1),
     {("total", INT): E, **contra("invt_accrual_interim", INT, -E)}),
    ("purchase-dc-actual", dict(item_ledger_entry_type="Purchase", cost_amount_actual=A),
     {("total", INV): A, **contra("direct_cost_applied", INV, -A)}),
    ("purchase-invoice-reverses-expected", dict(item_ledger_entry_type="Purchase",
                                                cost_amount_actual=11000, cost_amount_expected=-E),
     {("total", INV): 11000, **contra("direct_cost_applied", INV, -11000), ("total", INT): -E,
      **contra("invt_accrual_interim", INT, E)}),
    ("purchase-indirect", dict(item_ledger_entry_type="Purchase", entry_type="Indirect Cost",
                               cost_amount_actual=A),
     {("total", INV): A, **contra("overhead_applied", INV, -A)}),
    ("purchase-variance", dict(item_ledger_entry_type="Purchase", entry_type="Variance",
                               variance_type="Purchase", cost_amount_actual=A),
     {("total", INV): A, **contra("purchase_variance", INV, -A)}),
    ("purchase-revaluation-actual", dict(item_ledger_entry_type="Purchase", entry_type="Revaluation",
                                         cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("purchase-revaluation-expected", dict(item_ledger_entry_type="Purchase",
                                           entry_type="Revaluation", cost_amount_expected=E),
     {("total", INT): E, **contra("invt_accrual_interim", INT, -E)}),
    ("purchase-rounding", dict(item_ledger_entry_type="Purchase", entry_type="Rounding",
                               cost_amount_actual=-1),
     {("total", INV): -1, **contra("inventory_adjmt", INV, 1)}),
    ("sale-dc-expected", dict(item_ledger_entry_type="Sale", cost_amount_expected=-E,
                              expected_cost=1),
     {("total", INT): -E, **contra("cogs_interim", INT, E)}),
    ("sale-dc-actual", dict(item_ledger_entry_type="Sale", cost_amount_actual=-A),
     {("total", INV): -A, **contra("cogs", INV, A)}),
    ("sale-revaluation-actual", dict(item_ledger_entry_type="Sale", entry_type="Revaluation",
                                     cost_amount_actual=-A),
     {("total", INV): -A, **contra("inventory_adjmt", INV, A)}),
    ("sale-revaluation-expected", dict(item_ledger_entry_type="Sale", entry_type="Revaluation",
                                       cost_amount_expected=-E),
     {("total", INT): -E, **contra("cogs_interim", INT, E)}),
    ("sale-rounding", dict(item_ledger_entry_type="Sale", entry_type="Rounding",
                           cost_amount_actual=3),
     {("total", INV): 3, **contra("inventory_adjmt", INV, -3)}),
    *[(f"{ile.lower().replace(' ', '-')}-{et.lower().replace(' ', '-')}",
       dict(item_ledger_entry_type=ile, entry_type=et, cost_amount_actual=A),
       {("total", INV): A, **contra("inventory_adjmt", INV, -A)})
      for ile in ("Positive Adjmt.", "Negative Adjmt.", "Transfer", "Assembly Consumption")
      for et in ("Direct Cost", "Revaluation", "Rounding")],
    ("positive-adjmt-expected", dict(item_ledger_entry_type="Positive Adjmt.",
                                     cost_amount_expected=E, expected_cost=1),
     {("total", INT): E, **contra("cogs_interim", INT, -E)}),
    ("consumption-dc", dict(item_ledger_entry_type="Consumption", cost_amount_actual=-A,
                            order_type="Production", order_no="PO1"),
     {("total", INV): -A, ("inventory_to_wip", INV): A, ("inventory_to_wip", WIP): -A,
      ("total", WIP): A}),
    ("consumption-revaluation", dict(item_ledger_entry_type="Consumption",
                                     entry_type="Revaluation", cost_amount_actual=-A),
     {("total", INV): -A, **contra("inventory_adjmt", INV, A)}),
    ("consumption-rounding", dict(item_ledger_entry_type="Consumption", entry_type="Rounding",
                                  cost_amount_actual=-2),
     {("total", INV): -2, **contra("inventory_adjmt", INV, 2)}),
    ("output-dc-expected", dict(item_ledger_entry_type="Output", cost_amount_expected=13000,
                                expected_cost=1, order_type="Production"),
     {("total", INT): 13000, ("wip_to_interim", INT): -13000, ("wip_to_interim", WIP): 13000,
      ("total", WIP): -13000}),
    ("output-dc-actual", dict(item_ledger_entry_type="Output", cost_amount_actual=13000,
                              order_type="Production"),
     {("total", INV): 13000, ("inventory_to_wip", INV): -13000, ("inventory_to_wip", WIP): 13000,
      ("total", WIP): -13000}),
    ("output-revaluation-expected", dict(item_ledger_entry_type="Output", entry_type="Revaluation",
                                         cost_amount_expected=E, order_type="Production"),
     {("total", INT): E, ("wip_to_interim", INT): -E, ("wip_to_interim", WIP): E,
      ("total", WIP): -E}),
    ("output-revaluation-actual", dict(item_ledger_entry_type="Output", entry_type="Revaluation",
                                       cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("output-rounding", dict(item_ledger_entry_type="Output", entry_type="Rounding",
                             cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("output-indirect", dict(item_ledger_entry_type="Output", entry_type="Indirect Cost",
                             cost_amount_actual=A),
     {("total", INV): A, **contra("overhead_applied", INV, -A)}),
    *[(f"{ile.lower().replace(' ', '-')}-variance-{vt.lower().replace(' ', '-')}",
       dict(item_ledger_entry_type=ile, entry_type="Variance", variance_type=vt,
            cost_amount_actual=-A),
       {("total", INV): -A, **contra(row, INV, A)})
      for ile in ("Output", "Assembly Output") for vt, row in VARIANCES.items()],
    ("assembly-output-dc", dict(item_ledger_entry_type="Assembly Output", cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("assembly-output-indirect", dict(item_ledger_entry_type="Assembly Output",
                                      entry_type="Indirect Cost", cost_amount_actual=A),
     {("total", INV): A, **contra("overhead_applied", INV, -A)}),
    ("assembly-output-revaluation", dict(item_ledger_entry_type="Assembly Output",
                                         entry_type="Revaluation", cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("assembly-output-rounding", dict(item_ledger_entry_type="Assembly Output",
                                      entry_type="Rounding", cost_amount_actual=A),
     {("total", INV): A, **contra("inventory_adjmt", INV, -A)}),
    ("capacity-production-direct", dict(item_ledger_entry_type="", cost_amount_actual=3000,
                                        order_type="Production", order_no="PO1",
                                        type="Work Center", no="WC1"),
     {("total", WIP): 3000, **contra("direct_cost_applied", WIP, -3000)}),
    ("capacity-production-indirect", dict(item_ledger_entry_type="", entry_type="Indirect Cost",
                                          cost_amount_actual=500, order_type="Production"),
     {("total", WIP): 500, **contra("overhead_applied", WIP, -500)}),
    ("capacity-assembly-direct", dict(item_ledger_entry_type="", cost_amount_actual=2000,
                                      order_type="Assembly", type="Resource", no="R1"),
     {**contra("inventory_adjmt", INV, 2000), **contra("direct_cost_applied", INV, -2000)}),
    ("capacity-assembly-indirect", dict(item_ledger_entry_type="", entry_type="Indirect Cost",
                                        cost_amount_actual=700, order_type="Assembly"),
     {**contra("inventory_adjmt", INV, 700), **contra("overhead_applied", INV, -700)}),
]


def _type_amount(cells, t):
    return cells.get(("total", t), 0) if t in INVENTORY_TYPES else cells.get((t, "total"), 0)


@pytest.mark.parametrize("fields,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mapping_row_before_and_after_posting(db, eb, fields, expected):
    eb.value_entry(**fields)
    m = compute_matrix(db)
    assert item_cells(m) == expected
    # Before posting: the G/L is empty, so Difference = -(item side) in every type.
    for t in ACCOUNT_TYPES:
        assert m.amount(*difference_cell(t)) == -_type_amount(expected, t), t
    assert all(i.ok for i in m.invariants), m.invariants
    report = post_inventory_cost(db, PostingRequest())
    assert not report.skipped, report.skipped
    after = compute_matrix(db)
    assert item_cells(after) == expected
    for t in ACCOUNT_TYPES:
        assert after.amount(*difference_cell(t)) == 0, (t, after.row(difference_cell(t)[0]).explanation)
        assert after.amount(*difference_cell(t).__class__(
            ("gl_total", t) if t in INVENTORY_TYPES else (t, "gl_total"))) == _type_amount(expected, t)


def test_blank_by_design_cells_are_none(builder, db):
    builder.value_entry(cost_amount_actual="10")
    m = compute_matrix(db)
    for r in ROW_KEYS:
        for c in COLUMN_KEYS:
            if is_blank_by_design(r, c):
                assert m.cell(r, c) is None and m.amount(r, c) is None
    assert m.cell("inventory_to_wip", "total") is None
    assert m.cell("cogs", "inventory_interim") is None
    assert m.cell("total", "total") is None
    assert m.cell("cogs", INV) is None          # zero shows blank
    assert m.amount("cogs", INV) == 0
    js = m.to_json()
    assert [r["key"] for r in js["rows"]] == list(ROW_KEYS)
    assert js["columns"] == list(COLUMN_KEYS)
    cogs = next(r for r in js["rows"] if r["key"] == "cogs")
    assert "inventory_interim" not in cogs["cells"] and cogs["cells"]["inventory"] is None


def test_worked_example_c_production(db, eb):
    """10-reconciliation §9.7 C: consumption, capacity, output at expected, then actual."""
    eb.value_entry(item_no="B", item_ledger_entry_type="Consumption", cost_amount_actual="-100",
                   order_type="Production", order_no="PO1", source_type="Item", source_no="A")
    eb.value_entry(item_ledger_entry_type="", cost_amount_actual="30", order_type="Production",
                   order_no="PO1")
    eb.value_entry(item_ledger_entry_type="Output", cost_amount_expected="130", expected_cost=1,
                   order_type="Production", order_no="PO1")
    eb.value_entry(item_ledger_entry_type="Output", cost_amount_expected="-130",
                   cost_amount_actual="130", order_type="Production", order_no="PO1")
    m = compute_matrix(db)
    assert m.cell("total", INV) == 3000
    assert m.cell("inventory_to_wip", INV) == -3000
    assert m.cell("inventory_to_wip", WIP) == 3000
    assert m.cell("total", WIP) is None
    assert m.cell("direct_cost_applied", WIP) == -3000
    assert m.cell("wip_to_interim", INT) is None and m.cell("total", INT) is None
    post_inventory_cost(db, PostingRequest())
    m = compute_matrix(db)
    assert m.cell("gl_total", INV) == 3000 and m.cell("direct_cost_applied", "gl_total") == -3000
    assert all(not v for v in m.difference_cells().values())


def test_worked_example_d_assembly_sign_corrected(db, builder):
    """§9.7 D: BC shows a false +40 difference on Inventory Adjmt.; invrecon shows none."""
    builder.value_entry(item_ledger_entry_type="Assembly Consumption", item_no="B",
                        cost_amount_actual="-50", order_type="Assembly")
    builder.value_entry(item_ledger_entry_type="", cost_amount_actual="20", order_type="Assembly")
    builder.value_entry(item_ledger_entry_type="Assembly Output", cost_amount_actual="70",
                        order_type="Assembly")
    m = compute_matrix(db)
    assert m.cell("inventory_adjmt", INV) is None   # 50 - 70 + 20 = 0 (BC: -40)
    assert m.cell("direct_cost_applied", INV) == -2000
    assert m.cell("total", INV) == 2000
    assert all(i.ok for i in m.invariants)
    post_inventory_cost(db, PostingRequest())
    m = compute_matrix(db)
    assert all(not v for v in m.difference_cells().values())


def test_order_type_classified_per_entry(db, builder):
    """Production and assembly capacity of the same (blank) item, day and location: BC would
    classify the whole group by the first entry's order type."""
    builder.value_entry(item_ledger_entry_type="", cost_amount_actual="30", order_type="Production")
    builder.value_entry(item_ledger_entry_type="", cost_amount_actual="20", order_type="Assembly")
    m = compute_matrix(db)
    assert m.cell("total", WIP) == 3000
    assert m.cell("direct_cost_applied", WIP) == -3000
    assert m.cell("direct_cost_applied", INV) == -2000
    assert m.cell("inventory_adjmt", INV) == 2000


def test_abnormal_combination_breaks_column_invariant(db, builder):
    builder.value_entry(item_ledger_entry_type="Sale", entry_type="Indirect Cost",
                        cost_amount_actual="5")
    m = compute_matrix(db)
    assert m.cell("total", INV) == 500
    inv = next(i for i in m.invariants if i.column == INV)
    assert not inv.ok and inv.amount == 500


def test_non_inventory_items_are_left_out_and_missing_items_kept(db, builder):
    builder.item("SVC", type="Service")
    builder.value_entry(item_no="SVC", cost_amount_actual="99")
    db.execute("PRAGMA foreign_keys = OFF")
    builder.value_entry(item_no="GONE", cost_amount_actual="7")
    db.execute("PRAGMA foreign_keys = ON")
    m = compute_matrix(db)
    assert m.cell("total", INV) == 700


def test_date_filter_period_and_as_of(db, builder):
    builder.value_entry(posting_date="2024-12-20", cost_amount_actual="100")
    builder.value_entry(posting_date="2025-01-10", cost_amount_actual="10")
    builder.value_entry(posting_date="2025-02-10", cost_amount_actual="1")
    post_inventory_cost(db, PostingRequest())
    period = compute_matrix(db, LedgerFilter.from_text("2025-01", "2025-01"))
    assert period.cell("total", INV) == 1000 and period.cell("gl_total", INV) == 1000
    as_of = compute_matrix(db, LedgerFilter.from_text(None, "2025-01-31"))
    assert as_of.cell("total", INV) == 11000 and as_of.cell("gl_total", INV) == 11000
    assert all(not v for v in as_of.difference_cells().values())


def test_closing_entries_in_range_and_no_closing(db, builder):
    builder.value_entry(posting_date="2024-06-01", item_ledger_entry_type="Sale",
                        cost_amount_actual="-100")
    post_inventory_cost(db, PostingRequest())
    b = LedgerBuilder(db)  # fresh entry counters after the posting run
    b.gl_entry("7190", "-100", posting_date="2024-12-31", closing=1)
    b.gl_entry("3000", "100", posting_date="2024-12-31", closing=1)
    # A range ending on 12-31 leaves C12-31 out; a range past it takes it in.
    assert compute_matrix(db, LedgerFilter.from_text("2024", "2024")).cell("cogs", "difference") is None
    m = compute_matrix(db, LedgerFilter.from_text("2024-01-01", "2025-01-31"))
    assert m.cell("cogs", "gl_total") is None and m.cell("cogs", "difference") == -10000
    off = compute_matrix(db, LedgerFilter.from_text("2024-01-01", "2025-01-31",
                                                    include_closing=False))
    assert off.cell("cogs", "difference") is None


def test_item_and_location_filters_attribute_the_gl_side(db, builder):
    builder.value_entry(item_no="A", location_code="BLUE", cost_amount_actual="100")
    builder.value_entry(item_no="B", location_code="RED", cost_amount_actual="40")
    builder.value_entry(item_no="A", location_code="RED", item_ledger_entry_type="Sale",
                        cost_amount_actual="-30")
    post_inventory_cost(db, PostingRequest())
    LedgerBuilder(db).gl_entry("2130", "7")  # manual: not attributable
    ma = compute_matrix(db, LedgerFilter(item="A"))
    assert ma.cell("total", INV) == 7000 and ma.cell("gl_total", INV) == 7000
    assert ma.cell("difference", INV) is None
    assert ma.cell("cogs", "gl_total") == 3000 and ma.cell("direct_cost_applied", "gl_total") == -10000
    assert ma.unattributed_gl["inventory"] == 700
    mr = compute_matrix(db, LedgerFilter(location="RED"))
    assert mr.cell("total", INV) == 1000 and mr.cell("gl_total", INV) == 1000
    assert mr.to_json()["unattributed_gl"] == {"inventory": "7.00"}
    full = compute_matrix(db)
    assert full.cell("difference", INV) == 700


def test_per_posting_group_attribution_is_exact_to_the_cent(db, builder):
    # Three entries of the same posting group; one G/L entry per account type for all of them.
    for item, amt in (("A", "33.33"), ("B", "33.34"), ("A", "0.01")):
        builder.value_entry(item_no=item, cost_amount_actual=amt)
    post_inventory_cost(db, PostingRequest(mode="per-posting-group", document_no="PG1"))
    n = db.execute("SELECT count(*) FROM gl_item_ledger_relation WHERE gl_entry_no = "
                   "(SELECT min(entry_no) FROM gl_entry)").fetchone()[0]
    assert n == 3
    a, b = compute_matrix(db, LedgerFilter(item="A")), compute_matrix(db, LedgerFilter(item="B"))
    assert a.cell("gl_total", INV) == 3334 and b.cell("gl_total", INV) == 3334
    assert a.cell("gl_total", INV) + b.cell("gl_total", INV) == compute_matrix(db).cell("gl_total", INV)
    assert a.cell("difference", INV) is None and b.cell("direct_cost_applied", "difference") is None


def test_per_posting_group_split_by_weights_when_gl_differs(db, builder):
    """A G/L entry whose amount no longer equals its value entries' total is split in proportion,
    remainders to the largest fractions, and the shares add up to the G/L amount."""
    v1 = builder.value_entry(item_no="A", cost_amount_actual="1", cost_posted_to_gl="1")
    v2 = builder.value_entry(item_no="B", cost_amount_actual="2", cost_posted_to_gl="2")
    g = builder.gl_entry("2130", "10.00")
    db.execute("INSERT INTO gl_item_ledger_relation VALUES (?,?,1),(?,?,1)", [g, v1, g, v2])
    a, b = compute_matrix(db, LedgerFilter(item="A")), compute_matrix(db, LedgerFilter(item="B"))
    assert (a.cell("gl_total", INV), b.cell("gl_total", INV)) == (333, 667)


def test_per_account_view(db, builder):
    builder.value_entry(cost_amount_actual="100")
    post_inventory_cost(db, PostingRequest())
    LedgerBuilder(db).gl_entry("7290", "-1")
    lines = {a.account_no: a for a in per_account_view(db)}
    assert lines["2130"].projected == 10000 and lines["2130"].actual == 10000
    assert lines["7290"].projected == -10000 and lines["7290"].actual == -10100
    assert lines["7290"].difference == -100
    assert lines["7290"].account_types == ("direct_cost_applied",)


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_full_posting_run_leaves_every_difference_zero(db, eb, mode):
    """A mixed ledger over all kinds, several locations and groups, then one posting run."""
    for i, (_, fields, _) in enumerate(CASES):
        eb.value_entry(**{**fields, "location_code": ("", "BLUE", "RED")[i % 3],
                          "item_no": fields.get("item_no", "AB"[i % 2]) if fields.get(
                              "item_ledger_entry_type") != "" else None,
                          "posting_date": f"2025-0{1 + i % 3}-1{i % 9}"})
    req = (PostingRequest() if mode == "per-entry"
           else PostingRequest(mode=mode, document_no="INV-1"))
    report = post_inventory_cost(db, req)
    assert not report.skipped
    for f in (LedgerFilter(), LedgerFilter.from_text("2025-02", "2025-02"),
              LedgerFilter(item="A"), LedgerFilter(location="BLUE|RED")):
        m = compute_matrix(db, f, show_warning=True)
        assert {k: v for k, v in m.difference_cells().items() if v} == {}, f
        assert all(i.ok for i in m.invariants)
        assert m.warnings == []
