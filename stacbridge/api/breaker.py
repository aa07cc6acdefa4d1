"""A small circuit breaker: a provider that just failed is skipped at once for a while.

Without it every request during an upstream outage waits out the provider's deadline (and its
retries) before answering with the others.  After a failure the provider's circuit is *open*
for `open_seconds`: requests in that window do not call it and report it missing with the
reason "circuit open"; the first request after the window calls it again (half-open), and its
success closes the circuit, its failure opens it for another window.

State is per process (one dict in memory): with several workers each learns of an outage by
itself, which costs one failed call per worker and window — cheap, and no shared store is
needed to answer quickly.  `open_seconds <= 0` disables the breaker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: the reason a provider skipped by an open circuit is reported missing with.
CIRCUIT_OPEN = "circuit open"


@dataclass(slots=True)
class Breaker:
    """Remembers, per provider name, until when it is skipped and why it failed."""

    open_seconds: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _open: dict[str, tuple[float, str]] = field(default_factory=dict)

    def blocked(self, name: str) -> str | None:
        """Why `name` must not be called now (its circuit is open), or None."""
        entry = self._open.get(name)
        if entry is None:
            return None
        until, why = entry
        left = until - self.clock()
        if left <= 0:
            return None  # half-open: the next call decides
        return f"{CIRCUIT_OPEN} for {left:.0f} s more after: {why}"

    def failed(self, name: str, why: str) -> None:
        """`name` failed (5xx, timeout, unreadable answer): skip it for `open_seconds`."""
        if self.open_seconds > 0:
            self._open[name] = (self.clock() + self.open_seconds, why)

    def succeeded(self, name: str) -> None:
        """`name` answered: its circuit closes."""
        self._open.pop(name, None)

    def retry_after(self, name: str) -> int | None:
        """Whole seconds until `name`'s circuit is half-open again (None: it is closed)."""
        entry = self._open.get(name)
        if entry is None:
            return None
        left = entry[0] - self.clock()
        return max(1, int(left + 0.999)) if left > 0 else None
