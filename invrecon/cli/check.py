"""``invrecon check [--json] [--quick]``: integrity check of the ledger (read-only)."""

from __future__ import annotations

import argparse
import sys

from invrecon.cli.common import print_json
from invrecon.integrity import check_ledger
from invrecon.ledger import default_db_path, open_ledger


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="integrity check of the ledger (exit 0 consistent, 1 with findings)",
        description="Check the ledger: G/L balanced in total, per transaction and per register; "
        "posted fields equal the linked G/L amounts; relation rows and registers valid; item "
        "ledger entry remaining quantities; derived data; SQLite integrity. Writes nothing. "
        "Exit 0 when consistent, 1 with the findings.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--quick", action="store_true",
        help="use SQLite's quick_check instead of the full integrity_check (faster on big files)",
    )
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    path = args.db if args.db else default_db_path()
    db = open_ledger(path, readonly=True)
    try:
        report = check_ledger(db, quick=args.quick)
    finally:
        db.close()
    if args.json:
        print_json(report.to_dict())
    else:
        for finding in report.findings:
            print(finding.line())
        n = len(report.checks)
        if report.ok:
            print(f"{path}: consistent ({n} groups of checks passed)")
        else:
            k = len(report.findings)
            print(f"{path}: {k} finding{'s' if k != 1 else ''}", file=sys.stdout)
    return 0 if report.ok else 1
