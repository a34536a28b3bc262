"""Fuzzing the CSV importer: random bytes, random cells, damaged exports.

Whatever the input, the import ends in a clean ``InputError`` (every problem shaped
``file[:row]: ...``, the ledger unchanged) or in a correct import (a round trip of the result is
byte-identical). Never another exception, never a partial write.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_builder import LedgerBuilder
from test_ledger_csv import read_dir, rich_ledger, snapshot

from invrecon.errors import InputError
from invrecon.ledger import open_ledger
from invrecon.ledger_csv import export_ledger, import_ledger

PROBLEM = re.compile(r"^[a-z_]+\.csv(:\d+)?: \S|^\.\.\. and \d+ more$")
# CI default; INVRECON_FUZZ_EXAMPLES=1000 for a long run
EXAMPLES = int(os.environ.get("INVRECON_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A standard ledger file copied for every example (fresh state, cheap)."""
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    db = open_ledger(path, create=True)
    LedgerBuilder.standard(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture(scope="module")
def rich_export(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("rich")
    db = open_ledger(d / "rich.db", create=True)
    rich_ledger(db)
    export_ledger(db, d / "out")
    db.close()
    return read_dir(d / "out")


def check_import(template: Path, files: dict[str, bytes]) -> str:
    """Import ``files`` into a copy of the template; assert the contract; return the outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        db_path = tmp_path / "l.db"
        shutil.copy(template, db_path)
        d = tmp_path / "in"
        d.mkdir()
        for name, data in files.items():
            (d / name).write_bytes(data)
        db = open_ledger(db_path)
        try:
            before = snapshot(db)
            try:
                import_ledger(db, d)
            except InputError as exc:
                assert exc.problems, "an InputError lists its problems"
                for p in exc.problems:
                    assert PROBLEM.match(p), p
                    assert "\n" not in p and "Traceback" not in p
                assert snapshot(db) == before, "nothing written after an error"
                assert not db.conn.in_transaction
                return "refused"
            # a correct import: the resulting ledger round-trips exactly
            export_ledger(db, tmp_path / "a")
            db2 = open_ledger(tmp_path / "b.db", create=True)
            try:
                import_ledger(db2, tmp_path / "a")
                assert snapshot(db2) == snapshot(db)
                export_ledger(db2, tmp_path / "b")
            finally:
                db2.close()
            assert read_dir(tmp_path / "a") == read_dir(tmp_path / "b")
            return "imported"
        finally:
            db.close()


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(template, data):
    check_import(template, {"value_entries.csv": data})


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_after_a_valid_header(template, data):
    header = b"Entry No.,Item No.,Posting Date,Entry Type,Cost Amount (Actual)\r\n"
    check_import(template, {"value_entries.csv": header + data})


NASTY = [
    "", " ", "0", "1", "-1", "-0", "-0.00", "1.5", "1.234", "1.23456", "1.234567", "1e3", "1e309",
    "NaN", "inf", "-inf", "1,000", "=1+1", "+1", "@x", "'=1", "''=1", "\t1", "2025-01-15",
    "2025-02-30", "C2025-12-31", "9223372036854775807", "9223372036854775808", "99999999999999999999",
    "A", "B", "NOPE", "Direct Cost", "direct cost", "Variance", "Purchase", "Sale", "Yes", "no",
    "true", "\x00", "\ufeff", "\r", "\n", '"', "é", "€", "x" * 3000,
]
cell = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
VALID = {
    "Entry No.": None,  # filled with the row number (sometimes repeated)
    "Item No.": ["A", "B", ""],
    "Posting Date": ["2025-01-15", "2024-02-29"],
    "Entry Type": ["Direct Cost", "Variance", "revaluation"],
    "Cost Amount (Actual)": ["0", "-0.00", "12.5", "-3.33", "+1", " 7 "],
    "Valued Quantity": ["1", "0.00001", "-2.5", ""],
    "Expected Cost": ["Yes", "no", "1", ""],
    "Item Ledger Entry Type": ["Purchase", "", "Sale"],
    "Document No.": ["=1+1", "'=x", "D1", "", "é€", "a,b", 'q"q', "line\nbreak"],
    "Variance Type": ["", "Material"],
    "Valuation Date": ["", "2025-01-01"],
}
REQUIRED = ["Entry No.", "Posting Date", "Entry Type"]


@st.composite
def value_entry_files(draw):
    """Mostly-valid value entry files with a few nasty cells, columns and layouts."""
    optional = [c for c in VALID if c not in REQUIRED]
    columns = REQUIRED + draw(st.lists(st.sampled_from(optional), unique=True, max_size=6))
    columns = draw(st.permutations(columns))
    if draw(st.integers(0, 9)) == 0:  # an unknown, ignorable or duplicate column, or one missing
        columns = draw(st.sampled_from([
            [*columns, "Bogus"], [*columns, "Variant Code"], [*columns, "entry_no"], columns[1:]]))
    n = draw(st.integers(0, 6))
    rows = []
    for i in range(n):
        row = []
        for c in columns:
            if draw(st.integers(0, 14)) == 0:
                row.append(draw(cell))
            elif c in ("Entry No.", "entry_no"):
                row.append(str(draw(st.sampled_from([i + 1, i + 1, i + 1, max(i, 1)]))))
            elif c in VALID:
                row.append(draw(st.sampled_from(VALID[c])))
            else:
                row.append(draw(cell))
        if draw(st.integers(0, 19)) == 0:
            row = row[:-1]
        rows.append(row)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    w.writerow(columns)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@SETTINGS
@given(data=value_entry_files())
def test_random_cells(template, data):
    check_import(template, {"value_entries.csv": data})


@SETTINGS
@given(data=st.data())
def test_damaged_exports(template, rich_export, data):
    """A valid export with one file truncated, or with bytes flipped/inserted."""
    files = dict(rich_export)
    name = data.draw(st.sampled_from(sorted(files)))
    raw = files[name]
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    pos = data.draw(st.integers(0, len(raw)))
    if kind == "truncate":
        raw = raw[:pos]
    elif kind == "flip":
        b = data.draw(st.integers(0, 255))
        raw = raw[:pos] + bytes([b]) + raw[pos + 1:]
    else:
        raw = raw[:pos] + data.draw(st.binary(min_size=1, max_size=5)) + raw[pos:]
    files[name] = raw
    # the template holds the standard setup; the rich export's entries are new to it, but its
    # master data overlaps: upserts are fine, so a clean file imports
    check_import(template, files)


def test_undamaged_rich_export_imports_into_the_template(template, rich_export):
    assert check_import(template, rich_export) == "imported"


@st.composite
def model_and_row(draw):
    from invrecon.models import ROW_MODELS

    model = draw(st.sampled_from(ROW_MODELS))
    names = list(model.model_fields)
    required = [n for n in names if model.model_fields[n].is_required()]
    optional = [n for n in names if n not in required]
    columns = draw(st.permutations(required + draw(st.lists(st.sampled_from(optional),
                                                                  unique=True))))
    row = [draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=8),
                          st.sampled_from([v for vs in VALID.values() if vs for v in vs])))
           for _ in columns]
    return model, list(enumerate(columns)), row


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(case=model_and_row())
def test_row_parser_is_exactly_the_model(case):
    """The importer's fast path gives the model's values, and fails exactly when it fails."""
    from pydantic import ValidationError

    model, mapping, row = case
    try:
        expected = model.model_validate({c: row[i] for i, c in mapping}).db_values()
    except ValidationError:
        expected = None
    try:
        got = model.row_parser(mapping)(row)
    except Exception:
        got = None
    assert got == expected
