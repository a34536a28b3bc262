"""Pilot tests of the terminal app: keys, help, filters, posting run, test report, read-only.

Each test builds its own ledger in tmp_path and drives the real app with App.run_test.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import SIZE, count, ledger_with_skip, settle, unposted_ledger

from invrecon.tui.app import InvreconApp
from invrecon.tui.confirm_posting import ConfirmPostingScreen
from invrecon.tui.help_screen import HelpScreen
from invrecon.tui.matrix_screen import MatrixScreen
from invrecon.tui.test_report_screen import TestReportScreen

UNPOSTED = ("SELECT count(*) FROM value_entry WHERE cost_amount_actual <> cost_posted_to_gl")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invrecon", *args], capture_output=True,
                          text=True, timeout=60, env=env)


# -- opening the app ---------------------------------------------------------------------------

def test_missing_ledger_is_one_line_exit_1(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    for argv in (["--db", str(missing)], ["--db", str(missing), "tui"]):
        proc = run_cli(*argv)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("invrecon: error: ")
        assert "no such ledger file" in lines[0] and str(missing) in lines[0]
    assert not missing.exists()


def test_foreign_file_is_one_line_exit_1(tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    for path, reason in ((foreign, "another application"), (text, "not an SQLite database")):
        proc = run_cli("--db", str(path), "tui", "--read-only")
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert reason in proc.stderr


def test_default_path_comes_from_env(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "INVRECON_DB": str(tmp_path / "from-env.db")}
    proc = run_cli(env=env)
    assert proc.returncode == 1
    assert "from-env.db: no such ledger file" in proc.stderr


def test_tui_help_mentions_read_only() -> None:
    proc = run_cli("tui", "--help")
    assert proc.returncode == 0
    assert "--read-only" in proc.stdout


# -- help, palette, quit -------------------------------------------------------------------------

SPEC_KEYS = ["/", "w", "p", "t", "a", "e", "Ctrl+R", "? / F1", "Ctrl+p", "Ctrl+Q", "Enter", "Esc"]


async def test_help_lists_every_key_of_the_screen(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [k for rows in app.screen.sections.values() for k, _ in rows]
        for key in SPEC_KEYS:
            assert any(key == k or key in k.split(" / ") for k in keys), key
        await pilot.press("escape")
        assert isinstance(app.screen, MatrixScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, MatrixScreen)


async def test_palette_offers_every_action(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Matrix: Filters", "Matrix: Show Warning", "Matrix: Post",
                      "Matrix: Test report", "Matrix: Adjust cost", "Matrix: Export CSV",
                      "Matrix: Recompute", "Help: keys", "Quit"):
            assert title in titles, title
        # cancel is offered only while a run is in progress
        assert "Matrix: Cancel posting" not in titles
        # run one through the palette
        await pilot.press("ctrl+p")
        await pilot.press(*"Show Warning")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen.show_warning is True


async def test_ctrl_q_quits(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


# -- filter pane ---------------------------------------------------------------------------------

async def test_filter_pane_validates_inline_and_applies_on_enter(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.screen
        await pilot.press("slash")
        assert app.focused.id == "date-from"
        await pilot.press(*"2025-Q5")
        status = str(screen.query_one("#filter-status").render())
        assert "date from: date '2025-Q5' is not a valid YYYY-MM-DD date" in status
        assert app.focused.has_class("-invalid")
        await pilot.press("enter")  # refused: nothing applied
        assert screen.filters.date_from is None
        for _ in range(7):
            await pilot.press("backspace")
        await pilot.press(*"2025-Q1", "tab", *"2025-02")
        status = str(screen.query_one("#filter-status").render())
        assert "Dates: 2025-01-01 .. 2025-02-28" in status
        await pilot.press("tab", *"A..B..C")
        status = str(screen.query_one("#filter-status").render())
        assert "item: 'A..B..C': a range has one '..'" in status
        for _ in range(7):
            await pilot.press("backspace")
        await pilot.press(*"A|B", "tab", *"BLUE", "enter")
        await settle(pilot, app)
        assert screen.filters.date_from == dt.date(2025, 1, 1)
        assert screen.filters.date_to == dt.date(2025, 2, 28)
        assert screen.filters.item == "A|B"
        assert screen.filters.location == "BLUE"
        assert app.focused is screen.table  # Enter applies and returns to the matrix
        await pilot.press("slash", "escape")
        assert app.focused is screen.table


# -- posting run ---------------------------------------------------------------------------------

async def test_post_confirm_shows_preview_and_posts(tmp_path: Path) -> None:
    path = ledger_with_skip(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        dialog = app.screen
        assert isinstance(dialog, ConfirmPostingScreen)
        assert dialog.preview.queued == 6
        assert dialog.preview.report.posted_value_entries == 5
        assert len(dialog.preview.report.skipped) == 1
        assert count(path, "SELECT count(*) FROM gl_entry") == 0  # preview wrote nothing
        await pilot.press("y")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        assert screen.posting is False
        lines = screen.log_panel.lines
        skipped = [ln for ln in lines if ln.startswith("SKIPPED")]
        assert skipped == [
            "SKIPPED value entry 6  item B  2025-03-15  amount 77.00  "
            "[missing_inventory_posting_setup] Inventory Posting Setup is missing for Location "
            "Code 'BLUE' and Invt. Posting Group Code 'NOSETUP'; add the row to the setup"
        ]
        assert "Posted 5 value entries, 10 G/L entries (G/L register 1); 1 skipped." in lines
    assert count(path, "SELECT count(*) FROM gl_entry") == 10
    assert count(path, UNPOSTED) == 1


async def test_the_log_lists_a_bounded_number_of_skipped_entries(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """A run that skips millions of entries must not write them all into the log panel: it
    lists the first SKIPS_LISTED and counts the rest."""
    from invrecon.tui import matrix_screen

    monkeypatch.setattr(matrix_screen, "SKIPS_LISTED", 4)
    path = tmp_path / "sample.db"
    path.write_bytes((Path(__file__).parent.parent / "sample.db").read_bytes())
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        assert len(app.screen.preview.report.skipped) == 9
        await pilot.press("y")
        await settle(pilot, app)
        lines = app.screen.log_panel.lines
        assert len([ln for ln in lines if ln.startswith("SKIPPED")]) == 4
        assert ("… and 5 more skipped entries, not listed here (all of them: invrecon "
                "post-test, or post --json).") in lines
        assert any(ln.startswith("Posted 115 value entries") and ln.endswith("; 9 skipped.")
                   for ln in lines)


async def test_cancel_at_the_dialog_posts_nothing(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmPostingScreen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, MatrixScreen)
        assert app.screen.log_panel.lines[-1] == (
            "Posting run not started (cancelled at the dialog).")
    assert count(path, "SELECT count(*) FROM gl_entry") == 0
    assert count(path, UNPOSTED) == 5


async def test_per_posting_group_needs_a_document_no(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        dialog = app.screen
        await pilot.press("m")
        assert dialog.mode == "per-posting-group"
        await pilot.press("enter")  # refused: no document no.
        assert app.screen is dialog
        assert "document no. is required" in str(dialog.query_one("#confirm-error").render())
        assert app.focused.id == "document-no"
        await pilot.press(*"X" * 21, "enter")  # refused by the engine's request rules
        assert app.screen is dialog
        assert "longer than 20 characters" in str(dialog.query_one("#confirm-error").render())
        dialog.query_one("#document-no").value = ""
        await pilot.press(*"INVT-2025-03", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, MatrixScreen)
    docs = count(path, "SELECT group_concat(DISTINCT document_no) FROM gl_entry")
    assert docs == "INVT-2025-03"
    assert count(path, UNPOSTED) == 0


async def test_read_only_disables_posting_and_adjusting(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        screen = app.screen
        assert screen.check_action("post", ()) is None
        assert screen.check_action("adjust_cost", ()) is None
        await pilot.press("p")
        await pilot.press("a")
        await settle(pilot, app)
        assert app.screen is screen
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Matrix: Post" not in titles and "Matrix: Adjust cost" not in titles
        assert app.sub_title == "l.db (read-only)"
    assert count(path, "SELECT count(*) FROM gl_entry") == 0


async def test_test_report_lists_lines_and_problems(tmp_path: Path) -> None:
    path = ledger_with_skip(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("t")
        await settle(pilot, app)
        report = app.screen
        assert isinstance(report, TestReportScreen)
        assert report.problem_rows() == [[
            6, "skip", "missing_inventory_posting_setup",
            "Inventory Posting Setup is missing for Location Code 'BLUE' and Invt. Posting "
            "Group Code 'NOSETUP'; add the row to the setup"]]
        assert len(report.line_rows()) == 10
        assert sum(r[3] for r in report.line_rows()) == 0  # balanced
        assert report.query_one("#problems").row_count == 1
        assert report.query_one("#lines").row_count == 10
        await pilot.press("escape")
        assert isinstance(app.screen, MatrixScreen)
    assert count(path, "SELECT count(*) FROM gl_entry") == 0


@pytest.mark.parametrize("key", ["p", "t"])
async def test_posting_keys_open_their_screens(tmp_path: Path, key: str) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press(key)
        await settle(pilot, app)
        expected = ConfirmPostingScreen if key == "p" else TestReportScreen
        assert isinstance(app.screen, expected)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, MatrixScreen)
