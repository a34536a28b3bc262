"""Business Central enumerations, stored in SQLite as their BC captions ('' = blank)."""

from __future__ import annotations

from enum import StrEnum


class ItemLedgerEntryType(StrEnum):
    PURCHASE = "Purchase"
    SALE = "Sale"
    POSITIVE_ADJMT = "Positive Adjmt."
    NEGATIVE_ADJMT = "Negative Adjmt."
    TRANSFER = "Transfer"
    CONSUMPTION = "Consumption"
    OUTPUT = "Output"
    BLANK = ""  # capacity value entries
    ASSEMBLY_CONSUMPTION = "Assembly Consumption"
    ASSEMBLY_OUTPUT = "Assembly Output"


class EntryType(StrEnum):
    DIRECT_COST = "Direct Cost"
    REVALUATION = "Revaluation"
    ROUNDING = "Rounding"
    INDIRECT_COST = "Indirect Cost"
    VARIANCE = "Variance"


class VarianceType(StrEnum):
    BLANK = ""
    PURCHASE = "Purchase"
    MATERIAL = "Material"
    CAPACITY = "Capacity"
    CAPACITY_OVERHEAD = "Capacity Overhead"
    MANUFACTURING_OVERHEAD = "Manufacturing Overhead"
    SUBCONTRACTED = "Subcontracted"


class OrderType(StrEnum):
    BLANK = ""
    PRODUCTION = "Production"
    TRANSFER = "Transfer"
    SERVICE = "Service"
    ASSEMBLY = "Assembly"


class SourceType(StrEnum):
    BLANK = ""
    CUSTOMER = "Customer"
    VENDOR = "Vendor"
    ITEM = "Item"


class CapacityType(StrEnum):
    """Value Entry 'Type' (capacity entries)."""

    BLANK = ""
    WORK_CENTER = "Work Center"
    MACHINE_CENTER = "Machine Center"
    RESOURCE = "Resource"


class AccountType(StrEnum):
    POSTING = "Posting"
    HEADING = "Heading"
    TOTAL = "Total"
    BEGIN_TOTAL = "Begin-Total"
    END_TOTAL = "End-Total"


class IncomeBalance(StrEnum):
    INCOME_STATEMENT = "Income Statement"
    BALANCE_SHEET = "Balance Sheet"


class ItemType(StrEnum):
    INVENTORY = "Inventory"
    SERVICE = "Service"
    NON_INVENTORY = "Non-Inventory"


class CostingMethod(StrEnum):
    FIFO = "FIFO"
    LIFO = "LIFO"
    AVERAGE = "Average"
    STANDARD = "Standard"
    SPECIFIC = "Specific"


class AutomaticCostAdjustment(StrEnum):
    NEVER = "Never"
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"
    QUARTER = "Quarter"
    YEAR = "Year"
    ALWAYS = "Always"


class AverageCostCalcType(StrEnum):
    ITEM = "Item"
    ITEM_LOCATION_VARIANT = "Item & Location & Variant"


class AverageCostPeriod(StrEnum):
    DAY = "Day"
    WEEK = "Week"
    MONTH = "Month"
    QUARTER = "Quarter"
    YEAR = "Year"
    ACCOUNTING_PERIOD = "Accounting Period"


class ValuePosting(StrEnum):
    BLANK = ""
    CODE_MANDATORY = "Code Mandatory"
    SAME_CODE = "Same Code"
    NO_CODE = "No Code"


class PostingAccountType(StrEnum):
    """Invt. Posting Buffer Account Type; the declaration order is BC's ordinal (posting order)."""

    INVENTORY_INTERIM = "Inventory (Interim)"
    INVT_ACCRUAL_INTERIM = "Invt. Accrual (Interim)"
    INVENTORY = "Inventory"
    WIP_INVENTORY = "WIP Inventory"
    INVENTORY_ADJMT = "Inventory Adjmt."
    DIRECT_COST_APPLIED = "Direct Cost Applied"
    OVERHEAD_APPLIED = "Overhead Applied"
    PURCHASE_VARIANCE = "Purchase Variance"
    COGS = "COGS"
    COGS_INTERIM = "COGS (Interim)"
    MATERIAL_VARIANCE = "Material Variance"
    CAPACITY_VARIANCE = "Capacity Variance"
    SUBCONTRACTED_VARIANCE = "Subcontracted Variance"
    CAP_OVERHEAD_VARIANCE = "Cap. Overhead Variance"
    MFG_OVERHEAD_VARIANCE = "Mfg. Overhead Variance"

    @property
    def ordinal(self) -> int:
        return _ACCOUNT_TYPE_ORDER[self]

    @property
    def key(self) -> str:
        """snake_case key used in JSON (e.g. 'inventory_interim', 'cogs')."""
        return _ACCOUNT_TYPE_KEYS[self]


_ACCOUNT_TYPE_ORDER = {t: i for i, t in enumerate(PostingAccountType)}
_ACCOUNT_TYPE_KEYS = {
    PostingAccountType.INVENTORY_INTERIM: "inventory_interim",
    PostingAccountType.INVT_ACCRUAL_INTERIM: "invt_accrual_interim",
    PostingAccountType.INVENTORY: "inventory",
    PostingAccountType.WIP_INVENTORY: "wip_inventory",
    PostingAccountType.INVENTORY_ADJMT: "inventory_adjmt",
    PostingAccountType.DIRECT_COST_APPLIED: "direct_cost_applied",
    PostingAccountType.OVERHEAD_APPLIED: "overhead_applied",
    PostingAccountType.PURCHASE_VARIANCE: "purchase_variance",
    PostingAccountType.COGS: "cogs",
    PostingAccountType.COGS_INTERIM: "cogs_interim",
    PostingAccountType.MATERIAL_VARIANCE: "material_variance",
    PostingAccountType.CAPACITY_VARIANCE: "capacity_variance",
    PostingAccountType.SUBCONTRACTED_VARIANCE: "subcontracted_variance",
    PostingAccountType.CAP_OVERHEAD_VARIANCE: "cap_overhead_variance",
    PostingAccountType.MFG_OVERHEAD_VARIANCE: "mfg_overhead_variance",
}
