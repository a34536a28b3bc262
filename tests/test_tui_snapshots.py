"""Snapshot tests (pytest-textual-snapshot) of the app at a fixed terminal size on fixed ledgers.

Update after a deliberate change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and review the SVGs in tests/__snapshots__/.
"""

from __future__ import annotations

from pathlib import Path

from tui_helpers import SIZE, ledger_with_skip, settle, unposted_ledger

from invrecon.tui.app import InvreconApp


def _app(path: Path) -> InvreconApp:
    return InvreconApp(path)


async def _ready(pilot) -> None:
    await settle(pilot, pilot.app)


def test_main_screen(snap_compare, tmp_path: Path) -> None:
    app = _app(unposted_ledger(tmp_path / "ledger.db"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_main_screen_with_warnings(snap_compare, tmp_path: Path) -> None:
    app = _app(unposted_ledger(tmp_path / "ledger.db"))

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        pilot.app.screen.table.move_to("cogs", "difference")
        await pilot.press("w")
        await settle(pilot, pilot.app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_drill_down(snap_compare, tmp_path: Path) -> None:
    app = _app(unposted_ledger(tmp_path / "ledger.db"))

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        pilot.app.screen.table.move_to("direct_cost_applied", "total")
        await pilot.press("enter")
        await settle(pilot, pilot.app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_drill_down_entries(snap_compare, tmp_path: Path) -> None:
    app = _app(unposted_ledger(tmp_path / "ledger.db"))

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        pilot.app.screen.table.move_to("difference", "inventory")
        await pilot.press("enter")
        await settle(pilot, pilot.app)
        await pilot.press("down", "down", "down", "enter")  # Total: all G/L... / entries
        await settle(pilot, pilot.app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_confirm_posting_dialog(snap_compare, tmp_path: Path) -> None:
    app = _app(ledger_with_skip(tmp_path / "ledger.db"))

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        await pilot.press("p")
        await settle(pilot, pilot.app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_log_after_a_posting_run(snap_compare, tmp_path: Path) -> None:
    app = _app(ledger_with_skip(tmp_path / "ledger.db"))

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        await pilot.press("p")
        await settle(pilot, pilot.app)
        await pilot.press("enter")
        await settle(pilot, pilot.app)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, tmp_path: Path) -> None:
    app = _app(unposted_ledger(tmp_path / "ledger.db"))
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready, press=["question_mark"])
