"""``invrecon import DIR`` and ``invrecon export DIR``: the ledger CSV files (40-interfaces §2)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from invrecon.errors import InputError, InvreconError
from invrecon.ledger import default_db_path, open_ledger
from invrecon.ledger_csv import CSV_FILES, export_ledger, import_ledger

_FILES = ", ".join(CSV_FILES)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="load the ledger CSV files found in DIR (one transaction)",
        description="Load the ledger CSV files found in DIR into the ledger, in dependency order, "
        "in one transaction: every problem is listed as file:row: column: problem and nothing is "
        f"written unless all rows are valid. Files: {_FILES}. Only value_entries.csv (and the "
        "setup it refers to) is needed. A --db file that does not exist is created.",
    )
    p.add_argument("directory", metavar="DIR", help="directory holding the CSV files")
    p.set_defaults(func=run_import)

    p = sub.add_parser(
        "export",
        help="write every ledger table as CSV into DIR (for round trips)",
        description="Write every ledger table as CSV (BC captions as headers, UTF-8) into DIR, "
        f"creating it: {_FILES}. Export, import into a new ledger and export again gives "
        "identical files.",
    )
    p.add_argument("directory", metavar="DIR", help="directory to write (created if missing)")
    p.add_argument("--force", action="store_true",
                   help="write into DIR even if it is not empty (replaces the ledger CSV files)")
    p.set_defaults(func=run_export)


def _remove_new_ledger(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def run_import(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    directory = Path(args.directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory")
    created = not path.exists()
    db = open_ledger(path, create=created)
    ok = False
    try:
        summary = import_ledger(db, directory)
        ok = True
    except InputError as exc:
        print(f"invrecon: error: {exc}", file=sys.stderr)
        if len(exc.problems) > 1:
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
        return 1
    finally:
        db.close()
        if created and not ok:
            _remove_new_ledger(path)
    for file, columns in summary.ignored_columns.items():
        print(f"invrecon: {file}: ignored columns (BC fields invrecon does not use): "
              f"{', '.join(columns)}", file=sys.stderr)
    if summary.ignored_files:
        print(f"invrecon: ignored files (not ledger CSV files): {', '.join(summary.ignored_files)}",
              file=sys.stderr)
    detail = ", ".join(f"{f} {n}" for f, n in summary.rows.items())
    print(f"imported {summary.total_rows} rows into {path}: {detail}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    directory = Path(args.directory)
    if directory.exists():
        if not directory.is_dir():
            raise InvreconError(f"{directory}: exists and is not a directory")
        if any(directory.iterdir()) and not args.force:
            raise InvreconError(
                f"{directory}: not empty; choose an empty or new directory, or add --force to "
                "replace the ledger CSV files in it"
            )
    db = open_ledger(path, readonly=True)
    try:
        summary = export_ledger(db, directory)
    except OSError as exc:
        raise InvreconError(f"{directory}: cannot write ({exc.strerror or exc})") from None
    finally:
        db.close()
    print(f"exported {summary.total_rows} rows from {path} to {directory} "
          f"({len(summary.rows)} files)")
    return 0
