"""Deterministic ledgers and pilot helpers for the TUI tests (tests/test_tui_*.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger_builder import LedgerBuilder

from invrecon.ledger import open_ledger, write_transaction

SIZE = (140, 45)


def unposted_ledger(path: Path) -> Path:
    """A ledger whose only faults are unposted value entries (no G/L entries at all).

    Item A: purchase 1,000.00 (BLUE, 2025-01-10), sale -400.00 (BLUE, 2025-03-05),
            negative adjustment -25.50 (RED, 2025-03-20).
    Item B: purchase 2,345.67 (RED, 2025-02-14), positive adjustment 100.00 (BLUE, 2025-03-31).
    """
    db = open_ledger(path, create=True)
    with write_transaction(db):
        b = LedgerBuilder.standard(db)
        b.value_entry(item_no="A", posting_date="2025-01-10", location_code="BLUE",
                      item_ledger_entry_type="Purchase", cost_amount_actual="1000.00",
                      valued_quantity="10", invoiced_quantity="10", document_no="PR-1")
        b.value_entry(item_no="A", posting_date="2025-03-05", location_code="BLUE",
                      item_ledger_entry_type="Sale", cost_amount_actual="-400.00",
                      valued_quantity="-4", invoiced_quantity="-4", document_no="SI-1",
                      gen_bus_posting_group="DOMESTIC")
        b.value_entry(item_no="A", posting_date="2025-03-20", location_code="RED",
                      item_ledger_entry_type="Negative Adjmt.", cost_amount_actual="-25.50",
                      valued_quantity="-1", invoiced_quantity="-1", document_no="ADJ-1")
        b.value_entry(item_no="B", posting_date="2025-02-14", location_code="RED",
                      item_ledger_entry_type="Purchase", cost_amount_actual="2345.67",
                      valued_quantity="7", invoiced_quantity="7", document_no="PR-2")
        b.value_entry(item_no="B", posting_date="2025-03-31", location_code="BLUE",
                      item_ledger_entry_type="Positive Adjmt.", cost_amount_actual="100.00",
                      valued_quantity="1", invoiced_quantity="1", document_no="ADJ-2")
    db.close()
    return path


def ledger_with_skip(path: Path) -> Path:
    """The unposted ledger plus one entry whose inventory posting setup is missing (posting
    group NOSETUP), which a posting run must skip with missing_inventory_posting_setup."""
    unposted_ledger(path)
    db = open_ledger(path)
    with write_transaction(db):
        b = LedgerBuilder(db)
        b.value_entry(item_no="B", posting_date="2025-03-15", location_code="BLUE",
                      item_ledger_entry_type="Purchase", cost_amount_actual="77.00",
                      valued_quantity="1", invoiced_quantity="1", document_no="PR-9",
                      inventory_posting_group="NOSETUP")
    db.close()
    return path


def big_unposted_ledger(path: Path, n: int) -> Path:
    """``n`` unposted purchase value entries for item A (1.00 .. spread over 2025), written with
    one executemany in one transaction."""
    db = open_ledger(path, create=True)
    with write_transaction(db):
        LedgerBuilder.standard(db)
        rows = [
            (i, "A", f"2025-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}", "Purchase", i, "Direct Cost",
             f"PR{i}", "BLUE" if i % 2 else "RED", "RESALE", "", "RETAIL", 100 + (i % 997),
             100_000, 100_000)
            for i in range(1, n + 1)
        ]
        db.conn.executemany(
            "INSERT INTO value_entry (entry_no, item_no, posting_date, item_ledger_entry_type,"
            " item_ledger_entry_no, entry_type, document_no, location_code,"
            " inventory_posting_group, gen_bus_posting_group, gen_prod_posting_group,"
            " cost_amount_actual, valued_quantity, invoiced_quantity)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    db.close()
    return path


def count(path: Path, sql: str) -> Any:
    db = open_ledger(path, readonly=True)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


async def settle(pilot: Any, app: Any, *, timeout: float = 60.0) -> None:
    """Wait until every worker has finished and the messages they posted are handled."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await pilot.pause()
        busy = [w for w in app.workers if not w.is_finished]
        if not busy:
            await pilot.pause()
            await pilot.pause()
            if not [w for w in app.workers if not w.is_finished]:
                return
        if loop.time() > deadline:
            raise TimeoutError(f"workers still running: {busy}")
        await asyncio.sleep(0.02)
