"""Ledger CSV files (40-interfaces §2): ``import_ledger`` and ``export_ledger``.

Import reads the files of ``CSV_FILES`` found in a directory, in dependency order, inside ONE
``write_transaction``. Every row is validated by its pydantic model (``invrecon.models``);
foreign keys and duplicate keys are checked explicitly so that every problem of the import is
listed as ``file:row: column: problem`` (row = line number in the file, header = line 1). Rows
stream through the CSV reader and are inserted in batches; the transaction is rolled back when
any problem was found, so nothing is written unless everything is right.

Export writes every table as CSV with BC captions, streaming each table through a cursor inside
one read transaction (a consistent snapshot). ``export -> import into a new ledger -> export``
gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError
from sqlite_utils import Database

from invrecon import preaggregates
from invrecon.errors import TOO_LARGE, InputError, is_int64_overflow
from invrecon.ledger import write_transaction
from invrecon.models import MODEL_BY_FILE, ROW_MODELS, CsvRow, snake_case

CSV_FILES: dict[str, str] = {m.file_name: m.table for m in ROW_MODELS}
"""file name -> table name, in dependency (import) order."""

MAX_LINE_BYTES = 1 << 20  # one physical line; longer is refused, never read whole
MAX_FIELD_CHARS = 1 << 20
BATCH_ROWS = 5000
BULK_LOAD_BYTES = 4 << 20  # entry files this big, into an empty table, load before indexing
_FAILED_KEYS_CAP = 200_000
_BOM = b"\xef\xbb\xbf"


@dataclass
class ImportSummary:
    directory: Path
    rows: dict[str, int] = field(default_factory=dict)  # file -> rows imported
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> headers
    ignored_files: list[str] = field(default_factory=list)  # *.csv in DIR that are not ledger files

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class ExportSummary:
    directory: Path
    rows: dict[str, int] = field(default_factory=dict)  # file -> rows written

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class _StopFile(Exception):
    """A problem that makes the rest of one file unreadable (encoding, CSV syntax)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _label(text: str) -> str:
    """A header or value shown in a one-line message."""
    short = text if len(text) <= 60 else text[:57] + "..."
    return short if short.isprintable() and short.strip() == short and short else repr(short)


class _Lines:
    """Decoded physical lines (with their line ends) of a binary file, for ``csv.reader``.

    Tracks the line number and byte offset, so a bad byte is reported exactly. A UTF-8 BOM at
    the start is dropped; LF and CRLF line ends are both fine (csv handles the CR).
    """

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.line = 0
        self.offset = 0

    def __iter__(self) -> Iterator[str]:
        first = True
        while True:
            raw = self.fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.line += 1
            start = self.offset
            self.offset += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise _StopFile(self.line, f"line is longer than {MAX_LINE_BYTES} bytes")
            if first:
                first = False
                if raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                    start += len(_BOM)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start:exc.start + 1].hex()
                raise _StopFile(
                    self.line,
                    f"not UTF-8 text (byte 0x{bad} at byte offset {start + exc.start}); "
                    "save the file as CSV UTF-8",
                ) from None


class _Importer:
    def __init__(self, db: Database, directory: Path, max_problems: int):
        self.db = db
        self.conn = db.conn
        self.directory = directory
        self.max_problems = max(1, max_problems)
        self.problems: list[str] = []
        self.more = 0
        self.summary = ImportSummary(directory)
        # keys of rows that had problems (so references to them are not reported again)
        self.failed: dict[str, set[Any]] = {}
        self.unreliable: set[str] = set()  # tables whose file could not be read at all
        self._known: dict[str, set[str]] = {}

    # ---- problems

    def problem(self, file: str, line: int | None, column: str | None, message: str) -> None:
        if len(self.problems) >= self.max_problems:
            self.more += 1
            return
        where = f"{file}:{line}" if line is not None else file
        self.problems.append(f"{where}: {column}: {message}" if column else f"{where}: {message}")

    def all_problems(self) -> list[str]:
        if self.more:
            return [*self.problems, f"... and {self.more} more"]
        return list(self.problems)

    def _fail_key(self, table: str, key: Any) -> None:
        keys = self.failed.setdefault(table, set())
        if len(keys) < _FAILED_KEYS_CAP:
            keys.add(key)

    def _is_failed(self, table: str, key: Any) -> bool:
        return table in self.unreliable or key in self.failed.get(table, ())

    def _known_codes(self, table: str) -> set[str]:
        if table not in self._known:
            self._known[table] = {r[0] for r in self.conn.execute(f"SELECT no FROM {table}")}
        return self._known[table]

    # ---- one file

    def load(self, model: type[CsvRow]) -> None:
        file = model.file_name
        path = self.directory / file
        try:
            fh = path.open("rb")
        except OSError as exc:
            self.problem(file, None, None, f"cannot be read ({exc.strerror or exc})")
            self.unreliable.add(model.table)
            return
        with fh:
            lines = _Lines(fh)
            reader = csv.reader(lines, strict=True)
            indexes = self._drop_indexes_for_bulk_load(model, path)
            try:
                self._load_rows(model, reader, lines)
            except _StopFile as exc:
                self.problem(file, exc.line, None, exc.message)
                self.unreliable.add(model.table)
            except csv.Error as exc:
                line = self.record_start  # where the broken record starts
                msg = str(exc)
                if "unexpected end of data" in msg:
                    msg = "the file ends inside a quoted field (truncated file?)"
                elif "field larger than field limit" in msg:
                    msg = f"a field is longer than {MAX_FIELD_CHARS} characters"
                elif "new-line character seen in unquoted field" in msg:
                    msg = ("a line break inside an unquoted field (or lines that end with CR "
                           "only); quote the field, or save the file with CRLF or LF line ends")
                else:
                    msg = f"not valid CSV ({msg})"
                self.problem(file, line, None, msg)
                self.unreliable.add(model.table)
            for sql in indexes:  # same transaction: a rollback restores them anyway
                self.conn.execute(sql)
        if model.table in ("item", "gl_account"):
            self._known.pop(model.table, None)

    def _report(self, model: type[CsvRow], row: list[str], mapping: list[tuple[int, str]],
                line: int, exc: ValidationError) -> None:
        file = model.file_name
        for err in exc.errors(include_url=False):
            loc = err["loc"][0] if err["loc"] else None
            ctx_err = (err.get("ctx") or {}).get("error")
            msg = str(ctx_err) if ctx_err is not None else err["msg"]
            label = self.labels.get(str(loc), str(loc)) if loc is not None else None
            self.problem(file, line, _label(label) if label else None, msg)
        key = _key_of(model, row, mapping)
        if key is not None:
            self._fail_key(model.table, key)

    def _drop_indexes_for_bulk_load(self, model: type[CsvRow], path: Path) -> list[str]:
        """A big file into an empty entry table: drop its secondary indexes for the load and
        build them once afterwards (about twice as fast). Returns the CREATE INDEX statements."""
        if model.mode != "insert" or path.stat().st_size < BULK_LOAD_BYTES:
            return []
        if self.conn.execute(f"SELECT 1 FROM {model.table} LIMIT 1").fetchone():
            return []
        rows = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL", [model.table]).fetchall()
        for name, _ in rows:
            self.conn.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in rows]

    def _map_header(self, model: type[CsvRow], header: list[str]) -> list[tuple[int, str]] | None:
        file = model.file_name
        lookup: dict[str, str] = {}
        for column, caption in model.captions().items():
            lookup[caption.strip().lower()] = column
            lookup[column] = column
        ignorable = {c.strip().lower() for c in model.ignorable} | {
            snake_case(c) for c in model.ignorable
        }
        mapping: list[tuple[int, str]] = []
        seen: dict[str, int] = {}
        ignored: list[str] = []
        ok = True
        self.labels: dict[str, str] = {}
        for i, raw in enumerate(header):
            name = raw.strip()
            if not name:
                self.problem(file, 1, None, f"column {i + 1} has no header")
                ok = False
                continue
            column = lookup.get(name.lower())
            if column is None:
                if name.lower() in ignorable or snake_case(name) in ignorable:
                    ignored.append(name)
                    continue
                self.problem(file, 1, _label(name), "unknown column; the columns of "
                             f"{file} are: {', '.join(model.captions().values())}")
                ok = False
                continue
            if column in seen:
                self.problem(file, 1, _label(name),
                             f"duplicate column (column {seen[column] + 1} is the same field)")
                ok = False
                continue
            seen[column] = i
            mapping.append((i, column))
            self.labels[column] = name
        captions = model.captions()
        for column in model.required:
            if column not in seen:
                self.problem(file, 1, None, f"missing required column '{captions[column]}'")
                ok = False
        if ignored:
            self.summary.ignored_columns[file] = ignored
        return mapping if ok else None

    def _load_rows(self, model: type[CsvRow], reader: Any, lines: _Lines) -> None:
        file = model.file_name
        self.record_start = 1
        try:
            header = next(reader)
        except StopIteration:
            self.problem(file, None, None, "the file is empty (expected a header row)")
            self.unreliable.add(model.table)
            return
        mapping = self._map_header(model, header)
        if mapping is None:
            self.unreliable.add(model.table)
            return
        width = len(header)
        table = model.table
        validate = model.model_validate
        parse = model.row_parser(mapping)
        key0 = model.db_columns().index(model.key[0]) if model.key else 0
        writer = _Writer(self, model)
        fk = _ForeignKeys(self, model)
        skip_blank_rows = model.mode != "replace"  # a setup row may be all defaults
        prev = reader.line_num
        self.record_start = prev + 1
        for row in reader:
            line = prev + 1
            prev = reader.line_num
            self.record_start = prev + 1
            if not row or (skip_blank_rows and len(row) == width and not any(row)):
                continue  # blank line, or an all-blank row (spreadsheets leave them)
            if len(row) != width:
                self.problem(file, line, None,
                             f"{len(row)} fields, but the header has {width}")
                continue
            try:
                values = parse(row)
            except Exception:  # a bad cell: let the model list every problem of the row
                values = None
            if values is None:
                try:
                    values = validate({column: row[i] for i, column in mapping}).db_values()
                except ValidationError as exc:
                    self._report(model, row, mapping, line, exc)
                    continue
            if not fk.check(values, line):
                self._fail_key(table, values[key0])
                continue
            writer.add(line, values)
        writer.finish()
        self.summary.rows[file] = writer.count


def _key_of(model: type[CsvRow], row: list[str], mapping: list[tuple[int, str]]) -> Any:
    """Best-effort key of a row that failed validation, as the referencing tables hold it."""
    if not model.key:
        return None
    first = model.key[0]
    for i, column in mapping:
        if column == first:
            raw = row[i]
            if first in ("entry_no", "gl_entry_no") or model.table in ("gl_register",):
                try:
                    return int(raw.strip())
                except ValueError:
                    return None
            return raw
    return None


class _ForeignKeys:
    """Explicit checks of the references SQLite enforces, so each is reported by row."""

    def __init__(self, imp: _Importer, model: type[CsvRow]):
        self.imp = imp
        self.model = model
        self.file = model.file_name
        self.table = model.table
        columns = model.db_columns()
        self.item_idx = columns.index("item_no") if "item_no" in columns else -1
        self.account_idx = columns.index("gl_account_no") if "gl_account_no" in columns else -1

    def check(self, values: tuple[Any, ...], line: int) -> bool:
        imp = self.imp
        if self.table in ("value_entry", "item_ledger_entry", "avg_cost_adjmt_entry_point"):
            item = values[self.item_idx]
            if item is not None and item not in imp._known_codes("item"):
                if not imp._is_failed("item", item):
                    imp.problem(self.file, line, imp.labels.get("item_no", "Item No."),
                                f"item {item!r} does not exist (not in the ledger, not in items.csv)")
                return False
        elif self.table == "gl_entry":
            acc = values[self.account_idx]
            if acc is not None and acc not in imp._known_codes("gl_account"):
                if not imp._is_failed("gl_account", acc):
                    imp.problem(self.file, line, imp.labels.get("gl_account_no", "G/L Account No."),
                                f"G/L account {acc!r} does not exist "
                                "(not in the ledger, not in gl_accounts.csv)")
                return False
        return True


def _exists(conn: sqlite3.Connection, table: str, column: str, values: set[int]) -> set[int]:
    found: set[int] = set()
    vals = list(values)
    for i in range(0, len(vals), 500):
        chunk = vals[i:i + 500]
        q = f"SELECT {column} FROM {table} WHERE {column} IN ({','.join('?' * len(chunk))})"
        found.update(r[0] for r in conn.execute(q, chunk))
    return found


class _Writer:
    """Batches validated rows into the ledger inside the import's transaction."""

    def __init__(self, imp: _Importer, model: type[CsvRow]):
        self.imp = imp
        self.model = model
        self.conn = imp.conn
        self.file = model.file_name
        self.columns = model.db_columns()
        self.batch: list[tuple[int, tuple[Any, ...]]] = []
        self.key_idx = [self.columns.index(k) for k in model.key]
        self.count = 0
        self.rows_seen = 0
        cols = ", ".join(self.columns)
        marks = ", ".join("?" * len(self.columns))
        table = model.table
        if model.mode == "insert":
            self.sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
            k0 = model.key[0]
            self.pre_max = self.conn.execute(
                f"SELECT coalesce(max({k0}), 0) FROM {table}").fetchone()[0]
            self.low_keys: set[tuple[Any, ...]] = set()  # imported keys <= pre_max
        elif model.mode == "upsert":
            keys = ", ".join(model.key)
            rest = [c for c in self.columns if c not in model.key]
            update = ", ".join(f"{c} = excluded.{c}" for c in rest)
            self.sql = (f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
                        f"ON CONFLICT ({keys}) DO UPDATE SET {update}")
            self.seen: dict[tuple[Any, ...], int] = {}
        else:  # replace the one setup row
            update = ", ".join(f"{c} = excluded.{c}" for c in self.columns)
            self.sql = (f"INSERT INTO {table} (id, {cols}) VALUES (1, {marks}) "
                        f"ON CONFLICT (id) DO UPDATE SET {update}")
            self.first_line: int | None = None

    def _key_label(self) -> str:
        first = self.model.key[0]
        return self.imp.labels.get(first, self.model.captions()[first])

    def add(self, line: int, values: tuple[Any, ...]) -> None:
        model = self.model
        self.rows_seen += 1
        if model.mode == "upsert":
            key = tuple(values[i] for i in self.key_idx)
            if key in self.seen:
                shown = ", ".join(str(k) for k in key)
                self.imp.problem(self.file, line, self._key_label(),
                                 f"{shown!r} appears twice in the file (also on row {self.seen[key]})")
                return
            self.seen[key] = line
        elif model.mode == "replace":
            if self.first_line is not None:
                self.imp.problem(self.file, line, None,
                                 f"this file holds one row (the setup), but row {self.first_line} "
                                 "is already one")
                return
            self.first_line = line
        self.batch.append((line, values))
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

    def finish(self) -> None:
        self.flush()
        if self.model.mode == "replace" and self.rows_seen == 0 and \
                self.model.table not in self.imp.unreliable:
            self.imp.problem(self.file, None, None,
                             "the file has a header but no row (it must hold the one setup row)")

    def flush(self) -> None:
        if not self.batch:
            return
        batch = self.batch
        self.batch = []
        if self.model.table == "gl_item_ledger_relation":
            batch = self._check_relations(batch)
        values = [v for _, v in batch]
        conn = self.conn
        conn.execute("SAVEPOINT invrecon_import_batch")
        try:
            conn.executemany(self.sql, values)
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO invrecon_import_batch")
            conn.execute("RELEASE invrecon_import_batch")
            self._one_by_one(batch, values)
            return
        except BaseException:
            conn.execute("ROLLBACK TO invrecon_import_batch")
            conn.execute("RELEASE invrecon_import_batch")
            raise
        conn.execute("RELEASE invrecon_import_batch")
        self.count += len(values)
        if self.model.mode == "insert" and self.pre_max:
            for v in values:
                if v[self.key_idx[0]] <= self.pre_max:
                    self.low_keys.add(tuple(v[i] for i in self.key_idx))

    def _one_by_one(self, batch: list[tuple[int, tuple[Any, ...]]], values: list[tuple[Any, ...]]) -> None:
        conn = self.conn
        for line, v in batch:
            try:
                conn.execute(self.sql, v)
            except sqlite3.IntegrityError as exc:
                self._integrity_problem(line, v, exc)
                continue
            self.count += 1
            if self.model.mode == "insert" and v[self.key_idx[0]] <= self.pre_max:
                self.low_keys.add(tuple(v[i] for i in self.key_idx))

    def _integrity_problem(self, line: int, v: tuple[Any, ...],
                           exc: sqlite3.IntegrityError) -> None:
        model = self.model
        msg = str(exc)
        if self.key_idx:
            self.imp._fail_key(model.table, v[self.key_idx[0]])
        if model.mode == "insert" and ("UNIQUE" in msg or "PRIMARY KEY" in msg):
            key = tuple(v[i] for i in self.key_idx)
            if model.table == "gl_item_ledger_relation":
                what = f"the relation of G/L entry {key[0]} and value entry {key[1]}"
            elif model.table == "gl_register":
                what = f"G/L register no. {key[0]}"
            else:
                what = f"entry no. {key[0]}"
            if key[0] > self.pre_max or key in self.low_keys:
                text = f"{what} appears more than once in the file"
            else:
                text = f"{what} already exists in the ledger"
            self.imp.problem(self.file, line, self._key_label(), text)
            return
        if "FOREIGN KEY" in msg:
            text = "refers to a record that does not exist in the ledger"
        elif is_int64_overflow(exc):
            text = TOO_LARGE
        else:
            text = f"rejected by the ledger ({msg})"
        self.imp.problem(self.file, line, None, text)

    def _check_relations(self, batch: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, tuple[Any, ...]]]:
        imp = self.imp
        gl = _exists(self.conn, "gl_entry", "entry_no",
                     {v[0] for _, v in batch})
        ve = _exists(self.conn, "value_entry", "entry_no",
                     {v[1] for _, v in batch})
        kept = []
        for line, values in batch:
            ok = True
            g, v = values[0], values[1]
            if g not in gl:
                ok = False
                if not imp._is_failed("gl_entry", g):
                    imp.problem(self.file, line, imp.labels.get("gl_entry_no", "G/L Entry No."),
                                f"G/L entry {g} does not exist (not in the ledger, not in "
                                "gl_entries.csv)")
            if v not in ve:
                ok = False
                if not imp._is_failed("value_entry", v):
                    imp.problem(self.file, line,
                                imp.labels.get("value_entry_no", "Value Entry No."),
                                f"value entry {v} does not exist (not in the ledger, not in "
                                "value_entries.csv)")
            if ok:
                kept.append((line, values))
        return kept


def import_ledger(db: Database, directory: Path, *, max_problems: int = 50) -> ImportSummary:
    """Load the ledger CSV files found in ``directory`` into ``db`` in one transaction.

    Raises ``InputError`` whose ``problems`` list every problem (up to ``max_problems``, then
    "... and N more") as ``file:row: column: problem``; nothing is written then.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory")
    present = [m for m in ROW_MODELS if (directory / m.file_name).is_file()]
    ignored_files = sorted(
        p.name for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.name not in MODEL_BY_FILE
    )
    if not present:
        raise InputError(
            f"{directory}: no ledger CSV files here (expected some of: {', '.join(CSV_FILES)})"
        )
    csv.field_size_limit(MAX_FIELD_CHARS)
    imp = _Importer(db, directory, max_problems)
    imp.summary.ignored_files = ignored_files
    # Index builds after a bulk load sort in temporary files, not in memory (bounded RSS).
    temp_store = db.conn.execute("PRAGMA temp_store").fetchone()[0]
    db.conn.execute("PRAGMA temp_store = FILE")
    try:
        _import_all(db, imp, present)
    finally:
        db.conn.execute(f"PRAGMA temp_store = {int(temp_store)}")
    return imp.summary


def _worth_bulk_load(db: Database, directory: Path, present: list[type[CsvRow]]) -> bool:
    """Big entry files, compared with the entries already in the ledger: load without the
    pre-aggregate triggers and rebuild the pre-aggregates once at the end (a rebuild reads the
    whole ledger, so a small import into a big ledger keeps the incremental triggers)."""
    entry_bytes = sum((directory / m.file_name).stat().st_size for m in present
                      if m.mode == "insert")
    if entry_bytes < BULK_LOAD_BYTES:
        return False
    existing = sum(db.execute(f"SELECT coalesce(max(entry_no), 0) FROM {t}").fetchone()[0]
                   for t in ("value_entry", "gl_entry"))
    return entry_bytes // 100 * 4 >= existing  # about 100 bytes a row


def _import_all(db: Database, imp: _Importer, present: list[type[CsvRow]]) -> None:
    with write_transaction(db):
        bulk = _worth_bulk_load(db, imp.directory, present)
        with preaggregates.bulk_load(db) if bulk else contextlib.nullcontext():
            for model in present:
                imp.load(model)
            if imp.problems:
                _raise_problems(imp)


def _raise_problems(imp: _Importer) -> None:
    problems = imp.all_problems()
    count = len(imp.problems) + imp.more
    first = problems[0]
    if count > 1:
        s = "s" if count > 2 else ""
        message = f"{first} (and {count - 1} more problem{s}; nothing was imported)"
    else:
        message = f"{first} (nothing was imported)"
    raise InputError(message, problems=problems)


# --------------------------------------------------------------------------- export


def _select_sql(model: type[CsvRow]) -> str:
    cols = ", ".join(model.db_columns())
    if model.mode == "replace":
        return f"SELECT {cols} FROM {model.table} WHERE id = 1"
    return f"SELECT {cols} FROM {model.table} ORDER BY {', '.join(model.key)}"


def export_ledger(db: Database, directory: Path) -> ExportSummary:
    """Write every table of 40-interfaces §2 as ``directory/<file>.csv`` (BC captions, UTF-8,
    CRLF), streaming rows through a cursor inside one read transaction."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(directory)
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot for all files
    try:
        for model in ROW_MODELS:
            formatters = model.export_formatters()
            export_row = model.export_row
            final = directory / model.file_name
            tmp = directory / (model.file_name + ".tmp")
            count = 0
            try:
                with tmp.open("w", encoding="utf-8", newline="") as fh:
                    writer = csv.writer(fh, lineterminator="\r\n")
                    writer.writerow(model.captions().values())
                    cursor = conn.execute(_select_sql(model))
                    while True:
                        chunk = cursor.fetchmany(BATCH_ROWS)
                        if not chunk:
                            break
                        writer.writerows(export_row(formatters, r) for r in chunk)
                        count += len(chunk)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    tmp.unlink()
            summary.rows[model.file_name] = count
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")
    return summary
