"""M2M scene lists: named sets of scenes, per user, that bulk endpoints read in one call.

The reference documents `scene-list-add` (`listId`, `datasetName` required; `idField`
``entityId`` (default) or ``displayId``; `entityId` or `entityIds`; `timeToLive` an ISO-8601
duration), `scene-list-get`, `scene-list-remove` (no `datasetName`: the whole list; a dataset:
its ids; ids: those) and `scene-metadata-list` (`listId` required, `datasetName` optional,
`metadataType` ``summary`` or ``full``), whose sample answer groups the scenes by dataset
alias: ``{"<alias>": [scene, ...]}``.  Lists belong to the user (the API key's account), so two
processes sharing an account share them — a client must name its lists uniquely.

Guesses (no recording): `scene-list-add` answers the number of scenes it added (the stable
branch's sample answers ``1`` for one id) and skips ids that name no scene; an unknown
`listId` reads as an empty list (``{}``) and removes nothing; a scene's rendering in
`scene-metadata-list` is its `scene-metadata` rendering; a list without `timeToLive` lives until
removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stacbridge.sandbox.m2m.catalogue import M2MEmulator
from stacbridge.sandbox.m2m.errors import _invalid

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_ID_FIELDS = {"entityid": "entityid", "displayid": "displayid"}


def parse_duration(value: Any) -> float:
    """Seconds in an ISO-8601 duration of days and time (``P1D``, ``PT10M``); else a 400."""
    found = _DURATION.match(str(value).upper()) if isinstance(value, str) else None
    if found is None or value.upper() in ("P", "PT"):
        raise _invalid(f"timeToLive must be an ISO-8601 duration, got {value!r}")
    d, h, m, s = (float(found[k] or 0) for k in ("d", "h", "m", "s"))
    return d * 86400 + h * 3600 + m * 60 + s


@dataclass
class _SceneList:
    #: dataset alias → scene keys, in the order they were added, without repeats
    scenes: dict[str, list[Any]] = field(default_factory=dict)
    expires: float | None = None


class SceneLists:
    """Every user's scene lists; the caller holds the state's lock."""

    def __init__(self, emulator: M2MEmulator, now: Callable[[], float]) -> None:
        self.emulator = emulator
        self.now = now
        self.lists: dict[tuple[str, str], _SceneList] = {}

    def clear(self) -> None:
        self.lists.clear()

    def _list_id(self, body: dict) -> str:
        list_id = body.get("listId")
        if not isinstance(list_id, str) or not list_id:
            raise _invalid("listId is required")
        return list_id

    def _live(self, user: str, list_id: str) -> _SceneList | None:
        found = self.lists.get((user, list_id))
        if found is not None and found.expires is not None and self.now() >= found.expires:
            del self.lists[(user, list_id)]
            return None
        return found

    def add(self, body: dict, user: str) -> int:
        list_id = self._list_id(body)
        alias = self.emulator.dataset(body.get("datasetName")).alias.lower()
        id_field = _ID_FIELDS.get(str(body.get("idField") or "entityId").lower())
        if id_field is None:
            raise _invalid("idField must be entityId or displayId")
        ids = body.get("entityIds")
        if ids is None:
            ids = [body["entityId"]] if body.get("entityId") else []
        if not isinstance(ids, list) or not ids:
            raise _invalid("entityId or entityIds is required")
        ttl = parse_duration(body["timeToLive"]) if body.get("timeToLive") else None
        scene_list = self._live(user, list_id) or _SceneList()
        self.lists[(user, list_id)] = scene_list
        if ttl is not None:
            scene_list.expires = self.now() + ttl
        source = self.emulator.sources[alias]
        keys = scene_list.scenes.setdefault(alias, [])
        added = 0
        for value in ids:
            key = source.find(str(value), id_field)
            if key is not None and key not in keys:
                keys.append(key)
                added += 1
        return added

    def get(self, body: dict, user: str) -> list[dict]:
        scene_list = self._live(user, self._list_id(body))
        wanted = self._wanted(body)
        out = []
        for alias, keys in (scene_list.scenes if scene_list else {}).items():
            if wanted is None or alias == wanted:
                for key in keys:
                    # recorded scenes are keyed by entity id, generated ones by index
                    entity = key if isinstance(key, str) else self.emulator.c2.entity_id(key)
                    out.append({"entityId": entity, "datasetName": alias})
        return out

    def _wanted(self, body: dict) -> str | None:
        name = body.get("datasetName")
        return self.emulator.dataset(name).alias.lower() if name else None

    def remove(self, body: dict, user: str) -> None:
        list_id = self._list_id(body)
        scene_list = self._live(user, list_id)
        if scene_list is None:
            return
        wanted = self._wanted(body)
        if wanted is None:
            del self.lists[(user, list_id)]
            return
        ids = body.get("entityIds") or ([body["entityId"]] if body.get("entityId") else [])
        if not ids:
            scene_list.scenes.pop(wanted, None)
            return
        source = self.emulator.sources[wanted]
        gone = {source.find(str(v), "entityid") for v in ids}
        scene_list.scenes[wanted] = [k for k in scene_list.scenes.get(wanted, []) if k not in gone]

    def metadata(self, body: dict, user: str) -> bytes:
        """`scene-metadata-list`: ``{"<alias>": [scene, ...]}`` for the list's datasets."""
        scene_list = self._live(user, self._list_id(body))
        wanted = self._wanted(body)
        kind = str(body.get("metadataType") or "summary").lower()
        if kind not in ("summary", "full"):
            raise _invalid("metadataType must be summary or full")
        parts = []
        for alias, keys in (scene_list.scenes if scene_list else {}).items():
            if (wanted is not None and alias != wanted) or not keys:
                continue
            source = self.emulator.sources[alias]
            rendered = [source.render(k, "metadata", kind == "full") for k in keys]
            scenes = b",".join(r.encode() if isinstance(r, str) else r for r in rendered)
            parts.append(b'"%s":[%s]' % (alias.encode(), scenes))
        return b"{" + b",".join(parts) + b"}"
