"""The fields extension: dotted include/exclude paths applied to outgoing items."""

from __future__ import annotations

from stacbridge.protocols import JSON


def apply_fields(item: JSON, include: list[str], exclude: list[str]) -> JSON:
    """The fields extension: dotted include/exclude paths; include wins on conflicts."""
    if not include and not exclude:
        return item
    if include:
        out: JSON = {}
        for key in (
            "type",
            "stac_version",
            "id",
            "collection",
            "links",
            "assets",
            "bbox",
            "geometry",
            "stac_extensions",
        ):
            if key in item:
                out[key] = item[key]
        props = item.get("properties", {})
        out["properties"] = {"datetime": props.get("datetime")}
        for path in include:
            _copy_path(item, out, path)
    else:
        out = dict(item)
        out["properties"] = dict(item.get("properties", {}))
    for path in exclude:
        if path not in include:
            _drop_path(out, path)
    return out


def _copy_path(src: JSON, dst: JSON, path: str) -> None:
    parts = path.split(".")
    if parts[0] not in src and "properties" in src and parts[0] in src["properties"]:
        parts = ["properties", *parts]
    cur_src, cur_dst = src, dst
    for part in parts[:-1]:
        if not isinstance(cur_src, dict) or part not in cur_src:
            return
        cur_src = cur_src[part]
        cur_dst = cur_dst.setdefault(part, {})
    if isinstance(cur_src, dict) and parts[-1] in cur_src:
        cur_dst[parts[-1]] = cur_src[parts[-1]]


def _drop_path(obj: JSON, path: str) -> None:
    parts = path.split(".")
    if parts[0] not in obj and parts[0] in obj.get("properties", {}):
        parts = ["properties", *parts]
    for part in parts[:-1]:
        obj = obj.get(part) if isinstance(obj, dict) else None  # type: ignore[assignment]
        if obj is None:
            return
    if isinstance(obj, dict):
        obj.pop(parts[-1], None)
