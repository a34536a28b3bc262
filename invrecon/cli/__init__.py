"""The ``invrecon`` command line: a thin layer over the engine functions.

Each command group lives in its own module with ``register(subparsers)``; the module sets
``func`` on its parser(s). ``func(args) -> int`` returns the exit code.
Exit codes: 0 ok, 1 error (one line on stderr), 2 usage, 3 posting run skipped entries.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from invrecon import __version__
from invrecon.errors import TOO_LARGE, InvreconError, is_int64_overflow
from invrecon.filters import FilterError

COMMAND_MODULES = (
    "setup",
    "transfer",
    "sample",
    "posting",
    "reconciliation",
    "costing",
    "check",
    "tui",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: usage error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="invrecon",
        description="Reconcile inventory costs with the general ledger and post inventory "
        "cost to G/L. With no command, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"invrecon {__version__}")
    parser.add_argument(
        "--db", metavar="PATH", default=None,
        help="the ledger file (default: $INVRECON_DB, else ./sample.db)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"invrecon.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "tui"])
    try:
        return int(args.func(args) or 0)
    except FilterError as exc:
        print(f"invrecon: usage error: {exc}", file=sys.stderr)
        return 2
    except InvreconError as exc:
        print(f"invrecon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.Error as exc:
        if not is_int64_overflow(exc):
            raise
        # a read: a total over the entries beyond 64 bits (a write says so itself)
        print(f"invrecon: error: {TOO_LARGE} (SQLite: {exc})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("invrecon: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
