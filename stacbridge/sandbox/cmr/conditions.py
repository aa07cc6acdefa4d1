"""The descriptive search parameters: platform, instrument, attribute[], dates, DOI, centres …

Each becomes a predicate over a record's facts (`records._GranuleFacts`,
`records._CollectionFacts`), so recorded records are filtered exactly; the generator answers the
same predicates for its population in `catalogue` (constant facts once, varying ones by
arithmetic or a bounded scan).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stacbridge.sandbox.cmr.errors import CmrError
from stacbridge.sandbox.cmr.matching import _string_matcher
from stacbridge.sandbox.cmr.params import _Params
from stacbridge.sandbox.cmr.records import _Collection, _GranuleFacts
from stacbridge.sandbox.cmr.temporal import _TimeRange, parse_datetime_ms, parse_temporal

_ATTRIBUTE_TYPES = ("string", "float", "int", "datetime", "date", "time")
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class AttributeCondition:
    """One ``attribute[]`` value: ``name``, ``type,name,value`` or ``type,name,min,max``."""

    name: str
    kind: str | None = None
    value: str | None = None
    low: str | None = None
    high: str | None = None

    def _convert(self, text: str) -> float | str | None:
        if self.kind in ("float", "int"):
            try:
                return float(text)
            except ValueError:
                return None
        if self.kind in ("datetime", "date"):
            try:
                return float(parse_datetime_ms(text))
            except (ValueError, TypeError):
                return None
        return text if self.kind == "time" else text.lower()

    def matches(self, attributes: dict[str, list[str]], exclude_boundary: bool = False) -> bool:
        values = attributes.get(self.name)
        if values is None:
            return False
        if self.kind is None:  # name only: the attribute is there
            return True
        for raw in values:
            got = self._convert(raw)
            if got is None:
                continue
            if self.value is not None:
                if got == self._convert(self.value):
                    return True
                continue
            low = self._convert(self.low) if self.low else None
            high = self._convert(self.high) if self.high else None
            if low is not None and (got < low or (exclude_boundary and got == low)):  # type: ignore[operator]
                continue
            if high is not None and (got > high or (exclude_boundary and got == high)):  # type: ignore[operator]
                continue
            return True
        return False


def parse_attribute(value: str) -> AttributeCondition:
    parts = [p.replace("\\,", ",") for p in _UNESCAPED_COMMA.split(value)]
    if len(parts) == 1:
        return AttributeCondition(parts[0])
    kind = parts[0].strip().lower()
    if kind not in _ATTRIBUTE_TYPES:
        raise CmrError([f"[{parts[0]}] is not a valid type for an additional attribute."])
    if len(parts) == 3:
        return AttributeCondition(parts[1], kind, value=parts[2])
    if len(parts) == 4 and (parts[2] or parts[3]):
        return AttributeCondition(parts[1], kind, low=parts[2] or None, high=parts[3] or None)
    raise CmrError([f"Invalid format for attribute parameter [{value}]."])


def parse_attributes(p: _Params) -> list[AttributeCondition]:
    return [parse_attribute(v) for v in p.get("attribute")]


def _date_ranges(p: _Params, name: str) -> list[_TimeRange]:
    ranges, errors = [], []
    for value in p.get(name):
        rng, errs = parse_temporal(value)
        errors += [e.replace("temporal", name) for e in errs]
        if rng is not None:
            ranges.append(rng)
    if errors:
        raise CmrError(errors)
    return ranges


def _since(p: _Params) -> int | None:
    value = p.one("updated_since")
    if value is None:
        return None
    try:
        return parse_datetime_ms(value)
    except (ValueError, TypeError):
        raise CmrError([f"[{value}] is not a valid datetime for updated_since."]) from None


def _in_ranges(ms: int | None, ranges: list[_TimeRange]) -> bool:
    if ms is None:
        return False
    return any(
        (r.start is None or ms >= r.start) and (r.end is None or ms <= r.end) for r in ranges
    )


@dataclass
class GranuleConditions:
    """The descriptive granule parameters of one query, parsed."""

    platform: Callable | None
    instrument: Callable | None
    day_night: Callable | None
    native_id: Callable | None
    attributes: list[AttributeCondition]
    attributes_or: bool
    exclude_boundary: bool
    revision: list[_TimeRange]
    production: list[_TimeRange]
    since: int | None
    downloadable: bool | None
    browsable: bool | None

    @property
    def empty(self) -> bool:
        return not (
            self.platform or self.instrument or self.day_night or self.native_id
            or self.attributes or self.revision or self.production
            or self.since is not None or self.downloadable is not None
            or self.browsable is not None
        )  # fmt: skip

    def attributes_ok(self, attributes: dict[str, list[str]]) -> bool:
        if not self.attributes:
            return True
        test = any if self.attributes_or else all
        return test(a.matches(attributes, self.exclude_boundary) for a in self.attributes)

    def matches(self, f: _GranuleFacts) -> bool:
        return (
            (self.platform is None or self.platform(*f.platforms))
            and (self.instrument is None or self.instrument(*f.instruments))
            and (self.day_night is None or self.day_night(f.day_night))
            and (self.native_id is None or self.native_id(f.native_id))
            and self.attributes_ok(f.attributes)
            and (not self.revision or _in_ranges(f.revision_ms, self.revision))
            and (not self.production or _in_ranges(f.production_ms, self.production))
            and (self.since is None or (f.revision_ms or 0) >= self.since)
            and (self.downloadable is None or f.downloadable == self.downloadable)
            and (self.browsable is None or f.browsable == self.browsable)
        )


def _flag(p: _Params, name: str) -> bool | None:
    value = p.one(name)
    return None if value is None else value.lower() == "true"


def granule_conditions(p: _Params) -> GranuleConditions:
    return GranuleConditions(
        platform=_string_matcher(p, "platform"),
        instrument=_string_matcher(p, "instrument"),
        day_night=_string_matcher(p, "day_night"),
        native_id=_string_matcher(p, "native_id"),
        attributes=parse_attributes(p),
        attributes_or=p.opt("attribute", "or") == "true",
        exclude_boundary=p.opt("attribute", "exclude_boundary") == "true",
        revision=_date_ranges(p, "revision_date"),
        production=_date_ranges(p, "production_date"),
        since=_since(p),
        downloadable=_flag(p, "downloadable"),
        browsable=_flag(p, "browsable"),
    )


def collection_predicate(p: _Params) -> Callable[[_Collection], bool]:
    """The descriptive collection parameters as one predicate (always true when none is set)."""
    doi = _string_matcher(p, "doi")
    level = _string_matcher(p, "processing_level_id")
    center = _string_matcher(p, "data_center")
    archive = _string_matcher(p, "archive_center")
    project = _string_matcher(p, "project")
    location = _string_matcher(p, "spatial_keyword")
    fmt = _string_matcher(p, "granule_data_format")
    native = _string_matcher(p, "native_id")
    revision = _date_ranges(p, "revision_date")
    since = _since(p)
    groups = list(p.nested.get("science_keywords", {}).values())
    sk_or = p.opt("science_keywords", "or") == "true"
    sk_pattern = p.opt("science_keywords", "pattern") == "true"

    def field_ok(want: str, got: str | None) -> bool:
        if got is None:
            return False
        if sk_pattern:
            from stacbridge.sandbox.cmr.matching import _wildcard_regex

            return re.fullmatch(_wildcard_regex(want), got, re.IGNORECASE) is not None
        return want.lower() == got.lower()

    def group_ok(group: dict[str, str], keywords: list[dict[str, str]]) -> bool:
        for kw in keywords:
            ok = True
            for name, want in group.items():
                if name == "any":
                    ok = any(field_ok(want, v) for v in kw.values())
                else:
                    ok = field_ok(want, kw.get(name))
                if not ok:
                    break
            if ok:
                return True
        return False

    def ok(c: _Collection) -> bool:
        f = c.facts
        if f is None:  # pragma: no cover - every collection has facts
            return True
        if doi and not doi(f.doi):
            return False
        if level and not level(f.processing_level):
            return False
        if center and not center(*(name for name, _ in f.data_centers)):
            return False
        if archive and not archive(
            *(name for name, roles in f.data_centers if "ARCHIVER" in roles)
        ):
            return False
        if project and not project(*f.projects):
            return False
        if location and not location(*f.location_keywords):
            return False
        if fmt and not fmt(*f.formats):
            return False
        if native and not native(f.native_id):
            return False
        if revision and not _in_ranges(f.revision_ms, revision):
            return False
        if since is not None and (f.revision_ms or 0) < since:
            return False
        if groups:
            test = any if sk_or else all
            if not test(group_ok(g, f.science_keywords) for g in groups):
                return False
        return True

    return ok
