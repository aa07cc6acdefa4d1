"""Loading the recorded M2M responses (``fixtures/m2m/``) and checking they stay verbatim.

Recorded bodies are served byte for byte, so each fragment is proved to be the
fixture's own text before it is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "m2m"


def _load(name: str) -> tuple[dict, str]:
    raw = (FIXTURE_DIR / name).read_text()
    return json.loads(raw), raw


def _verbatim(value: Any, raw: str) -> bytes:
    """`value` as the bytes the fixture holds (its json.dumps rendering, checked)."""
    text = json.dumps(value)
    if text not in raw:  # pragma: no cover - fixtures are checked by the tests
        raise ValueError("fixture fragment is not verbatim")
    return text.encode()


@dataclass
class _Dataset:
    alias: str
    entry: dict
    raw: bytes

    @property
    def dataset_id(self) -> str:
        return self.entry["datasetId"]

    @property
    def collection_name(self) -> str:
        return self.entry["collectionName"]

    def matches(self, text: str) -> bool:
        pattern = re.escape(text.lower()).replace("%", ".*").replace(r"\*", ".*")
        names = (self.alias, self.collection_name, self.entry.get("collectionLongName") or "")
        return any(re.search(pattern, n.lower()) for n in names)
