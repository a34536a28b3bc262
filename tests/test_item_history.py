"""The compact per-item history the cost adjustment reads: same answers as plain dicts of
records, a bounded number of bytes per entry."""

from __future__ import annotations

import tracemalloc
from collections import defaultdict
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invrecon import item_history
from invrecon.item_history import Ile, IleTable, Links, SortedMap, Ve, VeTable, _Interner

DATES = [f"2024-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 15, 28)]
TYPES = ["Direct Cost", "Revaluation", "Rounding", "Indirect Cost", "Variance"]


def ile_rows(n: int, seed: int = 0) -> list[tuple]:
    rows = []
    no = 0
    for k in range(n):
        no += 1 + (k * 7 + seed) % 5
        rows.append((no, DATES[(k + seed) % len(DATES)], ["Purchase", "Sale", "Transfer"][k % 3],
                     (k % 11) - 5, k % 4, (k % 9) - 4, k % 2, int(k % 13 == 0),
                     (k * 31) % 1000 if k % 6 == 0 else 0))
    return rows


def ve_rows(ile_nos: list[int], per_ile: list[int]) -> list[tuple]:
    rows = []
    no = 0
    for ile, count in zip(ile_nos, per_ile, strict=True):
        for j in range(count):
            no += 1
            adj = int(j > 0 and j % 2 == 1)
            rows.append((no, ile, DATES[(ile + j) % len(DATES)],
                         "" if j % 3 == 0 else DATES[(ile + 2 * j) % len(DATES)],
                         TYPES[(ile + j) % len(TYPES)], adj, int(j % 4 == 2), ile % 7 - 3,
                         j % 3, (ile * 131 + j * 17) % 100_000 - 50_000,
                         -(ile * 7 + j) % 5_000, no - 1 if adj else 0, int(j % 5 == 4),
                         (ile * 3 + j) % 900))
    return rows


def reference_ves(rows: list[tuple]) -> tuple[dict[int, list[Ve]], dict[int, int]]:
    by_ile: dict[int, list[Ve]] = defaultdict(list)
    adjusted: dict[int, int] = defaultdict(int)
    for r in sorted(rows, key=lambda r: (r[1], r[0])):
        v = Ve(r[0], r[1], r[2], r[3] or r[2], r[4], bool(r[5]), bool(r[6]), r[7], r[8], r[9],
               r[10], r[11], bool(r[12]), r[13])
        by_ile[v.ile].append(v)
        if v.adjustment and v.applies_to:
            adjusted[v.applies_to] += v.actual
    return by_ile, dict(adjusted)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 50), recent=st.integers(1, 40),
       probes=st.lists(st.integers(-5, 2_000), max_size=200))
def test_tables_answer_like_dicts_of_records(n, seed, recent, probes):
    # a tiny record cache: every lookup path and the eviction get exercised
    with patch.object(item_history, "_RECENT", recent):
        check_tables(n, seed, probes)


def check_tables(n: int, seed: int, probes: list[int]) -> None:
    rows = ile_rows(n, seed)
    intern = _Interner()
    iles = IleTable(iter(rows), intern)
    ref = {r[0]: Ile(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8])
           for r in rows}
    assert len(iles) == len(ref)
    assert list(iles) == sorted(ref)
    assert list(iles.items()) == sorted(ref.items())
    assert iles.flagged() == sorted(no for no, e in ref.items() if e.flagged)
    nos = sorted(ref)
    per_ile = [(no * 5 + seed) % 4 for no in nos]
    vrows = ve_rows(nos, per_ile)
    ves = VeTable(iter(sorted(vrows, key=lambda r: (r[1], r[0]))), intern)
    ref_ves, ref_adjusted = reference_ves(vrows)
    assert len(ves) == len(vrows)
    assert ves.adjusted_actual == ref_adjusted
    assert [(k, list(v)) for k, v in ves.items()] == sorted(ref_ves.items())
    for key in probes + nos[::3] + probes:
        assert (key in iles) == (key in ref)
        assert iles.get(key) == ref.get(key)
        if key in ref:
            assert iles[key] == ref[key]
        else:
            with pytest.raises(KeyError):
                iles[key]
        assert list(ves[key]) == ref_ves.get(key, [])


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 60), st.integers(-10**12, 10**12),
                               st.integers(-100, 100)), max_size=150),
       probes=st.lists(st.integers(-3, 65), max_size=40))
def test_links_and_sorted_maps_answer_like_dicts(rows, probes):
    ordered = sorted(enumerate(rows), key=lambda kr: (kr[1][0], kr[0]))  # by key, stable
    ref2: dict[int, list[tuple[int, int]]] = defaultdict(list)
    ref1: dict[int, list[int]] = defaultdict(list)
    last: dict[int, int] = {}
    for _k, (key, a, b) in ordered:
        ref2[key].append((a, b))
        ref1[key].append(a)
        last[key] = a
    two = Links((r for _k, r in ordered), 2)
    one = Links(((key, a) for _k, (key, a, _b) in ordered), 1)
    smap = SortedMap((key, a) for _k, (key, a, _b) in ordered)
    assert len(two) == len(one) == len(rows)
    assert len(smap) == len(last)
    for key in probes + [r[0] for r in rows]:
        assert two[key] == ref2.get(key, [])
        assert one[key] == ref1.get(key, [])
        assert (key in smap) == (key in last)
        if key in last:
            assert smap[key] == last[key]
        else:
            with pytest.raises(KeyError):
                smap[key]


def test_rows_out_of_order_are_refused():
    intern = _Interner()
    with pytest.raises(ValueError, match="entry order"):
        IleTable(iter([ile_rows(2)[1], ile_rows(2)[0]]), intern)
    v1, v2 = ve_rows([1, 2], [1, 1])
    with pytest.raises(ValueError, match="item ledger entry, entry"):
        VeTable(iter([v2, v1]), intern)
    with pytest.raises(ValueError, match="sorted by key"):
        Links(iter([(2, 1), (1, 1)]), 1)
    with pytest.raises(ValueError, match="sorted by key"):
        SortedMap(iter([(2, 1), (1, 1)]))


def test_an_items_history_costs_few_bytes_per_entry():
    """The largest item of the 10M sample (355k item ledger entries, 499k value entries) took
    about 690 MB as one object per entry; the tables must stay near their column widths."""
    n = 60_000
    rows = ile_rows(n)
    nos = [r[0] for r in rows]
    vrows = ve_rows(nos, [1 + no % 3 for no in nos])  # 2 value entries per ILE on average
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        intern = _Interner()
        iles = IleTable(iter(rows), intern)
        ves = VeTable(iter(vrows), intern)
        for no in nos[::50]:  # some lookups fill the record cache
            iles[no]
            ves[no]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_entry = used / (len(rows) + len(vrows))
    # columns: ~70 bytes per ILE, ~100 per value entry (plus array growth, adjusted_actual and
    # the cache); one object per entry was 450+ bytes.
    assert per_entry < 160, f"{per_entry:.0f} bytes per entry"
