"""On the synthetic sample ledger the matrix shows the planted faults, each explained by the
right cause, and nothing is left unexplained."""

from __future__ import annotations

import pytest

from invrecon.drilldown import drill_entries
from invrecon.ledger import open_ledger
from invrecon.reconciliation import ACCOUNT_TYPES, compute_matrix, difference_cell

sample = pytest.importorskip("invrecon.sample")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    sample.generate_sample(path, value_entries=1500)
    db = open_ledger(path, readonly=True)
    yield db
    db.close()


def test_sample_faults_are_explained(sample_db):
    db = sample_db
    m = compute_matrix(db, show_warning=True)
    all_causes = {(t, c.cause): c.amount for t in ACCOUNT_TYPES
                  for c in m.causes(*difference_cell(t))}
    assert not any(cause == "unexplained" for _, cause in all_causes)
    # Manual postings: the opening stock on 2130 and the damaged-helmets write-down.
    assert all_causes[("inventory", "unlinked_gl")] == 1_234_567 - 15_000
    assert all_causes[("inventory_adjmt", "unlinked_gl")] == 15_000
    # Year-end 2024 close: closing-date entries on the P&L rows.
    assert all_causes[("cogs", "closing_entries")] != 0
    # Entries the posting run skipped (planted faults) wait: cost not yet posted.
    faults = sample.fault_entries(db)
    waiting = {r["entry_no"] for r in drill_entries(db, "difference", "inventory",
                                                    cause="not_posted_actual",
                                                    limit=100000).rows}
    planted = {n for name, nos in faults.items() if name != "dimension_conflict" for n in nos
               if db.execute("SELECT cost_amount_actual FROM value_entry WHERE entry_no = ?",
                             [n]).fetchone()[0]}
    assert planted and planted <= waiting
    # Dimension conflicts are posted (with the entry's own dimensions), so they do not wait.
    assert not set(faults["dimension_conflict"]) & waiting
    codes = {w.code for w in m.warnings}
    assert {"post_cost_to_gl", "direct_posting", "closed_fiscal_year",
            "setup_missing_account"} <= codes
    for t in ACCOUNT_TYPES:
        r, c = difference_cell(t)
        assert sum(x.amount for x in m.causes(r, c)) == m.amount(r, c)


def test_sample_2025_without_closing_entries(sample_db):
    from invrecon.filters import LedgerFilter

    m = compute_matrix(sample_db, LedgerFilter.from_text("2025", "2025", include_closing=False))
    causes = {c.cause for t in ACCOUNT_TYPES for c in m.causes(*difference_cell(t))}
    assert "closing_entries" not in causes and "unexplained" not in causes
