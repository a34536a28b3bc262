"""Builds small ledgers for tests: a standard chart of accounts and setup, and entries with
BC-like defaults. Amounts are given as Decimal-compatible strings ('12.30') or int cents.

    b = LedgerBuilder.standard(db)            # accounts, items, locations, IPS/GPS rows
    ve = b.value_entry(item_no="A", item_ledger_entry_type="Purchase", cost_amount_actual="100")
    b.gl_entry("2130", "100.00")
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from invrecon.money import decimal_to_cents, parse_units

# The standard chart (numbers in the style of BC's demo company).
ACCOUNTS = {
    "2130": ("Inventory", "Balance Sheet"),
    "2131": ("Inventory (Interim)", "Balance Sheet"),
    "2140": ("WIP Inventory", "Balance Sheet"),
    "5290": ("Invt. Accrual (Interim)", "Balance Sheet"),
    "7190": ("COGS", "Income Statement"),
    "7191": ("COGS (Interim)", "Income Statement"),
    "7180": ("Inventory Adjmt.", "Income Statement"),
    "7290": ("Direct Cost Applied", "Income Statement"),
    "7291": ("Overhead Applied", "Income Statement"),
    "7292": ("Purchase Variance", "Income Statement"),
    "7890": ("Material Variance", "Income Statement"),
    "7891": ("Capacity Variance", "Income Statement"),
    "7892": ("Subcontracted Variance", "Income Statement"),
    "7893": ("Cap. Overhead Variance", "Income Statement"),
    "7894": ("Mfg. Overhead Variance", "Income Statement"),
    "3000": ("Equity", "Balance Sheet"),
}

IPS_ACCOUNTS = {
    "inventory_account": "2130",
    "inventory_account_interim": "2131",
    "wip_account": "2140",
    "material_variance_account": "7890",
    "capacity_variance_account": "7891",
    "subcontracted_variance_account": "7892",
    "cap_overhead_variance_account": "7893",
    "mfg_overhead_variance_account": "7894",
}
GPS_ACCOUNTS = {
    "cogs_account": "7190",
    "cogs_account_interim": "7191",
    "inventory_adjmt_account": "7180",
    "invt_accrual_acc_interim": "5290",
    "direct_cost_applied_account": "7290",
    "overhead_applied_account": "7291",
    "purchase_variance_account": "7292",
}


def cents(v: Any) -> int:
    if isinstance(v, int):
        return v
    return decimal_to_cents(Decimal(str(v)))


class LedgerBuilder:
    def __init__(self, db: Database):
        self.db = db
        self._next_ve = (db.execute("SELECT coalesce(max(entry_no),0) FROM value_entry").fetchone()[0]) + 1
        self._next_gl = (db.execute("SELECT coalesce(max(entry_no),0) FROM gl_entry").fetchone()[0]) + 1
        self._next_ile = (db.execute("SELECT coalesce(max(entry_no),0) FROM item_ledger_entry").fetchone()[0]) + 1

    @classmethod
    def standard(
        cls,
        db: Database,
        *,
        locations: tuple[str, ...] = ("", "BLUE", "RED"),
        groups: tuple[str, ...] = ("RESALE",),
        bus_groups: tuple[str, ...] = ("", "DOMESTIC"),
        prod_groups: tuple[str, ...] = ("RETAIL",),
        items: tuple[str, ...] = ("A", "B"),
        expected_cost_posting: bool = False,
    ) -> LedgerBuilder:
        b = cls(db)
        for no, (name, ib) in ACCOUNTS.items():
            b.account(no, name, income_balance=ib)
        for loc in locations:
            if loc:
                db.execute("INSERT INTO location (code, name) VALUES (?, ?)", [loc, loc.title()])
            for g in groups:
                b.ips(loc, g)
        for bus in bus_groups:
            for prod in prod_groups:
                b.gps(bus, prod)
        for no in items:
            b.item(no, inventory_posting_group=groups[0], gen_prod_posting_group=prod_groups[0])
        db.execute(
            "UPDATE inventory_setup SET expected_cost_posting_to_gl = ?", [int(expected_cost_posting)]
        )
        return b

    def account(self, no: str, name: str = "", **kw: Any) -> None:
        self.db.table("gl_account").insert({"no": no, "name": name or no, **kw}, replace=True)

    def item(self, no: str, **kw: Any) -> None:
        self.db.table("item").insert({"no": no, "description": f"Item {no}", **kw}, replace=True)

    def ips(self, location: str, group: str, **accounts: str) -> None:
        row = {"location_code": location, "invt_posting_group_code": group, **IPS_ACCOUNTS, **accounts}
        self.db.table("inventory_posting_setup").insert(row, replace=True)

    def gps(self, bus: str, prod: str, **accounts: Any) -> None:
        row = {"gen_bus_posting_group": bus, "gen_prod_posting_group": prod, **GPS_ACCOUNTS, **accounts}
        self.db.table("general_posting_setup").insert(row, replace=True)

    def value_entry(self, **kw: Any) -> int:
        """Insert a value entry; amounts as '12.30' strings/Decimal or int cents. Returns entry no."""
        row: dict[str, Any] = {
            "entry_no": self._next_ve,
            "item_no": "A",
            "posting_date": "2025-01-15",
            "item_ledger_entry_type": "Purchase",
            "entry_type": "Direct Cost",
            "document_no": f"DOC{self._next_ve}",
            "inventory_posting_group": "RESALE",
            "gen_prod_posting_group": "RETAIL",
        }
        row.update(kw)
        for f in ("cost_amount_actual", "cost_amount_expected", "cost_posted_to_gl",
                  "expected_cost_posted_to_gl"):
            if f in row:
                row[f] = cents(row[f])
        for f in ("valued_quantity", "invoiced_quantity", "cost_per_unit"):
            if f in row and not isinstance(row[f], int):
                row[f] = parse_units(str(row[f]))
        if row.get("item_ledger_entry_type") == "" and "item_no" not in kw:
            row["item_no"] = None
        if "item_ledger_entry_no" not in row and row.get("item_ledger_entry_type") != "":
            row["item_ledger_entry_no"] = row["entry_no"]
        self.db.table("value_entry").insert(row)
        self._next_ve += 1
        return row["entry_no"]

    def gl_entry(self, account: str | None, amount: Any, **kw: Any) -> int:
        row: dict[str, Any] = {
            "entry_no": self._next_gl,
            "gl_account_no": account,
            "posting_date": "2025-01-15",
            "amount": cents(amount),
            "document_no": f"GL{self._next_gl}",
            "transaction_no": self._next_gl,
        }
        row.update(kw)
        self.db.table("gl_entry").insert(row)
        self._next_gl += 1
        return row["entry_no"]
