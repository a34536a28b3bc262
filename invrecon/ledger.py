"""Opening the ledger file: checks, connection settings and the write transaction.

Every connection gets: foreign keys ON, WAL journal, synchronous NORMAL, a busy timeout.
Every write goes through ``write_transaction`` (BEGIN IMMEDIATE ... COMMIT): all or nothing.
A thread worker opens its own connection with ``open_ledger``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from invrecon import schema
from invrecon.errors import (
    TOO_LARGE,
    InvreconError,
    LedgerBusyError,
    LedgerFileError,
    is_int64_overflow,
)

SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_MS = 5000


def default_db_path() -> Path:
    return Path(os.environ.get("INVRECON_DB") or "sample.db")


def _connect(path: Path, *, readonly: bool, busy_timeout_ms: int) -> Database:
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        if not os.access(path.parent, os.W_OK) and not Path(f"{path}-wal").exists():
            # Read-only media/directory: SQLite cannot create the -shm file a WAL ledger needs,
            # and nobody can be writing the file, so open it as immutable.
            uri += "&immutable=1"
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None,
            timeout=busy_timeout_ms / 1000, check_same_thread=False,
        )
    else:
        conn = sqlite3.connect(
            str(path), isolation_level=None, timeout=busy_timeout_ms / 1000,
            check_same_thread=False,
        )
    db = Database(conn, execute_plugins=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if not readonly:
        db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
    db.execute("PRAGMA temp_store = FILE")  # big sorts (GROUP BY, index builds) spill to disk: bounded memory
    return db


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise LedgerFileError(f"{path}: is a directory, not an invrecon ledger") from None
    except PermissionError:
        raise LedgerFileError(f"{path}: cannot be read (permission denied)") from None
    if not head:
        raise LedgerFileError(
            f"{path}: the file is empty, not an invrecon ledger "
            f"(create one with 'invrecon --db {path} init')"
        )
    if head != SQLITE_MAGIC:
        raise LedgerFileError(f"{path}: not an SQLite database, so not an invrecon ledger")


def _check_is_ledger(db: Database, path: Path) -> None:
    try:
        tables = set(db.table_names())
    except sqlite3.DatabaseError as exc:
        raise LedgerFileError(f"{path}: unreadable SQLite file ({exc})") from None
    if "invrecon_meta" not in tables and _interrupted_creation(db):
        raise LedgerFileError(
            f"{path}: an unfinished invrecon ledger (its creation was interrupted); any writing "
            "command completes it, or remove the file"
        )
    if "invrecon_meta" not in tables or "_sqlite_migrations" not in tables:
        raise LedgerFileError(
            f"{path}: an SQLite database of another application, not an invrecon ledger"
        )
    applied = {
        r["name"]
        for r in db.query(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
            [schema.MIGRATION_SET],
        )
    }
    unknown = applied - schema.known_migrations()
    if unknown:
        raise LedgerFileError(
            f"{path}: written by a newer invrecon (schema {', '.join(sorted(unknown))}); "
            "upgrade invrecon to open it"
        )


def open_ledger(
    path: str | os.PathLike[str] | None = None,
    *,
    readonly: bool = False,
    create: bool = False,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> Database:
    """Open (or with ``create=True`` create) an invrecon ledger.

    Raises ``LedgerFileError`` with a one-line message for a missing, empty, foreign, newer or
    unreadable file. A file that does not exist is created only with ``create=True``.
    """
    p = Path(path) if path is not None else default_db_path()
    exists = p.exists()
    if not exists and not create:
        raise LedgerFileError(
            f"{p}: no such ledger file (create one with 'invrecon --db {p} init' "
            f"or 'invrecon --db {p} sample')"
        )
    if exists:
        if p.is_dir():
            raise LedgerFileError(f"{p}: is a directory, not an invrecon ledger")
        if p.stat().st_size > 0 or not create:
            _check_header(p)
    fresh_empty = create and exists and p.stat().st_size == 0
    if not readonly and exists and not os.access(p, os.W_OK):
        raise LedgerFileError(f"{p}: the ledger file is read-only; nothing was written")
    try:
        db = _connect(p, readonly=readonly, busy_timeout_ms=busy_timeout_ms)
    except sqlite3.OperationalError as exc:
        raise LedgerFileError(f"{p}: cannot open ({exc})") from None
    try:
        fresh = create and (not exists or p.stat().st_size == 0)
        if fresh or (not readonly and _interrupted_creation(db)):
            _initialise(db, p)
        else:
            _check_is_ledger(db, p)
            pending = schema.migrations.pending(db)
            if pending and not readonly:
                with _busy_as_error(p):
                    schema.migrations.apply(db)
    except BaseException:
        db.close()
        if create and (not exists or fresh_empty):
            _undo_create(p, remove=not exists)
        raise
    return db


def _undo_create(p: Path, *, remove: bool) -> None:
    """A failed create (e.g. disk full) must not leave a half-made ledger behind."""
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(f"{p}{suffix}").unlink()
    with contextlib.suppress(OSError):
        if remove:
            p.unlink()
        else:
            os.truncate(p, 0)


def _interrupted_creation(db: Database) -> bool:
    """invrecon stamped the file (application_id) but was stopped (killed) before its first
    migration committed: no table but sqlite-utils' migration record."""
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = set(db.table_names())
    except sqlite3.DatabaseError:
        return False
    return app_id == schema.APPLICATION_ID and tables <= {"_sqlite_migrations"}


def _initialise(db: Database, path: Path) -> None:
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        schema.migrations.apply(db)
    except sqlite3.OperationalError as exc:
        raise LedgerFileError(f"{path}: cannot create the ledger ({exc})") from None


@contextlib.contextmanager
def _busy_as_error(path: Path | str) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            raise LedgerBusyError(
                f"{path}: the ledger is busy with another write (posting, import or adjustment); "
                "try again when it has finished"
            ) from None
        if "disk is full" in msg or "disk I/O" in msg:
            raise LedgerFileError(f"{path}: {msg}; nothing was written") from None
        if "readonly" in msg or "read-only" in msg:
            raise LedgerFileError(f"{path}: the ledger is read-only; nothing was written") from None
        raise


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (including KeyboardInterrupt).

    Takes the write lock up front, so a second writer waits for the busy timeout and then gets
    ``LedgerBusyError`` instead of failing half-way.
    """
    path = db_path(db)
    conn = db.conn
    if conn.in_transaction:
        raise RuntimeError("write_transaction does not nest")
    with _busy_as_error(path):
        conn.execute("BEGIN IMMEDIATE")
    try:
        with _busy_as_error(path):  # disk full / read-only mid-transaction: a clear message
            yield db
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if is_int64_overflow(exc):
            raise InvreconError(f"{path}: {TOO_LARGE}; nothing was written") from None
        raise
    else:
        try:
            with _busy_as_error(path):
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def db_path(db: Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row else "?"


@contextlib.contextmanager
def read_snapshot(db: Database) -> Iterator[Database]:
    """Run several reads on one consistent snapshot (BEGIN ... ROLLBACK).

    In WAL mode a deferred transaction pins the snapshot at its first read, so a writer that
    commits meanwhile is invisible until the block ends. Inside an open transaction it does
    nothing (that transaction already is the snapshot).
    """
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN")
    try:
        yield db
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def snapshot_reader(func):
    """Decorator: the function (whose first argument is the Database) reads one snapshot."""
    import functools

    @functools.wraps(func)
    def wrapper(db: Database, *args, **kwargs):
        with read_snapshot(db):
            return func(db, *args, **kwargs)

    return wrapper
