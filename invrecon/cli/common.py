"""Options shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from invrecon.filters import LedgerFilter


def add_filter_args(p: argparse.ArgumentParser, *, item: bool = True, location: bool = True) -> None:
    p.add_argument("--from", dest="date_from", metavar="DATE",
                   help="first posting date, inclusive (YYYY-MM-DD, or 2025 / 2025-Q1 / 2025-03)")
    p.add_argument("--to", dest="date_to", metavar="DATE",
                   help="last posting date, inclusive; without --from: balances as of this date")
    if item:
        p.add_argument("--item", metavar="FILTER", help="item no. filter (BC syntax: A|B, A..C, A*, <>X, '')")
    if location:
        p.add_argument("--location", metavar="FILTER", help="location code filter (BC syntax)")


def filters_from_args(args: argparse.Namespace, **extra: Any) -> LedgerFilter:
    return LedgerFilter.from_text(
        date_from=getattr(args, "date_from", None),
        date_to=getattr(args, "date_to", None),
        item=getattr(args, "item", None),
        location=getattr(args, "location", None),
        **extra,
    )


def add_output_args(p: argparse.ArgumentParser, *, csv: bool = True) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON (see the README for the schema)")
    if csv:
        g.add_argument("--csv", action="store_true", help="print the table as CSV")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_json_streaming(obj: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Print ``obj`` as ``print_json`` would with ``obj[key]`` the list of ``items``, byte for
    byte, but one item at a time: a run's millions of entries never sit in memory as one list
    of dicts. ``key`` is a top-level key of ``obj`` (its value there is ignored)."""
    marker = "\0streamed\0"
    head = json.dumps({k: marker if k == key else v for k, v in obj.items()}, indent=2,
                      ensure_ascii=False)
    before, after = head.split(json.dumps(marker))
    out = sys.stdout
    out.write(before)
    empty = True
    for item in items:
        out.write("[\n    " if empty else ",\n    ")
        empty = False
        out.write(json.dumps(item, indent=2, ensure_ascii=False).replace("\n", "\n    "))
    out.write("[]" if empty else "\n  ]")
    out.write(after)
    out.write("\n")
