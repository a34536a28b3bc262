"""Every kind of bad CSV input is refused with file:row: column: problem, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ledger_csv import snapshot, write_csv

from invrecon.errors import InputError
from invrecon.ledger_csv import import_ledger

VE = ["Entry No.", "Item No.", "Posting Date", "Entry Type", "Cost Amount (Actual)",
      "Valued Quantity"]
GOOD = ["1", "A", "2025-01-15", "Direct Cost", "10.00", "1"]


def refused(db, directory: Path) -> list[str]:
    """Import must fail, list its problems, and leave the ledger exactly as it was."""
    before = snapshot(db)
    with pytest.raises(InputError) as ei:
        import_ledger(db, directory)
    assert snapshot(db) == before
    assert not db.conn.in_transaction
    assert str(ei.value).startswith(ei.value.problems[0])
    return ei.value.problems


def ve_file(tmp_path: Path, *rows: list[str], header: list[str] = VE) -> Path:
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [header, GOOD, *rows])
    return d


@pytest.mark.parametrize(("cell", "problem"), [
    ("2025-02-30", "'2025-02-30' is not a valid calendar date"),
    ("2025-13-01", "'2025-13-01' is not a valid calendar date"),
    ("01/15/2025", "'01/15/2025' is not a date in the form YYYY-MM-DD"),
    ("2025-1-5", "'2025-1-5' is not a date in the form YYYY-MM-DD"),
    ("C2025-12-31", "'C2025-12-31' is not a date in the form YYYY-MM-DD"),  # only G/L entries
    ("", "must not be blank (a date YYYY-MM-DD)"),
])
def test_bad_date(builder, tmp_path, cell, problem):
    d = ve_file(tmp_path, ["2", "A", cell, "Direct Cost", "1", "1"])
    assert refused(builder.db, d) == [f"value_entries.csv:3: Posting Date: {problem}"]


@pytest.mark.parametrize(("cell", "problem"), [
    ("1.234", "amount 1.234 has more than 2 decimals"),
    ("0.001", "amount 0.001 has more than 2 decimals"),
    ("1e3", "amount '1e3' is not a plain decimal number"),
    ("1e309", "amount '1e309' is not a plain decimal number"),
    ("NaN", "amount 'NaN' is not a plain decimal number"),
    ("inf", "amount 'inf' is not a plain decimal number"),
    ("1,000.00", "amount '1,000.00' is not a plain decimal number"),
    ("=1+1", "amount '=1+1' is not a plain decimal number"),
    ("'-12.50", "amount \"'-12.50\" is not a plain decimal number"),
    ("12.", "amount '12.' is not a plain decimal number"),
    ("abc", "amount 'abc' is not a plain decimal number"),
    ("--1", "amount '--1' is not a plain decimal number"),
    ("92233720368547758.08", "amount 92233720368547758.08 is too large"),
    ("1" + "0" * 40, "amount 1" + "0" * 40 + " is too large"),
])
def test_bad_amount(builder, tmp_path, cell, problem):
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Cost", cell, "1"])
    assert refused(builder.db, d) == [f"value_entries.csv:3: Cost Amount (Actual): {problem}"]


@pytest.mark.parametrize(("cell", "problem"), [
    ("1.000001", "quantity 1.000001 has more than 5 decimals"),
    ("92233720368548", "quantity 92233720368548 is too large"),
    ("1e2", "quantity '1e2' is not a plain decimal number"),
])
def test_bad_quantity(builder, tmp_path, cell, problem):
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Cost", "1", cell])
    assert refused(builder.db, d) == [f"value_entries.csv:3: Valued Quantity: {problem}"]


def test_negative_zero_and_edge_amounts_are_exact(builder, tmp_path):
    d = ve_file(tmp_path,
                ["2", "A", "2025-01-15", "Direct Cost", "-0.00", "-0"],
                ["3", "A", "2025-01-15", "Direct Cost", "922337203685477.58", "0.00001"],
                ["4", "A", "2025-01-15", "Direct Cost", " 1.5 ", "1.50000"],
                ["5", "A", "2025-01-15", "Direct Cost", "+2", "92233720368547.75807"])
    import_ledger(builder.db, d)
    rows = builder.db.execute("SELECT entry_no, cost_amount_actual, valued_quantity FROM value_entry "
                              "ORDER BY entry_no").fetchall()
    assert rows == [(1, 1000, 100000), (2, 0, 0), (3, 92233720368547758, 1), (4, 150, 150000),
                    (5, 200, 2**63 - 1)]


@pytest.mark.parametrize(("cell", "problem"), [
    ("9223372036854775808", "entry no. 9223372036854775808 is too large (at most 9223372036854775807)"),
    ("99999999999999999999999999999", "entry no. 99999999999999999999999999999 is too large (at most 9223372036854775807)"),
    ("0", "entry no. 0 must be at least 1"),
    ("-5", "entry no. '-5' must not be negative"),
    ("1.0", "entry no. '1.0' is not a whole number"),
    ("", "must not be blank (a entry no.)"),
])
def test_bad_entry_no(builder, tmp_path, cell, problem):
    d = ve_file(tmp_path, [cell, "A", "2025-01-15", "Direct Cost", "1", "1"])
    assert refused(builder.db, d) == [f"value_entries.csv:3: Entry No.: {problem}"]


def test_entry_no_at_the_int64_limit_is_fine(builder, tmp_path):
    d = ve_file(tmp_path, ["9223372036854775807", "A", "2025-01-15", "Direct Cost", "1", "1"])
    import_ledger(builder.db, d)
    assert builder.db.execute("SELECT max(entry_no) FROM value_entry").fetchone()[0] == 2**63 - 1


def test_unknown_enum_names_the_allowed_values(builder, tmp_path):
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Costs", "1", "1"])
    assert refused(builder.db, d) == [
        "value_entries.csv:3: Entry Type: unknown value 'Direct Costs'; allowed: Direct Cost, "
        "Revaluation, Rounding, Indirect Cost, Variance"]
    d2 = tmp_path / "in2"
    write_csv(d2, "value_entries.csv", [["Entry No.", "Posting Date", "Entry Type", "Variance Type",
                                         "Item Ledger Entry Type"],
                                        ["1", "2025-01-01", "", "Overhead", "Sales"]])
    assert refused(builder.db, d2) == [
        "value_entries.csv:2: Item Ledger Entry Type: unknown value 'Sales'; allowed: Purchase, "
        "Sale, Positive Adjmt., Negative Adjmt., Transfer, Consumption, Output, (blank), "
        "Assembly Consumption, Assembly Output",
        "value_entries.csv:2: Entry Type: must not be blank; allowed: Direct Cost, Revaluation, "
        "Rounding, Indirect Cost, Variance",
        "value_entries.csv:2: Variance Type: unknown value 'Overhead'; allowed: (blank), Purchase, "
        "Material, Capacity, Capacity Overhead, Manufacturing Overhead, Subcontracted",
    ]


def test_bad_boolean(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "gl_accounts.csv", [["No.", "Blocked"], ["X", "Y"]])
    assert refused(builder.db, d) == [
        "gl_accounts.csv:2: Blocked: 'Y' is not a boolean (use Yes/No, true/false or 1/0)"]


def test_duplicate_entry_no_within_the_file(builder, tmp_path):
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Cost", "1", "1"],
                ["1", "A", "2025-01-15", "Direct Cost", "1", "1"])
    assert refused(builder.db, d) == [
        "value_entries.csv:4: Entry No.: entry no. 1 appears more than once in the file"]


def test_duplicate_entry_no_against_the_ledger(builder, tmp_path):
    builder.value_entry()  # entry no. 1
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Cost", "1", "1"])
    assert refused(builder.db, d) == [
        "value_entries.csv:2: Entry No.: entry no. 1 already exists in the ledger"]


def test_duplicate_master_data_key_within_the_file(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "items.csv", [["No."], ["X"], ["Y"], ["X"]])
    write_csv(d, "inventory_posting_setup.csv", [["Location Code", "Invt. Posting Group Code"],
                                                 ["", "RAW"], ["", "RAW"]])
    assert refused(builder.db, d) == [
        "items.csv:4: No.: 'X' appears twice in the file (also on row 2)",
        "inventory_posting_setup.csv:3: Location Code: ', RAW' appears twice in the file "
        "(also on row 2)",
    ]


def test_missing_required_columns(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [["Item No.", "Cost Amount (Actual)"], ["A", "1"]])
    write_csv(d, "gl_entries.csv", [["Entry No.", "Posting Date"], ["1", "2025-01-01"]])
    write_csv(d, "inventory_posting_setup.csv", [["Invt. Posting Group Code"], ["RAW"]])
    assert refused(builder.db, d) == [
        "inventory_posting_setup.csv:1: missing required column 'Location Code'",
        "value_entries.csv:1: missing required column 'Entry No.'",
        "value_entries.csv:1: missing required column 'Posting Date'",
        "value_entries.csv:1: missing required column 'Entry Type'",
        "gl_entries.csv:1: missing required column 'Amount'",
    ]


def test_foreign_keys_to_missing_item_account_and_entries(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [VE, GOOD, ["2", "NOPE", "2025-01-15", "Direct Cost", "1", "1"]])
    write_csv(d, "item_ledger_entries.csv", [["Entry No.", "Item No.", "Posting Date", "Entry Type"],
                                             ["1", "GONE", "2025-01-15", "Purchase"]])
    write_csv(d, "gl_entries.csv", [["Entry No.", "G/L Account No.", "Posting Date", "Amount"],
                                    ["1", "2130", "2025-01-15", "10"],
                                    ["2", "9999", "2025-01-15", "-10"],
                                    ["3", "", "2025-01-15", "0"]])
    write_csv(d, "gl_item_ledger_relations.csv", [["G/L Entry No.", "Value Entry No."],
                                                  ["1", "1"], ["1", "77"], ["88", "1"]])
    assert refused(builder.db, d) == [
        "item_ledger_entries.csv:2: Item No.: item 'GONE' does not exist (not in the ledger, "
        "not in items.csv)",
        "value_entries.csv:3: Item No.: item 'NOPE' does not exist (not in the ledger, "
        "not in items.csv)",
        "gl_entries.csv:3: G/L Account No.: G/L account '9999' does not exist (not in the "
        "ledger, not in gl_accounts.csv)",
        "gl_item_ledger_relations.csv:3: Value Entry No.: value entry 77 does not exist (not "
        "in the ledger, not in value_entries.csv)",
        "gl_item_ledger_relations.csv:4: G/L Entry No.: G/L entry 88 does not exist (not in "
        "the ledger, not in gl_entries.csv)",
    ]


def test_references_to_rows_that_failed_are_not_reported_twice(db, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "items.csv", [["No.", "Unit Cost"], ["X", "1.0000001"]])
    write_csv(d, "value_entries.csv", [VE, ["1", "X", "2025-01-15", "Direct Cost", "1", "1"]])
    assert refused(db, d) == ["items.csv:2: Unit Cost: unit cost 1.0000001 has more than 5 decimals"]


def test_all_problems_are_listed_then_capped(builder, tmp_path):
    rows = [[str(i), "A", "2025-02-30", "Direct Cost", "1.001", "1"] for i in range(2, 40)]
    d = ve_file(tmp_path, *rows)
    before = snapshot(builder.db)
    with pytest.raises(InputError) as ei:
        import_ledger(builder.db, d, max_problems=50)
    problems = ei.value.problems
    assert len(problems) == 51
    assert problems[:2] == [
        "value_entries.csv:3: Posting Date: '2025-02-30' is not a valid calendar date",
        "value_entries.csv:3: Cost Amount (Actual): amount 1.001 has more than 2 decimals",
    ]
    assert problems[-1] == "... and 26 more"
    assert str(ei.value) == ("value_entries.csv:3: Posting Date: '2025-02-30' is not a valid "
                             "calendar date (and 75 more problems; nothing was imported)")
    assert snapshot(builder.db) == before


def test_good_rows_are_not_written_when_another_file_is_bad(builder, tmp_path):
    d = ve_file(tmp_path)
    write_csv(d, "items.csv", [["No."], ["NEW"]])
    write_csv(d, "gl_entries.csv", [["Entry No.", "Posting Date", "Amount"], ["1", "2025-01-01", "x"]])
    assert refused(builder.db, d) == [
        "gl_entries.csv:2: Amount: amount 'x' is not a plain decimal number"]


def test_non_utf8_names_file_line_and_byte_offset(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    header = ",".join(VE).encode() + b"\r\n"
    (d / "value_entries.csv").write_bytes(header + b"1,A,2025-01-15,Direct Cost,10.00,1\r\n"
                                          b"2,\xc4pfel,2025-01-15,Direct Cost,1,1\r\n")
    offset = len(header) + len(b"1,A,2025-01-15,Direct Cost,10.00,1\r\n") + 2
    assert refused(builder.db, d) == [
        f"value_entries.csv:3: not UTF-8 text (byte 0xc4 at byte offset {offset}); "
        "save the file as CSV UTF-8"]


def test_latin1_header_and_random_bytes(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes(b"\xff\xfeE\x00n\x00")  # UTF-16
    assert refused(builder.db, d) == [
        "value_entries.csv:1: not UTF-8 text (byte 0xff at byte offset 0); save the file as CSV UTF-8"]


def test_bom_and_crlf_are_accepted(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes(
        b"\xef\xbb\xbf" + ",".join(VE).encode() + b"\r\n1,A,2025-01-15,Direct Cost,10.00,1\r\n"
        b"2,A,2025-01-16,Direct Cost,-2.00,1\n")
    s = import_ledger(builder.db, d)
    assert s.rows == {"value_entries.csv": 2}
    assert builder.db.execute("SELECT entry_no, posting_date, cost_amount_actual FROM value_entry "
                              "ORDER BY 1").fetchall() == [(1, "2025-01-15", 1000),
                                                           (2, "2025-01-16", -200)]


def test_bom_before_a_later_line_is_data_not_a_bom(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [VE, ["\ufeff2", "A", "2025-01-15", "Direct Cost", "1", "1"]])
    assert refused(builder.db, d) == [
        "value_entries.csv:2: Entry No.: entry no. '\\ufeff2' is not a whole number"]


def test_duplicate_header(builder, tmp_path):
    d = ve_file(tmp_path, header=[*VE[:5], "cost_amount_actual"])
    assert refused(builder.db, d) == [
        "value_entries.csv:1: cost_amount_actual: duplicate column (column 5 is the same field)"]


def test_unknown_and_blank_headers(builder, tmp_path):
    d = ve_file(tmp_path, header=[*VE[:5], "Cost Amount Actual"])
    problems = refused(builder.db, d)
    assert len(problems) == 1
    assert problems[0].startswith(
        "value_entries.csv:1: Cost Amount Actual: unknown column; the columns of "
        "value_entries.csv are: Entry No., Item No., Posting Date,")
    d2 = tmp_path / "in2"
    write_csv(d2, "locations.csv", [["Code", ""], ["X", ""]])
    assert refused(builder.db, d2) == ["locations.csv:1: column 2 has no header"]


def test_ragged_rows(builder, tmp_path):
    d = ve_file(tmp_path, ["2", "A", "2025-01-15", "Direct Cost", "1"],
                ["3", "A", "2025-01-15", "Direct Cost", "1", "1", "extra"])
    assert refused(builder.db, d) == [
        "value_entries.csv:3: 5 fields, but the header has 6",
        "value_entries.csv:4: 7 fields, but the header has 6",
    ]


def test_truncated_file_inside_a_quote(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes(
        (",".join(VE) + ",Document No.\r\n1,A,2025-01-15,Direct Cost,1,1,\"DOC 1\"\r\n"
         "2,A,2025-01-15,Direct Cost,1,1,\"DOC").encode())
    assert refused(builder.db, d) == [
        "value_entries.csv:3: the file ends inside a quoted field (truncated file?)"]


def test_truncated_file_mid_row(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes((",".join(VE) + "\r\n1,A,2025-01-15,Direct Cost,1,1\r\n"
                                           "2,A,2025-01-").encode())
    assert refused(builder.db, d) == [
        "value_entries.csv:3: 3 fields, but the header has 6"]


def test_malformed_quoting(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes((",".join(VE) + "\n1,\"A\"x,2025-01-15,Direct Cost,1,1\n"
                                           ).encode())
    assert refused(builder.db, d) == [
        "value_entries.csv:2: not valid CSV (',' expected after '\"')"]


def test_empty_file_and_header_only_setup(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes(b"")
    write_csv(d, "inventory_setup.csv", [["Automatic Cost Posting"]])
    write_csv(d, "general_ledger_setup.csv", [["Allow Posting From"], ["2025-01-01"], ["2025-02-01"]])
    assert refused(builder.db, d) == [
        "inventory_setup.csv: the file has a header but no row (it must hold the one setup row)",
        "general_ledger_setup.csv:3: this file holds one row (the setup), but row 2 is already one",
        "value_entries.csv: the file is empty (expected a header row)",
    ]


def test_huge_field_and_huge_line(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [[*VE, "Document No."],
                                       [*GOOD, "D" * 5000]])
    assert refused(builder.db, d) == [
        "value_entries.csv:2: Document No.: text is longer than 2048 characters"]
    d2 = tmp_path / "in2"
    d2.mkdir()
    (d2 / "value_entries.csv").write_bytes(",".join(VE).encode() + b"\n1," + b"x" * (2 << 20) + b"\n")
    assert refused(builder.db, d2) == ["value_entries.csv:2: line is longer than 1048576 bytes"]
    d3 = tmp_path / "in3"
    d3.mkdir()
    big = b'"' + (b"y" * 1000 + b"\n") * 1100 + b'"'
    (d3 / "value_entries.csv").write_bytes(",".join(VE).encode() + b"\n1," + big + b"\n")
    assert refused(builder.db, d3) == [
        "value_entries.csv:2: a field is longer than 1048576 characters"]


def test_nul_in_text_cell(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "locations.csv", [["Code", "Name"], ["X", "a\x00b"]])
    assert refused(builder.db, d) == ["locations.csv:2: Name: text contains a NUL character"]


def test_formula_cells_in_text_columns_are_text(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [[*VE, "Document No.", "Source No."],
                                       [*GOOD, "=1+1", "'=HYPERLINK(\"x\")"]])
    import_ledger(builder.db, d)
    assert builder.db.execute("SELECT document_no, source_no FROM value_entry").fetchall() == [
        ("=1+1", '=HYPERLINK("x")')]


def test_blank_keys_of_master_data(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "items.csv", [["No.", "Description"], ["", "no number"]])
    write_csv(d, "dimension_set_entries.csv", [["Dimension Set ID", "Dimension Code"], ["0", "X"]])
    assert refused(builder.db, d) == [
        "items.csv:2: No.: must not be blank",
        "dimension_set_entries.csv:2: Dimension Set ID: dimension set ID 0 must be at least 1",
    ]


def test_closing_date_only_on_valid_dates(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "gl_entries.csv", [["Entry No.", "Posting Date", "Amount"],
                                    ["1", "C2025-02-30", "1"], ["2", "c2025-01-01", "1"]])
    assert refused(builder.db, d) == [
        "gl_entries.csv:2: Posting Date: '2025-02-30' is not a valid calendar date",
        "gl_entries.csv:3: Posting Date: 'c2025-01-01' is not a date in the form YYYY-MM-DD",
    ]


def test_cr_only_line_ends(builder, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "value_entries.csv").write_bytes((",".join(VE) + "\r1,A,2025-01-15,Direct Cost,1,1\r").encode())
    assert refused(builder.db, d) == [
        "value_entries.csv:1: a line break inside an unquoted field (or lines that end with CR "
        "only); quote the field, or save the file with CRLF or LF line ends"]
