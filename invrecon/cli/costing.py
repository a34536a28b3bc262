"""``invrecon journal FILE.csv`` and ``invrecon adjust-cost [--item FILTER] [--post]``."""

from __future__ import annotations

import argparse

from invrecon.cli.common import print_json, print_json_streaming
from invrecon.cost_adjustment import adjust_cost, run_automatic_adjustment
from invrecon.item_journal import read_journal
from invrecon.item_posting import post_journal_lines
from invrecon.ledger import open_ledger, write_transaction
from invrecon.money import format_cents


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "journal", help="post item journal lines (CSV); then automatic cost adjustment and "
        "automatic cost posting as Inventory Setup says",
        description="Post item journal lines from a CSV file (columns: Posting Date, Entry Type, "
        "Document No., Item No., Location Code, New Location Code, Quantity, Unit Cost, Amount, "
        "Invoice, Invoice Of, Applies-to Entry, Gen. Bus. Posting Group). The whole file is one "
        "transaction: any error posts nothing.")
    p.add_argument("file", metavar="FILE.csv", help="the journal lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_journal)

    a = sub.add_parser(
        "adjust-cost", help="Adjust Cost - Item Entries (FIFO, LIFO, Average)",
        description="Forward inbound costs to the outbound entries applied to them and "
        "recompute average costs; writes adjustment value entries.")
    a.add_argument("--item", metavar="FILTER", help="item no. filter (BC syntax)")
    a.add_argument("--post", action="store_true",
                   help="also post the new entries to the G/L (else they wait for 'post')")
    a.add_argument("--preview", action="store_true",
                   help="compute and list the entries without writing anything")
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    a.set_defaults(func=run_adjust_cost)


def run_journal(args: argparse.Namespace) -> int:
    lines = read_journal(args.file)
    db = open_ledger(args.db)
    try:
        setup = db.execute("SELECT automatic_cost_posting FROM inventory_setup WHERE id = 1"
                           ).fetchone()
        auto_post = bool(setup[0])
        with write_transaction(db):
            res = post_journal_lines(db, lines)
            adj = run_automatic_adjustment(db, post=auto_post)
    finally:
        db.close()
    out = {
        "lines_posted": res.lines,
        "item_ledger_entries": res.item_ledger_entries,
        "value_entries": res.value_entries,
        "application_entries": res.application_entries,
        "automatic_adjustment": None,
        "posted_to_gl": auto_post,
    }
    if args.json:
        if adj is None:
            print_json(out)
        else:
            print_json_streaming(out, "automatic_adjustment", (e.as_json() for e in adj.entries))
    else:
        print(f"posted {res.lines} journal line(s): {len(res.item_ledger_entries)} item ledger "
              f"entries, {len(res.value_entries)} value entries, {res.application_entries} "
              "application entries")
        if adj is not None:
            print(f"automatic cost adjustment: {len(adj.entries)} adjustment entr"
                  f"{'y' if len(adj.entries) == 1 else 'ies'}")
        if auto_post:
            print("value entries posted to the G/L (automatic cost posting)")
    return 0


class _Preview(Exception):
    pass


def run_adjust_cost(args: argparse.Namespace) -> int:
    db = open_ledger(args.db)
    res = None
    try:
        try:
            with write_transaction(db):
                res = adjust_cost(db, item_filter=args.item, post=args.post and not args.preview)
                if args.preview:
                    raise _Preview
        except _Preview:
            pass
    finally:
        db.close()
    assert res is not None
    if args.json:
        print_json_streaming({
            "preview": bool(args.preview),
            "items_adjusted": res.items_adjusted,
            "items_still_pending": res.still_pending,
            "entries": None,
            "posted_to_gl": bool(args.post and not args.preview),
        }, "entries", (e.as_json() for e in res.entries))
        return 0
    verb = "would create" if args.preview else "created"
    print(f"adjusted {len(res.items_adjusted)} item(s); {verb} {len(res.entries)} "
          f"adjustment entr{'y' if len(res.entries) == 1 else 'ies'}")
    for e in res.entries:
        amt = e.cost_amount_actual or e.cost_amount_expected
        kind = "expected" if e.cost_amount_expected and not e.cost_amount_actual else "actual"
        print(f"  {e.entry_no:>8} {e.posting_date} item {e.item_no} ILE {e.item_ledger_entry_no} "
              f"{e.entry_type} {kind} {format_cents(amt)}"
              + (f" (applies to {e.applies_to_entry})" if e.applies_to_entry else ""))
    if res.still_pending:
        print(f"still not adjusted (waiting for invoices or unsupported costing method): "
              f"{', '.join(res.still_pending)}")
    if args.post and not args.preview:
        print("posted to the G/L")
    elif not args.preview and res.entries:
        print("not posted to the G/L yet: run 'invrecon post' (or use --post)")
    return 0
