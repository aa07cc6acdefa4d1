"""Loading the recorded CMR responses (``fixtures/cmr/``) item by item, verbatim.

The exact source text of each item is kept, because the emulator serves recordings
byte for byte.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "cmr"


def _item_spans(text: str) -> list[tuple[dict, str]]:
    """Each element of the top-level ``items`` array with its exact source text."""
    dec = json.JSONDecoder()
    pos = text.index("[", text.index('"items"')) + 1
    out: list[tuple[dict, str]] = []
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            return out
        obj, end = dec.raw_decode(text, pos)
        raw = text[pos:end]
        if "\n" in raw:  # pretty-printed fixture (earthaccess): serve it compactly
            raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        out.append((obj, raw))
        pos = end


@dataclass(frozen=True)
class _Fixtures:
    granules: list[tuple[dict, str]]
    legacy_granules: dict[str, dict]
    collections: list[tuple[dict, str]]
    hlss30: dict
    swot_collection: dict | None
    hlsl30_template: dict


@functools.lru_cache(maxsize=1)
def _load_fixtures() -> _Fixtures:
    granules: list[tuple[dict, str]] = []
    seen: set[str] = set()
    template = None
    for path in sorted(FIXTURE_DIR.glob("granules_umm_json__*.json")):
        for obj, raw in _item_spans(path.read_text(encoding="utf-8")):
            cid = obj["meta"]["concept-id"]
            if cid in seen:
                continue
            seen.add(cid)
            granules.append((obj, raw))
            if template is None and "HLSL30" in path.name:
                template = obj
    legacy: dict[str, dict] = {}
    for path in sorted(FIXTURE_DIR.glob("granules_json__*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["feed"]["entry"]:
            legacy[entry["id"]] = entry
    collections: list[tuple[dict, str]] = []
    seen.clear()
    for path in sorted(FIXTURE_DIR.glob("collections_umm_json__*.json")):
        for obj, raw in _item_spans(path.read_text(encoding="utf-8")):
            if obj["meta"]["concept-id"] not in seen:
                seen.add(obj["meta"]["concept-id"])
                collections.append((obj, raw))
    hlss30 = json.loads(
        (FIXTURE_DIR / "concept_umm_c__HLSS30_C2021957295-LPCLOUD.json").read_text("utf-8")
    )
    swot = None
    swot_path = FIXTURE_DIR / "collections_json__SWOT_RiverSP_PODAAC.json"
    if swot_path.exists():
        entries = json.loads(swot_path.read_text("utf-8"))["feed"]["entry"]
        swot = entries[0] if entries else None
    if template is None:  # pragma: no cover - fixture set is fixed
        raise RuntimeError("no recorded HLSL30 granule to template the generator on")
    return _Fixtures(granules, legacy, collections, hlss30, swot, template)


def _host_mapped(raw: bytes, host_map: dict[str, str], key: bytes = b'"URL":"') -> bytes:
    """`raw` with every `key` + data-host prefix rewritten (UMM ``URL``, ATOM ``href``)."""
    for prefix, repl in host_map.items():
        raw = raw.replace(key + prefix.encode(), key + repl.encode())
    return raw
