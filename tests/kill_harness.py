"""Reusable helpers for the crash-safety and concurrency suites.

    from kill_harness import kill_iterations, run_and_kill, build_ledger, ledger_state

* ``run_and_kill(argv, delay)`` starts ``argv`` (e.g. ``invrecon_argv(db, "post")``) in a
  subprocess, SIGKILLs it after ``delay`` seconds (unless it finished first) and returns a
  ``KillResult``.
* ``kill_iterations(default)`` = ``$INVRECON_KILL_ITERATIONS`` or ``default`` (small for CI; the
  full count, >= 50 per command, is run with e.g. ``INVRECON_KILL_ITERATIONS=50``).
* ``build_ledger(path, n)`` writes a standard ledger with ``n`` unposted value entries of several
  kinds (purchases with expected and actual cost, sales, adjustments, at three locations).
* ``ledger_state(path)`` is a small fingerprint of everything a write can change (counts and sums),
  to compare "before", "after" and "after a kill".
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ledger_builder import LedgerBuilder

from invrecon.ledger import open_ledger, write_transaction

TESTS_DIR = Path(__file__).parent


def kill_iterations(default: int = 5) -> int:
    value = os.environ.get("INVRECON_KILL_ITERATIONS", "").strip()
    return int(value) if value else default


def invrecon_argv(db: Path | str, *args: str) -> list[str]:
    return [sys.executable, "-m", "invrecon", "--db", str(db), *args]


def python_argv(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env.pop("INVRECON_DB", None)
    return env


@dataclass
class KillResult:
    killed: bool  # False: the process had finished before the kill
    returncode: int
    delay: float
    elapsed: float
    stdout: str
    stderr: str
    in_write: bool = False  # the process held the ledger's write lock when it was killed
    write_seconds: float = 0.0  # run_to_end with probe_db: longest stretch it held the lock


def holds_write_lock(db: Path | str) -> bool:
    """True if another process holds the ledger's write lock right now (a write transaction is
    open). Probes with BEGIN IMMEDIATE and no busy wait; releases at once."""
    import sqlite3

    conn = sqlite3.connect(str(db), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def run_to_end(argv: list[str], timeout: float = 600,
               probe_db: Path | str | None = None) -> KillResult:
    """Run ``argv`` to its end. With ``probe_db``, watch that ledger's write lock meanwhile and
    put the longest stretch it was held (seconds) in ``write_seconds``."""
    t0 = time.monotonic()
    with _Started(argv) as run:
        longest = 0.0
        held_since: float | None = None
        while probe_db is not None and run.proc.poll() is None and time.monotonic() - t0 < timeout:
            now = time.monotonic()
            if holds_write_lock(probe_db):
                held_since = now if held_since is None else held_since
                longest = max(longest, now - held_since)
            else:
                held_since = None
            time.sleep(LOCK_POLL_SECONDS)
        run.proc.wait(timeout=max(0.0, t0 + timeout - time.monotonic()))
        return run.result(False, 0.0, t0, write_seconds=longest)


def run_and_kill(argv: list[str], delay: float, timeout: float = 600,
                 probe_db: Path | str | None = None,
                 after_write_lock: bool = False) -> KillResult:
    """Start ``argv``, SIGKILL it after ``delay`` seconds; return what happened. With
    ``probe_db``, note whether the process held that ledger's write lock just before the kill.
    With ``after_write_lock``, the delay counts from the moment the process is first seen
    holding ``probe_db``'s write lock (two probes in a row), so the kill lands in or after the
    write transaction, never in the start-up. Output goes to files: a process writing a long
    report never blocks on a full pipe waiting for the kill."""
    t0 = time.monotonic()
    with _Started(argv) as run:
        start = t0
        if after_write_lock:
            assert probe_db is not None, "after_write_lock needs probe_db"
            seen = _wait_for_write_lock(run.proc, probe_db, t0 + timeout)
            start = seen if seen is not None else t0
        killed = in_write = False
        try:
            run.proc.wait(timeout=max(0.0, start + delay - time.monotonic()))
        except subprocess.TimeoutExpired:
            if probe_db is not None and Path(probe_db).exists():
                in_write = holds_write_lock(probe_db)
            os.kill(run.proc.pid, signal.SIGKILL)  # only the process we started, by its id
            killed = True
        run.proc.wait(timeout=timeout)
        return run.result(killed, delay, t0, in_write=in_write)


LOCK_POLL_SECONDS = 0.002


def _wait_for_write_lock(proc: subprocess.Popen, db: Path | str, deadline: float) -> float | None:
    """The time ``proc`` was first seen holding ``db``'s write lock on two probes in a row (one
    probe alone can report a lock for an instant that nobody holds); None if it ended first."""
    while proc.poll() is None and time.monotonic() < deadline:
        if holds_write_lock(db):
            seen = time.monotonic()
            time.sleep(LOCK_POLL_SECONDS)
            if holds_write_lock(db):
                return seen
        time.sleep(LOCK_POLL_SECONDS)
    return None


class _Started:
    """A subprocess of ``argv`` whose stdout and stderr go to temporary files."""

    def __init__(self, argv: list[str]):
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                     env=subprocess_env())

    def __enter__(self) -> _Started:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()

    def result(self, killed: bool, delay: float, t0: float, *, in_write: bool = False,
               write_seconds: float = 0.0) -> KillResult:
        elapsed = time.monotonic() - t0
        texts = []
        for fh in (self._out, self._err):
            fh.seek(0)
            texts.append(fh.read().decode("utf-8", errors="replace"))
        return KillResult(killed, self.proc.returncode, delay, elapsed, texts[0], texts[1],
                          in_write, write_seconds)


def startup_seconds() -> float:
    """How long the interpreter takes to load invrecon's CLI (kills before that test nothing)."""
    return run_to_end([sys.executable, "-m", "invrecon", "--version"]).elapsed


def random_delays(n: int, low: float, high: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


def build_ledger(path: Path, n: int, *, seed: int = 1, expected_cost_posting: bool = True,
                 automatic_cost_posting: bool = False, max_cents: int = 10**7) -> None:
    """A standard ledger with ``n`` unposted value entries (all of them postable)."""
    rng = random.Random(seed)
    db = open_ledger(path, create=True)
    b = LedgerBuilder.standard(db, expected_cost_posting=expected_cost_posting)
    db.execute("UPDATE inventory_setup SET automatic_cost_posting = ?",
               [int(automatic_cost_posting)])
    rows = []
    next_no = 1
    for i in range(n):
        kind = rng.random()
        loc = rng.choice(["", "BLUE", "RED"])
        date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        amount = rng.randint(1, max_cents)
        row = {
            "entry_no": next_no, "item_no": rng.choice(["A", "B"]), "posting_date": date,
            "entry_type": "Direct Cost", "document_no": f"D{i // 3:06d}", "location_code": loc,
            "inventory_posting_group": "RESALE", "gen_prod_posting_group": "RETAIL",
            "item_ledger_entry_no": next_no, "gen_bus_posting_group": "",
            "cost_amount_actual": 0, "cost_amount_expected": 0, "expected_cost": 0,
        }
        if kind < 0.4:
            row |= {"item_ledger_entry_type": "Purchase", "cost_amount_actual": amount}
        elif kind < 0.55 and expected_cost_posting:
            row |= {"item_ledger_entry_type": "Purchase", "cost_amount_expected": amount,
                    "expected_cost": 1}
        elif kind < 0.8:
            row |= {"item_ledger_entry_type": "Sale", "cost_amount_actual": -amount,
                    "gen_bus_posting_group": "DOMESTIC"}
        else:
            row |= {"item_ledger_entry_type": rng.choice(["Positive Adjmt.", "Negative Adjmt."]),
                    "cost_amount_actual": amount if rng.random() < 0.5 else -amount}
        rows.append(row)
        next_no += 1
    with write_transaction(db):
        db.table("value_entry").insert_all(rows, batch_size=2000)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    del b


STATE_SQL = {
    "value_entries": "SELECT count(*) FROM value_entry",
    "value_entry_amounts": "SELECT coalesce(sum(cost_amount_actual), 0) || '/' || "
                           "coalesce(sum(cost_amount_expected), 0) FROM value_entry",
    "posted": "SELECT coalesce(sum(cost_posted_to_gl), 0) || '/' || "
              "coalesce(sum(expected_cost_posted_to_gl), 0) FROM value_entry",
    "posted_entries": "SELECT count(*) FROM value_entry "
                      "WHERE cost_posted_to_gl <> 0 OR expected_cost_posted_to_gl <> 0",
    "gl_entries": "SELECT count(*) FROM gl_entry",
    "gl_sum": "SELECT coalesce(sum(amount), 0) FROM gl_entry",
    "gl_abs": "SELECT coalesce(sum(abs(amount)), 0) FROM gl_entry",
    "relations": "SELECT count(*) FROM gl_item_ledger_relation",
    "registers": "SELECT count(*) FROM gl_register",
    "item_ledger_entries": "SELECT count(*) FROM item_ledger_entry",
    "applications": "SELECT count(*) FROM item_application_entry",
    "items": "SELECT count(*) FROM item",
    "accounts": "SELECT count(*) FROM gl_account",
}


def ledger_state(path: Path | str) -> dict[str, object]:
    """Counts and sums of everything a write can change, read in one snapshot."""
    db = open_ledger(path, readonly=True)
    try:
        db.conn.execute("BEGIN")
        state = {k: db.execute(sql).fetchone()[0] for k, sql in STATE_SQL.items()}
        db.conn.execute("ROLLBACK")
    finally:
        db.close()
    return state


JOURNAL_HEADER = ("Posting Date,Entry Type,Document No.,Item No.,Location Code,Quantity,"
                  "Unit Cost,Invoice,Invoice Of,Gen. Bus. Posting Group\n")


def write_journal(path: Path, n_sets: int, *, seed: int = 1, doc_prefix: str = "J") -> Path:
    """Item journal lines that give cost adjustment work: per set, a purchase receipt (not
    invoiced), a sale from it (invoiced), and the purchase invoice at another unit cost."""
    rng = random.Random(seed)
    lines = [JOURNAL_HEADER]
    for i in range(n_sets):
        item = rng.choice(["A", "B"])
        loc = rng.choice(["", "BLUE", "RED"])
        day = f"2025-{1 + (i * 12) // max(n_sets, 1):02d}-{1 + i % 27:02d}"
        qty = rng.randint(2, 20)
        cost = f"{rng.randint(100, 9999) / 100:.2f}"  # float-ok: test data only
        new_cost = f"{rng.randint(100, 9999) / 100:.2f}"  # float-ok: test data only
        r = f"{doc_prefix}R{i:05d}"
        lines.append(f"{day},Purchase,{r},{item},{loc},{qty},{cost},No,,\n")
        lines.append(f"{day},Sale,{doc_prefix}S{i:05d},{item},{loc},{qty // 2},,Yes,,DOMESTIC\n")
        lines.append(f"{day},Purchase,{doc_prefix}I{i:05d},{item},{loc},{qty},{new_cost},Yes,{r},\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """A writing command and the ledger it starts from."""

    name: str
    base: Path  # the ledger before the command (never written; copy it)
    args: list[str]  # the command line after ``invrecon --db FILE``
    idempotent: bool  # a rerun after success changes nothing (else: rerun only from 'before')
    ok_codes: tuple[int, ...] = (0,)
    done_rerun_codes: tuple[int, ...] = (0,)  # exit codes of a rerun once the job is done

    def argv(self, db: Path) -> list[str]:
        return invrecon_argv(db, *self.args)


def copy_ledger(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def _standard(path: Path, *, expected_cost_posting: bool = False) -> Path:
    db = open_ledger(path, create=True)
    LedgerBuilder.standard(db, expected_cost_posting=expected_cost_posting)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def _must(argv: list[str]) -> None:
    proc = run_to_end(argv)
    if proc.returncode != 0:
        raise AssertionError(f"{argv}: exit {proc.returncode}: {proc.stderr}")


def prepare_job(name: str, workdir: Path, size: int, seed: int = 1) -> Job:
    """Jobs: post-per-entry, post-per-posting-group, import, journal, adjust-cost.
    ``size`` ~ the number of value entries the command writes or posts."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = workdir / f"base-{name}.db"
    if name in ("post-per-entry", "post-per-posting-group"):
        build_ledger(base, size, seed=seed)
        args = ["post"] if name == "post-per-entry" else [
            "post", "--per-posting-group", "--document-no", "PG0001"]
        return Job(name, base, args, idempotent=True)
    if name == "import":
        src = workdir / "import-source.db"
        build_ledger(src, size, seed=seed)
        _must(invrecon_argv(src, "post"))
        csv_dir = workdir / "import-csv"
        _must(invrecon_argv(src, "export", str(csv_dir)))
        _must(invrecon_argv(base, "init"))
        # a rerun after a completed import is refused ("entry no. exists"), nothing loaded
        return Job(name, base, ["import", str(csv_dir)], idempotent=True, done_rerun_codes=(1,))
    if name == "journal":
        _standard(base)
        journal = write_journal(workdir / "journal.csv", max(1, size // 3), seed=seed)
        return Job(name, base, ["journal", str(journal)], idempotent=False)
    if name == "adjust-cost":
        _standard(base)
        journal = write_journal(workdir / "journal.csv", max(1, size // 3), seed=seed)
        _must(invrecon_argv(base, "journal", str(journal)))
        db = open_ledger(base)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return Job(name, base, ["adjust-cost", "--post"], idempotent=True)
    raise ValueError(name)


JOB_NAMES = ("post-per-entry", "post-per-posting-group", "import", "journal", "adjust-cost")
