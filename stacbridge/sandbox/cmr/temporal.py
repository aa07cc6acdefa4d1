"""CMR date-times, durations and ``temporal`` ranges, parsed the way CMR parses them.

Kept apart because both the records (UMM time extents) and the query side need it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from stacbridge.sandbox.cmr.errors import MSG_NOT_EMULATED
from stacbridge.sandbox.cmr.generator import iso_ms

_DT_FORMS = (
    re.compile(r"^\d\d\d\d-\d\d-\d\d$"),
    re.compile(r"^\d\d\d\d$"),
    re.compile(r"^[^T]+T[^.]+\.\d+(?:(?:[+-]\d\d:\d\d)|Z)$"),
    re.compile(r"^[^T]+T[^.]+(?:(?:[+-]\d\d:\d\d)|Z)$"),
    re.compile(r"^[^T]+T[^.]+\.\d+$"),
    re.compile(r"^[^T]+T[^.]+$"),
)
_FULL_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_datetime_ms(value: str) -> int:
    """Epoch milliseconds of a date-time in one of CMR's accepted forms; ValueError if not."""
    v = value.strip()
    if not any(form.match(v) for form in _DT_FORMS):
        raise ValueError(value)
    if len(v) == 4:
        v += "-01-01"
    if "T" in v and not _FULL_TIME_RE.match(v):
        raise ValueError(value)
    m = re.match(r"^(.*\.\d{3})\d+(.*)$", v)  # CMR truncates beyond milliseconds
    if m:
        v = m.group(1) + m.group(2)
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    d = dt.datetime.fromisoformat(v)
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return (d - _EPOCH) // dt.timedelta(milliseconds=1)


def _cmr_datetime_string(ms: int) -> str:
    text = iso_ms(ms)
    return text.replace(".000Z", "Z")


_DURATION_RE = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def _apply_duration(ms: int, duration: str, sign: int) -> int:
    m = _DURATION_RE.match(duration)
    if not m or duration in ("P", "PT"):
        raise ValueError(duration)
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    d = _EPOCH + dt.timedelta(milliseconds=ms)
    total_months = sign * (int(years or 0) * 12 + int(months or 0))
    if total_months:
        month0 = d.month - 1 + total_months
        year, month = d.year + month0 // 12, month0 % 12 + 1
        day = min(d.day, calendar.monthrange(year, month)[1])
        d = d.replace(year=year, month=month, day=day)
    d += sign * dt.timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )
    return (d - _EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class _TimeRange:
    start: int | None
    end: int | None


def parse_temporal(value: str) -> tuple[_TimeRange | None, list[str]]:
    """One ``temporal`` value → (range, errors), following CMR's validation messages."""
    if "/" in value:
        iso, *days = (part.strip() for part in value.split(","))
        errors = _day_errors(days)
        if errors:
            return None, errors
        if any(days):
            return None, [MSG_NOT_EMULATED.format(what="periodic (start_day,end_day) temporal")]
        start_s, _, stop_s = iso.rpartition("/")
        try:
            if not start_s:
                return _TimeRange(None, parse_datetime_ms(stop_s)), []
            if not stop_s:
                return _TimeRange(parse_datetime_ms(start_s), None), []
            if start_s.startswith("P"):
                stop_ms = parse_datetime_ms(stop_s)
                return _TimeRange(_apply_duration(stop_ms, start_s, -1), stop_ms), []
            start_ms = parse_datetime_ms(start_s)
            if stop_s.startswith("P"):
                return _TimeRange(start_ms, _apply_duration(start_ms, stop_s, 1)), []
            return _TimeRange(start_ms, parse_datetime_ms(stop_s)), []
        except ValueError:
            return None, [f"[{iso}] is not a valid date-range"]
    parts = [part.strip() for part in value.split(",")]
    start_s, end_s = parts[0], parts[1] if len(parts) > 1 else ""
    errors = []
    start: int | None = None
    end: int | None = None
    if start_s:
        try:
            start = parse_datetime_ms(start_s)
        except ValueError:
            errors.append(
                f"temporal start datetime is invalid: [{start_s}] is not a valid datetime."
            )
    if end_s:
        try:
            end = parse_datetime_ms(end_s)
        except ValueError:
            errors.append(f"temporal end datetime is invalid: [{end_s}] is not a valid datetime.")
    errors += _day_errors(parts[2:])
    if not errors and any(parts[2:]):
        errors.append(MSG_NOT_EMULATED.format(what="periodic (start_day,end_day) temporal"))
    return (None if errors else _TimeRange(start, end)), errors


def _day_errors(days: Sequence[str]) -> list[str]:
    errors = []
    for tag, day in zip(("temporal_start_day", "temporal_end_day"), days, strict=False):
        if day and not (day.isdigit() and 1 <= int(day) <= 366):
            errors.append(f"{tag} [{day}] must be an integer between 1 and 366")
    return errors
