"""One item's history (item ledger entries, value entries, applications), held compactly for
the cost adjustment.

An item of a large ledger has hundreds of thousands of entries. As one Python object per entry
(a slots dataclass, its own date and type strings, its own int objects) the largest item of the
10M sample took about 690 MB. Here every numeric field is a column in an ``array('q')``
(8 bytes a value), every date and type string is shared through one per-item intern table (one
list pointer a value), and applications are kept in compressed-row form (one sorted key array,
one offset array, value columns). The largest item then takes about 100 MB.

Readers see entries as the small ``Ile`` / ``Ve`` records, built on demand (the most recently
used few thousand are kept, since the adjustment visits an inbound entry once per outbound entry
applied to it); they are read-only by convention, nothing is written back. The tables read like
mappings keyed by entry number:

- ``IleTable``: ILE no -> ``Ile`` (``in``, ``[]``, ``get``, ``items()`` in entry order);
- ``VeTable``: ILE no -> tuple of its ``Ve`` in entry order (empty for none), ``items()``;
- ``Links``: key -> list of value tuples (empty list for none), e.g. inbound -> (outbound, qty);
- ``SortedMap``: int -> int (``in``, ``[]``).

Lookups are a binary search over the sorted key column.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class Ile:
    no: int
    posting_date: str
    entry_type: str
    quantity: int
    invoiced: int
    remaining: int
    positive: bool
    flagged: bool
    applies_to: int


@dataclass(slots=True)
class Ve:
    no: int
    ile: int
    posting_date: str
    valuation_date: str  # the posting date where the ledger's valuation date is empty
    entry_type: str
    adjustment: bool
    expected_cost: bool
    valued_qty: int
    invoiced_qty: int
    actual: int
    expected: int
    applies_to: int
    charge: bool
    cost_per_unit: int


class _Interner:
    """One shared str object per distinct value (dates and types repeat across rows)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, s: str) -> str:
        return self._seen.setdefault(s, s)


_RECENT = 8_192  # records kept built per table


def _remember(recent: OrderedDict, key: int, value: object) -> None:
    if len(recent) >= _RECENT:
        recent.popitem(last=False)  # the oldest (a plain dict slows down popping its first)
    recent[key] = value


def _find(keys: array, key: int) -> int:
    """Index of ``key`` in the sorted ``keys`` column, or -1."""
    i = bisect_left(keys, key)
    return i if i < len(keys) and keys[i] == key else -1


class IleTable:
    """An item's ledger entries from rows (entry_no, posting_date, entry_type, quantity,
    invoiced_quantity, remaining_quantity, positive, applied_entry_to_adjust,
    applies_to_entry), given in entry order."""

    def __init__(self, rows: Iterable[tuple], intern: _Interner) -> None:
        self._no = array("q")
        self._date: list[str] = []
        self._type: list[str] = []
        self._qty = array("q")
        self._inv = array("q")
        self._rem = array("q")
        self._pos = array("b")
        self._flag = array("b")
        self._to = array("q")
        self._recent: OrderedDict[int, Ile] = OrderedDict()
        last = 0
        for no, date, etype, qty, inv, rem, pos, flag, to in rows:
            if no <= last:
                raise ValueError("item ledger entries must come in entry order")
            last = no
            self._no.append(no)
            self._date.append(intern(date))
            self._type.append(intern(etype))
            self._qty.append(qty)
            self._inv.append(inv)
            self._rem.append(rem)
            self._pos.append(pos)
            self._flag.append(flag)
            self._to.append(to)

    def _at(self, i: int) -> Ile:
        return Ile(self._no[i], self._date[i], self._type[i], self._qty[i], self._inv[i],
                   self._rem[i], bool(self._pos[i]), bool(self._flag[i]), self._to[i])

    def __len__(self) -> int:
        return len(self._no)

    def __contains__(self, no: object) -> bool:
        return isinstance(no, int) and _find(self._no, no) >= 0

    def get(self, no: int) -> Ile | None:
        e = self._recent.get(no)
        if e is None:
            i = _find(self._no, no)
            if i < 0:
                return None
            e = self._at(i)
            _remember(self._recent, no, e)
        return e

    def __getitem__(self, no: int) -> Ile:
        e = self.get(no)
        if e is None:
            raise KeyError(no)
        return e

    def __iter__(self) -> Iterator[int]:
        return iter(self._no)

    def items(self) -> Iterator[tuple[int, Ile]]:
        for i in range(len(self._no)):
            yield self._no[i], self._at(i)

    def flagged(self) -> list[int]:
        """Entry numbers with 'Applied Entry to Adjust', in entry order."""
        return [self._no[i] for i in range(len(self._no)) if self._flag[i]]


class VeTable:
    """An item's value entries from rows (entry_no, item_ledger_entry_no, posting_date,
    valuation_date, entry_type, adjustment, expected_cost, valued_quantity, invoiced_quantity,
    cost_amount_actual, cost_amount_expected, applies_to_entry, is_charge, cost_per_unit),
    given in (item_ledger_entry_no, entry_no) order.

    ``adjusted_actual`` is kept beside: for each value entry that adjustment entries apply to,
    the sum of their actual cost."""

    def __init__(self, rows: Iterable[tuple], intern: _Interner) -> None:
        self._keys = array("q")  # ILE nos with value entries, sorted
        self._start = array("q")  # first row of each key; one more at the end
        self._no = array("q")
        self._date: list[str] = []
        self._vdate: list[str] = []
        self._type: list[str] = []
        self._flags = array("b")  # 1 adjustment, 2 expected cost, 4 item charge
        self._vq = array("q")
        self._iq = array("q")
        self._act = array("q")
        self._exp = array("q")
        self._to = array("q")
        self._cpu = array("q")
        self.adjusted_actual: dict[int, int] = {}
        self._recent: OrderedDict[int, tuple[Ve, ...]] = OrderedDict()
        last = (0, 0)
        for (no, ile, date, vdate, etype, adj, exp_cost, vq, iq, act, exp, to, charge,
             cpu) in rows:
            if (ile, no) <= last:
                raise ValueError("value entries must come in (item ledger entry, entry) order")
            if ile != last[0] or not self._keys:
                self._keys.append(ile)
                self._start.append(len(self._no))
            last = (ile, no)
            self._no.append(no)
            self._date.append(intern(date))
            self._vdate.append(intern(vdate or date))
            self._type.append(intern(etype))
            self._flags.append((1 if adj else 0) | (2 if exp_cost else 0) | (4 if charge else 0))
            self._vq.append(vq)
            self._iq.append(iq)
            self._act.append(act)
            self._exp.append(exp)
            self._to.append(to)
            self._cpu.append(cpu)
            if adj and to:
                self.adjusted_actual[to] = self.adjusted_actual.get(to, 0) + act
        self._start.append(len(self._no))

    def _at(self, i: int, ile: int) -> Ve:
        f = self._flags[i]
        return Ve(self._no[i], ile, self._date[i], self._vdate[i], self._type[i], bool(f & 1),
                  bool(f & 2), self._vq[i], self._iq[i], self._act[i], self._exp[i], self._to[i],
                  bool(f & 4), self._cpu[i])

    def _group(self, k: int) -> tuple[Ve, ...]:
        ile = self._keys[k]
        return tuple(self._at(i, ile) for i in range(self._start[k], self._start[k + 1]))

    def __getitem__(self, ile_no: int) -> tuple[Ve, ...]:
        vs = self._recent.get(ile_no)
        if vs is None:
            k = _find(self._keys, ile_no)
            vs = self._group(k) if k >= 0 else ()
            _remember(self._recent, ile_no, vs)
        return vs

    def items(self) -> Iterator[tuple[int, tuple[Ve, ...]]]:
        for k in range(len(self._keys)):
            yield self._keys[k], self._group(k)

    def __len__(self) -> int:
        """The number of value entries."""
        return len(self._no)


class Links:
    """A one-to-many relation of ints from rows (key, *values) given sorted by key; ``[key]``
    is the list of value tuples of that key in row order (a list of ints with one value
    column)."""

    def __init__(self, rows: Iterable[tuple], width: int) -> None:
        self._keys = array("q")
        self._start = array("q")
        self._cols = [array("q") for _ in range(width)]
        n = 0
        for key, *values in rows:
            if not self._keys or key != self._keys[-1]:
                if self._keys and key < self._keys[-1]:
                    raise ValueError("links must come sorted by key")
                self._keys.append(key)
                self._start.append(n)
            for col, v in zip(self._cols, values, strict=True):
                col.append(v)
            n += 1
        self._start.append(n)

    def __getitem__(self, key: int) -> list:
        k = _find(self._keys, key)
        if k < 0:
            return []
        lo, hi = self._start[k], self._start[k + 1]
        if len(self._cols) == 1:
            return list(self._cols[0][lo:hi])
        return list(zip(*(c[lo:hi] for c in self._cols), strict=True))

    def __len__(self) -> int:
        """The number of rows."""
        return self._start[-1]


class SortedMap:
    """int -> int from (key, value) rows given sorted by key; a repeated key keeps its last
    value."""

    def __init__(self, rows: Iterable[tuple[int, int]]) -> None:
        self._keys = array("q")
        self._values = array("q")
        for key, value in rows:
            if self._keys and key == self._keys[-1]:
                self._values[-1] = value
                continue
            if self._keys and key < self._keys[-1]:
                raise ValueError("a sorted map's rows must come sorted by key")
            self._keys.append(key)
            self._values.append(value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and _find(self._keys, key) >= 0

    def __getitem__(self, key: int) -> int:
        k = _find(self._keys, key)
        if k < 0:
            raise KeyError(key)
        return self._values[k]

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(slots=True)
class ItemHistory:
    """Everything the cost adjustment reads of one item."""

    iles: IleTable
    ves: VeTable
    out_apps: Links  # inbound ILE -> (outbound ILE, quantity applied), in application order
    in_apps: Links  # outbound ILE -> (inbound ILE, quantity applied), in application order
    tin_by_out: Links  # transfer-out ILE -> the transfer receipts it fed
    tfrom: SortedMap  # transfer receipt ILE -> the transfer-out ILE it came from


def load_item_history(conn, item_no: str) -> ItemHistory:
    """Read one item's history from the ledger connection (inside the caller's transaction)."""
    intern = _Interner()
    iles = IleTable(conn.execute(
        "SELECT entry_no, posting_date, entry_type, quantity, invoiced_quantity, "
        "remaining_quantity, positive, applied_entry_to_adjust, applies_to_entry "
        "FROM item_ledger_entry WHERE item_no = ? ORDER BY entry_no", [item_no]), intern)
    ves = VeTable(conn.execute(
        "SELECT entry_no, item_ledger_entry_no, posting_date, valuation_date, entry_type, "
        "adjustment, expected_cost, valued_quantity, invoiced_quantity, cost_amount_actual, "
        "cost_amount_expected, applies_to_entry, item_charge_no <> '', cost_per_unit "
        "FROM value_entry WHERE item_no = ? ORDER BY item_ledger_entry_no, entry_no",
        [item_no]), intern)
    apps = ("FROM item_application_entry a JOIN item_ledger_entry l "
            "ON l.entry_no = a.item_ledger_entry_no WHERE l.item_no = ?")
    cost_apps = (f"{apps} AND a.outbound_item_entry_no <> 0 AND a.inbound_item_entry_no <> 0 "
                 "AND a.outbound_item_entry_no <> a.inbound_item_entry_no")
    out_apps = Links(conn.execute(
        "SELECT a.inbound_item_entry_no, a.outbound_item_entry_no, -a.quantity "
        f"{cost_apps} ORDER BY a.inbound_item_entry_no, a.entry_no", [item_no]), 2)
    in_apps = Links(conn.execute(
        "SELECT a.outbound_item_entry_no, a.inbound_item_entry_no, -a.quantity "
        f"{cost_apps} ORDER BY a.outbound_item_entry_no, a.entry_no", [item_no]), 2)
    transfers = (f"{apps} AND a.transferred_from_entry_no <> 0 "
                 "AND a.item_ledger_entry_no = a.inbound_item_entry_no")
    tin_by_out = Links(conn.execute(
        f"SELECT a.transferred_from_entry_no, a.item_ledger_entry_no {transfers} "
        "ORDER BY a.transferred_from_entry_no, a.entry_no", [item_no]), 1)
    tfrom = SortedMap(conn.execute(
        f"SELECT a.item_ledger_entry_no, a.transferred_from_entry_no {transfers} "
        "ORDER BY a.item_ledger_entry_no, a.entry_no", [item_no]))
    return ItemHistory(iles, ves, out_apps, in_apps, tin_by_out, tfrom)


__all__ = ("Ile", "IleTable", "ItemHistory", "Links", "SortedMap", "Ve", "VeTable",
           "load_item_history")
