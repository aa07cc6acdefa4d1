"""CMR sort keys and the sort values it returns in ``CMR-Search-After``.

The emulator pages with search-after, so the sort tuple must be exactly CMR's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stacbridge.sandbox.cmr.errors import CmrError, _es_error

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)


@functools.total_ordering
class _Desc:
    """Reverses the order of a value inside a sort tuple."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    def __lt__(self, other: _Desc) -> bool:
        return other.v < self.v

    def __hash__(self) -> int:
        return hash(self.v)


@dataclass(frozen=True)
class _SortField:
    es_field: str
    kind: type
    desc: bool
    get: Callable[[Any], Any]
    is_date: bool = False


class _Sort:
    def __init__(self, fields: list[_SortField]) -> None:
        self.fields = fields

    def raw(self, entry: Any) -> list:
        return [f.get(entry) for f in self.fields]

    def key(self, raw: Sequence) -> tuple:
        return tuple(_Desc(v) if f.desc else v for f, v in zip(self.fields, raw, strict=True))

    def parse_search_after(self, values: list) -> tuple:
        if len(values) != len(self.fields):
            raise CmrError(
                [
                    _es_error(
                        f"search_after has {len(values)} value(s) but sort has {len(self.fields)}."
                    )
                ]
            )
        out: list[int | str | None] = []
        for f, v in zip(self.fields, values, strict=True):
            try:
                if f.kind is int:
                    if isinstance(v, bool) or v is None:
                        raise ValueError(v)
                    iv = int(float(v)) if isinstance(v, (int, float, str)) else None
                    if iv is None:
                        raise ValueError(v)
                    out.append(iv)
                else:
                    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                        raise ValueError(v)
                    out.append(v if isinstance(v, str) else str(v))
            except (ValueError, TypeError, OverflowError):
                raise CmrError(
                    [_es_error(f"Failed to parse search_after value for field [{f.es_field}].")]
                ) from None
        return self.key(out)


def _provider_lower(entry: Any) -> str:
    return entry.provider_lower


def _seq_of(entry: Any) -> int:
    return entry.seq


def _date_getter(attr: str, desc: bool = False) -> Callable[[Any], int]:
    missing = LONG_MIN if desc else LONG_MAX

    def get(entry: Any) -> int:
        v = getattr(entry, attr)
        return missing if v is None else v

    return get
