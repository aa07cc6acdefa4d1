"""Paging state: where a search stopped, sealed into one opaque signed `token`.

A search is one *stream* per target (a catalogue, or one collection of it when a filter on
`collection` splits the search), merged into one order.  The token holds, for every stream,
its catalogue's own cursor, how many items of the upstream page at that cursor were already
consumed (returned or dropped by the gateway's checks) and the page size it was fetched with,
so the next request fetches exactly that page again and goes on from there — or that the
stream is done.  Nothing fetched is kept on the server: any worker serves any page, and memory
per request is one upstream page per stream.

The token also names the streams' catalogues and carries a fingerprint of the search itself,
so it cannot be replayed against another search, a reordered one, or after the deployment's
providers changed; and the total the first page knew exactly, reported on every page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacbridge.errors import BadRequest
from stacbridge.signing import InvalidToken, Signer

PAGE_PURPOSE = "page"
COLLECTIONS_PURPOSE = "collections"
_DIFFERENT = "paging token belongs to a different search; start the search again without a token"


@dataclass(slots=True)
class StreamState:
    """Where one stream of a merged search goes on."""

    #: the catalogue's cursor of the upstream page to read (None: its first page).
    cursor: Any = None
    #: items of that upstream page already consumed.
    skip: int = 0
    #: the page size that page was fetched with (0: choose afresh).
    fetch: int = 0
    #: the stream has nothing more.
    done: bool = False
    #: items the stream gave the last page (sizes its next fresh upstream page; 0: unknown).
    share: int = 0

    def dump(self) -> Any:
        if self.done:
            return 0
        out: dict[str, Any] = {"c": self.cursor}
        if self.skip:
            out["s"] = self.skip
        if self.fetch:
            out["n"] = self.fetch
        if self.share:
            out["w"] = self.share
        return out

    @classmethod
    def load(cls, raw: Any) -> StreamState:
        if raw == 0:
            return cls(done=True)
        if not isinstance(raw, dict):
            raise TypeError("stream state")
        return cls(
            raw.get("c"), int(raw.get("s", 0)), int(raw.get("n") or 0), share=int(raw.get("w", 0))
        )


@dataclass(slots=True)
class PageState:
    """Where the next page of a search starts: one `StreamState` per stream."""

    #: the search's fingerprint (`Search.fingerprint()`).
    fingerprint: str
    #: the catalogue name of every stream, in order (checked against the search's streams).
    providers: list[str] = field(default_factory=list)
    streams: list[StreamState] = field(default_factory=list)
    #: the search's total, when the first page knew it exactly (reported on every page).
    matched: int | None = None

    def seal(self, signer: Signer) -> str:
        state: dict[str, Any] = {
            "f": self.fingerprint,
            "p": self.providers,
            "s": [s.dump() for s in self.streams],
        }
        if self.matched is not None:
            state["m"] = self.matched
        return signer.sign(PAGE_PURPOSE, state)

    @classmethod
    def open(cls, signer: Signer, token: str, fingerprint: str) -> PageState:
        """Verify `token` for the search with `fingerprint`; a 400 that says why otherwise."""
        raw = open_token(signer, PAGE_PURPOSE, token, fingerprint)
        try:
            providers = [str(p) for p in raw["p"]]
            streams = [StreamState.load(s) for s in raw["s"]]
            if len(providers) != len(streams):
                raise ValueError("streams")
            return cls(
                fingerprint=fingerprint,
                providers=providers,
                streams=streams,
                matched=None if raw.get("m") is None else int(raw["m"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest("invalid paging token: malformed state") from exc

    def check(self, providers: list[str]) -> None:
        """The token's streams must still be the search's streams, in the same order."""
        if self.providers != providers:
            raise BadRequest(_DIFFERENT)


def open_token(signer: Signer, purpose: str, token: str, fingerprint: str) -> dict[str, Any]:
    """A signed paging token's state, checked to belong to the search with `fingerprint`."""
    try:
        state = signer.verify(purpose, token)
    except InvalidToken as exc:
        raise BadRequest(f"invalid paging token: {exc}") from exc
    if not isinstance(state, dict) or state.get("f") != fingerprint:
        raise BadRequest(_DIFFERENT)
    return state
