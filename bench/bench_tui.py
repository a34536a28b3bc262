"""Time from start to a painted matrix in the terminal app.

    .venv/bin/python bench/bench_tui.py --db sample.db            # headless + real terminal
    .venv/bin/python bench/bench_tui.py --db /tmp/tui1m.db --runs 3

* headless: ``App.run_test`` at 140x45, from constructing the app until the matrix worker's result
  is in the table and the screen has refreshed (no process start-up);
* tmux (if installed): a new ``invrecon --db PATH`` process in a private tmux server, from
  spawning it until the matrix rows are on the screen (``capture-pane``), i.e. including Python
  start-up and imports, as a user sees it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def headless_once(db: Path) -> tuple[float, float, float]:
    from invrecon.tui.app import InvreconApp

    t0 = time.perf_counter()
    app = InvreconApp(db, read_only=True)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        while getattr(screen, "matrix", None) is None and screen.matrix_error is None:
            await asyncio.sleep(0.005)
            screen = app.screen
        await pilot.pause()
        painted = time.perf_counter() - t0
        while screen.compute_count < 1 and screen.matrix_error is None:
            await asyncio.sleep(0.005)
        await pilot.pause()
        explained = time.perf_counter() - t0
        if screen.matrix_error:
            raise SystemExit(f"matrix failed: {screen.matrix_error}")
        # a recompute (ctrl+r) on the warm app
        t1 = time.perf_counter()
        await pilot.press("ctrl+r")
        while screen.computing:
            await asyncio.sleep(0.005)
        await pilot.pause()
        recompute = time.perf_counter() - t1
    return painted, explained, recompute


def tmux_once(db: Path) -> tuple[float, float]:
    sock = f"bench-tui-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    script = Path(sys.executable).parent / "invrecon"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "invrecon"]
    line = " ".join(shlex.quote(c) for c in [*cmd, "--db", str(db), "tui", "--read-only"])

    def tmux(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", "bench", "-x", "160", "-y", "50", line)
    painted = None
    try:
        while True:
            screen = tmux("capture-pane", "-p", "-t", "bench").stdout
            if painted is None and "Mfg. Overhead Variance" in screen and (
                    "Computing" not in screen):
                painted = time.perf_counter() - t0
            if painted is not None and "Explaining" not in screen:
                return painted, time.perf_counter() - t0
            if time.perf_counter() - t0 > 900:
                raise SystemExit("no matrix after 900 s:\n" + screen)
            time.sleep(0.02)
    finally:
        tmux("kill-server")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=ROOT / "sample.db")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from invrecon.ledger import open_ledger

    db = open_ledger(args.db, readonly=True)
    n = db.execute("SELECT count(*) FROM value_entry").fetchone()[0]
    db.close()
    print(f"{args.db}: {n:,} value entries; {os.cpu_count()} CPUs; runs={args.runs}")
    painted, explained, recompute = [], [], []
    for _ in range(args.runs):
        p, e, r = asyncio.run(headless_once(args.db))
        painted.append(p)
        explained.append(e)
        recompute.append(r)

    def fmt(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.3f}s (runs: {', '.join(f'{x:.3f}' for x in xs)})"

    print(f"headless start -> painted matrix (amounts): {fmt(painted)}")
    print(f"headless start -> explanations/warnings painted: {fmt(explained)}")
    print(f"headless ctrl+r -> amounts repainted: {fmt(recompute)}")
    if shutil.which("tmux"):
        real = [tmux_once(args.db) for _ in range(args.runs)]
        print(f"tmux process start -> painted matrix (amounts): {fmt([a for a, _ in real])}")
        print(f"tmux process start -> explanations painted: {fmt([b for _, b in real])}")


if __name__ == "__main__":
    main()
