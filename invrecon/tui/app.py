"""The invrecon terminal app: one main screen (filters, matrix, explanation, log) and a stack of
drill-down screens on top. See README "The terminal app" for the keys.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.events import DeliveryComplete, DeliveryFailed
from textual.screen import Screen

from invrecon import __version__


class InvreconApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "invrecon"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="help",
                tooltip="Every key of this screen"),
        Binding("f1", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit", tooltip="Quit invrecon"),
    ]

    def __init__(self, db_path: str | Path, *, read_only: bool = False,
                 export_dir: str | Path | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.read_only = read_only
        self.export_dir = Path(export_dir) if export_dir is not None else None
        self.exports: list[Path] = []
        self.sub_title = self.db_path.name + (" (read-only)" if read_only else "")

    def get_default_screen(self) -> Screen:
        from invrecon.tui.matrix_screen import MatrixScreen

        return MatrixScreen()

    # -- help and palette ------------------------------------------------------------------------
    def action_help(self) -> None:
        from invrecon.tui.help_screen import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        area = getattr(screen, "PALETTE_AREA", "screen")
        for binding in getattr(screen, "palette_bindings", lambda: [])():
            state = screen.check_action(binding.action, ())
            if state is False or state is None:
                continue
            yield SystemCommand(f"{area.capitalize()}: {binding.description}",
                                binding.tooltip or binding.description,
                                partial(screen.run_action, binding.action))
        yield SystemCommand("Help: keys", "Every key of this screen", self.action_help)
        yield SystemCommand("About", f"invrecon {__version__}",
                            lambda: self.notify(f"invrecon {__version__}; ledger {self.db_path}", markup=False))
        yield from super().get_system_commands(screen)

    # -- export ----------------------------------------------------------------------------------
    def deliver_csv(self, text: str, filename: str, *, count: int) -> None:
        """Save CSV text via App.deliver_text (a browser download under `textual serve`)."""
        self._pending_export_rows = count
        self.deliver_text(io.StringIO(text), save_directory=self.export_dir,
                          save_filename=filename, mime_type="text/csv", name="invrecon-export")

    @on(DeliveryComplete)
    def _delivered(self, event: DeliveryComplete) -> None:
        if event.name != "invrecon-export":
            return
        rows = getattr(self, "_pending_export_rows", 0)
        if event.path is not None:
            self.exports.append(event.path)
            self.notify(f"Exported {rows:,} rows to {event.path}", title="Export", markup=False)
        else:
            self.notify(f"Exported {rows:,} rows (download started)", title="Export", markup=False)

    @on(DeliveryFailed)
    def _delivery_failed(self, event: DeliveryFailed) -> None:
        if event.name == "invrecon-export":
            self.notify(f"Export failed: {event.exception}", title="Export", severity="error", markup=False)


def run(db_path: str | Path, *, read_only: bool = False) -> int:
    app = InvreconApp(db_path, read_only=read_only)
    app.run()
    return app.return_code or 0
