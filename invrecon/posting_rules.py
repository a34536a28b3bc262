"""The inventory posting rule table (spec 20, §2.3) as data, and the account resolution (§2.2).

``RULES`` holds every row P1..K4: for a value entry's (Item Ledger Entry Type, Entry Type,
Variance Type, capacity order kind) and the part (expected / actual) it names the account type
that gets +X and the balancing account type that gets -X. ``rules_for`` finds the expected and
actual rule of a combination, or tells why the combination is invalid (§2.4, including BC's
field errors). ``ACCOUNT_SOURCES`` says which setup table and field gives each account type.
``PostingSetup`` holds the setup a run reads (loaded once, kept in dicts) and resolves account
types to G/L account numbers, with the problems (reason codes of 40-interfaces §4) in the order
of BC's test report: setup row, blocked GPS row, blank account; then (per entry) the allowed
posting dates; then the G/L account itself (exists, not blocked, Account Type = Posting).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from sqlite_utils import Database

from invrecon.enums import EntryType, ItemLedgerEntryType, PostingAccountType, VarianceType

ILE = ItemLedgerEntryType
ET = EntryType
VT = VarianceType
T = PostingAccountType


class Part(StrEnum):
    EXPECTED = "Exp"
    ACTUAL = "Act"


class CapacityOrder(StrEnum):
    """Capacity rules (K1..K4) switch on Order Type = Assembly."""

    ASSEMBLY = "assembly"
    OTHER = "other"


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: the Account gets +X, the Balancing account -X."""

    code: str
    ile_types: tuple[str, ...]
    entry_types: tuple[str, ...]
    variance_types: tuple[str, ...] | None  # None: the Variance Type is not looked at
    part: Part
    account: PostingAccountType
    balancing: PostingAccountType
    capacity_order: CapacityOrder | None = None

    @property
    def interim(self) -> bool:
        """Interim pairs update Expected Cost Posted to G/L; the others Cost Posted to G/L."""
        return self.part is Part.EXPECTED


_ADJ = (ILE.POSITIVE_ADJMT, ILE.NEGATIVE_ADJMT, ILE.TRANSFER)
_MFG_VARIANCES = {
    VT.MATERIAL: T.MATERIAL_VARIANCE,
    VT.CAPACITY: T.CAPACITY_VARIANCE,
    VT.SUBCONTRACTED: T.SUBCONTRACTED_VARIANCE,
    VT.CAPACITY_OVERHEAD: T.CAP_OVERHEAD_VARIANCE,
    VT.MANUFACTURING_OVERHEAD: T.MFG_OVERHEAD_VARIANCE,
}


def _r(code, iles, ets, part, account, balancing, *, vts=None, cap=None) -> Rule:
    return Rule(code, tuple(str(i) for i in iles), tuple(str(e) for e in ets),
                None if vts is None else tuple(str(v) for v in vts), part, account, balancing,
                cap)


E, A = Part.EXPECTED, Part.ACTUAL

RULES: tuple[Rule, ...] = (
    _r("P1", [ILE.PURCHASE], [ET.DIRECT_COST], E, T.INVENTORY_INTERIM, T.INVT_ACCRUAL_INTERIM),
    _r("P2", [ILE.PURCHASE], [ET.DIRECT_COST], A, T.INVENTORY, T.DIRECT_COST_APPLIED),
    _r("P3", [ILE.PURCHASE], [ET.INDIRECT_COST], A, T.INVENTORY, T.OVERHEAD_APPLIED),
    _r("P4", [ILE.PURCHASE], [ET.VARIANCE], A, T.INVENTORY, T.PURCHASE_VARIANCE,
       vts=[VT.PURCHASE]),
    _r("P5", [ILE.PURCHASE], [ET.REVALUATION], E, T.INVENTORY_INTERIM, T.INVT_ACCRUAL_INTERIM),
    _r("P6", [ILE.PURCHASE], [ET.REVALUATION], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("P7", [ILE.PURCHASE], [ET.ROUNDING], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("S1", [ILE.SALE], [ET.DIRECT_COST], E, T.INVENTORY_INTERIM, T.COGS_INTERIM),
    _r("S2", [ILE.SALE], [ET.DIRECT_COST], A, T.INVENTORY, T.COGS),
    _r("S3", [ILE.SALE], [ET.REVALUATION], E, T.INVENTORY_INTERIM, T.COGS_INTERIM),
    _r("S4", [ILE.SALE], [ET.REVALUATION], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("S5", [ILE.SALE], [ET.ROUNDING], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("A1", _ADJ, [ET.DIRECT_COST], E, T.INVENTORY_INTERIM, T.COGS_INTERIM),
    _r("A2", _ADJ, [ET.DIRECT_COST], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("A3", _ADJ, [ET.REVALUATION, ET.ROUNDING], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("C1", [ILE.CONSUMPTION], [ET.DIRECT_COST], A, T.INVENTORY, T.WIP_INVENTORY),
    _r("C2", [ILE.CONSUMPTION], [ET.REVALUATION, ET.ROUNDING], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("O1", [ILE.OUTPUT], [ET.DIRECT_COST], E, T.INVENTORY_INTERIM, T.WIP_INVENTORY),
    _r("O2", [ILE.OUTPUT], [ET.DIRECT_COST], A, T.INVENTORY, T.WIP_INVENTORY),
    # O3 (Direct Cost - Non Inventory) and O6 (Material - Non Inventory variance) need BC 25's
    # non-inventory setup; the ledger schema has neither value, so they cannot occur.
    _r("O4", [ILE.OUTPUT], [ET.INDIRECT_COST], A, T.INVENTORY, T.OVERHEAD_APPLIED),
    _r("O5", [ILE.OUTPUT], [ET.VARIANCE], A, T.INVENTORY, T.MATERIAL_VARIANCE,
       vts=[VT.MATERIAL]),
    _r("O7", [ILE.OUTPUT], [ET.VARIANCE], A, T.INVENTORY, T.CAPACITY_VARIANCE,
       vts=[VT.CAPACITY]),
    _r("O8", [ILE.OUTPUT], [ET.VARIANCE], A, T.INVENTORY, T.SUBCONTRACTED_VARIANCE,
       vts=[VT.SUBCONTRACTED]),
    _r("O9", [ILE.OUTPUT], [ET.VARIANCE], A, T.INVENTORY, T.CAP_OVERHEAD_VARIANCE,
       vts=[VT.CAPACITY_OVERHEAD]),
    _r("O10", [ILE.OUTPUT], [ET.VARIANCE], A, T.INVENTORY, T.MFG_OVERHEAD_VARIANCE,
       vts=[VT.MANUFACTURING_OVERHEAD]),
    _r("O11", [ILE.OUTPUT], [ET.REVALUATION], E, T.INVENTORY_INTERIM, T.WIP_INVENTORY),
    _r("O12", [ILE.OUTPUT], [ET.REVALUATION], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("O13", [ILE.OUTPUT], [ET.ROUNDING], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("M1", [ILE.ASSEMBLY_CONSUMPTION], [ET.DIRECT_COST, ET.REVALUATION, ET.ROUNDING], A,
       T.INVENTORY, T.INVENTORY_ADJMT),
    _r("N1", [ILE.ASSEMBLY_OUTPUT], [ET.DIRECT_COST], A, T.INVENTORY, T.INVENTORY_ADJMT),
    _r("N2", [ILE.ASSEMBLY_OUTPUT], [ET.INDIRECT_COST], A, T.INVENTORY, T.OVERHEAD_APPLIED),
    *(
        _r("N3", [ILE.ASSEMBLY_OUTPUT], [ET.VARIANCE], A, T.INVENTORY, acct, vts=[vt])
        for vt, acct in _MFG_VARIANCES.items()
    ),
    _r("N4", [ILE.ASSEMBLY_OUTPUT], [ET.REVALUATION, ET.ROUNDING], A, T.INVENTORY,
       T.INVENTORY_ADJMT),
    _r("K1", [ILE.BLANK], [ET.DIRECT_COST], A, T.INVENTORY_ADJMT, T.DIRECT_COST_APPLIED,
       cap=CapacityOrder.ASSEMBLY),
    _r("K2", [ILE.BLANK], [ET.INDIRECT_COST], A, T.INVENTORY_ADJMT, T.OVERHEAD_APPLIED,
       cap=CapacityOrder.ASSEMBLY),
    _r("K3", [ILE.BLANK], [ET.DIRECT_COST], A, T.WIP_INVENTORY, T.DIRECT_COST_APPLIED,
       cap=CapacityOrder.OTHER),
    _r("K4", [ILE.BLANK], [ET.INDIRECT_COST], A, T.WIP_INVENTORY, T.OVERHEAD_APPLIED,
       cap=CapacityOrder.OTHER),
)


# --- which setup field gives each account type ---------------------------------------------

IPS = "Inventory Posting Setup"
GPS = "General Posting Setup"


@dataclass(frozen=True)
class AccountSource:
    setup: str  # IPS or GPS
    column: str  # column of inventory_posting_setup / general_posting_setup
    caption: str  # BC field caption


ACCOUNT_SOURCES: dict[PostingAccountType, AccountSource] = {
    T.INVENTORY_INTERIM: AccountSource(IPS, "inventory_account_interim", "Inventory Account (Interim)"),
    T.INVT_ACCRUAL_INTERIM: AccountSource(GPS, "invt_accrual_acc_interim", "Invt. Accrual Acc. (Interim)"),
    T.INVENTORY: AccountSource(IPS, "inventory_account", "Inventory Account"),
    T.WIP_INVENTORY: AccountSource(IPS, "wip_account", "WIP Account"),
    T.INVENTORY_ADJMT: AccountSource(GPS, "inventory_adjmt_account", "Inventory Adjmt. Account"),
    T.DIRECT_COST_APPLIED: AccountSource(GPS, "direct_cost_applied_account", "Direct Cost Applied Account"),
    T.OVERHEAD_APPLIED: AccountSource(GPS, "overhead_applied_account", "Overhead Applied Account"),
    T.PURCHASE_VARIANCE: AccountSource(GPS, "purchase_variance_account", "Purchase Variance Account"),
    T.COGS: AccountSource(GPS, "cogs_account", "COGS Account"),
    T.COGS_INTERIM: AccountSource(GPS, "cogs_account_interim", "COGS Account (Interim)"),
    T.MATERIAL_VARIANCE: AccountSource(IPS, "material_variance_account", "Material Variance Account"),
    T.CAPACITY_VARIANCE: AccountSource(IPS, "capacity_variance_account", "Capacity Variance Account"),
    T.SUBCONTRACTED_VARIANCE: AccountSource(IPS, "subcontracted_variance_account", "Subcontracted Variance Account"),
    T.CAP_OVERHEAD_VARIANCE: AccountSource(IPS, "cap_overhead_variance_account", "Cap. Overhead Variance Account"),
    T.MFG_OVERHEAD_VARIANCE: AccountSource(IPS, "mfg_overhead_variance_account", "Mfg. Overhead Variance Account"),
}

ACCOUNT_TYPES: tuple[PostingAccountType, ...] = tuple(PostingAccountType)  # by ordinal


# --- reason codes (40-interfaces §4) ---------------------------------------------------------

class Reason(StrEnum):
    MISSING_INVENTORY_POSTING_SETUP = "missing_inventory_posting_setup"
    MISSING_GENERAL_POSTING_SETUP = "missing_general_posting_setup"
    BLANK_ACCOUNT = "blank_account"
    BLOCKED_ACCOUNT = "blocked_account"
    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNT_NOT_POSTING = "account_not_posting"
    GENERAL_POSTING_SETUP_BLOCKED = "general_posting_setup_blocked"
    POSTING_DATE_NOT_ALLOWED = "posting_date_not_allowed"
    INVALID_COMBINATION = "invalid_combination"
    EXPECTED_COST_POSTING_OFF = "expected_cost_posting_off"


@dataclass(frozen=True)
class Problem:
    reason_code: Reason
    reason: str


# --- finding the rules of a combination ------------------------------------------------------

@dataclass(frozen=True)
class RuleSet:
    expected: Rule | None
    actual: Rule


def capacity_order(order_type: str) -> CapacityOrder:
    return CapacityOrder.ASSEMBLY if order_type == "Assembly" else CapacityOrder.OTHER


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def combination_text(ile_type: str, entry_type: str, expected_cost: bool) -> str:
    return (
        f"The following combination Item Ledger Entry Type = {ile_type or '(blank)'}, "
        f"Entry Type = {entry_type}, and Expected Cost = {_yes_no(expected_cost)} is not allowed"
    )


@functools.lru_cache(maxsize=4096)
def rules_for(
    ile_type: str, entry_type: str, variance_type: str, order_type: str, expected_cost: bool,
    has_expected_amount: bool,
) -> RuleSet | Problem:
    """The rules of one combination, or the invalid-combination problem (§2.4, §4.1).

    ``has_expected_amount``: Cost Amount (Expected) <> 0 (BC's field error on non-direct,
    non-revaluation entries checks the amount itself, whatever the expected-cost setting).
    """
    if entry_type not in (ET.DIRECT_COST, ET.REVALUATION):
        if expected_cost:
            return Problem(
                Reason.INVALID_COMBINATION,
                f"Expected Cost must be No if Entry Type is not Direct Cost or Revaluation "
                f"(Entry Type = {entry_type}); correct the value entry",
            )
        if has_expected_amount:
            return Problem(
                Reason.INVALID_COMBINATION,
                f"Cost Amount (Expected) must be zero if Entry Type is not Direct Cost or "
                f"Revaluation (Entry Type = {entry_type}); correct the value entry",
            )
    if ile_type == ILE.PURCHASE and entry_type == ET.VARIANCE and variance_type != VT.PURCHASE:
        return Problem(
            Reason.INVALID_COMBINATION,
            f"Variance Type must be Purchase on a purchase variance entry, not "
            f"'{variance_type or '(blank)'}'; correct the value entry",
        )
    cap = capacity_order(order_type) if ile_type == ILE.BLANK else None
    found: dict[Part, Rule] = {}
    for rule in RULES:
        if ile_type not in rule.ile_types or entry_type not in rule.entry_types:
            continue
        if rule.variance_types is not None and variance_type not in rule.variance_types:
            continue
        if rule.capacity_order is not None and rule.capacity_order is not cap:
            continue
        found.setdefault(rule.part, rule)
    actual = found.get(Part.ACTUAL)
    if actual is None:
        text = combination_text(ile_type, entry_type, expected_cost)
        if entry_type == ET.VARIANCE:
            text += f" (Variance Type = {variance_type or '(blank)'})"
        return Problem(Reason.INVALID_COMBINATION, text + "; correct the value entry")
    return RuleSet(found.get(Part.EXPECTED), actual)


def rule_by_code(code: str) -> list[Rule]:
    return [r for r in RULES if r.code == code]


# --- the setup a run reads ---------------------------------------------------------------------

@dataclass(frozen=True)
class AccountInfo:
    no: str
    name: str
    account_type: str
    blocked: bool


def _q(code: str) -> str:
    return f"'{code}'"


class PostingSetup:
    """Inventory/General Posting Setup, G/L accounts, settings: loaded once per run into dicts."""

    def __init__(self, db: Database):
        conn = db.conn
        ips_cols = sorted({s.column for s in ACCOUNT_SOURCES.values() if s.setup == IPS})
        gps_cols = sorted({s.column for s in ACCOUNT_SOURCES.values() if s.setup == GPS})
        self.ips: dict[tuple[str, str], dict[str, str]] = {}
        for row in conn.execute(
            f"SELECT location_code, invt_posting_group_code, {', '.join(ips_cols)} "
            "FROM inventory_posting_setup"
        ):
            self.ips[(row[0], row[1])] = dict(zip(ips_cols, row[2:], strict=True))
        self.gps: dict[tuple[str, str], dict[str, str]] = {}
        self.gps_blocked: set[tuple[str, str]] = set()
        for row in conn.execute(
            f"SELECT gen_bus_posting_group, gen_prod_posting_group, blocked, {', '.join(gps_cols)} "
            "FROM general_posting_setup"
        ):
            self.gps[(row[0], row[1])] = dict(zip(gps_cols, row[3:], strict=True))
            if row[2]:
                self.gps_blocked.add((row[0], row[1]))
        self.accounts: dict[str, AccountInfo] = {
            r[0]: AccountInfo(r[0], r[1], r[2], bool(r[3]))
            for r in conn.execute("SELECT no, name, account_type, blocked FROM gl_account")
        }
        row = conn.execute(
            "SELECT automatic_cost_posting, expected_cost_posting_to_gl FROM inventory_setup"
        ).fetchone()
        self.automatic_cost_posting = bool(row[0]) if row else False
        self.expected_cost_posting = bool(row[1]) if row else False
        row = conn.execute(
            "SELECT allow_posting_from, allow_posting_to FROM general_ledger_setup"
        ).fetchone()
        self.allow_from: str = (row[0] if row else "") or ""
        self.allow_to: str = (row[1] if row else "") or ""
        self._conn = conn
        self._item_groups: dict[str, str | None] = {}
        # Default dimensions of G/L accounts (table 15) with a value posting rule.
        self.dimension_rules: dict[str, list[tuple[str, str, str]]] = {}
        for r in conn.execute(
            "SELECT no, dimension_code, dimension_value_code, value_posting FROM default_dimension "
            "WHERE table_id = 15 AND value_posting <> '' ORDER BY no, dimension_code"
        ):
            self.dimension_rules.setdefault(r[0], []).append((r[1], r[2], r[3]))
        self._dimension_sets: dict[int, dict[str, str]] = {}
        self._dimension_results: dict[tuple[int, str], list[str]] = {}

    # -- items (the WIP exception) --

    def item_posting_group(self, item_no: str) -> str | None:
        """Inventory Posting Group of an item, None if the item does not exist."""
        try:
            return self._item_groups[item_no]
        except KeyError:
            row = self._conn.execute(
                "SELECT inventory_posting_group FROM item WHERE no = ?", [item_no]
            ).fetchone()
            group = row[0] if row else None
            self._item_groups[item_no] = group
            return group

    # -- posting dates --

    def date_problem(self, posting_date: str) -> Problem | None:
        """The problem of a posting date outside the allowed range (one object per date)."""
        cache = self.__dict__.setdefault("_date_problems", {})
        if posting_date not in cache:
            cache[posting_date] = self._date_problem(posting_date)
        return cache[posting_date]

    def _date_problem(self, posting_date: str) -> Problem | None:
        if (self.allow_from and posting_date < self.allow_from) or (
            self.allow_to and posting_date > self.allow_to
        ):
            return Problem(
                Reason.POSTING_DATE_NOT_ALLOWED,
                f"Posting Date {posting_date} is not within the range of allowed posting dates "
                f"({self.allow_from or '(open)'}..{self.allow_to or '(open)'} in General Ledger "
                "Setup); widen Allow Posting From/To or correct the entry",
            )
        return None

    # -- accounts --

    def setup_account(
        self, account_type: PostingAccountType, location: str, invt_group: str, bus: str, prod: str,
    ) -> tuple[str | None, Problem | None]:
        """The account number of a type for these setup keys, or the setup problem
        (missing row, blocked GPS row, blank field). The G/L account is checked by
        ``account_problem``."""
        src = ACCOUNT_SOURCES[account_type]
        if src.setup == IPS:
            row = self.ips.get((location, invt_group))
            if row is None:
                return None, Problem(
                    Reason.MISSING_INVENTORY_POSTING_SETUP,
                    f"Inventory Posting Setup is missing for Location Code {_q(location)} and "
                    f"Invt. Posting Group Code {_q(invt_group)}; add the row to the setup",
                )
            key_text = f"{location} {invt_group}".strip()
        else:
            key = (bus, prod)
            row = self.gps.get(key)
            if row is None:
                return None, Problem(
                    Reason.MISSING_GENERAL_POSTING_SETUP,
                    f"General Posting Setup is missing for Gen. Bus. Posting Group {_q(bus)} "
                    f"and Gen. Prod. Posting Group {_q(prod)}; add the row to the setup",
                )
            if key in self.gps_blocked:
                return None, Problem(
                    Reason.GENERAL_POSTING_SETUP_BLOCKED,
                    f"Setup is blocked in General Posting Setup for Gen. Bus. Posting Group "
                    f"{_q(bus)} and Gen. Prod. Posting Group {_q(prod)}; unblock the row",
                )
            key_text = f"{bus} {prod}".strip()
        account = row[src.column]
        if not account:
            return None, Problem(
                Reason.BLANK_ACCOUNT,
                f"{src.caption} is missing in {src.setup}, {key_text} "
                f"(needed for {account_type.value}); fill in the account",
            )
        return account, None

    def account_problem(self, account_no: str) -> Problem | None:
        info = self.accounts.get(account_no)
        if info is None:
            return Problem(
                Reason.ACCOUNT_NOT_FOUND,
                f"G/L Account {account_no} does not exist; create it or correct the posting setup",
            )
        if info.blocked:
            return Problem(
                Reason.BLOCKED_ACCOUNT,
                f"Blocked must be No for G/L Account {account_no}; unblock the account or "
                "correct the posting setup",
            )
        if info.account_type != "Posting":
            return Problem(
                Reason.ACCOUNT_NOT_POSTING,
                f"Account Type must be Posting for G/L Account {account_no} (it is "
                f"{info.account_type}); correct the posting setup",
            )
        return None

    # -- dimensions (never skip: the value entry's dimensions are posted, the override reported) --

    def _dimension_set(self, set_id: int) -> dict[str, str]:
        try:
            return self._dimension_sets[set_id]
        except KeyError:
            dims = {
                r[0]: r[1]
                for r in self._conn.execute(
                    "SELECT dimension_code, dimension_value_code FROM dimension_set_entry "
                    "WHERE dimension_set_id = ?", [set_id]
                )
            } if set_id else {}
            if len(self._dimension_sets) > 100_000:
                self._dimension_sets.clear()
            self._dimension_sets[set_id] = dims
            return dims

    def dimension_problems(self, set_id: int, account_no: str) -> list[str]:
        """Messages for the default dimension value posting rules of a G/L account the value
        entry's dimension set breaks (Code Mandatory, Same Code, No Code)."""
        rules = self.dimension_rules.get(account_no)
        if not rules:
            return []
        key = (set_id, account_no)
        cached = self._dimension_results.get(key)
        if cached is not None:
            return cached
        dims = self._dimension_set(set_id)
        out: list[str] = []
        for code, value, posting in rules:
            have = dims.get(code, "")
            if posting == "Code Mandatory" and not have:
                out.append(f"Select a Dimension Value Code for the Dimension Code {code} for "
                           f"G/L Account {account_no}.")
            elif posting == "Same Code" and have != value:
                if value:
                    out.append(f"Select Dimension Value Code {value} for the Dimension Code "
                               f"{code} for G/L Account {account_no}.")
                else:
                    out.append(f"Dimension Code {code} must be blank for G/L Account "
                               f"{account_no}.")
            elif posting == "No Code" and have:
                out.append(f"Dimension Code {code} must not be used for G/L Account "
                           f"{account_no}.")
        if len(self._dimension_results) > 100_000:
            self._dimension_results.clear()
        self._dimension_results[key] = out
        return out
