"""Every command that opens the ledger refuses a file that is not a usable invrecon ledger with a
clear one-line message on stderr, exit 1, and leaves the file untouched (same bytes, no sidecar
files). Cases: an empty file, a non-SQLite file, another application's SQLite database, a ledger
from a newer schema version, a read-only file, a full disk.

Commands are taken from the live argparse tree: as the engines land (matrix, post, import,
export, journal, adjust-cost), they are exercised here automatically; ``check`` and ``init`` exist
from the start and are required.

What is proven about read-only files and full disks (tests run as root, where chmod 0444 does not
stop writes and ``os.access`` says "writable"):
- in-process, the ``os.access`` code path of ``open_ledger`` is driven by monkeypatching
  ``os.access`` -> the ledger is refused for writing with the read-only message;
- in a subprocess, the ledger sits on a tmpfs remounted read-only (``mount -t tmpfs`` +
  ``mount -o remount,ro``): the kernel itself refuses writes (EROFS, even for root), so writing
  commands must give the read-only message and reading commands must still work;
- a full disk is simulated in-process with ``PRAGMA max_page_count`` and in a subprocess with a
  tiny tmpfs filled up with a junk file.
The tmpfs tests need permission to mount (root); elsewhere they are skipped with that reason.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kill_harness import JOB_NAMES, copy_ledger, ledger_state, prepare_job

from invrecon.errors import LedgerFileError
from invrecon.ledger import open_ledger, write_transaction

# ------------------------------------------------------------------------ commands


def registered_commands() -> set[str]:
    from invrecon.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _import_dir(tmp: Path) -> Path:
    d = tmp / "csv_in"
    d.mkdir(exist_ok=True)
    (d / "value_entries.csv").write_text(
        "Entry No.,Item No.,Posting Date,Item Ledger Entry Type,Entry Type,Cost Amount (Actual)\n"
        "1000,,2025-01-15,Purchase,Direct Cost,10.00\n", encoding="utf-8")
    return d


def _journal_file(tmp: Path) -> Path:
    f = tmp / "journal.csv"
    f.write_text("Posting Date,Entry Type,Document No.,Item No.,Quantity,Unit Cost,Invoice\n"
                 "2025-01-15,Purchase,R1,A,1,10.00,Yes\n", encoding="utf-8")
    return f


# name -> (argv after --db, writes?)
COMMAND_ARGS: dict[str, tuple[Callable[[Path], list[str]], bool]] = {
    "check": (lambda t: ["check"], False),
    "matrix": (lambda t: ["matrix"], False),
    "export": (lambda t: ["export", str(t / "csv_out")], False),
    "post": (lambda t: ["post"], True),
    "import": (lambda t: ["import", str(_import_dir(t))], True),
    "journal": (lambda t: ["journal", str(_journal_file(t))], True),
    "adjust-cost": (lambda t: ["adjust-cost"], True),
    "init": (lambda t: ["init"], True),
}
REQUIRED_NOW = {"check", "init"}
AVAILABLE = sorted(set(COMMAND_ARGS) & registered_commands())


def test_the_commands_under_test_include_check_and_init():
    assert REQUIRED_NOW <= set(AVAILABLE)


def run_cli(db: Path, argv: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invrecon", "--db", str(db), *argv],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "INVRECON_DB": ""})


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sidecars(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(path.name + "-*"))


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("invrecon: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------ the foreign files


def make_empty(p: Path) -> None:
    p.write_bytes(b"")


def make_not_sqlite(p: Path) -> None:
    p.write_bytes(b"Entry No.,Amount\n1,10.00\n" * 50)


def make_other_app(p: Path) -> None:
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Cronus')")
    conn.commit()
    conn.close()


def make_newer(p: Path) -> None:
    db = open_ledger(p, create=True)
    db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
               "VALUES ('invrecon', '9999_from_the_future', '2030-01-01')")
    db.close()


FOREIGN = {
    "empty": (make_empty, "the file is empty"),
    "not_sqlite": (make_not_sqlite, "not an SQLite database"),
    "other_app": (make_other_app, "another application"),
    "newer_schema": (make_newer, "newer invrecon"),
}


@pytest.mark.parametrize("command", AVAILABLE)
@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_file_is_refused_cleanly_and_untouched(tmp_path, kind, command):
    make, message = FOREIGN[kind]
    p = tmp_path / "ledger.db"
    make(p)
    if command == "init":
        if kind == "empty":
            # 'init' on an empty file creates the ledger in it: that is what init is for.
            proc = run_cli(p, ["init"])
            assert proc.returncode == 0, proc.stderr
            assert open_ledger(p, readonly=True).execute(
                "SELECT value FROM invrecon_meta WHERE key = 'application'").fetchone()[0] == "invrecon"
            return
        message = "already exists"
    before, before_sidecars = sha(p), sidecars(p)
    argv_of, _writes = COMMAND_ARGS[command]
    proc = run_cli(p, argv_of(tmp_path))
    assert_one_line_error(proc, str(p), message)
    assert sha(p) == before, "the file was modified"
    if kind != "newer_schema":  # a WAL ledger may get its -wal/-shm while it is read
        assert sidecars(p) == before_sidecars
    assert proc.stdout == ""


# 'init' and 'import' create a missing ledger (spec 40 §1); the others must not.
@pytest.mark.parametrize("command", [c for c in AVAILABLE if c not in ("init", "import")])
def test_missing_file_is_not_created(tmp_path, command):
    p = tmp_path / "missing.db"
    argv_of, _ = COMMAND_ARGS[command]
    proc = run_cli(p, argv_of(tmp_path))
    assert_one_line_error(proc, str(p), "no such ledger file")
    assert not p.exists()


def test_directory_instead_of_file(tmp_path):
    proc = run_cli(tmp_path, ["check"])
    assert_one_line_error(proc, "is a directory")


# ------------------------------------------------------------------------ read-only, in-process


def test_read_only_file_is_refused_for_writing_via_os_access(tmp_path, monkeypatch):
    p = tmp_path / "ledger.db"
    open_ledger(p, create=True).close()
    before = sha(p)
    real_access = os.access

    def fake_access(path, mode, *a, **kw):
        if Path(path) == p and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **kw)

    monkeypatch.setattr(os, "access", fake_access)
    with pytest.raises(LedgerFileError, match="read-only; nothing was written"):
        open_ledger(p)
    db = open_ledger(p, readonly=True)  # reading is still allowed
    assert db.execute("SELECT count(*) FROM value_entry").fetchone()[0] == 0
    db.close()
    assert sha(p) == before


def test_readonly_connection_cannot_write(db_path):
    open_ledger(db_path, create=True).close()
    db = open_ledger(db_path, readonly=True)
    with pytest.raises(LedgerFileError, match="read-only"):
        with write_transaction(db):
            db.execute("INSERT INTO gl_account (no) VALUES ('1')")
    db.close()


# ------------------------------------------------------------------------ full disk, in-process


def test_full_disk_in_a_write_transaction_rolls_back_with_a_clear_error(db_path):
    db = open_ledger(db_path, create=True)
    db.execute("INSERT INTO gl_account (no) VALUES ('2130')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(LedgerFileError, match="disk is full; nothing was written"):
        with write_transaction(db):
            db.conn.executemany(
                "INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, amount, description)"
                " VALUES (?, '2130', '2025-01-01', 1, ?)",
                ((i, "x" * 200) for i in range(1, 5001)))
    assert not db.conn.in_transaction
    assert db.execute("SELECT count(*) FROM gl_entry").fetchone()[0] == 0
    db.close()


# ------------------------------------------------------------------------ tmpfs (subprocess)


@contextlib.contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def remount_ro(directory: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)


def _small_ledger(p: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from ledger_builder import LedgerBuilder

    db = open_ledger(p, create=True)
    b = LedgerBuilder.standard(db)
    for i in range(20):
        b.value_entry(cost_amount_actual=f"{i + 1}.25")
    db.close()


def test_read_only_media_writers_refused_readers_work(tmp_path):
    src = tmp_path / "src.db"
    _small_ledger(src)
    with tmpfs(tmp_path / "ro", "4m") as mnt:
        p = mnt / "ledger.db"
        p.write_bytes(src.read_bytes())
        remount_ro(mnt)
        before = sha(p)
        assert not os.access(p, os.W_OK)  # EROFS: true even for root
        for command in AVAILABLE:
            argv_of, writes = COMMAND_ARGS[command]
            proc = run_cli(p, argv_of(tmp_path))
            if command == "init":
                assert_one_line_error(proc, "already exists")
            elif writes:
                assert_one_line_error(proc, str(p), "read-only")
            else:
                assert proc.returncode == 0, (command, proc.stderr)
        assert sha(p) == before
        proc = run_cli(p, ["check"])
        assert proc.returncode == 0 and "consistent" in proc.stdout


def fill(mnt: Path, leave_bytes: int) -> None:
    free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
    with open(mnt / "junk", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))


def test_full_disk_init_leaves_no_half_made_ledger(tmp_path):
    with tmpfs(tmp_path / "mnt", "256k") as mnt:
        fill(mnt, 8192)
        p = mnt / "new.db"
        proc = run_cli(p, ["init"])
        assert_one_line_error(proc, str(p), "cannot create the ledger")
        assert not p.exists() and sidecars(p) == []
        # an empty file given to init stays empty
        p.write_bytes(b"")
        proc = run_cli(p, ["init"])
        assert proc.returncode == 1
        assert p.read_bytes() == b"" and sidecars(p) == []


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_full_disk_writer_fails_cleanly_and_leaves_the_ledger_as_it_was(tmp_path, job_name):
    # each job writes thousands of rows (kill_harness.prepare_job), far more than the space left
    job = prepare_job(job_name, tmp_path / "prep", 3000)
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        p = copy_ledger(job.base, mnt / "ledger.db")
        before, before_state = sha(p), ledger_state(p)
        fill(mnt, 100_000)
        proc = run_cli(p, job.args)
        assert_one_line_error(proc, str(p), "disk")
        (mnt / "junk").unlink()
        assert sha(p) == before
        assert ledger_state(p) == before_state
        assert run_cli(p, ["check"]).returncode == 0
