"""A bulk posting run with its engine in a process of its own (``invrecon.posting_worker``):
the same report and the same ledger as the engine in the writing process, and every failure of
either process leaves the ledger as it was."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import sqlite3
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database
from test_preaggregates import _capture_posting_loads

from invrecon import posting, posting_worker, preaggregates
from invrecon.errors import InvreconError
from invrecon.ledger import open_ledger
from invrecon.posting import PostingCancelled, PostingRequest, post_inventory_cost
from invrecon.sample import generate_sample

TABLES = ("gl_entry", "gl_item_ledger_relation", "value_entry", "gl_register",
          *preaggregates.TABLES)


@pytest.fixture(scope="module")
def unposted(tmp_path_factory) -> Path:
    """The sample ledger, nothing posted: skips (closed dates), capacity entries, expected
    cost, several posting groups and dimension sets."""
    path = tmp_path_factory.mktemp("worker") / "unposted.db"
    generate_sample(path, value_entries=2500, seed=11, post=False)
    return path


@pytest.fixture
def small_batches(monkeypatch):
    """Every run is a bulk run with the engine in its own process; small batches and limits,
    so that the engine process sends many batches, stages deltas and spills (its settings
    come from this process)."""
    monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(posting, "BULK_SHARE_DIVISOR", 10**9)
    monkeypatch.setattr(posting_worker, "MIN_QUEUE", 1)
    for name, value in (("BATCH_SIZE", 97), ("STAGE_KEYS", 50), ("LINES_IN_MEMORY", 300),
                        ("SKIPPED_IN_MEMORY", 20), ("GROUP_LINES_IN_MEMORY", 30),
                        ("GROUP_WRITE_BATCH", 100)):
        monkeypatch.setattr(posting, name, value)
    # the all-dates totals go over (and to their stage tables) several times during a run
    monkeypatch.setattr(preaggregates, "STAGE_KEYS", 40)


@pytest.fixture
def engine_runs(monkeypatch) -> list:
    """Spies on ``posting_worker.run``: one item per run whose engine had its own process,
    and the engine processes started (``subprocess.Popen`` objects)."""
    runs: list = []
    real_run, real_popen = posting_worker.run, subprocess.Popen

    def run(*args, **kwargs):
        runs.append("run")
        return real_run(*args, **kwargs)

    def popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        runs.append(proc)
        return proc

    monkeypatch.setattr(posting_worker, "run", run)
    monkeypatch.setattr(posting_worker.subprocess, "Popen", popen)
    return runs


def _copy(src: Path, dst: Path, *, ecp: bool = False) -> Path:
    shutil.copyfile(src, dst)
    if ecp:
        c = sqlite3.connect(dst)
        c.execute("UPDATE inventory_setup SET expected_cost_posting_to_gl = 1")
        c.commit()
        c.close()
    return dst


@pytest.fixture
def loads(monkeypatch) -> list:
    """The ``PostingLoad`` of every bulk run, kept for inspection after the run."""
    return _capture_posting_loads(monkeypatch)


def _dump(path: Path) -> dict[str, list]:
    c = sqlite3.connect(path)
    try:
        return {t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        c.close()


def _post(path: Path, mode: str, **kwargs):
    db = open_ledger(path)
    try:
        report = post_inventory_cost(db, PostingRequest(
            mode=mode, document_no="BULK" if mode == "per-posting-group" else None), **kwargs)
        out = report.to_json()
        assert [m.table for m in preaggregates.check(db)] == []
        return report, out
    finally:
        db.close()


@pytest.mark.parametrize("ecp", [False, True])
@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_engine_process_posts_what_the_engine_in_process_posts(
        unposted, tmp_path, monkeypatch, small_batches, engine_runs, loads, mode, ecp):
    here = _copy(unposted, tmp_path / "here.db", ecp=ecp)
    there = _copy(unposted, tmp_path / "there.db", ecp=ecp)
    staged: list[int] = []  # rows of each all-dates totals stage (PostingLoad.stage_totals)
    real_stage = preaggregates.PostingLoad.stage_totals

    def stage_totals(self, conn, rows):
        staged.append(len(rows[0]) + len(rows[1]))
        return real_stage(self, conn, rows)

    monkeypatch.setattr(preaggregates.PostingLoad, "stage_totals", stage_totals)
    monkeypatch.setattr(posting_worker, "ENABLED", False)
    report_here, json_here = _post(here, mode)
    assert engine_runs == []
    staged_here, staged[:] = list(staged), []
    monkeypatch.setattr(posting_worker, "ENABLED", True)
    report_there, json_there = _post(there, mode)
    assert engine_runs[0] == "run" and engine_runs[1].returncode == 0
    assert json_there == json_here
    assert report_there.posted_value_entries > 1000
    assert len(report_there.skipped) > posting.SKIPPED_IN_MEMORY  # skips came over and spilled
    assert report_there.item_columns == report_here.item_columns
    assert report_there.capacity_columns == report_here.capacity_columns
    assert _dump(there) == _dump(here)
    # the deltas went to the per-day tables chunk by chunk as the engine handed them over
    here_load, there_load = loads
    assert here_load.method == there_load.method == "delta"
    # per posting group the writing process set the posted fields batch by batch, and the
    # pieces of irregular multi-linked G/L entries were corrected from what the entries had
    # left to post (kept before their posted fields were set)
    if mode == "per-posting-group":
        assert here_load.posted_before is None
        assert there_load.posted_before == "temp.invrecon_posted_before"
    else:
        assert here_load.posted_before is there_load.posted_before is None
    assert there_load.keys_added == here_load.keys_added > 10 * posting.STAGE_KEYS
    # the all-dates totals were staged during the run too, not only at its end, in both (the
    # engine process sends its own, summed over the chunks it prepared, per entry)
    assert len(staged_here) > 2 and len(staged) > 2
    assert sum(staged) >= sum(staged_here) > 0


@pytest.mark.parametrize("ecp", [False, True])
def test_irregular_groups_are_corrected_from_what_was_left_to_post(
        unposted, tmp_path, monkeypatch, small_batches, engine_runs, loads, ecp):
    """Entries posted in part before (a later cost change): their G/L lines post what is left,
    so multi-linked G/L entries are not split by the posted amounts and their pieces are
    corrected at the end, after the engine process's run has already set the posted fields:
    from what each entry had left to post, kept before. The pre-aggregates stay exact
    (``_post`` checks them) and the ledger is the one the engine in this process writes."""
    paths = []
    for name in ("here.db", "there.db"):
        path = _copy(unposted, tmp_path / name, ecp=ecp)
        c = sqlite3.connect(path)
        c.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual / 3 "
                  "WHERE entry_no % 5 = 0 AND cost_posted_to_gl = 0 AND cost_amount_actual <> 0")
        c.commit()
        c.close()
        paths.append(path)
    monkeypatch.setattr(posting_worker, "ENABLED", False)
    _, json_here = _post(paths[0], "per-posting-group")
    monkeypatch.setattr(posting_worker, "ENABLED", True)
    _, json_there = _post(paths[1], "per-posting-group")
    assert engine_runs[0] == "run"
    assert json_there == json_here
    assert _dump(paths[1]) == _dump(paths[0])
    here_load, there_load = loads
    assert there_load.posted_before is not None and here_load.posted_before is None
    assert there_load.corrected == here_load.corrected > 0
    assert there_load.method == "delta"


def test_early_merges_then_a_rebuild_stay_exact(unposted, tmp_path, small_batches, engine_runs,
                                                  loads):
    """A per-group run adds its deltas chunk by chunk, then finds that it re-posted an entry
    which had G/L links: the rebuild at the end replaces whatever was added."""
    path = _copy(unposted, tmp_path / "l.db")
    db = open_ledger(path)
    queued = db.execute("SELECT max(entry_no) FROM value_entry WHERE cost_posted_to_gl = 0 "
                        "AND cost_amount_actual <> 0 AND posting_date >= "
                        "(SELECT max(posting_date) FROM value_entry)").fetchone()[0]
    g = db.execute("SELECT coalesce(max(entry_no), 0) + 1 FROM gl_entry").fetchone()[0]
    db.execute("INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, document_no, amount, "
               "transaction_no) SELECT ?, no, '2024-01-02', 'OLD', 1, ? FROM gl_account "
               "LIMIT 1", [g, g])
    db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES (?, ?)",
               [g, queued])
    db.close()
    report, _ = _post(path, "per-posting-group")  # (checks the pre-aggregates)
    assert engine_runs[0] == "run"
    assert report.posted_value_entries > 1000 and queued not in {s.value_entry_no
                                                                  for s in report.skipped}
    assert loads[0].keys_added > 0
    assert loads[0].method == "rebuild"


def test_progress_comes_batch_by_batch_from_the_engine_process(
        unposted, tmp_path, small_batches, engine_runs):
    path = _copy(unposted, tmp_path / "l.db")
    seen = []
    report, _ = _post(path, "per-entry", on_progress=seen.append)
    assert engine_runs[0] == "run"
    processed = [p.processed for p in seen]
    assert processed == sorted(processed) and len(seen) > 10
    assert processed[-1] == report.processed == seen[-1].total
    assert sum(len(p.new_skipped) for p in seen) == len(report.skipped) > 0
    assert seen[-1].posted == report.posted_value_entries


def _unchanged_after(path: Path, run) -> None:
    before = _dump(path)
    db = open_ledger(path)
    try:
        run(db)
        assert [m.table for m in preaggregates.check(db)] == []
    finally:
        db.close()
    assert _dump(path) == before


def test_cancel_stops_the_engine_process_and_writes_nothing(
        unposted, tmp_path, small_batches, engine_runs):
    path = _copy(unposted, tmp_path / "l.db")
    cancel = threading.Event()

    def run(db):
        with pytest.raises(PostingCancelled):
            post_inventory_cost(db, PostingRequest(), cancel=cancel,
                                on_progress=lambda p: p.processed > 500 and cancel.set())

    _unchanged_after(path, run)
    proc = engine_runs[1]
    assert proc.returncode is not None  # ended (killed), not left running


def test_a_killed_engine_process_fails_the_run_and_writes_nothing(
        unposted, tmp_path, small_batches, engine_runs):
    path = _copy(unposted, tmp_path / "l.db")

    def kill_engine(p):
        if p.processed > 300 and engine_runs[1].poll() is None:
            engine_runs[1].send_signal(signal.SIGKILL)

    def run(db):
        with pytest.raises(InvreconError, match=r"engine process ended unexpectedly \(exit "
                                                r"code -9\); nothing was posted"):
            post_inventory_cost(db, PostingRequest(), on_progress=kill_engine)

    _unchanged_after(path, run)


def test_an_error_in_the_engine_process_fails_the_run_and_writes_nothing(
        unposted, tmp_path, monkeypatch, small_batches):
    path = _copy(unposted, tmp_path / "l.db")
    real_run = posting_worker.run

    def run_off_by_one(db, engine, request):
        engine.register_no += 1  # the engine process will see another ledger state
        return real_run(db, engine, request)

    monkeypatch.setattr(posting_worker, "run", run_off_by_one)

    def run(db):
        with pytest.raises(InvreconError, match="sees another ledger state"):
            post_inventory_cost(db, PostingRequest())

    _unchanged_after(path, run)


@pytest.mark.parametrize("ended_before_its_job", [False, True])
def test_an_engine_process_that_cannot_start_fails_the_run(
        unposted, tmp_path, monkeypatch, small_batches, ended_before_its_job):
    """``ended_before_its_job``: the process is gone before the job is written to it, so the
    write meets a closed pipe (CI once hit this by chance as a raw BrokenPipeError)."""
    path = _copy(unposted, tmp_path / "l.db")
    monkeypatch.setattr(posting_worker.sys, "executable", shutil.which("false"))
    if ended_before_its_job:
        popen = subprocess.Popen

        def popen_then_wait(*args, **kwargs):
            proc = popen(*args, **kwargs)
            proc.wait()
            return proc

        monkeypatch.setattr(posting_worker.subprocess, "Popen", popen_then_wait)

    def run(db):
        with pytest.raises(InvreconError, match=r"ended unexpectedly \(exit code 1\)"):
            post_inventory_cost(db, PostingRequest())

    _unchanged_after(path, run)


def test_small_runs_and_non_wal_ledgers_keep_the_engine_in_process(
        unposted, tmp_path, monkeypatch, engine_runs):
    monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(posting, "BULK_SHARE_DIVISOR", 10**9)
    # a bulk run below MIN_QUEUE (the default, 20,000 queued entries)
    _post(_copy(unposted, tmp_path / "a.db"), "per-entry")
    assert engine_runs == []
    # a large enough run on a ledger file in WAL mode: yes; in rollback-journal mode or in
    # memory (no reader beside the writer): no
    path = _copy(unposted, tmp_path / "b.db")
    db = open_ledger(path)
    assert posting_worker.usable(db, posting_worker.MIN_QUEUE)
    assert not posting_worker.usable(db, posting_worker.MIN_QUEUE - 1)
    db.close()
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    assert not posting_worker.usable(Database(c), posting_worker.MIN_QUEUE)
    c.close()
    assert not posting_worker.usable(Database(memory=True), posting_worker.MIN_QUEUE)


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_a_gl_total_beyond_64_bits_fails_the_run_and_writes_nothing(
        unposted, tmp_path, small_batches, engine_runs, mode):
    """Two entries of different items whose G/L lines meet on one account and day: per entry
    the day's total of the account, per posting group the group's line, leaves 64-bit integers.
    A one-line error, nothing written, the engine process ended."""
    path = _copy(unposted, tmp_path / "l.db")
    c = sqlite3.connect(path)
    date, group, loc = c.execute(
        "SELECT posting_date, inventory_posting_group, location_code FROM value_entry "
        "WHERE cost_posted_to_gl = 0 AND item_ledger_entry_type = 'Purchase' "
        "AND entry_type = 'Direct Cost' AND cost_amount_expected = 0 "
        "GROUP BY 1, 2, 3 HAVING count(DISTINCT item_no) > 1 ORDER BY 1 DESC LIMIT 1").fetchone()
    nos = [r[0] for r in c.execute(
        "SELECT min(entry_no) FROM value_entry WHERE cost_posted_to_gl = 0 AND "
        "item_ledger_entry_type = 'Purchase' AND entry_type = 'Direct Cost' AND "
        "cost_amount_expected = 0 AND posting_date = ? AND inventory_posting_group = ? AND "
        "location_code = ? GROUP BY item_no LIMIT 2", (date, group, loc))]
    assert len(nos) == 2
    c.executemany("UPDATE value_entry SET cost_amount_actual = ? WHERE entry_no = ?",
                  [(5 * 10**18, n) for n in nos])
    c.commit()
    c.close()

    def run(db):
        with pytest.raises(InvreconError, match=r"amounts are too large.*nothing was written$"):
            post_inventory_cost(db, PostingRequest(
                mode=mode, document_no="B" if mode == "per-posting-group" else None))

    _unchanged_after(path, run)
    assert engine_runs[0] == "run" and engine_runs[1].returncode is not None


# -- the writing process reads the engine process's messages ahead (posting_worker._ReadAhead)


def _frames(count: int, size: int) -> list[bytes]:
    return [pickle.dumps(("batch", i, bytes(size)), protocol=pickle.HIGHEST_PROTOCOL)
            for i in range(count)]


def _writer_thread(fd: int, frames: list[bytes]) -> threading.Thread:
    def write():
        with contextlib.suppress(BrokenPipeError), os.fdopen(fd, "wb", buffering=0) as out:
            for f in frames:
                out.write(struct.pack("<Q", len(f)) + f)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def test_read_ahead_drains_the_pipe_while_the_writer_applies_nothing():
    """Far more than a pipe holds: the engine's side finishes writing although nothing has been
    applied yet (without the thread it would block on the full pipe); the messages then come in
    order, and None at the end."""
    read_fd, write_fd = os.pipe()
    frames = _frames(40, 200_000)  # 8 MB; a pipe holds 64 KiB to 1 MiB
    with os.fdopen(read_fd, "rb") as inp:
        messages = posting_worker._ReadAhead(inp, limit=32 << 20)
        writer = _writer_thread(write_fd, frames)
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert [messages.get()[1] for _ in frames] == list(range(40))
        assert messages.get() is None
        messages.close()


def test_read_ahead_stops_at_its_limit_and_goes_on_as_messages_are_applied():
    read_fd, write_fd = os.pipe()
    frames = _frames(200, 50_000)  # 10 MB against a limit of 200 kB
    with os.fdopen(read_fd, "rb") as inp:
        messages = posting_worker._ReadAhead(inp, limit=200_000)
        writer = _writer_thread(write_fd, frames)
        writer.join(timeout=2)
        assert writer.is_alive()  # held back: the reader waits under its limit
        assert messages._bytes < 200_000 + 50_100  # (one message past the limit at most)
        got = [messages.get()[1] for _ in frames]
        assert got == list(range(200))
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert messages.get() is None
        messages.close()


def test_read_ahead_hands_a_read_error_to_the_writer_and_closes_while_full():
    class Broken:
        def read(self, n):
            raise OSError("pipe broke")

    messages = posting_worker._ReadAhead(Broken(), limit=1 << 20)
    with pytest.raises(OSError, match="pipe broke"):
        messages.get()
    messages.close()
    # a reader held back by its limit ends when closed (a failed run stops reading)
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as inp:
        messages = posting_worker._ReadAhead(inp, limit=1)
        writer = _writer_thread(write_fd, _frames(50, 100_000))
        messages.get()
        messages.close(timeout=10)
        assert not messages._thread.is_alive()
        # (the writing end sees the pipe closed once this side closes it)
    writer.join(timeout=30)
