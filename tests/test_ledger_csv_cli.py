"""``invrecon import DIR`` / ``invrecon export DIR`` end to end (subprocess, real files)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from test_ledger_csv import DATA, read_dir, rich_ledger, snapshot, write_csv

from invrecon.ledger import open_ledger


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "INVRECON_DB"}
    return subprocess.run([sys.executable, "-m", "invrecon", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_export_import_into_new_file_export_round_trip(tmp_path):
    src = tmp_path / "src.db"
    db = open_ledger(src, create=True)
    rich_ledger(db)
    before = snapshot(db)
    db.close()
    r = run("--db", str(src), "export", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"exported 91 rows from {src} to {tmp_path / 'one'} (17 files)")
    new = tmp_path / "new.db"
    r = run("--db", str(new), "import", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(f"imported 91 rows into {new}: gl_accounts.csv 20, items.csv 6,")
    db2 = open_ledger(new, readonly=True)
    assert snapshot(db2) == before
    db2.close()
    r = run("--db", str(new), "export", str(tmp_path / "two"))
    assert r.returncode == 0, r.stderr
    assert read_dir(tmp_path / "one") == read_dir(tmp_path / "two")


def test_import_error_lists_every_problem_and_leaves_no_new_file(tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [
        ["Entry No.", "Item No.", "Posting Date", "Entry Type", "Cost Amount (Actual)"],
        ["1", "", "2025-02-30", "Direct Cost", "1.005"],
        ["2", "", "2025-01-01", "Direct Cost", "=1+1"],
    ])
    new = tmp_path / "new.db"
    r = run("--db", str(new), "import", str(d))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "invrecon: error: value_entries.csv:2: Posting Date: '2025-02-30' is not a valid calendar "
        "date (and 2 more problems; nothing was imported)",
        "  value_entries.csv:2: Posting Date: '2025-02-30' is not a valid calendar date",
        "  value_entries.csv:2: Cost Amount (Actual): amount 1.005 has more than 2 decimals",
        "  value_entries.csv:3: Cost Amount (Actual): amount '=1+1' is not a plain decimal number",
    ]
    assert not new.exists()
    assert not Path(f"{new}-wal").exists()


def test_import_error_into_existing_ledger_changes_nothing(builder, db_path, tmp_path):
    builder.value_entry()
    builder.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = snapshot(builder.db)
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [["Entry No.", "Posting Date", "Entry Type"],
                                       ["2", "2025-01-01", "Direct Cost"],
                                       ["1", "2025-01-01", "Direct Cost"]])
    r = run("--db", str(db_path), "import", str(d))
    assert r.returncode == 1
    assert r.stderr == ("invrecon: error: value_entries.csv:3: Entry No.: entry no. 1 already "
                        "exists in the ledger (nothing was imported)\n")
    assert snapshot(builder.db) == before


def test_import_refuses_a_file_that_is_not_a_ledger(tmp_path):
    d = tmp_path / "in"
    write_csv(d, "locations.csv", [["Code"], ["X"]])
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    r = run("--db", str(text), "import", str(d))
    assert r.returncode == 1
    assert r.stderr == f"invrecon: error: {text}: not an SQLite database, so not an invrecon ledger\n"
    assert text.read_text() == "not a database\n"
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    data = other.read_bytes()
    r = run("--db", str(other), "import", str(d))
    assert r.returncode == 1
    assert "an SQLite database of another application, not an invrecon ledger" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    assert other.read_bytes() == data
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    r = run("--db", str(empty), "import", str(d))
    assert r.returncode == 1
    assert "the file is empty, not an invrecon ledger" in r.stderr
    assert empty.read_bytes() == b""


def test_import_missing_directory(tmp_path):
    r = run("--db", str(tmp_path / "x.db"), "import", str(tmp_path / "nope"))
    assert r.returncode == 1
    assert r.stderr == f"invrecon: error: {tmp_path / 'nope'}: no such directory\n"
    assert not (tmp_path / "x.db").exists()


def test_ignored_columns_are_listed_once_on_stderr(builder, db_path):
    r = run("--db", str(db_path), "import", str(DATA / "bc_export"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        "invrecon: value_entries.csv: ignored columns (BC fields invrecon does not use): Variant "
        "Code, Global Dimension 1 Code, Job No., Sales Amount (Actual), Cost Amount (Actual) (ACY), "
        "User ID",
        "invrecon: gl_entries.csv: ignored columns (BC fields invrecon does not use): Debit Amount, "
        "Credit Amount, Gen. Posting Type, User ID",
    ]
    assert r.stdout == f"imported 5 rows into {db_path}: value_entries.csv 3, gl_entries.csv 2\n"


def test_export_refuses_non_empty_directory_unless_forced(builder, db_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run("--db", str(db_path), "export", str(out))
    assert r.returncode == 1
    assert r.stderr == (f"invrecon: error: {out}: not empty; choose an empty or new directory, or "
                        "add --force to replace the ledger CSV files in it\n")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    r = run("--db", str(db_path), "export", "--force", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "keep.txt").read_text() == "mine"
    assert (out / "value_entries.csv").exists()
    r = run("--db", str(db_path), "export", str(tmp_path / "a" / "b"))
    assert r.returncode == 0
    assert len(list((tmp_path / "a" / "b").iterdir())) == 17
    file_target = tmp_path / "file"
    file_target.write_text("x")
    r = run("--db", str(db_path), "export", str(file_target))
    assert r.returncode == 1
    assert r.stderr == f"invrecon: error: {file_target}: exists and is not a directory\n"


def test_export_of_a_missing_ledger(tmp_path):
    r = run("--db", str(tmp_path / "none.db"), "export", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "no such ledger file" in r.stderr
    assert not (tmp_path / "out").exists()


def test_help():
    r = run("import", "--help")
    assert r.returncode == 0 and "DIR" in r.stdout and "value_entries.csv" in r.stdout
    r = run("export", "--help")
    assert r.returncode == 0 and "--force" in r.stdout
