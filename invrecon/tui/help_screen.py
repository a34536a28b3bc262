"""Help (`?` / F1): every key of the screen it was opened from, and the app-wide keys.

Built from the screen's and the app's ``Binding`` declarations (plus the table keys each screen
lists in ``HELP_KEYS``), so the help can never drift from the keys that actually work.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

KEY_NAMES = {
    "escape": "Esc", "slash": "/", "question_mark": "?", "enter": "Enter",
    "right_square_bracket": "]", "left_square_bracket": "[", "left": "←", "right": "→",
    "up": "↑", "down": "↓", "pageup": "PgUp", "pagedown": "PgDn", "space": "Space",
    "tab": "Tab",
}


def key_name(key: str) -> str:
    """'ctrl+r' -> 'Ctrl+R', 'escape' -> 'Esc', 'f1' -> 'F1'."""
    parts = key.split("+")
    out = []
    for part in parts[:-1]:
        out.append(part.capitalize())
    last = parts[-1]
    if last in KEY_NAMES:
        out.append(KEY_NAMES[last])
    elif len(last) == 1 and parts[:-1]:
        out.append(last.upper())
    elif len(last) > 1 and last[0] == "f" and last[1:].isdigit():
        out.append(last.upper())
    else:
        out.append(last)
    return "+".join(out)


def binding_rows(app: Any, bindings: list[Any]) -> list[tuple[str, str]]:
    """[(keys, description)] with every key of one action on one line ("? / F1")."""
    by_action: dict[str, tuple[list[str], str]] = {}
    for b in bindings:
        if not isinstance(b, Binding):
            continue
        for key in b.key.split(","):
            display = key_name(key.strip())
            desc = b.tooltip or b.description or b.action
            keys, old_desc = by_action.setdefault(b.action, ([], desc))
            if display not in keys:
                keys.append(display)
            if len(desc) > len(old_desc):
                by_action[b.action] = (keys, desc)
    return [(" / ".join(keys), desc) for keys, desc in by_action.values()]


def help_rows(app: Any, screen: Screen) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    title = getattr(screen, "POSITION", "") or "This screen"
    rows = binding_rows(app, list(type(screen).BINDINGS))
    rows.extend(getattr(screen, "HELP_KEYS", ()))
    sections[title] = rows
    sections["Everywhere"] = binding_rows(app, list(type(app).BINDINGS)) + [
        ("Ctrl+p", "command palette: every action of the screen by name"),
    ]
    return sections


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close help"),
        Binding("question_mark", "close", "Close help", show=False),
        Binding("f1", "close", "Close help", show=False),
        Binding("q", "close", "Close help", show=False),
    ]
    PALETTE_AREA = "help"

    def __init__(self, screen: Screen) -> None:
        super().__init__(id="help")
        self.for_screen = screen
        self.sections = help_rows(screen.app, screen)

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False, expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        for title, rows in self.sections.items():
            table.add_row(Text(title, style="underline"), Text(""))
            for keys, desc in rows:
                table.add_row(Text(keys), Text(desc))
            table.add_row(Text(""), Text(""))
        with VerticalScroll(id="help-dialog"):
            yield Static(table, id="help-keys")

    def on_mount(self) -> None:
        dialog = self.query_one("#help-dialog")
        dialog.border_title = "Keys"
        dialog.border_subtitle = "Esc closes"

    @property
    def keys_text(self) -> str:
        return "\n".join(f"{k}\t{d}" for rows in self.sections.values() for k, d in rows)

    def action_close(self) -> None:
        self.dismiss(None)
