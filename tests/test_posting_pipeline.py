"""A large per-entry posting run is pipelined: a reader thread (own read-only connection) runs
the engine while the writing thread inserts (issue 7). Same result as the serial run, and any
error or cancel on either side rolls everything back without hanging."""

from __future__ import annotations

import shutil
import threading

import pytest
from ledger_builder import LedgerBuilder

from invrecon import posting, preaggregates
from invrecon.ledger import open_ledger
from invrecon.posting import PostingCancelled, PostingRequest, post_inventory_cost

TABLES = ["gl_entry", "gl_item_ledger_relation", "value_entry", "gl_register",
          *preaggregates.TABLES]


def dump(db) -> dict:
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    """A ledger of 300 queued entries (some skipped for their date, some with a dimension
    override), batches of 7 entries, and every run on the bulk (= pipelined) path."""
    monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(posting, "BATCH_SIZE", 7)
    monkeypatch.setattr(posting, "PIPELINE_DEPTH", 2)
    monkeypatch.setattr(posting, "STAGE_KEYS", 5)  # pre-aggregate deltas staged often
    path = tmp_path / "l.db"
    db = open_ledger(path, create=True)
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01'")
    for i in range(300):
        b.value_entry(item_no="AB"[i % 2], posting_date=f"{2024 + (i % 7 > 0)}-0{1 + i % 9}-1{i % 10}",
                      item_ledger_entry_type=("Purchase", "Sale", "Positive Adjmt.")[i % 3],
                      cost_amount_actual=(i + 1) * (-1 if i % 3 == 1 else 1),
                      cost_amount_expected=11 if i % 5 == 0 else 0,
                      location_code=("", "BLUE", "RED")[i % 3])
    db.close()
    return path


def run(path, **kw):
    db = open_ledger(path)
    try:
        return post_inventory_cost(db, PostingRequest(**kw)), dump(db)
    finally:
        db.close()


def test_pipelined_run_writes_exactly_what_the_serial_run_writes(ledger, tmp_path, monkeypatch):
    serial = tmp_path / "serial.db"
    shutil.copyfile(ledger, serial)
    threads = []
    staged = []
    real_finish = preaggregates.PostingLoad.finish

    def finish(self):
        staged.append(self.staged)
        return real_finish(self)

    monkeypatch.setattr(preaggregates.PostingLoad, "finish", finish)
    real = posting._process_pipelined
    monkeypatch.setattr(posting, "_process_pipelined",
                        lambda *a: threads.append(1) or real(*a))
    report_p, after_p = run(ledger)
    assert threads == [1]
    monkeypatch.setattr(posting, "PIPELINE", False)
    report_s, after_s = run(serial)
    assert threads == [1]
    assert after_p == after_s
    assert staged and all(n > 0 for n in staged)
    assert report_p.posted_value_entries == report_s.posted_value_entries > 200
    assert list(report_p.skipped) == list(report_s.skipped) and len(report_p.skipped) > 20
    assert [ln.to_json() for ln in report_p.lines] == [ln.to_json() for ln in report_s.lines]
    db = open_ledger(ledger)
    assert preaggregates.check(db) == []
    db.close()


def _unchanged(path, before) -> None:
    db = open_ledger(path)
    assert dump(db) == before
    assert preaggregates.available(db)
    db.close()


def _before(path) -> dict:
    db = open_ledger(path)
    try:
        return dump(db)
    finally:
        db.close()


def test_an_error_in_the_reading_thread_rolls_back(ledger, monkeypatch):
    before = _before(ledger)
    real = posting._Engine.process
    calls = []

    def failing(self, rows):
        calls.append(threading.current_thread().name)
        if len(calls) == 5:
            raise RuntimeError("engine failed")
        return real(self, rows)

    monkeypatch.setattr(posting._Engine, "process", failing)
    with pytest.raises(RuntimeError, match="engine failed"):
        run(ledger)
    assert set(calls) == {"invrecon-posting-reader"}
    _unchanged(ledger, before)


def test_an_error_in_the_writing_thread_stops_the_reader_and_rolls_back(ledger, monkeypatch):
    before = _before(ledger)
    real = posting._Engine.insert
    calls = []

    def failing(self, db, gl, rel):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, db, gl, rel)

    monkeypatch.setattr(posting._Engine, "insert", failing)
    with pytest.raises(OSError, match="disk full"):
        run(ledger)
    assert len(calls) == 3
    assert not [t for t in threading.enumerate() if t.name == "invrecon-posting-reader"]
    _unchanged(ledger, before)


def test_a_cancel_during_a_pipelined_run_rolls_back(ledger, monkeypatch):
    before = _before(ledger)
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.processed)
        if p.processed >= 50:
            cancel.set()

    db = open_ledger(ledger)
    with pytest.raises(PostingCancelled):
        post_inventory_cost(db, PostingRequest(), on_progress=progress, cancel=cancel)
    db.close()
    assert seen and max(seen) < 300
    _unchanged(ledger, before)
