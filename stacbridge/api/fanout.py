"""One call to one provider within a request that spans several: deadline, breaker, verdict.

A request that asks several providers must not let one of them decide for all: each call runs
under `deadline` seconds and through the `Breaker`, and ends in one of three ways —

* an answer (the circuit closes);
* `Unavailable`: the provider failed (an upstream 5xx or timeout after the HTTP client's
  retries, an unreadable answer, no answer within the deadline, or a circuit still open).  The
  caller leaves that provider out of this answer and names it (`Stacbridge-Missing-Providers`
  and `stacbridge:missing_providers`); the circuit opens;
* anything else propagates: `UpstreamRejected` (the upstream's own 4xx: the *client's* request
  is at fault, so the whole request is a 400 quoting the provider), `CollectionNotFound`,
  `BadRequest`.  These say nothing about the provider's health.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from stacbridge.api.breaker import Breaker
from stacbridge.protocols import ProviderError, UpstreamRejected

log = logging.getLogger("stacbridge")

T = TypeVar("T")

#: the header that names the providers an answer is missing (comma-separated names).
MISSING_HEADER = "Stacbridge-Missing-Providers"
#: the body field that maps each missing provider's name to why it is missing.
MISSING_FIELD = "stacbridge:missing_providers"


class Unavailable(Exception):
    """A provider failed its part of a request; the others' answer stands without it."""

    def __init__(self, provider: str, reason: str, error: ProviderError) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason
        #: what to answer when *every* provider of the request is unavailable.
        self.error = error


async def guarded(breaker: Breaker, name: str, deadline: float | None, call: Awaitable[T]) -> T:
    """Await `call` to provider `name` within `deadline` seconds (None: no deadline of its
    own, only the HTTP client's timeouts) and through `breaker`."""
    blocked = breaker.blocked(name)
    if blocked is not None:
        close = getattr(call, "close", None)
        if close is not None:
            close()  # a coroutine never awaited: say so to nobody
        raise Unavailable(
            name,
            blocked,
            ProviderError(name, blocked, status_code=503, retry_after=breaker.retry_after(name)),
        )
    try:
        answer = await asyncio.wait_for(call, deadline)
    except UpstreamRejected:
        raise  # the client's fault, not the provider's: the whole request is a 400
    except ProviderError as exc:
        why = exc.message or type(exc).__name__
        _failed(breaker, name, why)
        raise Unavailable(name, why, exc) from exc
    except TimeoutError as exc:
        why = "no answer within the deadline"
        _failed(breaker, name, why)
        raise Unavailable(name, why, ProviderError(name, why, status_code=504)) from exc
    breaker.succeeded(name)
    return answer


def _failed(breaker: Breaker, name: str, why: str) -> None:
    log.warning("provider %s unavailable: %s", name, why)
    breaker.failed(name, why)


def missing_header(missing: dict[str, str]) -> str:
    """The `Stacbridge-Missing-Providers` value for `missing` (name → why)."""
    return ", ".join(sorted(missing))
