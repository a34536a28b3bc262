"""Real-terminal smoke test: the installed ``invrecon`` runs in tmux, keys are sent with
``send-keys`` and the screen is read with ``capture-pane``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tui_helpers import count, unposted_ledger

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed; the real-terminal test needs it")


def invrecon_command() -> list[str]:
    script = Path(sys.executable).parent / "invrecon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "invrecon"]


SOCKET = f"invrecon-test-{uuid.uuid4().hex[:8]}"  # a private tmux server for this test run


# pytest exports COLUMNS=80/LINES=24, which Textual would take over the real terminal size;
# the private tmux server (and the app in it) must not inherit them.
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}


def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True,
                          text=True, timeout=30, check=check, env=ENV)


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.name, *keys)
        if keys and keys[-1] == "Escape":
            # A key right after ESC would arrive as Alt+key; let the terminal settle.
            time.sleep(0.5)

    def wait_until_gone(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on the screen after {timeout}s")
            time.sleep(0.1)

    def wait_for(self, *texts: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} not on the screen after {timeout}s:\n{screen}")

    def alive(self) -> bool:
        return tmux("has-session", "-t", self.name, check=False).returncode == 0


def test_invrecon_in_a_real_terminal(tmp_path: Path) -> None:
    path = unposted_ledger(tmp_path / "ledger.db")
    name = f"invrecon-test-{uuid.uuid4().hex[:8]}"
    cmd = " ".join(shlex.quote(c) for c in [*invrecon_command(), "--db", str(path)])
    started = time.monotonic()
    tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "50", cmd)
    term = Terminal(name)
    try:
        tmux("set-option", "-t", name, "window-size", "manual", check=False)
        tmux("resize-window", "-t", name, "-x", "160", "-y", "50", check=False)
        term.wait_for("Inventory - G/L Reconciliation", "3,020.17", "-3,345.67")
        painted = time.monotonic() - started
        print(f"start to painted matrix in tmux: {painted:.2f}s")
        # help lists the keys
        term.keys("?")
        term.wait_for("Everywhere", "Toggle the Warning column", "Quit invrecon")
        term.keys("Escape")
        term.wait_until_gone("Everywhere")
        # Show Warning adds the Warning column
        term.keys("w")
        term.wait_for("Warning", "Post Cost to G/L", "Show Warning: on")
        # drill into COGS / Inventory and back
        term.keys(*["Down"] * 7)
        term.wait_for("COGS / Inventory: 400.00")
        term.keys("Enter")
        term.wait_for("Matrix  ›  COGS / Inventory", "Item A")
        term.keys("Escape")
        term.wait_until_gone("Matrix  ›  COGS / Inventory")
        term.wait_for("COGS / Inventory: 400.00", "Show Warning: on")
        # posting run: confirm dialog with the preview, then the log
        term.keys("p")
        term.wait_for("Post Inventory Cost to G/L", "Entries waiting to post", "Expected skips")
        term.keys("Enter")
        term.wait_for("Posted 5 value entries, 10 G/L entries (G/L register 1); 0 skipped.")
        # quit
        term.keys("C-q")
        deadline = time.monotonic() + 20
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not term.alive(), "ctrl+q did not quit"
    finally:
        tmux("kill-session", "-t", name, check=False)
    assert count(path, "SELECT count(*) FROM gl_entry") == 10
