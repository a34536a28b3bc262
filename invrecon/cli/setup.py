"""``invrecon init``: create an empty ledger."""

from __future__ import annotations

import argparse
from pathlib import Path

from invrecon.errors import LedgerFileError
from invrecon.ledger import default_db_path, open_ledger


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create an empty ledger (schema and default setup rows)")
    p.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    if path.exists() and path.stat().st_size > 0:
        raise LedgerFileError(f"{path}: already exists; choose another path or remove it first")
    db = open_ledger(path, create=True)
    db.close()
    print(f"created an empty ledger at {path}")
    return 0
