"""Where a bulk posting run's writing process spends its wall time (issue 7). Not a test.

    .venv/bin/python bench/profile_posting.py bench/cache/sample-1000000-1-unposted.db per-entry
    .venv/bin/python bench/profile_posting.py bench/cache/sample-1000000-1-unposted.db per-posting-group

Posts a copy of the ledger (next to it, ``.profile.db``) and prints the time spent in each step
of the writing process (the steps are wrapped with timers; the engine process is not), how long
the writer waited for the engine process's messages, and the CPU time of both processes.
"""

from __future__ import annotations

import collections
import resource
import shutil
import sys
import time
from pathlib import Path

from invrecon import posting, posting_worker, preaggregates
from invrecon.ledger import open_ledger
from invrecon.posting import PostingRequest, post_inventory_cost

SPENT: collections.Counter[str] = collections.Counter()
CALLS: collections.Counter[str] = collections.Counter()


def _timed(owner: object, name: str) -> None:
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - t0
            CALLS[name] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    source, mode = Path(sys.argv[1]), sys.argv[2]
    work = source.with_suffix(".profile.db")
    shutil.copyfile(source, work)
    for suffix in ("-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    for owner, name in (
            (posting._Engine, "insert"), (posting._Engine, "_write_groups"),
            (posting._Engine, "_end_batch"), (posting.PostingReport, "add_lines"),
            (preaggregates.PostingLoad, "add_deltas"), (preaggregates.PostingLoad, "add_prepared"),
            (preaggregates.PostingLoad, "stage_totals"), (preaggregates.PostingLoad, "finish"),
            (preaggregates.PostingLoad, "correct_pieces"), (preaggregates.PostingLoad, "add_multi"),
            (posting, "_assign_posted_fields"), (posting._Engine, "assign_posted_now"),
            (posting_worker, "_apply"),
            (posting_worker._ReadAhead, "get")):
        _timed(owner, name)
    db = open_ledger(str(work))
    request = (PostingRequest(mode="per-entry") if mode == "per-entry" else
               PostingRequest(mode="per-posting-group", document_no="PROFILE"))
    t0 = time.perf_counter()
    report = post_inventory_cost(db, request)
    total = time.perf_counter() - t0
    db.close()
    print(f"{mode}: {total:.2f} s in all; {report.posted_value_entries} value entries posted, "
          f"{report.gl_entries_created} G/L entries")
    print("  writing process, wall time per step (_apply: everything between starting the engine "
          "process and its last message; get: waiting for and unpickling its messages):")
    for name, secs in SPENT.most_common():
        print(f"    {name:24s} {secs:7.2f} s  ({CALLS[name]} calls)")
    engine = resource.getrusage(resource.RUSAGE_CHILDREN)
    writer = resource.getrusage(resource.RUSAGE_SELF)
    print(f"  CPU: engine process {engine.ru_utime + engine.ru_stime:.1f} s, writing process "
          f"{writer.ru_utime + writer.ru_stime:.1f} s")
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
