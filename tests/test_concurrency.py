"""Two writers, and a writer with readers, on one ledger file, in separate processes.

* The second writer waits (busy timeout) and then either fails with a clear "busy" message or,
  if the first finishes in time, runs after it; nothing is posted twice.
* A reader always sees the ledger before or after a write, never between: every G/L snapshot sums
  to 0, posted fields match the relation rows, ``check_ledger`` passes, and posting-run
  snapshots equal either the state before the run or the state after it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kill_harness import build_ledger, ledger_state, python_argv, subprocess_env
from ledger_builder import LedgerBuilder

from invrecon.errors import LedgerBusyError
from invrecon.integrity import check_ledger
from invrecon.ledger import open_ledger, write_transaction

HOLDER = """
import sys, time
from invrecon.ledger import open_ledger, write_transaction
db = open_ledger(sys.argv[1])
with write_transaction(db):
    db.execute("INSERT INTO gl_account (no, name) VALUES ('9999', 'held')")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
print("committed", flush=True)
"""

POSTER = """
import json, sys
from invrecon.errors import LedgerBusyError
from invrecon.ledger import open_ledger
from invrecon.posting import PostingRequest, post_inventory_cost
db = open_ledger(sys.argv[1], busy_timeout_ms=int(sys.argv[3]))
mode = sys.argv[2]
req = PostingRequest(mode=mode, document_no="PG1" if mode == "per-posting-group" else None)
print("start", flush=True)
try:
    r = post_inventory_cost(db, req)
    print(json.dumps({"posted": r.posted_value_entries, "gl": r.gl_entries_created,
                      "skipped": len(r.skipped)}), flush=True)
except LedgerBusyError as exc:
    print(json.dumps({"busy": str(exc)}), flush=True)
"""

# Simulates a posting run with many small committed transactions: a balanced pair, relation
# rows, a register and the posted field, per value entry.
STEADY_WRITER = """
import sys
from invrecon.ledger import open_ledger, write_transaction
db = open_ledger(sys.argv[1])
n = int(sys.argv[2])
for i in range(1, n + 1):
    with write_transaction(db):
        ve = db.execute("SELECT coalesce(max(entry_no), 0) + 1 FROM value_entry").fetchone()[0]
        g = db.execute("SELECT coalesce(max(entry_no), 0) + 1 FROM gl_entry").fetchone()[0]
        reg = db.execute("SELECT coalesce(max(no), 0) + 1 FROM gl_register").fetchone()[0]
        amount = 100 + i
        db.execute("INSERT INTO value_entry (entry_no, item_no, posting_date, "
                   "item_ledger_entry_type, item_ledger_entry_no, entry_type, "
                   "inventory_posting_group, gen_prod_posting_group, cost_amount_actual) "
                   "VALUES (?, 'A', '2025-01-15', 'Purchase', ?, 'Direct Cost', 'RESALE', "
                   "'RETAIL', ?)", [ve, ve, amount])
        db.execute("INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, amount, "
                   "source_code, transaction_no) VALUES (?, '2130', '2025-01-15', ?, "
                   "'INVTPCOST', ?)", [g, amount, reg])
        db.execute("INSERT INTO gl_entry (entry_no, gl_account_no, posting_date, amount, "
                   "source_code, transaction_no) VALUES (?, '7290', '2025-01-15', ?, "
                   "'INVTPCOST', ?)", [g + 1, -amount, reg])
        db.execute("INSERT INTO gl_item_ledger_relation VALUES (?, ?, ?), (?, ?, ?)",
                   [g, ve, reg, g + 1, ve, reg])
        db.execute("INSERT INTO gl_register (no, from_entry_no, to_entry_no, source_code) "
                   "VALUES (?, ?, ?, 'INVTPCOST')", [reg, g, g + 1])
        db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual "
                   "WHERE entry_no = ?", [ve])
print("done", flush=True)
"""


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 60) -> None:
    t0 = time.monotonic()
    line = proc.stdout.readline().strip()
    assert line == expected, (line, proc.stderr.read() if proc.poll() is not None else "")
    assert time.monotonic() - t0 < timeout


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


@pytest.fixture
def ledger(db_path) -> Path:
    db = open_ledger(db_path, create=True)
    LedgerBuilder.standard(db)
    db.close()
    return db_path


# ------------------------------------------------------------------------ the write lock


def test_second_writer_waits_then_gets_a_clear_busy_error(ledger):
    holder = start(python_argv(HOLDER, str(ledger), "3"))
    try:
        wait_for_line(holder, "locked")
        db = open_ledger(ledger, busy_timeout_ms=400)
        t0 = time.monotonic()
        with pytest.raises(LedgerBusyError) as info:
            with write_transaction(db):
                db.execute("INSERT INTO gl_account (no) VALUES ('8888')")
        waited = time.monotonic() - t0
        db.close()
        assert 0.3 <= waited < 2.5, waited  # it waited for the busy timeout, then gave up
        msg = str(info.value)
        assert "busy with another write" in msg and "try again" in msg and str(ledger) in msg
        assert "\n" not in msg
    finally:
        finish(holder)
    state = open_ledger(ledger, readonly=True)
    assert [r[0] for r in state.execute("SELECT no FROM gl_account WHERE no IN ('8888','9999')")] \
        == ["9999"]
    state.close()


def test_second_writer_waits_and_succeeds_after_the_first(ledger):
    holder = start(python_argv(HOLDER, str(ledger), "0.8"))
    try:
        wait_for_line(holder, "locked")
        db = open_ledger(ledger)  # default busy timeout: 5 s
        t0 = time.monotonic()
        with write_transaction(db):
            db.execute("INSERT INTO gl_account (no) VALUES ('8888')")
        waited = time.monotonic() - t0
        assert waited >= 0.3, waited
        assert {r[0] for r in db.execute("SELECT no FROM gl_account WHERE no IN ('8888','9999')")} \
            == {"8888", "9999"}
        db.close()
    finally:
        finish(holder)


def test_reader_during_an_open_write_sees_the_old_state(ledger):
    holder = start(python_argv(HOLDER, str(ledger), "1.5"))
    try:
        wait_for_line(holder, "locked")
        reader = open_ledger(ledger, readonly=True)
        t0 = time.monotonic()
        n = reader.execute("SELECT count(*) FROM gl_account WHERE no = '9999'").fetchone()[0]
        assert n == 0
        assert time.monotonic() - t0 < 0.5  # readers do not wait for writers (WAL)
        reader.close()
    finally:
        finish(holder)
    reader = open_ledger(ledger, readonly=True)
    assert reader.execute("SELECT count(*) FROM gl_account WHERE no = '9999'").fetchone()[0] == 1
    reader.close()


def test_reader_always_sees_a_consistent_ledger_during_many_commits(ledger):
    writer = start(python_argv(STEADY_WRITER, str(ledger), "400"))
    reader = open_ledger(ledger, readonly=True)
    seen_counts = set()
    checks = 0
    try:
        while writer.poll() is None:
            conn = reader.conn
            conn.execute("BEGIN")
            total, n = conn.execute("SELECT coalesce(sum(amount), 0), count(*) FROM gl_entry") \
                .fetchone()
            posted = conn.execute("SELECT coalesce(sum(cost_posted_to_gl), 0) FROM value_entry") \
                .fetchone()[0]
            inventory = conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM gl_entry WHERE gl_account_no = '2130'") \
                .fetchone()[0]
            rel = conn.execute("SELECT count(*) FROM gl_item_ledger_relation").fetchone()[0]
            conn.execute("ROLLBACK")
            assert total == 0
            assert posted == inventory
            assert rel == n
            seen_counts.add(n)
            if checks < 5:
                report = check_ledger(reader, quick=True)
                assert report.ok, report.to_json()
                checks += 1
    finally:
        finish(writer)
        reader.close()
    assert len(seen_counts) > 3  # the reader really overlapped the writes


# ------------------------------------------------------------------------ posting runs


def _post_proc(path: Path, mode: str, busy_ms: int) -> subprocess.Popen:
    return start(python_argv(POSTER, str(path), mode, str(busy_ms)))


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
@pytest.mark.parametrize("busy_ms", [50, 60000])
def test_two_posting_runs_at_once_post_nothing_twice(tmp_path, mode, busy_ms):
    p = tmp_path / "ledger.db"
    build_ledger(p, 6000, seed=3)
    before = ledger_state(p)
    a = _post_proc(p, mode, busy_ms)
    b = _post_proc(p, mode, busy_ms)
    wait_for_line(a, "start")
    wait_for_line(b, "start")
    out_a, _ = finish(a)
    out_b, _ = finish(b)
    results = [json.loads(out_a), json.loads(out_b)]
    posted = [r for r in results if "posted" in r]
    busy = [r for r in results if "busy" in r]
    assert len(posted) >= 1
    assert sum(r["posted"] for r in posted) == before["value_entries"]  # each entry once
    if busy_ms == 60000:
        assert busy == []  # the second waited and then found nothing left to post
        assert sorted(r["posted"] for r in posted) == [0, before["value_entries"]]
    for r in busy:
        assert "busy with another write" in r["busy"]
    db = open_ledger(p, readonly=True)
    report = check_ledger(db)
    assert report.ok, report.to_json()
    # every value entry is fully posted, and exactly once
    assert db.execute("SELECT count(*) FROM value_entry WHERE cost_posted_to_gl <> "
                      "cost_amount_actual OR expected_cost_posted_to_gl <> "
                      "cost_amount_expected").fetchone()[0] == 0
    n_registers = db.execute("SELECT count(*) FROM gl_register").fetchone()[0]
    db.close()
    assert n_registers == 1


def test_posting_run_and_a_reader_see_before_or_after(tmp_path):
    from invrecon.reconciliation import compute_matrix

    p = tmp_path / "ledger.db"
    build_ledger(p, 20000, seed=4)
    reader = open_ledger(p, readonly=True)
    before = ledger_state(p)
    matrix_before = compute_matrix(reader).amounts
    poster = _post_proc(p, "per-entry", 60000)
    wait_for_line(poster, "start")
    states = []
    matrices = []
    try:
        while poster.poll() is None:
            states.append(ledger_state(p))
            matrices.append(compute_matrix(reader).amounts)
    finally:
        out, _ = finish(poster)
    after = ledger_state(p)
    matrix_after = compute_matrix(reader).amounts
    assert json.loads(out)["posted"] == before["value_entries"]
    assert before != after
    assert states, "the reader did not overlap the run"
    for s in states:
        assert s in (before, after), s
    for m in matrices:
        assert m in (matrix_before, matrix_after)
    assert check_ledger(reader).ok
    reader.close()


def test_check_during_a_posting_run_is_ok(tmp_path):
    p = tmp_path / "ledger.db"
    build_ledger(p, 20000, seed=5)
    poster = _post_proc(p, "per-posting-group", 60000)
    wait_for_line(poster, "start")
    reports = []
    try:
        while poster.poll() is None or not reports:
            db = open_ledger(p, readonly=True)
            reports.append(check_ledger(db, quick=True))
            db.close()
    finally:
        finish(poster)
    assert all(r.ok for r in reports), [r.to_json() for r in reports if not r.ok]


def test_posting_is_python_importable_in_this_checkout():
    # The engine-level tests above need invrecon.posting; this fails loudly if it disappears.
    import invrecon.posting as posting

    assert hasattr(posting, "post_inventory_cost")
    assert sys.modules["invrecon.posting"] is posting


def _value_entries_csv(directory: Path, first_no: int, n: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["Entry No.,Item No.,Posting Date,Item Ledger Entry Type,Item Ledger Entry No.,"
             "Entry Type,Location Code,Inventory Posting Group,Gen. Prod. Posting Group,"
             "Cost Amount (Actual)\n"]
    for i in range(n):
        no = first_no + i
        lines.append(f"{no},A,2025-06-{1 + i % 28:02d},Purchase,{no},Direct Cost,BLUE,RESALE,"
                     f"RETAIL,{i + 1}.{i % 100:02d}\n")
    (directory / "value_entries.csv").write_text("".join(lines), encoding="utf-8")
    return directory


def test_posting_run_and_an_import_at_once_give_one_of_the_serial_results(tmp_path):
    from kill_harness import copy_ledger, invrecon_argv, run_to_end

    base = tmp_path / "base.db"
    build_ledger(base, 15000, seed=6)
    csv_dir = _value_entries_csv(tmp_path / "csv", 100001, 5000)
    post_argv = ["post"]
    import_argv = ["import", str(csv_dir)]

    serial = {}
    for order in (("post", "import"), ("import", "post"), ("post",), ("import",)):
        p = copy_ledger(base, tmp_path / f"serial-{'-'.join(order)}.db")
        for step in order:
            r = run_to_end(invrecon_argv(p, *(post_argv if step == "post" else import_argv)))
            assert r.returncode == 0, r.stderr
        serial[order] = ledger_state(p)
    assert serial[("post", "import")] != serial[("import", "post")]
    both = {k: v for k, v in serial.items() if len(k) == 2}

    outcomes = set()
    for attempt in range(3):
        p = copy_ledger(base, tmp_path / f"both-{attempt}.db")
        a = start(invrecon_argv(p, *post_argv))
        time.sleep(0.1 * attempt)
        b = start(invrecon_argv(p, *import_argv))
        out_a, err_a = a.communicate(timeout=300)
        out_b, err_b = b.communicate(timeout=300)
        state = ledger_state(p)
        # The second writer waits up to the busy timeout. If the first holds the lock longer
        # (a slow machine), the second fails with a clear "busy" message and writes nothing.
        if a.returncode == 0 and b.returncode == 0:
            assert state in both.values()
        elif a.returncode == 0:
            assert "busy" in err_b and err_b.count("\n") == 1, err_b
            assert state == serial[("post",)]
        else:
            assert b.returncode == 0, err_b
            assert "busy" in err_a and err_a.count("\n") == 1, err_a
            assert state == serial[("import",)]
        outcomes.add(next(k for k, v in serial.items() if v == state))
        db = open_ledger(p, readonly=True)
        assert check_ledger(db).ok
        db.close()
    assert outcomes  # which order won is up to the scheduler; both are correct


def test_matrix_is_one_snapshot_even_if_a_run_commits_between_its_queries(tmp_path, monkeypatch):
    from invrecon import reconciliation
    from invrecon.posting import PostingRequest, post_inventory_cost

    p = tmp_path / "ledger.db"
    build_ledger(p, 300, seed=8)
    db = open_ledger(p)
    post_inventory_cost(db, PostingRequest())  # start from a posted, reconciled ledger
    db.close()
    reader = open_ledger(p, readonly=True)
    before = reconciliation.compute_matrix(reader, explain=False).amounts
    original = reconciliation._gl_side

    def commit_a_write_first(*args, **kwargs):
        # between the two sides, another process commits a journal line that is posted at once
        # (automatic cost posting): a new value entry and its G/L entries in one transaction
        writer = open_ledger(p)
        with write_transaction(writer):
            writer.execute("INSERT INTO value_entry (entry_no, item_no, posting_date, "
                           "item_ledger_entry_type, item_ledger_entry_no, entry_type, "
                           "inventory_posting_group, gen_prod_posting_group, cost_amount_actual)"
                           " VALUES (9001, 'A', '2025-03-03', 'Purchase', 9001, 'Direct Cost', "
                           "'RESALE', 'RETAIL', 12345)")
        post_inventory_cost(writer, PostingRequest())
        writer.close()
        return original(*args, **kwargs)

    monkeypatch.setattr(reconciliation, "_gl_side", commit_a_write_first)
    during = reconciliation.compute_matrix(reader, explain=False).amounts
    monkeypatch.setattr(reconciliation, "_gl_side", original)
    after = reconciliation.compute_matrix(reader, explain=False).amounts
    reader.close()
    assert before != after
    assert during in (before, after)
