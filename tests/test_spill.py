"""invrecon.spill.SpillList: a list with bounded memory (issue 7: peak memory of a posting run
that skips millions of entries)."""

from __future__ import annotations

import io
import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_builder import LedgerBuilder

from invrecon import posting
from invrecon.posting import PostingRequest, SkippedEntry, post_inventory_cost
from invrecon.spill import SpillList


@settings(max_examples=80, deadline=None)
@given(items=st.lists(st.integers() | st.text(max_size=5)), chunk=st.integers(1, 7),
       probes=st.lists(st.integers(-40, 40), max_size=10))
def test_behaves_like_a_list(items, chunk, probes):
    s = SpillList(chunk=chunk)
    ref: list = []
    for x in items:
        s.append(x)
        ref.append(x)
        assert len(s) == len(ref)
    assert list(s) == ref
    assert s == ref and ref == s
    assert bool(s) == bool(ref)
    assert s.spilled == (len(ref) >= chunk)
    assert len(s._tail) < chunk  # never more than one chunk in memory
    for i in probes:
        if -len(ref) <= i < len(ref):
            assert s[i] == ref[i]
        else:
            with pytest.raises(IndexError):
                s[i]
    assert s[1:-1:2] == ref[1:-1:2]
    assert s[::-1] == ref[::-1]


def test_equality_and_unhashable():
    assert SpillList([1, 2, 3], chunk=2) == SpillList([1, 2, 3], chunk=5)
    assert SpillList([1, 2], chunk=1) != [1, 2, 3]
    assert SpillList([1, 2], chunk=1) != [2, 1]
    assert (SpillList([1]) == (1,)) is False
    with pytest.raises(TypeError):
        hash(SpillList())
    with pytest.raises(ValueError):
        SpillList(chunk=0)


def test_concurrent_readers_do_not_disturb_each_other():
    s = SpillList(range(5000), chunk=7)
    errors: list = []

    def read():
        for _ in range(3):
            if list(s) != list(range(5000)) or s[4321] != 4321:
                errors.append("mismatch")

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_skipped_entries_round_trip_through_the_file():
    e = SkippedEntry(7, "A", "2024-01-01", "Purchase", "Direct Cost", "D1", "BLUE", 123,
                     "posting_date_not_allowed", "Posting Date … not allowed", expected_cost=True)
    s = SpillList([e, e], chunk=1)
    assert s.spilled and list(s) == [e, e] and s[0] is not e
    encoded: list = []

    def enc(x):
        encoded.append(x)
        return x.as_tuple()

    s = SpillList([e, e, e], chunk=2, encode=enc, decode=SkippedEntry.from_tuple)
    assert encoded == [e, e, e] and list(s) == [e, e, e] and s[1] == e and s[2] == e
    assert s._tail == [e.as_tuple()]  # kept encoded in memory too
    with pytest.raises(ValueError):
        SpillList(encode=enc)


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_a_run_with_many_skips_keeps_one_chunk_in_memory_and_reports_them_all(db, monkeypatch,
                                                                               mode):
    monkeypatch.setattr(posting, "SKIPPED_IN_MEMORY", 4)
    b = LedgerBuilder.standard(db)
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01', "
               "allow_posting_to = '2025-12-31'")
    early = [b.value_entry(item_no="A", posting_date="2024-12-31", cost_amount_actual=i + 1)
             for i in range(11)]
    ok = b.value_entry(item_no="A", posting_date="2025-01-05", cost_amount_actual=5)
    req = PostingRequest(mode=mode, document_no="G" if mode != "per-entry" else None)
    expected_problems = posting.test_posting(db, req).problems()
    report = post_inventory_cost(db, req)
    assert report.skipped.spilled and len(report.skipped._tail) < 4
    assert [s.value_entry_no for s in report.skipped] == early
    assert report.posted_value_entries == 1
    assert [p["value_entry_no"] for p in expected_problems] == early
    assert {s.reason_code for s in report.skipped} == {"posting_date_not_allowed"}
    # the streamed JSON is the same document as the in-memory one
    out = io.StringIO()
    report.write_json(out)
    assert json.loads(out.getvalue()) == report.to_json()
    assert [s["value_entry_no"] for s in report.to_json()["skipped"]] == early
    assert db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?",
                      [ok]).fetchone()[0] == 5


def test_streamed_json_is_formatted_like_json_dumps():
    out = io.StringIO()
    posting._write_json_object(out, {"a": 1}, "lines", iter([{"x": 1}]),
                               {"skipped": posting._Stream([{"k": [1, 2]}, {"k": []}]),
                                "empty": posting._Stream([]), "t": {"u": 2}})
    ref = io.StringIO()
    posting._write_json_object(ref, {"a": 1}, "lines", iter([{"x": 1}]),
                               {"skipped": [{"k": [1, 2]}, {"k": []}], "empty": [],
                                "t": {"u": 2}})
    assert out.getvalue() == ref.getvalue()


def test_per_posting_group_lines_spill_and_write_in_batches_with_the_same_result(tmp_path,
                                                                                 monkeypatch):
    import shutil

    from invrecon.ledger import open_ledger

    path = tmp_path / "a.db"
    db = open_ledger(path, create=True)
    b = LedgerBuilder.standard(db, expected_cost_posting=True)
    for i in range(60):
        b.value_entry(item_no="AB"[i % 2], posting_date=f"2025-0{1 + i % 9}-1{i % 10}",
                      item_ledger_entry_type=("Purchase", "Sale", "Positive Adjmt.")[i % 3],
                      cost_amount_actual=(i + 1) * (-1 if i % 3 == 1 else 1),
                      cost_amount_expected=11 if i % 5 == 0 else 0,
                      location_code=("", "BLUE", "RED")[i % 3])
    db.close()
    shutil.copyfile(path, tmp_path / "b.db")
    tables = ["gl_entry", "gl_item_ledger_relation", "value_entry", "gl_register"]

    def run(p):
        d = open_ledger(p)
        r = post_inventory_cost(d, PostingRequest(mode="per-posting-group", document_no="G"))
        out = ({t: d.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables},
               [ln.to_json() for ln in r.lines], r.to_json())
        d.close()
        return r, out

    _, whole = run(path)
    monkeypatch.setattr(posting, "GROUP_LINES_IN_MEMORY", 2)
    monkeypatch.setattr(posting, "GROUP_WRITE_BATCH", 3)
    report, batched = run(tmp_path / "b.db")
    assert report._group_lines.spilled and len(report.lines) > 20
    assert batched == whole
    assert report.lines[3].to_json() == whole[1][3]


def test_text_tables_from_a_callable_match_the_list_form_and_list_every_spilled_skip(
        db, monkeypatch, tmp_path):
    from invrecon.cli import posting as cli_posting

    rows = [["a", "1"], ["bbb", "22"], ["cc", "333"]]
    as_list, as_callable = io.StringIO(), io.StringIO()
    cli_posting._table(as_list, ["H1", "H2"], rows, right={1})
    made = []
    cli_posting._table(as_callable, ["H1", "H2"], lambda: made.append(1) or iter(rows),
                       right={1})
    assert as_callable.getvalue() == as_list.getvalue() and made == [1, 1]

    monkeypatch.setattr(posting, "SKIPPED_IN_MEMORY", 4)
    b = LedgerBuilder.standard(db)
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01'")
    early = [b.value_entry(item_no="A", posting_date="2024-12-31", cost_amount_actual=i + 1)
             for i in range(11)]
    report = post_inventory_cost(db, PostingRequest(preview=True))
    assert report.skipped.spilled
    out = io.StringIO()
    cli_posting._print_report(db, report, out, path=tmp_path / "x.db")
    text = out.getvalue()
    assert "Skipped Entries (11)" in text
    skip_lines = [ln for ln in text.splitlines() if "posting_date_not_allowed" in ln]
    assert [int(ln.split()[1]) for ln in skip_lines] == early
    assert len({ln.index("posting_date_not_allowed") for ln in skip_lines}) == 1  # aligned


def test_a_chunk_pickled_elsewhere_joins_the_list():
    """The engine process of a posting run sends whole chunks of skipped entries pickled: they
    join the list as if it had spilled them itself, and only after whole chunks."""
    import pickle

    s = SpillList(chunk=3)
    s.append_pickled_chunk(pickle.dumps([1, 2, 3]))
    s.extend([4, 5, 6])
    s.append_pickled_chunk(pickle.dumps([7, 8, 9]))
    s.append(10)
    assert list(s) == list(range(1, 11)) and len(s) == 10 and s[7] == 8 and s.spilled
    with pytest.raises(ValueError, match="only follow whole chunks"):
        s.append_pickled_chunk(pickle.dumps([11, 12, 13]))
