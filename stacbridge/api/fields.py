"""The fields extension: dotted include/exclude paths applied to outgoing items.

The semantics are those of the extension (v1.0.0), as stac-api-validator checks them:

* no include and no exclude (GET `fields=`, POST `{}` or empty/null lists): the default set —
  `type`, `stac_version`, `id`, `collection`, `geometry`, `bbox`, `links`, `assets` and
  `properties.datetime` (`start_datetime`/`end_datetime` when `datetime` is null);
* include: only the included fields, plus the item's identity (`IDENTITY`); an excluded field
  is dropped unless it, or a field inside it, is included (`-properties,+properties.x` keeps
  `properties.x` alone; a field both included and excluded is included);
* exclude only (include not named): every field but the excluded ones;
* exclude with an include sent empty or null: the default set but the excluded fields.

A bare property name (`eo:cloud_cover`) means `properties.eo:cloud_cover`.
"""

from __future__ import annotations

from stacbridge.protocols import JSON

#: what an item keeps whatever it includes: enough to know what it is and where it belongs.
IDENTITY = ("type", "stac_version", "id", "collection")
_DEFAULT = (*IDENTITY, "geometry", "bbox", "links", "assets", "stac_extensions")


def apply_fields(item: JSON, include: list[str] | None, exclude: list[str]) -> JSON:
    """`item` reduced as the fields extension says (see the module docstring)."""
    include_paths = [_path(item, p) for p in include or []]
    exclude_paths = [_path(item, p) for p in exclude]
    if include_paths:
        out: JSON = {k: item[k] for k in IDENTITY if k in item}
        for path in include_paths:
            _copy(item, out, path)
        for path in exclude_paths:
            # included fields win, and so do included fields inside an excluded one
            if not any(path == inc[: len(path)] for inc in include_paths):
                _drop(out, path)
        return out
    if include is None and exclude_paths:
        out = dict(item)
        out["properties"] = dict(item.get("properties") or {})
    else:
        out = _default(item)
    for path in exclude_paths:
        _drop(out, path)
    return out


def _default(item: JSON) -> JSON:
    out: JSON = {k: item[k] for k in _DEFAULT if k in item}
    props = item.get("properties") or {}
    keep = (
        ("datetime",) if props.get("datetime") else ("datetime", "start_datetime", "end_datetime")
    )
    out["properties"] = {k: props[k] for k in keep if k in props}
    return out


def _path(item: JSON, text: str) -> list[str]:
    parts = text.split(".")
    if parts[0] not in item and parts[0] in (item.get("properties") or {}):
        parts = ["properties", *parts]
    return parts


def _copy(src: JSON, dst: JSON, parts: list[str]) -> None:
    cur_src, cur_dst = src, dst
    for part in parts[:-1]:
        if not isinstance(cur_src, dict) or not isinstance(cur_src.get(part), dict):
            return
        cur_src = cur_src[part]
        cur_dst = cur_dst.setdefault(part, {})
    if isinstance(cur_src, dict) and parts[-1] in cur_src:
        cur_dst[parts[-1]] = cur_src[parts[-1]]


def _drop(obj: JSON, parts: list[str]) -> None:
    """Remove the field at `parts`, copying the dicts on its way (items share their dicts)."""
    cur = obj
    for part in parts[:-1]:
        child = cur.get(part)
        if not isinstance(child, dict):
            return
        cur[part] = child = dict(child)
        cur = child
    cur.pop(parts[-1], None)
