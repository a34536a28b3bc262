"""Pilot tests of the matrix: worker computation, filters, Show Warning, drill-down and back,
posting to a zero Difference row, export, adjust cost, and keys answered during a 100k run."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from rich.style import Style
from tui_helpers import SIZE, big_unposted_ledger, count, settle, unposted_ledger

from invrecon import reconciliation
from invrecon.tui.app import InvreconApp
from invrecon.tui.confirm_posting import ConfirmPostingScreen, ConfirmScreen
from invrecon.tui.drill_screen import DrillLinesScreen, EntriesScreen, EntryDetailScreen
from invrecon.tui.help_screen import HelpScreen
from invrecon.tui.matrix_screen import MatrixScreen


def cell(screen: MatrixScreen, row: str, col: str) -> str:
    return screen.table.get_cell(row, col).plain


def cell_style(screen: MatrixScreen, row: str, col: str) -> Style:
    return screen.table.get_cell(row, col).style


async def test_matrix_is_computed_in_a_worker_with_amounts_formatted(tmp_path, monkeypatch):
    threads: list[str] = []
    gate = threading.Event()
    gate.set()
    real = reconciliation.compute_matrix

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        assert gate.wait(30)  # lets the test hold a computation to see the "computing" state
        return real(*args, **kwargs)

    monkeypatch.setattr(reconciliation, "compute_matrix", recording)
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        assert threads and all(t != threading.main_thread().name for t in threads)
        assert s.table.row_keys == list(reconciliation.ROW_KEYS)
        assert s.table.column_keys == ["name", *reconciliation.COLUMN_KEYS]
        assert s.table.fixed_columns == 1
        assert s.table.cursor_type == "cell"
        assert cell(s, "direct_cost_applied", "inventory") == "-3,345.67"
        assert cell(s, "direct_cost_applied", "difference") == "3,345.67"
        assert cell(s, "cogs", "total") == "400.00"
        assert cell(s, "total", "inventory") == "3,020.17"
        assert cell(s, "difference", "inventory") == "-3,020.17"
        assert cell(s, "overhead_applied", "inventory") == ""  # zero is blank
        assert cell(s, "gl_total", "inventory") == ""
        assert s.table.get_cell("cogs", "total").justify == "right"
        # Total / G/L Total / Difference bold, non-zero differences in the error colour
        total_style = s.table.get_component_rich_style("matrix--total", partial=True)
        diff_style = s.table.get_component_rich_style("matrix--difference", partial=True)
        assert total_style.bold and diff_style.color is not None
        assert cell_style(s, "cogs", "difference").color == diff_style.color
        assert cell_style(s, "difference", "inventory").color == diff_style.color
        assert cell_style(s, "cogs", "total").bold
        assert cell_style(s, "total", "inventory").bold
        assert cell_style(s, "cogs", "inventory").color is None
        # the computing state is visible while the worker runs; the UI still answers keys
        gate.clear()
        await pilot.press("ctrl+r")
        assert s.computing is True
        assert "Computing…" in str(s.query_one("#matrix-status").render())
        assert s.query_one("#matrix-pane").has_class("-computing")
        await pilot.press("down")
        assert s.table.cursor_keys() == ("wip_to_interim", "inventory")
        gate.set()
        await settle(pilot, app)
        assert s.computing is False
        assert s.compute_count == 2


async def test_filters_change_the_numbers(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        assert cell(s, "total", "inventory") == "3,020.17"
        await pilot.press("slash", "tab", "tab", "B", "enter")
        await settle(pilot, app)
        assert s.filters.item == "B"
        assert cell(s, "total", "inventory") == "2,445.67"
        assert cell(s, "cogs", "total") == ""
        await pilot.press("slash", "tab", "tab", "backspace", "tab", *"RED", "enter")
        await settle(pilot, app)
        assert cell(s, "total", "inventory") == "2,320.17"
        await pilot.press("slash", *"2025-03", "tab", *"2025-03", "tab", "tab", "backspace",
                          "backspace", "backspace", "enter")
        await settle(pilot, app)
        assert str(s.filters.date_from) == "2025-03-01" and str(s.filters.date_to) == "2025-03-31"
        assert cell(s, "total", "inventory") == "-325.50"
        assert cell(s, "cogs", "total") == "400.00"
        assert "Dates: 2025-03-01 .. 2025-03-31" in str(s.query_one("#matrix-status").render())


async def test_w_adds_and_removes_the_warning_column(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        s.table.move_to("cogs", "difference")
        await pilot.pause()
        assert "warning" not in s.table.column_keys
        assert "Warning:" not in str(s.query_one("#explain-text").render())
        await pilot.press("w")
        await settle(pilot, app)
        assert s.show_warning is True
        assert s.table.column_keys[-1] == "warning"
        assert cell(s, "cogs", "warning") == "Post Cost to G/L"
        assert cell(s, "overhead_applied", "warning") == ""
        assert s.table.cursor_keys() == ("cogs", "difference")  # cursor kept
        text = str(s.query_one("#explain-text").render())
        assert "Warning: Post Cost to G/L" in text
        assert "COGS / Difference: -400.00" in text
        assert [c.title for c in s.explanation.causes] == ["Cost not yet posted to G/L (actual)"]
        await pilot.press("w")
        await settle(pilot, app)
        assert s.show_warning is False
        assert "warning" not in s.table.column_keys


async def test_enter_drills_down_and_escape_returns_to_the_same_cell(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        s.table.move_to("direct_cost_applied", "total")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        lines = app.screen
        assert isinstance(lines, DrillLinesScreen)
        assert lines.POSITION == "Matrix › Direct Cost Applied / Total"
        assert [(ln.type, ln.no, ln.amount) for ln in lines.lines] == [
            ("item", "A", -100000), ("item", "B", -234567)]
        assert lines.table.row_count == 3  # two items + Total
        await pilot.press("down", "right")  # → drills like Enter
        await settle(pilot, app)
        entries = app.screen
        assert isinstance(entries, EntriesScreen)
        assert entries.POSITION == "Matrix › Direct Cost Applied / Total › item B"
        assert entries.range_label == "rows 1–1 of 1"
        assert [r["entry_no"] for r in entries.page.rows] == [4]
        await pilot.press("enter")
        await settle(pilot, app)
        detail = app.screen
        assert isinstance(detail, EntryDetailScreen)
        assert detail.POSITION.endswith("› value entry 4")
        assert detail.detail["entry"]["document_no"] == "PR-2"
        assert detail.linked == []
        await pilot.press("left")
        assert app.screen is entries
        await pilot.press("escape")
        assert app.screen is lines
        assert lines.table.cursor_row == 1  # where we were
        await pilot.press("escape")
        assert app.screen is s
        assert s.table.cursor_keys() == ("direct_cost_applied", "total")


async def test_cause_in_the_explanation_drills_to_its_entries(tmp_path: Path) -> None:
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        s.table.move_to("difference", "inventory")
        await pilot.pause()
        causes = s.explanation.causes
        assert [(c.title, c.amount) for c in causes] == [
            ("Cost not yet posted to G/L (actual)", -302017)]
        await pilot.press("tab")
        assert app.focused.id == "causes"
        await pilot.press("enter")
        await settle(pilot, app)
        entries = app.screen
        assert isinstance(entries, EntriesScreen)
        assert entries.cause == causes[0].cause
        assert entries.page.total_count == 5
        assert sum(r["amount"] for r in entries.page.rows) == -302017
        await pilot.press("escape")
        assert app.screen is s


async def test_entries_are_paged_from_sql(tmp_path: Path) -> None:
    app = InvreconApp(big_unposted_ledger(tmp_path / "l.db", 1200))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        s.table.move_to("total", "inventory")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("down", "enter")  # the Total line: all entries of the cell
        await settle(pilot, app)
        entries = app.screen
        assert isinstance(entries, EntriesScreen)
        assert entries.range_label == "rows 1–500 of 1,200"
        assert entries.table.row_count == 500
        assert "rows 1–500 of 1,200" in str(entries.query_one("#drill-status").render())
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        assert entries.range_label == "rows 501–1,000 of 1,200"
        assert entries.page.rows[0]["entry_no"] == 501
        await pilot.press("right_square_bracket")
        await settle(pilot, app)
        assert entries.range_label == "rows 1,001–1,200 of 1,200"
        await pilot.press("right_square_bracket")  # past the end: stays
        await settle(pilot, app)
        assert entries.range_label == "rows 1,001–1,200 of 1,200"
        await pilot.press("left_square_bracket")
        await settle(pilot, app)
        assert entries.range_label == "rows 501–1,000 of 1,200"


async def test_posting_run_makes_the_difference_row_zero(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        s = app.screen
        assert cell(s, "difference", "inventory") == "-3,020.17"
        before = s.compute_count
        await pilot.press("p")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmPostingScreen)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is s
        assert s.compute_count == before + 1  # refreshed at the end
        for t in reconciliation.ACCOUNT_TYPES:
            assert s.matrix.amount(*reconciliation.difference_cell(t)) == 0, t
        for col in ("inventory", "inventory_interim", "wip_inventory"):
            assert cell(s, "difference", col) == ""
        assert cell(s, "gl_total", "inventory") == "3,020.17"
        assert "Posted 5 value entries, 10 G/L entries (G/L register 1); 0 skipped." in (
            s.log_panel.lines)
        assert any(n.title == "Posting run finished" for n in app._notifications)
    assert count(path, "SELECT count(*) FROM gl_entry") == 10


async def test_export_writes_the_matrix_as_csv(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    app = InvreconApp(unposted_ledger(tmp_path / "l.db"), export_dir=out)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await settle(pilot, app)
        await pilot.pause(0.3)
        files = list(out.glob("invrecon-matrix-*.csv"))
        assert len(files) == 1 and app.exports == files
        assert any("Exported 17 rows to" in n.message for n in app._notifications)
    lines = files[0].read_text().splitlines()
    assert lines[0] == ("Name,Inventory,Inventory (Interim),WIP Inventory,Total,G/L Total,"
                        "Difference,Warning")
    assert len(lines) == 18
    assert "Direct Cost Applied,-3345.67,,0.00,-3345.67,0.00,3345.67," in lines
    assert "COGS,400.00,,,400.00,0.00,-400.00," in lines
    assert "Difference,-3020.17,0.00,0.00,,,," in lines


async def test_adjust_cost_runs_then_recomputes(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        before = s.compute_count
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is s
        assert s.adjusting is False
        last = s.log_panel.lines[-1]
        assert re.match(r"Adjust cost: \d+ adjustment value entries for \d+ items", last), last
        assert s.compute_count == before + 1


async def test_the_ui_answers_keys_while_a_100k_posting_run_is_in_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from invrecon import posting

    path = big_unposted_ledger(tmp_path / "big.db", 100_000)
    # The engine really processes the 100k entries while the keys below are pressed; its last
    # write step waits for this gate, so the run is certainly still in progress when Esc is
    # pressed, however fast the machine (the Esc below opens the gate).
    gate = threading.Event()
    real_assign = posting._assign_posted_fields

    def gated_assign(*args, **kwargs):
        gate.wait(120)
        return real_assign(*args, **kwargs)

    monkeypatch.setattr(posting, "_assign_posted_fields", gated_assign)
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app, timeout=120)
        s = app.screen
        await pilot.press("p")
        assert isinstance(app.screen, ConfirmPostingScreen)
        await pilot.press("enter")  # confirm at once (the preview is cancelled)
        await pilot.pause()
        assert s.posting is True
        workers = [w for w in app.workers if w.group == "posting"]
        assert len(workers) == 1 and workers[0].is_running
        # keys are answered while the worker runs
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert workers[0].is_running
        await pilot.press("escape")
        assert app.screen is s
        await pilot.press("p")  # disabled while running
        await pilot.pause()
        assert app.screen is s
        assert s.check_action("post", ()) is None
        s.table.move_to("cogs", "total")
        await pilot.press("down")
        assert s.table.cursor_keys() == ("purchase_variance", "total")
        assert workers[0].is_running
        # Esc cancels: nothing is posted
        await pilot.press("escape")
        gate.set()
        await settle(pilot, app, timeout=120)
        assert s.posting is False
        assert s.log_panel.lines[-1] == "Posting run cancelled: nothing was posted."
    assert count(path, "SELECT count(*) FROM gl_entry") == 0
    assert count(path, "SELECT count(*) FROM value_entry WHERE cost_posted_to_gl <> 0") == 0


@pytest.mark.parametrize("fname", ["app.tcss"])
def test_styles_use_theme_variables_only(fname: str) -> None:
    css = (Path(__file__).parent.parent / "invrecon" / "tui" / fname).read_text()
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b(?![-\w])", re.sub(r"#[a-z][\w-]*", "", css))
    assert "rgb(" not in css and "hsl(" not in css
    for prop in re.findall(r"\b(?:color|background|border[\w-]*):\s*([^;]+);", css):
        words = [w for w in prop.split() if not w.startswith("$") and not w.endswith("%")]
        assert all(w in ("round", "tall", "thick", "none", "solid") for w in words), prop


async def test_user_text_is_never_parsed_as_markup(tmp_path: Path) -> None:
    from ledger_builder import LedgerBuilder

    from invrecon.ledger import open_ledger, write_transaction

    path = tmp_path / "l.db"
    db = open_ledger(path, create=True)
    with write_transaction(db):
        b = LedgerBuilder.standard(db, items=("[bold]X", "Y[/]"))
        b.item("[bold]X", description="Pallet [red]big[/]", inventory_posting_group="RESALE",
               gen_prod_posting_group="RETAIL")
        b.value_entry(item_no="[bold]X", cost_amount_actual="10.00", document_no="[b]D")
        b.value_entry(item_no="Y[/]", cost_amount_actual="5.00")
    db.close()
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        s = app.screen
        assert cell(s, "total", "inventory") == "15.00"
        s.table.move_to("direct_cost_applied", "total")
        await pilot.press("enter")
        await settle(pilot, app)
        lines = app.screen
        assert lines.table.get_cell("0", "no").plain == "Y[/]"
        assert lines.table.get_cell("1", "no").plain == "[bold]X"
        assert lines.table.get_cell("1", "description").plain == "Pallet [red]big[/]"
        await pilot.press("down", "enter")
        await settle(pilot, app)
        entries = app.screen
        assert entries.POSITION.endswith("› item [bold]X")
        assert "[b]D" in [c.plain for c in entries.table.get_row_at(0)]
        await pilot.press("escape", "escape")
        await pilot.press("slash", "tab", "tab", *"Y[/]", "enter")
        await settle(pilot, app)
        assert s.filters.item == "Y[/]"
        assert cell(s, "total", "inventory") == "5.00"
        assert "Item: Y[/]" in str(s.query_one("#matrix-status").render())


async def test_per_account_view_and_its_gl_entries(tmp_path: Path) -> None:
    from invrecon.tui.drill_screen import PerAccountScreen

    path = unposted_ledger(tmp_path / "l.db")
    app = InvreconApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        await settle(pilot, app)
        await pilot.press("enter")  # post everything first, so the G/L has entries
        await settle(pilot, app)
        await pilot.press("v")
        await settle(pilot, app)
        view = app.screen
        assert isinstance(view, PerAccountScreen)
        got = {a.account_no: (a.projected, a.actual, a.difference) for a in view.accounts
               if a.projected or a.actual}
        assert got == {"2130": (302017, 302017, 0), "7180": (-7450, -7450, 0),
                       "7190": (40000, 40000, 0), "7290": (-334567, -334567, 0)}
        index = [a.account_no for a in view.accounts].index("2130")
        view.table.move_cursor(row=index)
        await pilot.press("enter")
        await settle(pilot, app)
        entries = app.screen
        assert isinstance(entries, EntriesScreen)
        assert entries.page.kind == "gl_entry"
        assert entries.range_label == "rows 1–5 of 5"  # one inventory line per value entry
        assert sum(r["amount"] for r in entries.page.rows) == 302017


def test_adjust_summary_reads_a_spilled_report_without_copying_it(monkeypatch) -> None:
    """A 10M run makes 1.47M adjustment entries; the summary counts and sums them a chunk at a
    time (a list of them all took hundreds of MB)."""
    import tracemalloc

    from invrecon import cost_adjustment
    from invrecon.cost_adjustment import AdjustmentEntry, AdjustResult
    from invrecon.tui.matrix_screen import adjust_summary

    monkeypatch.setattr(cost_adjustment, "_REPORT_CHUNK", 1_000)
    result = AdjustResult(items_adjusted=["A"])
    for n in range(60_000):
        result.entries.append(AdjustmentEntry(n + 1, "A", n + 1, "Direct Cost", "2024-01-31",
                                              n % 7 - 3, 0, n + 1))
    tracemalloc.start()
    try:
        text = adjust_summary(result)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    net = sum(n % 7 - 3 for n in range(60_000))
    assert text.startswith(f"60,000 adjustment value entries for 1 items (net {net / 100:,.2f})")
    assert peak < 2_000_000, peak  # a copy of all 60,000 entries is ~10 MB
