"""``invrecon sample``: write a synthetic, internally consistent ledger."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from invrecon.errors import InvreconError
from invrecon.ledger import default_db_path
from invrecon.sample import DEFAULT_SEED, DEFAULT_VALUE_ENTRIES, MIN_VALUE_ENTRIES


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < MIN_VALUE_ENTRIES:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_VALUE_ENTRIES}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="write a synthetic, internally consistent ledger (deterministic for a seed)",
        description="Write a NEW synthetic ledger at --db: setup, items, item ledger, "
        "application and value entries for 2024-2025, G/L entries, planted setup faults; most "
        "value entries are posted to the G/L by the posting engine, the last weeks and the "
        "faults wait in the queue. The same seed gives the same ledger.",
    )
    p.add_argument("--value-entries", type=_count, default=DEFAULT_VALUE_ENTRIES, metavar="N",
                   help=f"about how many value entries (default {DEFAULT_VALUE_ENTRIES}, the "
                   "size of the shipped sample.db)")
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S",
                   help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--force", action="store_true",
                   help="replace the file at --db if it exists")
    p.add_argument("--no-post", dest="post", action="store_false",
                   help="leave every value entry unposted (no inventory G/L entries)")
    p.set_defaults(func=run_sample)


def run_sample(args: argparse.Namespace) -> int:
    from invrecon.sample import generate_sample

    path = Path(args.db) if args.db else default_db_path()
    if path.is_dir():
        raise InvreconError(f"{path}: is a directory; give a file name with --db")
    if path.exists() and path.stat().st_size > 0 and not args.force:
        raise InvreconError(
            f"{path}: already exists; choose another --db path or add --force to replace it"
        )
    progress = None
    if sys.stderr.isatty():
        def progress(phase: str, done: int, total: int) -> None:
            text = f"{phase}: {done:,}/{total:,}" if total else phase
            sys.stderr.write(f"\r\033[K{text}")
            sys.stderr.flush()
    try:
        summary = generate_sample(path, value_entries=args.value_entries, seed=args.seed,
                                  post=args.post, on_progress=progress)
    finally:
        if progress is not None:
            sys.stderr.write("\r\033[K")
    print(summary.to_text())
    return 0
