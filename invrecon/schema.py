"""The ledger's SQLite schema, versioned with ``sqlite_utils.Migrations``.

Conventions (every module relies on them):
- every table is STRICT; foreign keys are enforced on every connection (see ``ledger.py``);
- amounts are INTEGER cents; quantities and unit costs are INTEGER 1/100,000 units
  (``money.QTY_SCALE``);
- dates are TEXT ``YYYY-MM-DD``; a G/L entry on a closing date has ``closing = 1`` and sorts
  after the normal entries of that day;
- enumerations are TEXT holding the BC caption ('' = blank); booleans are INTEGER 0/1;
- optional references to another table (value entry -> item, G/L entry -> G/L account) are NULL
  when blank, so the foreign key can be enforced; other codes are '' when blank.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

APPLICATION_ID = 0x494E5652  # 'INVR', stored in PRAGMA application_id
MIGRATION_SET = "invrecon"

migrations = Migrations(MIGRATION_SET)

_TABLES_V1 = """
CREATE TABLE invrecon_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE gl_account (
    no TEXT PRIMARY KEY CHECK (no <> ''),
    name TEXT NOT NULL DEFAULT '',
    account_type TEXT NOT NULL DEFAULT 'Posting'
        CHECK (account_type IN ('Posting','Heading','Total','Begin-Total','End-Total')),
    income_balance TEXT NOT NULL DEFAULT 'Balance Sheet'
        CHECK (income_balance IN ('Income Statement','Balance Sheet')),
    direct_posting INTEGER NOT NULL DEFAULT 0 CHECK (direct_posting IN (0,1)),
    blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1))
) STRICT;

CREATE TABLE item (
    no TEXT PRIMARY KEY CHECK (no <> ''),
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'Inventory' CHECK (type IN ('Inventory','Service','Non-Inventory')),
    inventory_posting_group TEXT NOT NULL DEFAULT '',
    gen_prod_posting_group TEXT NOT NULL DEFAULT '',
    costing_method TEXT NOT NULL DEFAULT 'FIFO'
        CHECK (costing_method IN ('FIFO','LIFO','Average','Standard','Specific')),
    unit_cost INTEGER NOT NULL DEFAULT 0,
    standard_cost INTEGER NOT NULL DEFAULT 0,
    cost_is_adjusted INTEGER NOT NULL DEFAULT 1 CHECK (cost_is_adjusted IN (0,1))
) STRICT;

CREATE TABLE location (
    code TEXT PRIMARY KEY CHECK (code <> ''),
    name TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE inventory_posting_setup (
    location_code TEXT NOT NULL DEFAULT '',
    invt_posting_group_code TEXT NOT NULL,
    inventory_account TEXT NOT NULL DEFAULT '',
    inventory_account_interim TEXT NOT NULL DEFAULT '',
    wip_account TEXT NOT NULL DEFAULT '',
    material_variance_account TEXT NOT NULL DEFAULT '',
    capacity_variance_account TEXT NOT NULL DEFAULT '',
    mfg_overhead_variance_account TEXT NOT NULL DEFAULT '',
    cap_overhead_variance_account TEXT NOT NULL DEFAULT '',
    subcontracted_variance_account TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (location_code, invt_posting_group_code)
) STRICT, WITHOUT ROWID;

CREATE TABLE general_posting_setup (
    gen_bus_posting_group TEXT NOT NULL DEFAULT '',
    gen_prod_posting_group TEXT NOT NULL DEFAULT '',
    cogs_account TEXT NOT NULL DEFAULT '',
    cogs_account_interim TEXT NOT NULL DEFAULT '',
    inventory_adjmt_account TEXT NOT NULL DEFAULT '',
    invt_accrual_acc_interim TEXT NOT NULL DEFAULT '',
    direct_cost_applied_account TEXT NOT NULL DEFAULT '',
    overhead_applied_account TEXT NOT NULL DEFAULT '',
    purchase_variance_account TEXT NOT NULL DEFAULT '',
    blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),
    PRIMARY KEY (gen_bus_posting_group, gen_prod_posting_group)
) STRICT, WITHOUT ROWID;

CREATE TABLE inventory_setup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    automatic_cost_posting INTEGER NOT NULL DEFAULT 0 CHECK (automatic_cost_posting IN (0,1)),
    expected_cost_posting_to_gl INTEGER NOT NULL DEFAULT 0
        CHECK (expected_cost_posting_to_gl IN (0,1)),
    automatic_cost_adjustment TEXT NOT NULL DEFAULT 'Never'
        CHECK (automatic_cost_adjustment IN ('Never','Day','Week','Month','Quarter','Year','Always')),
    average_cost_calc_type TEXT NOT NULL DEFAULT 'Item'
        CHECK (average_cost_calc_type IN ('Item','Item & Location & Variant')),
    average_cost_period TEXT NOT NULL DEFAULT 'Day'
        CHECK (average_cost_period IN ('Day','Week','Month','Quarter','Year','Accounting Period'))
) STRICT;

CREATE TABLE general_ledger_setup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    allow_posting_from TEXT NOT NULL DEFAULT '',
    allow_posting_to TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE accounting_period (
    starting_date TEXT PRIMARY KEY,
    new_fiscal_year INTEGER NOT NULL DEFAULT 0 CHECK (new_fiscal_year IN (0,1)),
    closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0,1))
) STRICT;

CREATE TABLE dimension_set_entry (
    dimension_set_id INTEGER NOT NULL CHECK (dimension_set_id > 0),
    dimension_code TEXT NOT NULL CHECK (dimension_code <> ''),
    dimension_value_code TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dimension_set_id, dimension_code)
) STRICT, WITHOUT ROWID;

CREATE TABLE default_dimension (
    table_id INTEGER NOT NULL,
    no TEXT NOT NULL DEFAULT '',
    dimension_code TEXT NOT NULL CHECK (dimension_code <> ''),
    dimension_value_code TEXT NOT NULL DEFAULT '',
    value_posting TEXT NOT NULL DEFAULT ''
        CHECK (value_posting IN ('','Code Mandatory','Same Code','No Code')),
    PRIMARY KEY (table_id, no, dimension_code)
) STRICT, WITHOUT ROWID;

CREATE TABLE item_ledger_entry (
    entry_no INTEGER PRIMARY KEY CHECK (entry_no > 0),
    item_no TEXT REFERENCES item(no),
    posting_date TEXT NOT NULL,
    entry_type TEXT NOT NULL CHECK (entry_type IN ('Purchase','Sale','Positive Adjmt.',
        'Negative Adjmt.','Transfer','Consumption','Output','','Assembly Consumption',
        'Assembly Output')),
    document_no TEXT NOT NULL DEFAULT '',
    location_code TEXT NOT NULL DEFAULT '',
    quantity INTEGER NOT NULL DEFAULT 0,
    invoiced_quantity INTEGER NOT NULL DEFAULT 0,
    remaining_quantity INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL DEFAULT 0 CHECK (open IN (0,1)),
    positive INTEGER NOT NULL DEFAULT 0 CHECK (positive IN (0,1)),
    applied_entry_to_adjust INTEGER NOT NULL DEFAULT 0 CHECK (applied_entry_to_adjust IN (0,1)),
    order_type TEXT NOT NULL DEFAULT ''
        CHECK (order_type IN ('','Production','Transfer','Service','Assembly')),
    order_no TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE item_application_entry (
    entry_no INTEGER PRIMARY KEY CHECK (entry_no > 0),
    item_ledger_entry_no INTEGER NOT NULL,
    inbound_item_entry_no INTEGER NOT NULL DEFAULT 0,
    outbound_item_entry_no INTEGER NOT NULL DEFAULT 0,
    quantity INTEGER NOT NULL DEFAULT 0,
    posting_date TEXT NOT NULL
) STRICT;

CREATE TABLE value_entry (
    entry_no INTEGER PRIMARY KEY CHECK (entry_no > 0),
    item_no TEXT REFERENCES item(no),
    posting_date TEXT NOT NULL,
    item_ledger_entry_type TEXT NOT NULL DEFAULT '' CHECK (item_ledger_entry_type IN ('Purchase',
        'Sale','Positive Adjmt.','Negative Adjmt.','Transfer','Consumption','Output','',
        'Assembly Consumption','Assembly Output')),
    item_ledger_entry_no INTEGER NOT NULL DEFAULT 0,
    entry_type TEXT NOT NULL CHECK (entry_type IN ('Direct Cost','Revaluation','Rounding',
        'Indirect Cost','Variance')),
    variance_type TEXT NOT NULL DEFAULT '' CHECK (variance_type IN ('','Purchase','Material',
        'Capacity','Capacity Overhead','Manufacturing Overhead','Subcontracted')),
    adjustment INTEGER NOT NULL DEFAULT 0 CHECK (adjustment IN (0,1)),
    document_no TEXT NOT NULL DEFAULT '',
    external_document_no TEXT NOT NULL DEFAULT '',
    location_code TEXT NOT NULL DEFAULT '',
    inventory_posting_group TEXT NOT NULL DEFAULT '',
    gen_bus_posting_group TEXT NOT NULL DEFAULT '',
    gen_prod_posting_group TEXT NOT NULL DEFAULT '',
    source_type TEXT NOT NULL DEFAULT '' CHECK (source_type IN ('','Customer','Vendor','Item')),
    source_no TEXT NOT NULL DEFAULT '',
    order_type TEXT NOT NULL DEFAULT ''
        CHECK (order_type IN ('','Production','Transfer','Service','Assembly')),
    order_no TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT ''
        CHECK (type IN ('','Work Center','Machine Center','Resource')),
    no TEXT NOT NULL DEFAULT '',
    capacity_ledger_entry_no INTEGER NOT NULL DEFAULT 0,
    item_charge_no TEXT NOT NULL DEFAULT '',
    valued_quantity INTEGER NOT NULL DEFAULT 0,
    invoiced_quantity INTEGER NOT NULL DEFAULT 0,
    cost_per_unit INTEGER NOT NULL DEFAULT 0,
    cost_amount_actual INTEGER NOT NULL DEFAULT 0,
    cost_amount_expected INTEGER NOT NULL DEFAULT 0,
    cost_posted_to_gl INTEGER NOT NULL DEFAULT 0,
    expected_cost_posted_to_gl INTEGER NOT NULL DEFAULT 0,
    expected_cost INTEGER NOT NULL DEFAULT 0 CHECK (expected_cost IN (0,1)),
    applies_to_entry INTEGER NOT NULL DEFAULT 0,
    dimension_set_id INTEGER NOT NULL DEFAULT 0,
    valuation_date TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE gl_entry (
    entry_no INTEGER PRIMARY KEY CHECK (entry_no > 0),
    gl_account_no TEXT REFERENCES gl_account(no),
    posting_date TEXT NOT NULL,
    closing INTEGER NOT NULL DEFAULT 0 CHECK (closing IN (0,1)),
    document_no TEXT NOT NULL DEFAULT '',
    external_document_no TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    amount INTEGER NOT NULL,
    source_code TEXT NOT NULL DEFAULT '',
    transaction_no INTEGER NOT NULL DEFAULT 0,
    dimension_set_id INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE gl_register (
    no INTEGER PRIMARY KEY CHECK (no > 0),
    from_entry_no INTEGER NOT NULL DEFAULT 0,
    to_entry_no INTEGER NOT NULL DEFAULT 0,
    creation_date TEXT NOT NULL DEFAULT '',
    source_code TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE gl_item_ledger_relation (
    gl_entry_no INTEGER NOT NULL REFERENCES gl_entry(entry_no),
    value_entry_no INTEGER NOT NULL REFERENCES value_entry(entry_no),
    gl_register_no INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (gl_entry_no, value_entry_no)
) STRICT, WITHOUT ROWID;
"""

_INDEXES_V1 = """
CREATE INDEX value_entry_item_date ON value_entry (item_no, posting_date);
CREATE INDEX value_entry_date ON value_entry (posting_date);
CREATE INDEX value_entry_location_date ON value_entry (location_code, posting_date);
CREATE INDEX value_entry_item_ledger_entry ON value_entry (item_ledger_entry_no);
CREATE INDEX value_entry_unposted ON value_entry (item_no, posting_date, entry_no)
    WHERE cost_amount_actual <> cost_posted_to_gl
       OR cost_amount_expected <> expected_cost_posted_to_gl;
CREATE INDEX gl_entry_account_date ON gl_entry (gl_account_no, posting_date, closing);
CREATE INDEX gl_entry_date ON gl_entry (posting_date);
CREATE INDEX gl_entry_transaction ON gl_entry (transaction_no);
CREATE INDEX gl_item_ledger_relation_value_entry ON gl_item_ledger_relation (value_entry_no);
CREATE INDEX gl_item_ledger_relation_register ON gl_item_ledger_relation (gl_register_no);
CREATE INDEX item_ledger_entry_item ON item_ledger_entry (item_no, location_code, posting_date);
CREATE INDEX item_ledger_entry_document ON item_ledger_entry (document_no);
CREATE INDEX item_application_entry_inbound ON item_application_entry (inbound_item_entry_no);
CREATE INDEX item_application_entry_outbound ON item_application_entry (outbound_item_entry_no);
CREATE INDEX item_application_entry_ile ON item_application_entry (item_ledger_entry_no);
"""


def _run_script(db: Database, script: str) -> None:
    # executescript() would COMMIT the migration's transaction; run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations(name="0001_ledger")
def _m0001_ledger(db: Database) -> None:
    _run_script(db, _TABLES_V1)
    _run_script(db, _INDEXES_V1)
    db.execute("INSERT INTO invrecon_meta (key, value) VALUES ('application', 'invrecon')")
    db.execute("INSERT INTO inventory_setup (id) VALUES (1)")
    db.execute("INSERT INTO general_ledger_setup (id) VALUES (1)")


# New migrations go below, one function each, never editing an applied one.


@migrations(name="0002_costing")
def _m0002_costing(db: Database) -> None:
    # Item posting and cost adjustment (issue 5): fixed application on the ILE, the transfer link
    # on the application entry, BC's sticky "Allow Online Adjustment", and the average-cost
    # adjustment entry points (table 5804; calc type Item: location '').
    _run_script(db, """
ALTER TABLE item_ledger_entry ADD COLUMN applies_to_entry INTEGER NOT NULL DEFAULT 0;
ALTER TABLE item_application_entry ADD COLUMN transferred_from_entry_no INTEGER NOT NULL DEFAULT 0;
ALTER TABLE item ADD COLUMN allow_online_adjustment INTEGER NOT NULL DEFAULT 1
    CHECK (allow_online_adjustment IN (0,1));
CREATE TABLE avg_cost_adjmt_entry_point (
    item_no TEXT NOT NULL REFERENCES item(no),
    location_code TEXT NOT NULL DEFAULT '',
    valuation_date TEXT NOT NULL,
    cost_is_adjusted INTEGER NOT NULL DEFAULT 0 CHECK (cost_is_adjusted IN (0,1)),
    PRIMARY KEY (item_no, location_code, valuation_date)
) STRICT, WITHOUT ROWID;
CREATE INDEX item_ledger_entry_open ON item_ledger_entry
    (item_no, location_code, positive, posting_date, entry_no) WHERE open = 1;
CREATE INDEX item_ledger_entry_to_adjust ON item_ledger_entry (item_no)
    WHERE applied_entry_to_adjust = 1;
CREATE INDEX item_application_entry_transferred_from ON item_application_entry
    (transferred_from_entry_no) WHERE transferred_from_entry_no <> 0;
""")


@migrations(name="0003_preaggregates")
def _m0003_preaggregates(db: Database) -> None:
    # Per-day pre-aggregates kept exact by triggers (issue 7); filled from the existing entries.
    from invrecon import preaggregates

    preaggregates.create(db)


@migrations(name="0004_exact_preaggregate_triggers")
def _m0004_exact_preaggregate_triggers(db: Database) -> None:
    # The triggers refuse a running total that left 64-bit integers (preaggregates._exact)
    # instead of storing SQLite's REAL result, rounded, when it came back in range.
    from invrecon import preaggregates

    preaggregates.create_triggers(db)


def known_migrations() -> frozenset[str]:
    return frozenset(m.name for m in migrations._migrations)

LEDGER_TABLES = (
    "gl_account",
    "item",
    "location",
    "inventory_posting_setup",
    "general_posting_setup",
    "inventory_setup",
    "general_ledger_setup",
    "accounting_period",
    "dimension_set_entry",
    "default_dimension",
    "item_ledger_entry",
    "item_application_entry",
    "value_entry",
    "gl_entry",
    "gl_register",
    "gl_item_ledger_relation",
)
