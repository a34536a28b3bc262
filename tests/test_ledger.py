from __future__ import annotations

import sqlite3

import pytest

from invrecon.errors import LedgerFileError
from invrecon.ledger import open_ledger, write_transaction
from invrecon.schema import LEDGER_TABLES


def test_new_ledger_has_every_table_strict_with_foreign_keys(db):
    names = set(db.table_names())
    assert set(LEDGER_TABLES) <= names
    for t in LEDGER_TABLES:
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [t]).fetchone()[0]
        assert "STRICT" in sql, t
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM inventory_setup").fetchone()[0] == 1


def test_strict_rejects_text_in_money_column(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO gl_entry (entry_no, posting_date, amount) VALUES (1, '2025-01-01', '1.5')")


def test_foreign_key_to_missing_account_is_refused(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, amount) VALUES (1, 'NOPE', '2025-01-01', 1)")


def test_write_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError):
        with write_transaction(db):
            db.execute("INSERT INTO gl_account (no) VALUES ('1')")
            raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM gl_account").fetchone()[0] == 0


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"hello world, not a database at all", "not an SQLite database"),
    ],
)
def test_foreign_files_are_refused(tmp_path, content, message):
    p = tmp_path / "x.db"
    p.write_bytes(content)
    with pytest.raises(LedgerFileError, match=message):
        open_ledger(p)
    assert p.read_bytes() == content


def test_other_applications_database_is_refused(tmp_path):
    p = tmp_path / "other.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = p.read_bytes()
    with pytest.raises(LedgerFileError, match="another application"):
        open_ledger(p)
    assert p.read_bytes() == before


def test_newer_schema_is_refused(db_path, db):
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('invrecon', '9999_future', 'x')"
    )
    db.close()
    with pytest.raises(LedgerFileError, match="newer invrecon"):
        open_ledger(db_path)


def test_missing_file_is_not_created(tmp_path):
    p = tmp_path / "missing.db"
    with pytest.raises(LedgerFileError, match="no such ledger"):
        open_ledger(p)
    assert not p.exists()
