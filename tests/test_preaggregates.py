"""The per-day pre-aggregates (issue 7) never disagree with the entries, after every kind of
write, including a killed one; the engines give the same results with and without them."""

from __future__ import annotations

import random
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kill_harness import (
    build_ledger,
    invrecon_argv,
    kill_iterations,
    random_delays,
    run_and_kill,
    run_to_end,
    write_journal,
)
from ledger_builder import LedgerBuilder

from invrecon import preaggregates, reconciliation
from invrecon.drilldown import drill_entries, drill_lines
from invrecon.filters import LedgerFilter
from invrecon.integrity import check_ledger
from invrecon.ledger import open_ledger, write_transaction
from invrecon.reconciliation import compute_matrix

FILTERS = [
    LedgerFilter(),
    LedgerFilter.from_text("2025-01", "2025-01"),
    LedgerFilter.from_text(None, "2025-01-20"),
    LedgerFilter.from_text("2025-01-16", None, include_closing=False),
    LedgerFilter(location="BLUE"),
    LedgerFilter(item="A"),
    LedgerFilter(item="B", location="RED|BLUE"),
]


def assert_clean(db) -> None:
    assert preaggregates.available(db)
    assert [(m.table, m.count, m.examples) for m in preaggregates.check(db)] == []


def matrix_json(db, f: LedgerFilter, *, agg: bool) -> dict:
    old = reconciliation.USE_PREAGGREGATES
    reconciliation.USE_PREAGGREGATES = agg
    try:
        m = compute_matrix(db, f, show_warning=True, per_account=True)
        return m.to_json()
    finally:
        reconciliation.USE_PREAGGREGATES = old


def assert_same_results(db, filters=FILTERS) -> None:
    for f in filters:
        assert matrix_json(db, f, agg=True) == matrix_json(db, f, agg=False), f.describe()


# ---------------------------------------------------------------------------------------------
# Random ledgers and random writes of every SQL kind


CLASSES = [("Purchase", "Direct Cost", ""), ("Sale", "Direct Cost", ""),
           ("Purchase", "Revaluation", ""), ("Positive Adjmt.", "Direct Cost", ""),
           ("Output", "Variance", "Material"), ("Consumption", "Direct Cost", ""),
           ("", "Direct Cost", "")]
ACCOUNTS = ["2130", "2131", "5290", "7190", "7191", "7180", "7290", None]
DATES = ["2025-01-10", "2025-01-15", "2025-01-31", "2025-02-01"]


def _op(db, b: LedgerBuilder, rng: random.Random, kind: str) -> None:
    ves = [r[0] for r in db.execute("SELECT entry_no FROM value_entry")]
    gls = [r[0] for r in db.execute("SELECT entry_no FROM gl_entry")]
    rels = db.execute("SELECT gl_entry_no, value_entry_no FROM gl_item_ledger_relation").fetchall()
    if kind == "ve" or not ves:
        ile, et, vt = rng.choice(CLASSES)
        a = rng.choice([0, 100, -250, 1234])
        e = rng.choice([0, 0, 500, -70])
        b.value_entry(item_ledger_entry_type=ile, entry_type=et, variance_type=vt,
                      item_no=None if ile == "" else rng.choice(["A", "B", "SVC"]),
                      order_type=rng.choice(["", "Assembly"]) if ile == "" else "",
                      posting_date=rng.choice(DATES), location_code=rng.choice(["", "BLUE", "RED"]),
                      cost_amount_actual=a, cost_amount_expected=e,
                      cost_posted_to_gl=rng.choice([0, a, a + 1]),
                      expected_cost_posted_to_gl=rng.choice([0, e]),
                      source_type=rng.choice(["", "Item"]), source_no=rng.choice(["", "B"]))
    elif kind == "gl" or not gls:
        b.gl_entry(rng.choice(ACCOUNTS), rng.choice([100, -100, 250, -1234, 0, 33]),
                   posting_date=rng.choice(DATES), closing=rng.choice([0, 0, 0, 1]))
    elif kind == "rel":
        g, v = rng.choice(gls), rng.choice(ves)
        db.execute("INSERT OR IGNORE INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                   "VALUES (?, ?)", [g, v])
    elif kind == "upd_ve":
        v = rng.choice(ves)
        col, val = rng.choice([("cost_posted_to_gl", rng.choice([0, 100, -250, 1234])),
                               ("expected_cost_posted_to_gl", rng.choice([0, 500, -70])),
                               ("cost_amount_actual", rng.choice([0, 100, 1234])),
                               ("location_code", rng.choice(["", "BLUE"])),
                               ("posting_date", rng.choice(DATES)),
                               ("entry_type", "Revaluation")])
        db.execute(f"UPDATE value_entry SET {col} = ? WHERE entry_no = ?", [val, v])
    elif kind == "post_all":  # the posting engine's set-based UPDATE
        db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual, "
                   "expected_cost_posted_to_gl = cost_amount_expected")
    elif kind == "upd_gl":
        g = rng.choice(gls)
        col, val = rng.choice([("amount", rng.choice([100, -100, 0, 77])),
                               ("posting_date", rng.choice(DATES)),
                               ("gl_account_no", rng.choice(ACCOUNTS)), ("closing", 1)])
        db.execute(f"UPDATE gl_entry SET {col} = ? WHERE entry_no = ?", [val, g])
    elif kind == "del_rel" and rels:
        g, v = rng.choice(rels)
        db.execute("DELETE FROM gl_item_ledger_relation WHERE gl_entry_no = ? AND "
                   "value_entry_no = ?", [g, v])
    elif kind == "del_gl":
        db.execute("DELETE FROM gl_entry WHERE entry_no = ? AND NOT EXISTS (SELECT 1 FROM "
                   "gl_item_ledger_relation WHERE gl_entry_no = entry_no)", [rng.choice(gls)])
    elif kind == "del_ve":
        db.execute("DELETE FROM value_entry WHERE entry_no = ? AND NOT EXISTS (SELECT 1 FROM "
                   "gl_item_ledger_relation WHERE value_entry_no = entry_no)", [rng.choice(ves)])
    elif kind == "multi":  # one G/L entry linked to several value entries (per posting group)
        vs = rng.sample(ves, min(len(ves), rng.randint(2, 4)))
        total = sum(abs(db.execute("SELECT cost_posted_to_gl FROM value_entry WHERE entry_no = ?",
                                   [v]).fetchone()[0]) for v in vs)
        g = b.gl_entry(rng.choice(ACCOUNTS), rng.choice([total, -total, total + 1]),
                       posting_date=rng.choice(DATES))
        for v in vs:
            db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                       "VALUES (?, ?)", [g, v])


KINDS = ["ve", "gl", "rel", "upd_ve", "post_all", "upd_gl", "del_rel", "del_gl", "del_ve",
         "multi"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6),
       ops=st.lists(st.sampled_from(KINDS), min_size=5, max_size=40))
def test_random_writes_keep_preaggregates_exact_and_results_equal(tmp_path_factory, seed, ops):
    path = tmp_path_factory.mktemp("agg") / "l.db"
    db = open_ledger(path, create=True)
    b = LedgerBuilder.standard(db)
    b.item("SVC", type="Service")
    rng = random.Random(seed)
    for _ in range(6):
        _op(db, b, rng, "ve")
    for kind in ops:
        _op(db, b, rng, kind)
    assert_clean(db)
    assert_same_results(db)
    db.close()


def test_each_trigger_path_on_a_multi_linked_entry(db, builder):
    """A G/L entry linked to three value entries passes through the cases X -> A -> X -> single."""
    b = builder
    v = [b.value_entry(cost_amount_actual=x) for x in (100, 200, 300)]
    g = b.gl_entry("2130", 600)
    for n in v:
        db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES (?, ?)",
                   [g, n])
        assert_clean(db)
    assert db.execute("SELECT c FROM agg_gl_multi WHERE g = ?", [g]).fetchone()[0] == "X"
    for n in v:  # posting sets the posted fields one by one
        db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual WHERE entry_no = ?",
                   [n])
        assert_clean(db)
    assert db.execute("SELECT c FROM agg_gl_multi WHERE g = ?", [g]).fetchone()[0] == "A"
    db.execute("UPDATE gl_entry SET amount = 601 WHERE entry_no = ?", [g])
    assert_clean(db)
    assert db.execute("SELECT c FROM agg_gl_multi WHERE g = ?", [g]).fetchone()[0] == "X"
    db.execute("UPDATE gl_entry SET amount = -600 WHERE entry_no = ?", [g])
    assert_clean(db)
    assert_same_results(db)
    for n in v[:2]:
        db.execute("DELETE FROM gl_item_ledger_relation WHERE value_entry_no = ?", [n])
        assert_clean(db)
    assert db.execute("SELECT count(*) FROM agg_gl_multi").fetchone()[0] == 0
    assert_same_results(db)


def test_relation_update_is_refused(db, builder):
    v = builder.value_entry(cost_amount_actual=100)
    g = builder.gl_entry("2130", 100)
    db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES (?, ?)",
               [g, v])
    with pytest.raises(sqlite3.IntegrityError, match="DELETE and INSERT"):
        db.execute("UPDATE gl_item_ledger_relation SET value_entry_no = ?", [v])


BIG = 5 * 10**18  # minor units: two of them leave the range of 64-bit integers
INT64_MAX = 2**63 - 1


def test_a_total_through_64_bits_is_exact_or_refused_never_rounded(db, builder):
    """SQLite turns an integer sum beyond 64 bits into a REAL, and a STRICT INTEGER column takes
    a whole REAL back: a running total that passed through 2^63 was stored rounded."""
    b = builder
    b.value_entry(cost_amount_actual=BIG)
    b.value_entry(cost_amount_actual=100)
    assert_clean(db)
    # posting sets the posted fields; Cost Amount (Actual) is unchanged, so its total must not
    # move (it was BIG + 100 + BIG - BIG, rounded to BIG once the REAL came back)
    db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual")
    assert_clean(db)
    assert db.execute(f"SELECT actual, posted_actual FROM {preaggregates.VE_TOTAL}").fetchall() \
        == [(BIG + 100, BIG + 100)]
    # a total that really leaves the range: SQLite's own overflow error, nothing stored
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        b.value_entry(cost_amount_actual=BIG)
    assert_clean(db)


def test_a_total_just_below_the_smallest_integer_is_refused(db, builder):
    """-2^63 - 5 has no 64-bit integer; its REAL is exactly -2^63, which a STRICT column took."""
    b = builder
    b.value_entry(cost_amount_actual=-INT64_MAX)
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        b.value_entry(cost_amount_actual=-6)
    assert_clean(db)
    assert db.execute(f"SELECT actual FROM {preaggregates.VE_TOTAL}").fetchall() == [(-INT64_MAX,)]


def test_a_multi_linked_entry_beyond_64_bits_is_refused(db, builder):
    """agg_gl_multi's sums of the members' posted amounts are guarded the same way."""
    b = builder
    # (their own totals fit: other items / locations)
    v = [b.value_entry(item_no=item, location_code=loc, cost_amount_actual=amount,
                       cost_posted_to_gl=amount)
         for item, loc, amount in (("A", "", BIG), ("B", "", 100), ("A", "BLUE", BIG))]
    g = b.gl_entry("2130", 1)
    for n in v[:2]:
        db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                   "VALUES (?, ?)", [g, n])
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):  # a third link
        db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                   "VALUES (?, ?)", [g, v[2]])
    assert db.execute(f"SELECT spa FROM {preaggregates.MULTI}").fetchall() == [(BIG + 100,)]
    assert_clean(db)


# ---------------------------------------------------------------------------------------------
# Every write path of the application


def test_sample_journal_import_and_adjust_cost_keep_them_exact(tmp_path):
    from invrecon.cost_adjustment import adjust_cost
    from invrecon.ledger_csv import export_ledger, import_ledger
    from invrecon.sample import generate_sample

    src = tmp_path / "sample.db"
    generate_sample(src, value_entries=1500, seed=3, post=True)  # journal, posting, adjustment
    db = open_ledger(src)
    assert_clean(db)
    assert db.execute("SELECT count(*) FROM agg_gl_multi").fetchone()[0] > 0  # per posting group
    assert_same_results(db, [LedgerFilter(), LedgerFilter.from_text("2025-03", "2025-03"),
                             LedgerFilter(location="BLUE"), LedgerFilter(item="1*")])
    export_ledger(db, tmp_path / "csv")
    new = open_ledger(tmp_path / "imported.db", create=True)
    import_ledger(new, tmp_path / "csv")
    assert_clean(new)
    with write_transaction(db):
        adjust_cost(db, post=True)
    assert_clean(db)
    # journal through the CLI
    journal = write_journal(tmp_path / "j.csv", 5)
    led = tmp_path / "j.db"
    build_ledger(led, 20, seed=2)
    r = run_to_end(invrecon_argv(led, "journal", str(journal)))
    assert r.returncode == 0, r.stderr
    jdb = open_ledger(led)
    assert jdb.execute("SELECT count(*) FROM value_entry").fetchone()[0] > 20
    assert_clean(jdb)
    with write_transaction(jdb):
        adjust_cost(jdb, post=True)
    assert_clean(jdb)
    assert_same_results(jdb)


@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_posting_keeps_them_exact_and_every_difference_zero(tmp_path, mode):
    from invrecon.posting import PostingRequest, post_inventory_cost

    path = tmp_path / "p.db"
    build_ledger(path, 300, seed=5)
    db = open_ledger(path)
    assert_clean(db)
    kw = {"document_no": "G1"} if mode == "per-posting-group" else {}
    post_inventory_cost(db, PostingRequest(mode=mode, **kw))
    assert_clean(db)
    m = compute_matrix(db)
    assert all(v == 0 for v in m.difference_cells().values())
    assert_same_results(db)
    assert check_ledger(db).ok


def test_integrity_check_reports_a_tampered_preaggregate(db, builder):
    builder.value_entry(cost_amount_actual=100)
    db.execute("UPDATE agg_value_entry_day SET actual = actual + 1")
    codes = [f.code for f in check_ledger(db).findings]
    assert "preaggregate_mismatch" in codes
    with write_transaction(db):
        preaggregates.rebuild(db)
    assert_clean(db)


def test_bulk_load_drops_triggers_and_rebuilds_in_the_same_transaction(db, builder):
    with write_transaction(db):
        with preaggregates.bulk_load(db):
            assert not preaggregates.available(db)
            for i in range(50):
                builder.value_entry(cost_amount_actual=i, posting_date=DATES[i % 4])
    assert_clean(db)
    assert_same_results(db)
    with pytest.raises(RuntimeError):
        with write_transaction(db):
            with preaggregates.bulk_load(db):
                builder.value_entry(cost_amount_actual=5)
                raise RuntimeError("boom")
    assert_clean(db)  # rolled back, triggers included
    assert db.execute("SELECT count(*) FROM value_entry").fetchone()[0] == 50


def test_killed_posting_leaves_them_exact(tmp_path):
    base = tmp_path / "base.db"
    build_ledger(base, 3000, seed=7)
    for i, delay in enumerate(random_delays(kill_iterations(3), 0.8, 3.0, seed=11)):
        path = tmp_path / f"k{i}.db"
        path.write_bytes(base.read_bytes())
        mode = ["post"] if i % 2 else ["post", "--per-posting-group", "--document-no", "K"]
        run_and_kill(invrecon_argv(path, *mode), delay)
        db = open_ledger(path)
        assert_clean(db)
        db.close()


def test_drill_pages_and_counts_agree_with_the_entries(db, builder):
    for i in range(30):
        builder.value_entry(cost_amount_actual=10 * i + 1, posting_date=DATES[i % 4],
                            item_ledger_entry_type="Sale" if i % 3 else "Purchase",
                            cost_amount_expected=5 if i % 5 == 0 else 0)
    v = builder.value_entry(cost_amount_actual=40, posting_date="2025-01-31", location_code="RED",
                            cost_posted_to_gl=40)
    for acct, amt, day in (("2130", 40, "2025-02-01"), ("7180", -40, "2025-01-31")):
        g = builder.gl_entry(acct, amt, posting_date=day)
        db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES "
                   "(?, ?)", [g, v])
    builder.gl_entry("2130", 7, posting_date="2025-01-20")  # unlinked
    for f in FILTERS:
        for row, col in [("cogs", "inventory"), ("total", "inventory"),
                         ("total", "inventory_interim"), ("cogs_interim", "inventory_interim"),
                         ("gl_total", "inventory"), ("difference", "inventory"),
                         ("direct_cost_applied", "gl_total")]:
            old = reconciliation.USE_PREAGGREGATES
            try:
                pages = []
                for agg in (True, False):
                    reconciliation.USE_PREAGGREGATES = agg
                    pages.append(drill_entries(db, row, col, f, limit=7).to_json())
                    pages.append(drill_lines(db, row, col, f).to_json())
            finally:
                reconciliation.USE_PREAGGREGATES = old
            assert pages[0] == pages[2] and pages[1] == pages[3]


# ---------------------------------------------------------------------------------------------
# A large posting run adds its deltas instead of rebuilding (preaggregates.PostingLoad)


def _capture_posting_loads(monkeypatch) -> list:
    from invrecon import posting

    monkeypatch.setattr(posting, "BULK_MIN_ENTRIES", 1)
    monkeypatch.setattr(posting, "BULK_SHARE_DIVISOR", 10**9)
    loads: list = []
    real = preaggregates.posting_load

    from contextlib import contextmanager

    @contextmanager
    def spy(d):
        with real(d) as load:
            loads.append(load)
            yield load

    monkeypatch.setattr(preaggregates, "posting_load", spy)
    return loads


@pytest.mark.parametrize("ecp", [False, True])
@pytest.mark.parametrize("mode", ["per-entry", "per-posting-group"])
def test_bulk_posting_adds_deltas_without_a_rebuild(db, monkeypatch, mode, ecp):
    from invrecon.posting import PostingRequest, post_inventory_cost

    loads = _capture_posting_loads(monkeypatch)
    rebuilds = []
    monkeypatch.setattr(preaggregates, "rebuild", lambda d: rebuilds.append(1))
    b = LedgerBuilder.standard(db, expected_cost_posting=ecp)
    b.item("SVC", type="Service")
    rng = random.Random(3)
    for _ in range(6):  # some history: posted entries with their G/L entries and links
        _op(db, b, rng, "ve")
    for kind in ["multi", "gl", "rel", "multi"]:
        _op(db, b, rng, kind)
    db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual, "
               "expected_cost_posted_to_gl = cost_amount_expected")
    for i in range(40):
        b.value_entry(item_no="AB"[i % 2], posting_date=DATES[i % 4],
                      item_ledger_entry_type=("Purchase", "Sale", "Output")[i % 3],
                      cost_amount_actual=(i + 1) * (-1 if i % 3 == 1 else 1),
                      cost_amount_expected=7 if i % 5 == 0 else 0,
                      location_code="BLUE" if i % 4 else "")
    report = post_inventory_cost(db, PostingRequest(
        mode=mode, document_no="G" if mode == "per-posting-group" else None))
    assert report.posted_value_entries == 40
    assert [ld.method for ld in loads] == ["delta"]
    # the engine collects the new G/L amounts and pieces itself, in both modes (per posting
    # group the multi-linked G/L entries' splits are all regular here: nothing corrected)
    assert loads[0].lines_collected and loads[0].corrected == 0
    assert rebuilds == []
    assert_clean(db)
    assert_same_results(db)


@pytest.mark.parametrize("amounts, case, ecp", [
    # (Cost Amount (Actual), Cost Posted to G/L, Cost Amount (Expected)) of two entries of one
    # posting group, posted before without G/L links: the lines (50 and 30) are not the
    # posted amounts' sizes ...
    (((30, -20, 0), (50, 20, 0)), "A", False),  # ... yet they add up to the G/L amount
    (((80, 50, 0), (70, 40, 0)), "X", False),  # ... and nothing adds up
    # expected cost posting: the interim line's entries' actual amounts add up to the G/L
    # amount too, so the split takes them (case A is tried first), not the expected ones
    (((50, 0, 30), (30, 0, 50)), "A", True),
])
def test_per_group_run_with_an_irregular_split_corrects_its_pieces(
        db, monkeypatch, amounts, case, ecp):
    """Per posting group the engine assumes each member's piece is its own line amount; when
    a multi-linked G/L entry's split says otherwise (the case agg_gl_multi records decides),
    those pieces are corrected in SQL (no rebuild) and the aggregates stay exact."""
    from invrecon.posting import PostingRequest, post_inventory_cost

    loads = _capture_posting_loads(monkeypatch)
    rebuilds = []
    monkeypatch.setattr(preaggregates, "rebuild", lambda d: rebuilds.append(1))
    b = LedgerBuilder.standard(db, expected_cost_posting=ecp)
    for actual, posted, expected in amounts:
        b.value_entry(item_no="A", posting_date=DATES[0], cost_amount_actual=actual,
                      cost_posted_to_gl=posted, cost_amount_expected=expected)
    for i in range(6):  # regular groups in the same run
        b.value_entry(item_no="B", posting_date=DATES[i % 2], cost_amount_actual=10 + i)
    report = post_inventory_cost(db, PostingRequest(mode="per-posting-group", document_no="G"))
    assert report.posted_value_entries == 8
    assert [ld.method for ld in loads] == ["delta"] and rebuilds == []
    assert loads[0].lines_collected and loads[0].corrected == 2  # the line and its balance
    cases = db.execute(f"SELECT c FROM {preaggregates.MULTI} ORDER BY g").fetchall()
    assert (case,) in cases
    assert_clean(db)
    assert_same_results(db)


def test_bulk_posting_of_an_entry_that_already_has_links_rebuilds(db, monkeypatch):
    """Re-posting a partly posted, already linked value entry changes its existing pieces'
    match flags: the run falls back to the full rebuild (and stays exact)."""
    from invrecon.posting import PostingRequest, post_inventory_cost

    loads = _capture_posting_loads(monkeypatch)
    b = LedgerBuilder.standard(db)
    v = b.value_entry(item_no="A", cost_amount_actual=80, cost_posted_to_gl=50)
    g = b.gl_entry("2130", 50)
    db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) VALUES (?, ?)",
               [g, v])
    b.value_entry(item_no="B", cost_amount_actual=10)
    assert_clean(db)
    post_inventory_cost(db, PostingRequest())
    assert [(ld.method, ld.rebuild_reason) for ld in loads] == [
        ("rebuild", "a posted value entry already had G/L links")]
    assert_clean(db)
    assert_same_results(db)


def test_posting_load_rebuilds_when_the_writer_collected_nothing(db, builder):
    v = builder.value_entry(item_no="A", cost_amount_actual=80)
    with write_transaction(db):
        with preaggregates.posting_load(db) as load:
            g = builder.gl_entry("2130", 80)
            db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                       "VALUES (?, ?)", [g, v])
            db.execute("UPDATE value_entry SET cost_posted_to_gl = 80")
    assert (load.method, load.rebuild_reason) == (
        "rebuild", "the writer did not collect the G/L amounts of its lines")
    assert_clean(db)


def test_posting_load_rebuilds_when_older_links_change(db, builder):
    v = builder.value_entry(item_no="A", cost_amount_actual=80, cost_posted_to_gl=80)
    g = builder.gl_entry("2130", 80)
    with write_transaction(db):
        with preaggregates.posting_load(db) as load:
            load.collect_lines()  # (nothing to collect: no new lines)
            db.execute("INSERT INTO gl_item_ledger_relation (gl_entry_no, value_entry_no) "
                       "VALUES (?, ?)", [g, v])
    assert (load.method, load.rebuild_reason) == ("rebuild", "relation rows of older G/L entries changed")
    assert_clean(db)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6),
       ops=st.lists(st.sampled_from(KINDS), min_size=3, max_size=25),
       mode=st.sampled_from(["per-entry", "per-posting-group"]), ecp=st.booleans(),
       filt=st.sampled_from(FILTERS[:6]), stage_keys=st.sampled_from([0, 2, 50_000]))
def test_random_ledgers_stay_exact_after_a_bulk_posting_run(tmp_path_factory, seed, ops, mode,
                                                            ecp, filt, stage_keys):
    from invrecon import posting
    from invrecon.posting import PostingRequest, post_inventory_cost

    path = tmp_path_factory.mktemp("aggpost") / "l.db"
    db = open_ledger(path, create=True)
    b = LedgerBuilder.standard(db, expected_cost_posting=ecp)
    b.item("SVC", type="Service")
    rng = random.Random(seed)
    for _ in range(8):
        _op(db, b, rng, "ve")
    for kind in ops:
        _op(db, b, rng, kind)
    old = posting.BULK_MIN_ENTRIES, posting.BULK_SHARE_DIVISOR, posting.STAGE_KEYS
    posting.BULK_MIN_ENTRIES, posting.BULK_SHARE_DIVISOR = 1, 10**9
    posting.STAGE_KEYS = stage_keys  # how often the deltas go to the stage tables
    try:
        post_inventory_cost(db, PostingRequest(
            mode=mode, filters=filt,
            document_no="G" if mode == "per-posting-group" else None))
    finally:
        posting.BULK_MIN_ENTRIES, posting.BULK_SHARE_DIVISOR, posting.STAGE_KEYS = old
    assert_clean(db)
    assert_same_results(db)
    db.close()


def test_opening_an_earlier_ledger_makes_its_triggers_exact(tmp_path, monkeypatch):
    """A ledger made before migration 0004 has triggers that round a total which passed
    through 2^63; opening it for writing re-creates them."""
    def guarded(path) -> int:  # triggers with the typeof() guard
        c = sqlite3.connect(path)
        try:
            return sum("typeof(" in sql for (sql,) in c.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger'"))
        finally:
            c.close()

    open_ledger(tmp_path / "fresh.db", create=True).close()
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(preaggregates, "_exact", lambda expr: expr)  # the triggers as they were
        db = open_ledger(path, create=True)
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0004_exact_preaggregate_triggers'")
    db.close()
    assert guarded(path) == 0 < guarded(tmp_path / "fresh.db")
    db = open_ledger(path)
    b = LedgerBuilder.standard(db)
    b.value_entry(cost_amount_actual=BIG)
    b.value_entry(cost_amount_actual=100)
    db.execute("UPDATE value_entry SET cost_posted_to_gl = cost_amount_actual")
    assert_clean(db)  # (the old triggers stored BIG for BIG + 100)
    db.close()
    assert guarded(path) == guarded(tmp_path / "fresh.db")
