"""Kill test: ``invrecon post`` on a large ledger is SIGKILLed at random moments. After each
kill the ledger is either untouched or completely posted, and a rerun finishes the job.

Iterations: ``INVRECON_KILL_ITERATIONS`` (default 5, a small number to keep CI fast); ledger size:
``INVRECON_KILL_ENTRIES`` (default 20,000 value entries).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_builder import LedgerBuilder

from invrecon.integrity import check_ledger
from invrecon.ledger import open_ledger

N_ENTRIES = int(os.environ.get("INVRECON_KILL_ENTRIES", "20000"))
ITERATIONS = int(os.environ.get("INVRECON_KILL_ITERATIONS", "5"))

pytestmark = pytest.mark.slow


def build_large_ledger(path: Path, n: int) -> None:
    db = open_ledger(path, create=True)
    LedgerBuilder.standard(db, items=("A", "B", "C", "D"))
    combos = [("Purchase", "Direct Cost", 1), ("Sale", "Direct Cost", -1),
              ("Positive Adjmt.", "Direct Cost", 1), ("Purchase", "Revaluation", 1)]
    rows = []
    for i in range(1, n + 1):
        ile, et, sign = combos[i % len(combos)]
        rows.append((i, "ABCD"[i % 4], f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}", ile, i, et,
                     f"DOC{i // 3}", ("", "BLUE", "RED")[i % 3], "RESALE", ("", "DOMESTIC")[i % 2],
                     "RETAIL", sign * (100 + i % 9973)))
    with db.conn:
        db.conn.executemany(
            "INSERT INTO value_entry (entry_no, item_no, posting_date, item_ledger_entry_type, "
            "item_ledger_entry_no, entry_type, document_no, location_code, inventory_posting_group, "
            "gen_bus_posting_group, gen_prod_posting_group, cost_amount_actual) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def state(path: Path) -> tuple[int, int, int, int]:
    db = open_ledger(path, readonly=True)
    try:
        gl = db.execute("SELECT count(*) FROM gl_entry").fetchone()[0]
        rel = db.execute("SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0]
        posted = db.execute("SELECT count(*) FROM value_entry WHERE cost_posted_to_gl = cost_amount_actual"
                            ).fetchone()[0]
        regs = db.execute("SELECT count(*) FROM gl_register").fetchone()[0]
        return gl, rel, posted, regs
    finally:
        db.close()


def copy_ledger(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(dst) + suffix)
        if p.exists():
            p.unlink()
    shutil.copyfile(src, dst)


def post_cmd(path: Path, mode: str) -> list[str]:
    cmd = [sys.executable, "-m", "invrecon", "--db", str(path), "post"]
    if mode == "per-posting-group":
        cmd += ["--per-posting-group", "--document-no", "KILL"]
    return cmd


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, float]:
    d = tmp_path_factory.mktemp("kill")
    path = d / "template.db"
    build_large_ledger(path, N_ENTRIES)
    # time one full run to pick kill moments inside it
    probe = d / "probe.db"
    copy_ledger(path, probe)
    t0 = time.perf_counter()
    proc = subprocess.run(post_cmd(probe, "per-entry"), capture_output=True, text=True)
    duration = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert state(probe) == (2 * N_ENTRIES, 2 * N_ENTRIES, N_ENTRIES, 1)
    return path, duration


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_sigkill_leaves_ledger_untouched_or_completely_posted(template, tmp_path, mode):
    src, duration = template
    rng = random.Random(f"{mode}-{os.getpid()}")
    work = tmp_path / "work.db"
    outcomes = []
    for i in range(ITERATIONS):
        copy_ledger(src, work)
        proc = subprocess.Popen(post_cmd(work, mode), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.15, 0.95) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        gl, rel, posted, regs = state(work)
        if gl == 0:
            assert (rel, posted, regs) == (0, 0, 0)
            outcomes.append("untouched")
        else:
            assert posted == N_ENTRIES and regs == 1
            if mode == "per-entry":
                assert (gl, rel) == (2 * N_ENTRIES, 2 * N_ENTRIES)
            else:
                assert rel == 2 * N_ENTRIES
            outcomes.append("posted" if proc.returncode == -signal.SIGKILL else "finished")
        # a rerun finishes the job and posts nothing twice
        rerun = subprocess.run(post_cmd(work, mode), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        gl2, rel2, posted2, regs2 = state(work)
        assert posted2 == N_ENTRIES and regs2 == 1 and rel2 == 2 * N_ENTRIES
        db = open_ledger(work, readonly=True)
        try:
            assert db.execute("SELECT sum(amount) FROM gl_entry").fetchone()[0] == 0
            if i == ITERATIONS - 1:  # the full integrity check once (it reads everything)
                report = check_ledger(db, quick=True)
                assert report.ok, [f.code for f in report.findings]
        finally:
            db.close()
    print(f"{mode}: {outcomes}")
    assert "untouched" in outcomes or ITERATIONS < 3
