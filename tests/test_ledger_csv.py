"""Ledger CSV import/export (40-interfaces §2): round trips, mapping, formats, semantics."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from ledger_builder import GPS_ACCOUNTS, IPS_ACCOUNTS, LedgerBuilder

from invrecon.errors import InputError
from invrecon.ledger import open_ledger
from invrecon.ledger_csv import CSV_FILES, export_ledger, import_ledger
from invrecon.models import (
    MODEL_BY_FILE,
    ROW_MODELS,
    GLEntryRow,
    neutralise_text,
    snake_case,
    unescape_text,
)
from invrecon.schema import LEDGER_TABLES

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- helpers


def rich_ledger(db) -> LedgerBuilder:
    """A ledger in which every column of every CSV table holds non-default values, including
    the awkward ones: formula-looking text, commas, quotes, line breaks, unicode, negative and
    fractional amounts, closing dates, NULL references, every enumeration value."""
    b = LedgerBuilder.standard(db)
    b.account("1000", "Assets, \"current\"", account_type="Heading", direct_posting=1)
    b.account("1999", "=SUM(A1:A9)", account_type="Begin-Total", income_balance="Balance Sheet")
    b.account("2999", "-Total", account_type="End-Total", blocked=1)
    b.account("9000", "Tötäl Ümlaut €", account_type="Total", income_balance="Income Statement")
    b.item("S1", type="Service", costing_method="Average", unit_cost=1234567, standard_cost=5,
           cost_is_adjusted=0, inventory_posting_group="RESALE", gen_prod_posting_group="RETAIL",
           allow_online_adjustment=0)
    b.item("N1", description="@risk\tline", type="Non-Inventory", costing_method="Standard",
           unit_cost=-100000, standard_cost=250000)
    b.item("L1", description="'=already quoted", costing_method="LIFO")
    b.item("P1", description="+plus", costing_method="Specific")
    db.execute("INSERT INTO location (code, name) VALUES ('GREEN', 'Green\r\nWarehouse, North')")
    b.ips("GREEN", "RESALE", wip_account="")
    b.ips("BLUE", "RAW", **{k: "" for k in IPS_ACCOUNTS})
    b.gps("DOMESTIC", "SERVICES", blocked=1, **{k: "" for k in GPS_ACCOUNTS})
    db.execute("UPDATE inventory_setup SET automatic_cost_posting = 1, "
               "expected_cost_posting_to_gl = 1, automatic_cost_adjustment = 'Month', "
               "average_cost_calc_type = 'Item & Location & Variant', "
               "average_cost_period = 'Accounting Period'")
    db.execute("UPDATE general_ledger_setup SET allow_posting_from = '2025-01-01', "
               "allow_posting_to = '2025-12-31'")
    db.execute("INSERT INTO accounting_period VALUES ('2025-01-01', 1, 1), ('2025-02-01', 0, 0), "
               "('2026-01-01', 1, 0)")
    db.execute("INSERT INTO dimension_set_entry VALUES (1, 'DEPARTMENT', 'SALES'), "
               "(1, 'PROJECT', ''), (2, 'DEPARTMENT', 'ADM')")
    db.execute("INSERT INTO default_dimension VALUES (15, '2130', 'DEPARTMENT', 'ADM', "
               "'Code Mandatory'), (15, '7190', 'PROJECT', '', 'Same Code'), "
               "(27, 'A', 'DEPARTMENT', '', 'No Code'), (15, '', 'AREA', 'EU', '')")
    ile_defaults = dict(document_no="", location_code="", quantity=0, invoiced_quantity=0,
                        remaining_quantity=0, open=0, positive=0, applied_entry_to_adjust=0,
                        order_type="", order_no="", applies_to_entry=0)
    db.table("item_ledger_entry").insert_all({**ile_defaults, **r} for r in [
        dict(entry_no=1, item_no="A", posting_date="2025-01-10", entry_type="Purchase",
             document_no="PR-1", location_code="BLUE", quantity=1000000, invoiced_quantity=500000,
             remaining_quantity=750000, open=1, positive=1, applied_entry_to_adjust=1,
             order_type="", order_no=""),
        dict(entry_no=2, item_no="A", posting_date="2025-01-20", entry_type="Sale",
             document_no="-SH-1", location_code="BLUE", quantity=-250000,
             invoiced_quantity=-250000, remaining_quantity=0, open=0, positive=0,
             applied_entry_to_adjust=0, order_type="Transfer", order_no="T-1", applies_to_entry=1),
        dict(entry_no=3, item_no=None, posting_date="2025-02-01", entry_type="", quantity=1),
        dict(entry_no=4, item_no="B", posting_date="2025-02-02", entry_type="Output",
             order_type="Production", order_no="PO-1", quantity=12345),
        dict(entry_no=5, item_no="B", posting_date="2025-02-03", entry_type="Consumption",
             order_type="Assembly", quantity=-1),
        dict(entry_no=7, item_no="B", posting_date="2025-02-04", entry_type="Assembly Output",
             order_type="Service"),
        dict(entry_no=8, item_no="A", posting_date="2025-02-05", entry_type="Assembly Consumption"),
        dict(entry_no=9, item_no="A", posting_date="2025-02-06", entry_type="Positive Adjmt."),
        dict(entry_no=10, item_no="A", posting_date="2025-02-07", entry_type="Negative Adjmt."),
        dict(entry_no=11, item_no="A", posting_date="2025-02-08", entry_type="Transfer"),
    ])
    db.table("item_application_entry").insert_all([
        dict(entry_no=1, item_ledger_entry_no=1, inbound_item_entry_no=1, outbound_item_entry_no=0,
             quantity=1000000, posting_date="2025-01-10", transferred_from_entry_no=0),
        dict(entry_no=2, item_ledger_entry_no=2, inbound_item_entry_no=9, outbound_item_entry_no=2,
             quantity=-250000, posting_date="2025-01-20", transferred_from_entry_no=1),
    ])
    db.table("avg_cost_adjmt_entry_point").insert_all([
        dict(item_no="S1", location_code="", valuation_date="2025-01-31", cost_is_adjusted=1),
        dict(item_no="A", location_code="BLUE", valuation_date="2025-02-28", cost_is_adjusted=0),
    ])
    ve = b.value_entry
    ve(item_no="A", item_ledger_entry_type="Purchase", item_ledger_entry_no=1,
       entry_type="Direct Cost", document_no="PR-1", external_document_no="+49 VENDOR-INV",
       location_code="BLUE", gen_bus_posting_group="DOMESTIC", source_type="Vendor",
       source_no="V10000", valued_quantity="10", invoiced_quantity="5", cost_per_unit="12.34567",
       cost_amount_actual="61.73", cost_amount_expected="-0.05", cost_posted_to_gl="61.73",
       expected_cost_posted_to_gl="-0.05", expected_cost=0, dimension_set_id=1,
       valuation_date="2025-01-10", applies_to_entry=0)
    ve(item_no="A", item_ledger_entry_type="Sale", item_ledger_entry_no=2, entry_type="Direct Cost",
       source_type="Customer", source_no="=C1+C2", valued_quantity="-2.5",
       invoiced_quantity="-2.5", cost_per_unit="12.34567", cost_amount_actual="-30.86",
       applies_to_entry=1, expected_cost=1, adjustment=1, valuation_date="2025-01-10",
       dimension_set_id=2, posting_date="2025-01-20")
    ve(item_no=None, item_ledger_entry_type="", item_ledger_entry_no=0, entry_type="Direct Cost",
       type="Work Center", no="WC-100", capacity_ledger_entry_no=77, order_type="Production",
       order_no="PO-1", source_type="Item", source_no="B", cost_amount_actual="99999999.99")
    ve(item_no=None, item_ledger_entry_type="", entry_type="Indirect Cost", type="Machine Center",
       no="MC-1", order_type="Assembly", order_no="AO-1", cost_amount_actual="0.01")
    ve(item_no=None, item_ledger_entry_type="", entry_type="Variance", variance_type="Capacity",
       type="Resource", no="R1", cost_amount_actual="-0.01", inventory_posting_group="",
       gen_prod_posting_group="SERVICES")
    ve(item_no="B", item_ledger_entry_type="Output", item_ledger_entry_no=4, entry_type="Variance",
       variance_type="Material", order_type="Production", order_no="PO-1",
       cost_amount_actual="1.10", document_no="\tTAB")
    for vt in ("Purchase", "Capacity Overhead", "Manufacturing Overhead", "Subcontracted"):
        ve(item_no="B", item_ledger_entry_type="Output", item_ledger_entry_no=4,
           entry_type="Variance", variance_type=vt, cost_amount_actual="2.00")
    for et, ilet in (("Revaluation", "Positive Adjmt."), ("Rounding", "Negative Adjmt."),
                     ("Direct Cost", "Transfer"), ("Direct Cost", "Consumption"),
                     ("Direct Cost", "Assembly Consumption"), ("Direct Cost", "Assembly Output")):
        ve(item_no="A", item_ledger_entry_type=ilet, entry_type=et, cost_amount_actual="-5.00",
           order_type="Service" if ilet == "Transfer" else "", item_charge_no="FREIGHT",
           location_code="RED")
    ve(item_no="A", entry_no=1000, cost_amount_expected="123456789012.34", expected_cost=1,
       posting_date="2025-12-31")
    g = b.gl_entry
    g("2130", "61.73", document_no="PR-1", external_document_no="@ext", description="Direct Cost V10000 on 01/10/25",
      source_code="INVTPCOST", transaction_no=1, dimension_set_id=1)
    g("2131", "-61.73", document_no="PR-1", description='Quote "this", comma',
      source_code="INVTPCOST", transaction_no=1)
    g(None, "0.00", description="blank account", transaction_no=2)
    g("3000", "-1000000.00", posting_date="2025-12-31", closing=1, description="-closing",
      transaction_no=3)
    g("9000", "1000000.00", posting_date="2025-12-31", closing=1, transaction_no=3)
    g("7190", "0.05", posting_date="2025-12-31", transaction_no=4)
    db.table("gl_register").insert_all([
        dict(no=1, from_entry_no=1, to_entry_no=2, creation_date="2025-01-31", source_code="INVTPCOST"),
        dict(no=2, from_entry_no=3, to_entry_no=6, creation_date="", source_code=""),
    ])
    db.table("gl_item_ledger_relation").insert_all([
        dict(gl_entry_no=1, value_entry_no=1, gl_register_no=1),
        dict(gl_entry_no=2, value_entry_no=1, gl_register_no=1),
        dict(gl_entry_no=6, value_entry_no=2, gl_register_no=0),
    ])
    return b


def snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every ledger table (and the SQLite change counter is not involved)."""
    out = {}
    for t in CSV_FILES.values():
        n = len(db.execute(f"PRAGMA table_info({t})").fetchall())
        order = ", ".join(str(i) for i in range(1, n + 1))
        out[t] = db.execute(f"SELECT * FROM {t} ORDER BY {order}").fetchall()
    return out


def read_dir(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def write_csv(directory: Path, name: str, rows: list[list[str]], *, newline: str = "\r\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator=newline).writerows(rows)
    return path


# --------------------------------------------------------------------------- models / mapping


def test_csv_files_cover_every_table_in_dependency_order():
    assert set(CSV_FILES.values()) >= set(LEDGER_TABLES)
    order = list(CSV_FILES)
    assert order.index("items.csv") < order.index("value_entries.csv")
    assert order.index("items.csv") < order.index("item_ledger_entries.csv")
    assert order.index("gl_accounts.csv") < order.index("gl_entries.csv")
    assert order.index("value_entries.csv") < order.index("gl_item_ledger_relations.csv")
    assert order.index("gl_entries.csv") < order.index("gl_item_ledger_relations.csv")


def test_every_schema_column_has_exactly_one_csv_field(db):
    for model in ROW_MODELS:
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({model.table})")]
        expected = [c for c in cols if c != "id"]
        assert sorted(model.db_columns()) == sorted(expected), model.table


def test_snake_case_of_every_caption_is_the_column_name():
    for model in ROW_MODELS:
        for column, caption in model.captions().items():
            assert snake_case(caption) == column


def test_captions_match_40_interfaces():
    caps = {m.file_name: list(m.captions().values()) for m in ROW_MODELS}
    assert caps["value_entries.csv"] == [
        "Entry No.", "Item No.", "Posting Date", "Item Ledger Entry Type", "Item Ledger Entry No.",
        "Entry Type", "Variance Type", "Adjustment", "Document No.", "External Document No.",
        "Location Code", "Inventory Posting Group", "Gen. Bus. Posting Group",
        "Gen. Prod. Posting Group", "Source Type", "Source No.", "Order Type", "Order No.", "Type",
        "No.", "Capacity Ledger Entry No.", "Item Charge No.", "Valued Quantity",
        "Invoiced Quantity", "Cost per Unit", "Cost Amount (Actual)", "Cost Amount (Expected)",
        "Cost Posted to G/L", "Expected Cost Posted to G/L", "Expected Cost", "Applies-to Entry",
        "Dimension Set ID", "Valuation Date"]
    assert caps["gl_entries.csv"] == [
        "Entry No.", "G/L Account No.", "Posting Date", "Document No.", "External Document No.",
        "Description", "Amount", "Source Code", "Transaction No.", "Dimension Set ID"]
    assert caps["gl_accounts.csv"] == ["No.", "Name", "Account Type", "Income/Balance",
                                       "Direct Posting", "Blocked"]
    assert caps["inventory_posting_setup.csv"][:3] == [
        "Location Code", "Invt. Posting Group Code", "Inventory Account"]
    assert "Invt. Accrual Acc. (Interim)" in caps["general_posting_setup.csv"]
    assert caps["inventory_setup.csv"] == [
        "Automatic Cost Posting", "Expected Cost Posting to G/L", "Automatic Cost Adjustment",
        "Average Cost Calc. Type", "Average Cost Period"]
    assert caps["gl_item_ledger_relations.csv"] == ["G/L Entry No.", "Value Entry No.",
                                                    "G/L Register No."]
    assert caps["default_dimensions.csv"] == ["Table ID", "No.", "Dimension Code",
                                              "Dimension Value Code", "Value Posting"]


def test_model_defaults_equal_schema_defaults(db):
    for model in ROW_MODELS:
        info = {r[1]: r[4] for r in db.execute(f"PRAGMA table_info({model.table})")}
        for name, f in model.model_fields.items():
            if f.is_required():
                continue
            default = info[name]
            if default is None:
                assert f.default is None, (model.table, name)
            else:
                expected = int(default) if default.lstrip("-").isdigit() else default.strip("'")
                assert f.default == expected, (model.table, name)


@pytest.mark.parametrize("text", ["=1+1", "+49", "-5", "@SUM(A1)", "\tx", "\rx", "'=x", "''-y",
                                  "'plain", "plain", "", "a=b", "'"])
def test_formula_neutralisation_is_reversible(text):
    out = neutralise_text(text)
    assert unescape_text(out) == text
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert out == "'" + text
    if text in ("'plain", "plain", "", "a=b", "'"):
        assert out == text


# --------------------------------------------------------------------------- round trip


def test_rich_ledger_exercises_every_column(db):
    rich_ledger(db)
    for model in ROW_MODELS:
        for column in model.db_columns():
            if model.mode == "replace":
                row = db.execute(f"SELECT {column} FROM {model.table}").fetchone()
                default = model.model_fields[column].default
                assert row[0] != default, (model.table, column)
            else:
                n = db.execute(f"SELECT count(DISTINCT coalesce({column}, '<null>')) "
                               f"FROM {model.table}").fetchone()[0]
                assert n >= 2, (model.table, column)


def test_round_trip_is_byte_identical_and_lossless(db, tmp_path):
    rich_ledger(db)
    before = snapshot(db)
    first = tmp_path / "first"
    s1 = export_ledger(db, first)
    assert set(s1.rows) == set(CSV_FILES)
    assert s1.rows["value_entries.csv"] == 17
    assert s1.rows["gl_entries.csv"] == 6
    new_path = tmp_path / "new.db"
    db2 = open_ledger(new_path, create=True)
    try:
        summary = import_ledger(db2, first)
        assert summary.rows == s1.rows
        assert summary.ignored_columns == {}
        assert snapshot(db2) == before
        second = tmp_path / "second"
        export_ledger(db2, second)
    finally:
        db2.close()
    assert read_dir(first) == read_dir(second)


def test_export_formats(db, tmp_path):
    rich_ledger(db)
    export_ledger(db, tmp_path / "x")
    ve = list(csv.DictReader((tmp_path / "x" / "value_entries.csv").open(encoding="utf-8", newline="")))
    first = ve[0]
    assert first["Cost Amount (Actual)"] == "61.73"
    assert first["Cost Amount (Expected)"] == "-0.05"  # numeric: no apostrophe
    assert first["Cost per Unit"] == "12.34567"
    assert first["Valued Quantity"] == "10"
    assert first["Expected Cost"] == "No"
    assert first["External Document No."] == "'+49 VENDOR-INV"
    assert ve[1]["Source No."] == "'=C1+C2"
    assert ve[1]["Valued Quantity"] == "-2.5"
    assert ve[1]["Adjustment"] == "Yes"
    assert ve[2]["Item No."] == ""
    assert ve[2]["Cost Amount (Actual)"] == "99999999.99"
    gl = list(csv.DictReader((tmp_path / "x" / "gl_entries.csv").open(encoding="utf-8", newline="")))
    assert [r["Posting Date"] for r in gl] == ["2025-01-15", "2025-01-15", "2025-01-15",
                                              "C2025-12-31", "C2025-12-31", "2025-12-31"]
    assert gl[2]["G/L Account No."] == ""
    assert gl[3]["Amount"] == "-1000000.00"
    assert gl[3]["Description"] == "'-closing"
    raw = (tmp_path / "x" / "gl_accounts.csv").read_bytes()
    assert raw.startswith(b"No.,Name,Account Type,Income/Balance,Direct Posting,Blocked\r\n")
    assert b"1999,'=SUM(A1:A9),Begin-Total,Balance Sheet,No,No\r\n" in raw
    assert b'1000,"Assets, ""current""",Heading,Balance Sheet,Yes,No\r\n' in raw
    assert "9000,Tötäl Ümlaut €,Total,Income Statement,No,No".encode() in raw
    items = (tmp_path / "x" / "items.csv").read_text(encoding="utf-8")
    assert "S1,Item S1,Service,RESALE,RETAIL,Average,12.34567,0.00005,No" in items
    assert "L1,''=already quoted,Inventory,,,LIFO,0,0,Yes" in items
    loc = (tmp_path / "x" / "locations.csv").read_bytes()
    assert b'GREEN,"Green\r\nWarehouse, North"\r\n' in loc
    setup = (tmp_path / "x" / "inventory_setup.csv").read_text(encoding="utf-8")
    assert setup.splitlines()[1] == "Yes,Yes,Month,Item & Location & Variant,Accounting Period"


def test_export_of_empty_tables_writes_headers_and_reimports(db, tmp_path):
    export_ledger(db, tmp_path / "e")
    raw = (tmp_path / "e" / "value_entries.csv").read_bytes()
    assert raw.startswith(b"Entry No.,Item No.,") and raw.endswith(b"Valuation Date\r\n")
    assert raw.count(b"\n") == 1
    db2 = open_ledger(tmp_path / "e.db", create=True)
    summary = import_ledger(db2, tmp_path / "e")
    assert summary.rows["inventory_setup.csv"] == 1
    assert summary.total_rows == 2
    db2.close()


# --------------------------------------------------------------------------- import semantics


def _ve_header():
    return ["Entry No.", "Item No.", "Posting Date", "Entry Type", "Cost Amount (Actual)"]


def test_import_only_value_entries_with_snake_case_headers(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [
        ["entry_no", "item_no", "posting_date", "entry_type", "cost_amount_actual",
         "item_ledger_entry_type", "expected_cost", "valued_quantity"],
        ["10", "A", "2025-03-01", "Direct Cost", "100.5", "Purchase", "true", "1.00000"],
        ["11", "", "2025-03-02", "indirect cost", "-0.00", "", "0", "-3"],
    ])
    summary = import_ledger(builder.db, d)
    assert summary.rows == {"value_entries.csv": 2}
    rows = builder.db.execute(
        "SELECT entry_no, item_no, entry_type, cost_amount_actual, item_ledger_entry_type, "
        "expected_cost, valued_quantity, location_code, dimension_set_id, valuation_date "
        "FROM value_entry ORDER BY entry_no").fetchall()
    assert rows == [
        (10, "A", "Direct Cost", 10050, "Purchase", 1, 100000, "", 0, ""),
        (11, None, "Indirect Cost", 0, "", 0, -300000, "", 0, ""),
    ]


def test_mixed_caption_and_snake_headers_and_case(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "gl_entries.csv", [
        ["ENTRY NO.", "g/l account no.", "posting_date", "Amount", " Description "],
        ["1", "2130", "C2025-12-31", "-12.5", "x"],
    ])
    import_ledger(builder.db, d)
    assert builder.db.execute("SELECT gl_account_no, posting_date, closing, amount, description "
                              "FROM gl_entry").fetchall() == [("2130", "2025-12-31", 1, -1250, "x")]


def test_booleans_all_spellings(builder, tmp_path):
    d = tmp_path / "in"
    rows = [["No.", "Direct Posting", "Blocked"]]
    spellings = [("Yes", 1), ("No", 0), ("yes", 1), ("NO", 0), ("true", 1), ("FALSE", 0),
                 ("1", 1), ("0", 0), ("", 0)]
    for i, (s, _) in enumerate(spellings):
        rows.append([f"B{i}", s, s])
    write_csv(d, "gl_accounts.csv", rows)
    import_ledger(builder.db, d)
    got = builder.db.execute("SELECT no, direct_posting, blocked FROM gl_account WHERE no LIKE 'B%' "
                             "ORDER BY no").fetchall()
    assert got == [(f"B{i}", v, v) for i, (_, v) in enumerate(spellings)]


def test_master_data_upserts_and_setup_replaces(builder, tmp_path):
    db = builder.db
    d = tmp_path / "in"
    write_csv(d, "items.csv", [["No.", "Description", "Unit Cost"], ["A", "Changed", "7.5"],
                               ["NEW", "New item", ""]])
    write_csv(d, "inventory_setup.csv", [["Automatic Cost Adjustment"], ["Always"]])
    write_csv(d, "general_ledger_setup.csv", [["Allow Posting From", "Allow Posting To"],
                                              ["2025-01-01", ""]])
    summary = import_ledger(db, d)
    assert summary.rows == {"items.csv": 2, "inventory_setup.csv": 1, "general_ledger_setup.csv": 1}
    # a missing optional column takes its default: the replaced row loses its old posting group
    assert db.execute("SELECT no, description, inventory_posting_group, unit_cost, costing_method, "
                      "cost_is_adjusted FROM item ORDER BY no").fetchall() == [
        ("A", "Changed", "", 750000, "FIFO", 1), ("B", "Item B", "RESALE", 0, "FIFO", 1),
        ("NEW", "New item", "", 0, "FIFO", 1)]
    assert db.execute("SELECT * FROM inventory_setup").fetchall() == [
        (1, 0, 0, "Always", "Item", "Day")]
    assert db.execute("SELECT * FROM general_ledger_setup").fetchall() == [(1, "2025-01-01", "")]


def test_value_entries_may_refer_to_items_of_the_same_import(db, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "items.csv", [["No."], ["X1"]])
    write_csv(d, "value_entries.csv", [_ve_header(), ["1", "X1", "2025-01-01", "Direct Cost", "1"]])
    write_csv(d, "gl_accounts.csv", [["No."], ["100"]])
    write_csv(d, "gl_entries.csv", [["Entry No.", "G/L Account No.", "Posting Date", "Amount"],
                                    ["1", "100", "2025-01-01", "1"]])
    write_csv(d, "gl_item_ledger_relations.csv", [["G/L Entry No.", "Value Entry No."], ["1", "1"]])
    s = import_ledger(db, d)
    assert s.rows == {"gl_accounts.csv": 1, "items.csv": 1, "value_entries.csv": 1,
                      "gl_entries.csv": 1, "gl_item_ledger_relations.csv": 1}
    assert db.execute("SELECT * FROM gl_item_ledger_relation").fetchall() == [(1, 1, 0)]


def test_bc_export_fixture_with_ignored_columns_bom_and_crlf(builder, tmp_path):
    """tests/data/bc_export: a BC-style export (BOM, CRLF, unused BC fields)."""
    s = import_ledger(builder.db, DATA / "bc_export")
    assert s.rows == {"value_entries.csv": 3, "gl_entries.csv": 2}
    assert s.ignored_columns == {
        "value_entries.csv": ["Variant Code", "Global Dimension 1 Code", "Job No.",
                              "Sales Amount (Actual)", "Cost Amount (Actual) (ACY)", "User ID"],
        "gl_entries.csv": ["Debit Amount", "Credit Amount", "Gen. Posting Type", "User ID"],
    }
    assert builder.db.execute(
        "SELECT entry_no, item_no, posting_date, item_ledger_entry_type, entry_type, "
        "cost_amount_actual, cost_amount_expected, valued_quantity, location_code "
        "FROM value_entry ORDER BY entry_no").fetchall() == [
        (1, "A", "2025-01-15", "Purchase", "Direct Cost", 0, 10000, 1000000, "BLUE"),
        (2, "A", "2025-01-20", "Purchase", "Direct Cost", 10500, -10000, 0, "BLUE"),
        (3, "A", "2025-01-25", "Sale", "Direct Cost", -5250, 0, -500000, "BLUE"),
    ]
    assert builder.db.execute("SELECT entry_no, gl_account_no, posting_date, closing, amount "
                              "FROM gl_entry ORDER BY entry_no").fetchall() == [
        (1, "2131", "2025-01-15", 0, 10000), (2, "5290", "2025-01-15", 0, -10000)]


def test_unknown_csv_files_are_listed_not_imported(builder, tmp_path):
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [_ve_header(), ["1", "A", "2025-01-01", "Direct Cost", "1"]])
    write_csv(d, "value_entry.csv", [["whatever"]])
    s = import_ledger(builder.db, d)
    assert s.ignored_files == ["value_entry.csv"]


def test_directory_without_ledger_files_is_an_error(db, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no ledger CSV files here"):
        import_ledger(db, tmp_path / "empty")
    with pytest.raises(InputError, match=r"no such directory"):
        import_ledger(db, tmp_path / "missing")


def test_large_batches_cross_batch_duplicates_are_found(builder, tmp_path, monkeypatch):
    import invrecon.ledger_csv as lc

    monkeypatch.setattr(lc, "BATCH_ROWS", 7)
    d = tmp_path / "in"
    rows = [_ve_header()] + [[str(i), "A", "2025-01-01", "Direct Cost", "1.00"] for i in range(1, 31)]
    rows.append(["3", "A", "2025-01-01", "Direct Cost", "1.00"])  # duplicate of a flushed row
    write_csv(d, "value_entries.csv", rows)
    before = snapshot(builder.db)
    with pytest.raises(InputError) as ei:
        import_ledger(builder.db, d)
    assert ei.value.problems == [
        "value_entries.csv:32: Entry No.: entry no. 3 appears more than once in the file"]
    assert snapshot(builder.db) == before
    rows.pop()
    write_csv(d, "value_entries.csv", rows)
    assert import_ledger(builder.db, d).rows == {"value_entries.csv": 30}
    assert builder.db.execute("SELECT sum(cost_amount_actual) FROM value_entry").fetchone()[0] == 3000


def test_gap_filling_entry_numbers_are_allowed_and_duplicates_classified(builder, tmp_path):
    db = builder.db
    builder.value_entry(entry_no=5)
    builder.value_entry(entry_no=10)
    d = tmp_path / "in"
    write_csv(d, "value_entries.csv", [
        _ve_header(),
        ["7", "A", "2025-01-01", "Direct Cost", "1"],   # fills a gap: fine
        ["7", "A", "2025-01-01", "Direct Cost", "1"],   # twice in the file
        ["10", "A", "2025-01-01", "Direct Cost", "1"],  # in the ledger
        ["11", "A", "2025-01-01", "Direct Cost", "1"],
        ["11", "A", "2025-01-01", "Direct Cost", "1"],
    ])
    with pytest.raises(InputError) as ei:
        import_ledger(db, d)
    assert ei.value.problems == [
        "value_entries.csv:3: Entry No.: entry no. 7 appears more than once in the file",
        "value_entries.csv:4: Entry No.: entry no. 10 already exists in the ledger",
        "value_entries.csv:6: Entry No.: entry no. 11 appears more than once in the file",
    ]
    assert db.execute("SELECT entry_no FROM value_entry").fetchall() == [(5,), (10,)]


def test_gl_entry_model_splits_closing_date():
    row = GLEntryRow.model_validate({"entry_no": "3", "posting_date": "C2024-02-29", "amount": "1"})
    assert row.db_values()[2] == "2024-02-29" and row.db_values()[-1] == 1
    assert GLEntryRow.db_columns()[-1] == "closing"
    assert MODEL_BY_FILE["gl_entries.csv"] is GLEntryRow


def test_every_data_table_of_the_ledger_has_a_csv_file(db):
    """If a migration adds a table, export/import must cover it or the round trip loses data."""
    from invrecon import preaggregates

    tables = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    derived = set(preaggregates.TABLES)  # rebuilt from the entries, not exported
    assert tables - {"invrecon_meta", "_sqlite_migrations"} - derived == set(CSV_FILES.values())


def test_sample_ledger_round_trip(tmp_path):
    """A generated sample ledger (every kind of entry, posted and unposted) round-trips."""
    from invrecon.sample import generate_sample

    src = tmp_path / "sample.db"
    generate_sample(src, value_entries=600, seed=7)
    db = open_ledger(src, readonly=True)
    try:
        before = snapshot(db)
        s1 = export_ledger(db, tmp_path / "one")
    finally:
        db.close()
    assert s1.rows["value_entries.csv"] >= 500
    assert s1.rows["gl_entries.csv"] > 0 and s1.rows["gl_item_ledger_relations.csv"] > 0
    db2 = open_ledger(tmp_path / "new.db", create=True)
    try:
        import_ledger(db2, tmp_path / "one")
        assert snapshot(db2) == before
        export_ledger(db2, tmp_path / "two")
    finally:
        db2.close()
    assert read_dir(tmp_path / "one") == read_dir(tmp_path / "two")


@pytest.mark.parametrize("bulk", [False, True])
def test_pre_aggregates_are_exact_after_import(db, tmp_path, monkeypatch, bulk):
    """Small imports go through the pre-aggregate triggers; big ones (forced here) drop the
    triggers and indexes, load, and rebuild: both leave pre-aggregates equal to the entries."""
    import invrecon.ledger_csv as lc
    from invrecon import preaggregates

    rich_ledger(db)
    export_ledger(db, tmp_path / "x")
    monkeypatch.setattr(lc, "BULK_LOAD_BYTES", 1 if bulk else 1 << 40)
    db2 = open_ledger(tmp_path / "new.db", create=True)
    try:
        import_ledger(db2, tmp_path / "x")
        assert preaggregates.check(db2) == []
        assert preaggregates.available(db2)
        names = {r[0] for r in db2.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"value_entry_item_date", "gl_entry_account_date"} <= names
        assert db2.execute("SELECT sum(actual) FROM agg_value_entry_day").fetchone()[0] == \
            db.execute("SELECT sum(cost_amount_actual) FROM value_entry").fetchone()[0]
    finally:
        db2.close()
