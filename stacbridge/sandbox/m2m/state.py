"""What the M2M app mutates: API-key sessions, queued downloads, counters.

One lock guards it all, because a download request touches sessions, downloads and
counters at once.
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from stacbridge.sandbox._kit import FaultQueue
from stacbridge.sandbox.m2m.products import _Product

DEFAULT_USERS = {"sandbox": "sandbox-app-token"}
#: The fault-spec fields M2M understands (`_kit.Fault`), in the order ``GET`` lists them.
_FAULT_FIELDS = (
    "error_code",
    "status",
    "count",
    "delay",
    "endpoint",
    "message",
    "retry_after",
    "body",
)


@dataclass
class _Session:
    key: str
    username: str
    session_id: int
    contact_id: int
    last_used: float


@dataclass
class _Download:
    download_id: int
    product: _Product
    username: str
    contact_id: int
    ip: str
    label: str
    created: float
    status: str  # preparing | available | removed
    polls: int = 0
    token: str | None = None
    issued: float = 0.0
    issues: int = 0
    downloaded: bool = False

    @property
    def staging_token(self) -> str:
        payload = f'{{"id":{self.download_id},"contactId":{self.contact_id}}}'
        return base64.b64encode(payload.encode()).decode()


class _State:
    """Everything the app mutates: sessions, downloads, faults, counters."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.lock = threading.RLock()
        self.faults = FaultQueue(_FAULT_FIELDS)
        self.users = dict(users)
        self.contacts = {u: 676_404 + n for n, u in enumerate(sorted(self.users))}
        self.reset()

    def reset(self) -> None:
        self.sessions: dict[str, _Session] = {}
        self.downloads: dict[int, _Download] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # url token → (downloadId, issued)
        self.staging: dict[str, int] = {}
        self.faults.clear()
        self.by_endpoint: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.request_id = 226_000_000
        self.session_id = 48_213_211
        self.download_id = 26_107_136

    def next_request_id(self) -> int:
        with self.lock:
            self.request_id += 1
            return self.request_id
