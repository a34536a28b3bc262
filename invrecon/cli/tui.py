"""``invrecon`` with no command, or ``invrecon tui``: open the terminal app on the ledger."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tui",
        help="open the terminal app (also what 'invrecon' with no command does)",
        description="Open the terminal app on the ledger (--db, $INVRECON_DB, else ./sample.db). "
        "Keys: ? or F1 in the app.",
    )
    p.add_argument(
        "--read-only", action="store_true",
        help="open the ledger read-only: posting (p) and adjust cost (a) are disabled",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from invrecon.ledger import default_db_path, open_ledger

    path = Path(args.db) if args.db else default_db_path()
    # Check the file before the screen opens: a missing, foreign or newer file is a one-line
    # error (exit 1), never a traceback inside the app. Opening writable also applies pending
    # schema migrations once, before any worker connects.
    db = open_ledger(path, readonly=bool(args.read_only))
    db.close()

    from invrecon.tui.app import run as run_app

    return run_app(path, read_only=bool(args.read_only))
