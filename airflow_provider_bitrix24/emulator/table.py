"""In-memory entity table with Bitrix24 list semantics.

Rows are kept compact (a tuple per row aligned to the table's column list, datetimes as epoch
floats) and ids are kept sorted in an ``array`` so that the export pattern of the huge-data guide
(``order ID ASC``, ``filter >ID``, ``start=-1``) costs O(page), not O(table). Bulk-generated rows
(``add_generated``) are not stored at all: a factory builds them from the id on demand and only
rows that were later updated are materialised.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# Longest prefixes first so that ">=" wins over ">".
_OPERATORS = ("!@", "!=", "!%", ">=", "<=", "=%", "%=", "@", "=", "!", ">", "<", "%")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_RU_DATE_RE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$")

RowFactory = Callable[[int], dict]


class FilterError(ValueError):
    """A filter/order the table cannot apply (the handler maps it to the entity's error)."""


def parse_datetime(value: Any, tz: timezone) -> float | None:
    """Epoch seconds from an ISO-8601 string, a ``dd.mm.yyyy [hh:mm[:ss]]`` string, a datetime or
    a number. Naive values are read in the portal's time zone. None when not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()
    text = str(value).strip()
    if _DATE_RE.match(text):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).timestamp()
    match = _RU_DATE_RE.match(text)
    if match:
        day, month, year, hh, mm, ss = match.groups()
        parsed = datetime(
            int(year), int(month), int(day), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=tz
        )
        return parsed.timestamp()
    return None


def format_datetime(epoch: float | None, tz: timezone) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple, dict)) and not value)


@dataclass
class Condition:
    """One filter key, e.g. ``>=DATE_MODIFY: "2024-01-01"``, compiled for fast row checks."""

    op: str
    column: str
    values: tuple  # normalised comparison targets (several for IN)

    def matches(self, stored: Any) -> bool:
        op = self.op
        if op in ("@", "="):
            return any(_equal(stored, v) for v in self.values)
        if op in ("!@", "!", "!="):
            return not any(_equal(stored, v) for v in self.values)
        if op in ("%", "=%", "%="):
            return any(_like(stored, v, op) for v in self.values)
        if op == "!%":
            return not any(_like(stored, v, "%") for v in self.values)
        target = self.values[0]
        if stored is None:
            return False
        left, right = _comparable(stored, target)
        if left is None:
            return False
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        if op == "<":
            return left < right
        return left <= right  # "<="


def _comparable(stored: Any, target: Any) -> tuple[Any, Any]:
    if isinstance(target, float) or isinstance(target, int):
        num = _number(stored)
        return (num, float(target)) if num is not None else (None, None)
    return str(stored).casefold(), str(target).casefold()


def _equal(stored: Any, target: Any) -> bool:
    if isinstance(stored, list):
        return any(_equal(item, target) for item in stored)
    if isinstance(stored, dict):
        return _equal(stored.get("VALUE"), target)
    if stored is None:
        return target is None
    if isinstance(stored, bool):
        return (
            stored == (str(target).upper() in ("Y", "1", "TRUE"))
            if not isinstance(target, bool)
            else stored == target
        )
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        num = _number(stored)
        return num is not None and num == float(target)
    return str(stored).casefold() == str(target).casefold()


def _like(stored: Any, pattern: Any, op: str) -> bool:
    if isinstance(stored, list):
        return any(_like(item, pattern, op) for item in stored)
    if isinstance(stored, dict):
        return _like(stored.get("VALUE"), pattern, op)
    if stored is None:
        return False
    text, needle = str(stored).casefold(), str(pattern).casefold()
    if op == "=%":
        return text.startswith(needle.rstrip("%"))
    if op == "%=":
        return text.endswith(needle.lstrip("%"))
    return needle.strip("%") in text


def filter_and_order(
    params: dict, order_names: Iterable[str] = ("order",)
) -> tuple[dict, list[tuple[str, bool]]]:
    """The caller's ``filter`` and ``order`` (top-level names in any case, as the portal reads
    them), as a filter dict and (field, descending) pairs. What cannot be applied is refused with
    a :class:`FilterError` naming the key, never ignored."""
    orders = {name.lower() for name in order_names}
    flt: dict = {}
    order: list[tuple[str, bool]] = []
    for key, value in params.items():
        lowered = str(key).lower()
        if value in (None, "", []) or (lowered != "filter" and lowered not in orders):
            continue
        if not isinstance(value, dict):
            raise FilterError(f"the emulator cannot apply {key} given as {type(value).__name__}")
        if lowered == "filter":
            flt.update({str(k): v for k, v in value.items()})
            continue
        for column, direction in value.items():
            text = str(direction).upper()
            if text not in ("ASC", "DESC"):
                raise FilterError(f"the emulator cannot apply the order key '{column}' ({direction!r})")
            order.append((str(column), text == "DESC"))
    return flt, order


def split_filter_key(key: str) -> tuple[str, str]:
    for op in _OPERATORS:
        if key.startswith(op):
            return op, key[len(op) :]
    return "=", key


class Table:
    """Rows of one entity type keyed by a positive integer id."""

    def __init__(
        self,
        name: str,
        id_column: str = "ID",
        datetime_columns: Iterable[str] = (),
        tz: timezone = timezone.utc,
    ):
        self.name = name
        self.id_column = id_column
        self.datetime_columns = frozenset(datetime_columns)
        self.tz = tz
        self.columns: list[str] = []
        self._col_index: dict[str, int] = {}
        self._ids = array("q")
        self._rows: dict[int, tuple] = {}
        self._factory: RowFactory | None = None
        self._generated: _RangeSet | None = None  # ids whose row comes from the factory
        self.next_id = 1
        self.next_multifield_id = 1  # ids of phone/e-mail values (CRM multifields)

    # -- storage ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def _column(self, name: str) -> int:
        index = self._col_index.get(name)
        if index is None:
            index = len(self.columns)
            self.columns.append(name)
            self._col_index[name] = index
        return index

    def _normalise(self, column: str, value: Any) -> Any:
        if column in self.datetime_columns and value is not None and not isinstance(value, float):
            parsed = parse_datetime(value, self.tz)
            return parsed if parsed is not None else value
        return value

    def _pack(self, fields: dict, base: tuple = ()) -> tuple:
        values = list(base)
        for column, value in fields.items():
            if column == self.id_column:
                continue
            index = self._column(column)
            if index >= len(values):
                values.extend([None] * (index + 1 - len(values)))
            values[index] = self._normalise(column, value)
        return tuple(values)

    def _unpack(self, row_id: int, packed: tuple) -> dict:
        row = {self.id_column: row_id}
        # rows packed before a column was added are shorter
        row.update(zip(self.columns, packed, strict=False))
        return row

    def _packed(self, row_id: int) -> tuple | None:
        """Stored tuple of a row (generated rows are packed only when they are about to change)."""
        packed = self._rows.get(row_id)
        if packed is None and self._generated is not None and row_id in self._generated:
            packed = self._pack(self._factory(row_id))  # type: ignore[misc]
        return packed

    def _row(self, row_id: int) -> dict:
        """The row as a dict; generated rows come straight from the factory (the export hot path)."""
        packed = self._rows.get(row_id)
        if packed is not None:
            return self._unpack(row_id, packed)
        row = self._factory(row_id)  # type: ignore[misc]
        for column in self.datetime_columns:
            value = row.get(column)
            if value is not None and value.__class__ is not float:
                row[column] = self._normalise(column, value)
        row[self.id_column] = row_id
        return row

    def contains(self, row_id: int) -> bool:
        pos = bisect_left(self._ids, row_id)
        return pos < len(self._ids) and self._ids[pos] == row_id

    def insert(self, fields: dict) -> int:
        """Add one row; an explicit id (``fields[id_column]``) is honoured when free."""
        row_id = int(fields.get(self.id_column) or self.next_id)
        if self.contains(row_id):
            raise ValueError(f"{self.name}: id {row_id} exists")
        packed = self._pack(fields)
        if not self._ids or row_id > self._ids[-1]:
            self._ids.append(row_id)
        else:
            self._ids.insert(bisect_left(self._ids, row_id), row_id)
        self._rows[row_id] = packed
        self.next_id = max(self.next_id, row_id + 1)
        return row_id

    def insert_many(self, rows: Iterable[dict]) -> list[int]:
        return [self.insert(row) for row in rows]

    def add_generated(self, count: int, factory: RowFactory) -> range:
        """Append ``count`` rows built lazily by ``factory(id)``; O(count) ints of memory."""
        if self._factory is not None and self._factory is not factory:
            raise ValueError(f"{self.name}: one row factory per table")
        self._factory = factory
        first = self.next_id
        ids = range(first, first + count)
        self._ids.extend(ids)
        if self._generated is None:
            self._generated = _RangeSet()
        self._generated.add_range(first, first + count)
        self.next_id = first + count
        return ids

    def get(self, row_id: int) -> dict | None:
        if not self.contains(row_id):
            return None
        return self._row(row_id)

    def update(self, row_id: int, fields: dict) -> bool:
        if not self.contains(row_id):
            return False
        self._rows[row_id] = self._pack(fields, self._packed(row_id) or ())
        return True

    def delete(self, row_id: int) -> bool:
        pos = bisect_left(self._ids, row_id)
        if pos >= len(self._ids) or self._ids[pos] != row_id:
            return False
        del self._ids[pos]
        self._rows.pop(row_id, None)
        if self._generated is not None:
            self._generated.discard(row_id)
        return True

    # -- querying --------------------------------------------------------------------------
    def compile_filter(self, raw: dict) -> tuple[list[Condition], int, int]:
        """Conditions for non-id columns plus the [lo, hi) slice of ``_ids`` the id conditions allow.

        A condition whose value is empty ("" / None / empty list) is dropped, as the portal does;
        this is what makes an unresolved batch ``$result[...]`` reference widen a query.
        """
        lo, hi = 0, len(self._ids)
        conditions: list[Condition] = []
        for key, value in raw.items():
            op, column = split_filter_key(str(key))
            nested = isinstance(value, dict) or (
                isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value)
            )
            if nested or column.upper() == "LOGIC" or not column:
                raise FilterError(f"the emulator cannot apply the filter key '{key}' (nested conditions)")
            if _is_empty(value):
                continue
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            values = tuple(v for v in values if not _is_empty(v))
            if not values:
                continue
            if column == self.id_column and op in (">", ">=", "<", "<=") and _number(values[0]) is not None:
                bound = float(values[0])  # a number: checked just above
                if op == ">":
                    lo = max(lo, bisect_right(self._ids, bound))
                elif op == ">=":
                    lo = max(lo, bisect_left(self._ids, bound))
                elif op == "<":
                    hi = min(hi, bisect_left(self._ids, bound))
                else:
                    hi = min(hi, bisect_right(self._ids, bound))
                continue
            if column in self.datetime_columns:
                parsed = []
                for v in values:
                    epoch = parse_datetime(v, self.tz)
                    if epoch is None:
                        raise FilterError(f"field '{column}' has invalid value")
                    parsed.append(epoch)
                values = tuple(parsed)
            elif op in (">", ">=", "<", "<=") and _number(values[0]) is not None:
                values = (_number(values[0]),)
            elif op in ("=", "@", "!", "!@", "!=") and column == self.id_column:
                values = tuple(_number(v) if _number(v) is not None else v for v in values)
            conditions.append(Condition(op, column, values))
        return conditions, lo, hi

    def _iter_ids(self, lo: int, hi: int, descending: bool) -> Iterator[int]:
        ids = self._ids
        if descending:
            for pos in range(hi - 1, lo - 1, -1):
                yield ids[pos]
        else:
            for pos in range(lo, hi):
                yield ids[pos]

    @staticmethod
    def _matches(row: dict, conditions: list[Condition]) -> bool:
        for cond in conditions:
            if not cond.matches(row.get(cond.column)):
                return False
        return True

    def query(
        self,
        raw_filter: dict,
        order: list[tuple[str, bool]],
        offset: int,
        limit: int,
        count: bool,
    ) -> tuple[list[dict], int | None, int]:
        """Rows ``[offset, offset+limit)`` of the filtered, ordered set.

        ``order`` is a list of (column, descending). Returns (rows, total or None, rows_scanned).
        ``total`` is only computed when ``count`` is true (that is the expensive COUNT query).
        """
        conditions, lo, hi = self.compile_filter(raw_filter)
        by_id_only = not order or (len(order) == 1 and order[0][0] == self.id_column)
        descending = bool(order) and order[0][1]
        if by_id_only and not conditions:
            total = max(0, hi - lo)
            window = range(lo, hi)
            if descending:
                window = window[::-1]
            rows = [self._row(self._ids[p]) for p in window[offset : offset + limit]]
            return rows, (total if count else None), len(rows)
        if by_id_only:
            rows, matched, scanned = [], 0, 0
            for row_id in self._iter_ids(lo, hi, descending):
                row = self._row(row_id)
                scanned += 1
                if not self._matches(row, conditions):
                    continue
                if offset <= matched < offset + limit:
                    rows.append(row)
                matched += 1
                if not count and matched >= offset + limit:
                    break
            return rows, (matched if count else None), scanned
        matches = []
        for row_id in self._iter_ids(lo, hi, False):
            row = self._row(row_id)
            if self._matches(row, conditions):
                matches.append(row)
        for column, desc in reversed(order):
            matches.sort(key=_column_sort_key(column), reverse=desc)
        return matches[offset : offset + limit], (len(matches) if count else None), hi - lo


def _column_sort_key(column: str) -> Callable[[dict], tuple]:
    return lambda row: _sort_key(row.get(column))


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, 0)
    num = _number(value)
    if num is not None:
        return (1, num)
    return (2, str(value).casefold())


class _RangeSet:
    """Membership for ids of generated rows: a few half-open ranges minus deleted ids."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []
        self._removed: set[int] = set()

    def add_range(self, start: int, stop: int) -> None:
        self._ranges.append((start, stop))

    def discard(self, value: int) -> None:
        self._removed.add(value)

    def __contains__(self, value: int) -> bool:
        if value in self._removed:
            return False
        return any(start <= value < stop for start, stop in self._ranges)


def default_timezone() -> timezone:
    return timezone(timedelta(hours=3))
