"""Paging state: where a search stopped, sealed into one opaque signed `token`.

The state names the position in the search's list of targets (one per catalogue), that
catalogue's own cursor, how many items of the current upstream page were already returned
(pages the gateway cut short after post-filtering), the upstream page size that page was
fetched with (so it is fetched the same way again), the catalogue's name and a fingerprint of
the search itself — so a token cannot be replayed against another search, or after the
deployment's providers changed.  No server-side session: any worker verifies any token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacbridge.errors import BadRequest
from stacbridge.signing import InvalidToken, Signer

PAGE_PURPOSE = "page"
COLLECTIONS_PURPOSE = "collections"
_DIFFERENT = "paging token belongs to a different search; start the search again without a token"


@dataclass(slots=True)
class PageState:
    """Where the next page of a search starts."""

    #: the search's fingerprint (`Search.fingerprint()`).
    fingerprint: str
    #: index of the target (catalogue) being read.
    target: int = 0
    #: that catalogue's cursor (None: its first page).
    cursor: Any = None
    #: items of the upstream page at `cursor` already returned.
    skip: int = 0
    #: the upstream page size to fetch `cursor` with again (0: choose afresh).
    fetch: int = 0
    #: the target catalogue's name, checked against the search's targets.
    provider: str | None = None
    #: the search's total, when the first page knew it exactly (reported on every page).
    matched: int | None = None

    def seal(self, signer: Signer) -> str:
        state: dict[str, Any] = {
            "f": self.fingerprint,
            "i": self.target,
            "c": self.cursor,
            "s": self.skip,
        }
        if self.fetch:
            state["n"] = self.fetch
        if self.provider is not None:
            state["p"] = self.provider
        if self.matched is not None:
            state["m"] = self.matched
        return signer.sign(PAGE_PURPOSE, state)

    @classmethod
    def open(cls, signer: Signer, token: str, fingerprint: str) -> PageState:
        """Verify `token` for the search with `fingerprint`; a 400 that says why otherwise."""
        raw = open_token(signer, PAGE_PURPOSE, token, fingerprint)
        try:
            return cls(
                fingerprint=fingerprint,
                target=int(raw.get("i", 0)),
                cursor=raw.get("c"),
                skip=int(raw.get("s", 0)),
                fetch=int(raw.get("n") or 0),
                provider=raw.get("p"),
                matched=None if raw.get("m") is None else int(raw["m"]),
            )
        except (TypeError, ValueError) as exc:
            raise BadRequest("invalid paging token: malformed state") from exc


def open_token(signer: Signer, purpose: str, token: str, fingerprint: str) -> dict[str, Any]:
    """A signed paging token's state, checked to belong to the search with `fingerprint`."""
    try:
        state = signer.verify(purpose, token)
    except InvalidToken as exc:
        raise BadRequest(f"invalid paging token: {exc}") from exc
    if not isinstance(state, dict) or state.get("f") != fingerprint:
        raise BadRequest(_DIFFERENT)
    return state


def check_target(state: PageState, name: str | None) -> None:
    """The token's catalogue must still be the one at its position in the search."""
    if state.provider is not None and name is not None and state.provider != name:
        raise BadRequest(_DIFFERENT)
