"""``metadataFilter`` trees evaluated the way each dataset filter's ``searchSql`` reads.

The filter ids and SQL come from the recorded ``dataset-filters``; the emulator follows
the SQL (``like``, ``between``, ``<=``, ``=``) rather than guessing per field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacbridge.sandbox.m2m.errors import _invalid

_SQL = re.compile(r"^(?P<column>.+?)\s+(?P<op>like|between|<=|=)\s+\?$", re.IGNORECASE)
_NUMERIC = {"WRS_PATH", "WRS_ROW", "CLOUD_COVER_LAND", "CLOUD_COVER", "SUN_ELEVATION_L1",
            "SUN_ELEVATION_L0RA", "GEOMETRIC_RMSE_MODEL"}  # fmt: skip


@dataclass(frozen=True)
class _Column:
    name: str
    op: str  # like | between | le | eq
    numeric: bool


def _column(search_sql: str) -> _Column:
    m = _SQL.match(search_sql.strip())
    if not m:  # pragma: no cover - every recorded searchSql matches
        raise ValueError(search_sql)
    op = {"like": "like", "between": "between", "<=": "le", "=": "eq"}[m["op"].lower()]
    return _Column(m["column"], op, m["column"] in _NUMERIC)


@dataclass
class _Cond:
    kind: str  # test | and | or
    column: _Column | None = None
    mode: str = "eq"  # like | le | eq | range
    values: tuple = ()
    low: Any = None
    high: Any = None
    children: list[_Cond] = field(default_factory=list)

    def columns(self) -> set[str]:
        if self.kind == "test":
            return {self.column.name} if self.column else set()
        return set().union(*(c.columns() for c in self.children)) if self.children else set()

    def test(self, get: Callable[[str], Any]) -> bool:
        if self.kind == "and":
            return all(c.test(get) for c in self.children)
        if self.kind == "or":
            return any(c.test(get) for c in self.children)
        if self.column is None:
            return False
        value = get(self.column.name)
        if value is None:
            return False
        if self.mode == "like":
            return any(p.fullmatch(str(value)) for p in self.values)
        if self.mode == "range":
            return (self.low is None or value >= self.low) and (
                self.high is None or value <= self.high
            )
        if self.mode == "le":
            return any(value <= v for v in self.values)
        if isinstance(value, str):
            return any(value.upper() == str(v).upper() for v in self.values)
        return any(value == v for v in self.values)


def _coerce(column: _Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column.numeric:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _invalid(f"Invalid value for {column.name}: {value!r}") from None
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text = text.replace("-", "/")  # the date columns are to_char(..,'YYYY/MM/DD')
    return text


def _like(value: Any) -> re.Pattern:
    text = str(value).upper()
    if "%" not in text:
        text = f"%{text}%"
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in text)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def parse_metadata_filter(spec: Any, columns: Mapping[str, _Column]) -> _Cond | None:
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise _invalid("metadataFilter must be an object")
    kind = str(spec.get("filterType", "")).lower()
    if kind in ("and", "or"):
        children = [parse_metadata_filter(c, columns) for c in spec.get("childFilters") or []]
        return _Cond(kind, children=[c for c in children if c is not None])
    fid = spec.get("filterId")
    column = columns.get(str(fid))
    if column is None:
        raise _invalid(f"Invalid metadata filter id: {fid}")
    if kind == "between":
        low = _coerce(column, spec.get("firstValue"))
        high = _coerce(column, spec.get("secondValue"))
        return _Cond("test", column, "range", low=low, high=high)
    if kind != "value":
        raise _invalid(f"Invalid metadata filter type: {spec.get('filterType')}")
    raw = spec.get("value")
    raw_values = raw if isinstance(raw, list) else [raw]
    operand = str(spec.get("operand") or spec.get("operator") or "").lower()
    if operand == "like" or (not operand and column.op == "like"):
        return _Cond("test", column, "like", values=tuple(_like(v) for v in raw_values))
    values = tuple(v for v in (_coerce(column, v) for v in raw_values) if v is not None)
    if not values:
        return None
    return _Cond("test", column, "le" if column.op == "le" else "eq", values=values)
