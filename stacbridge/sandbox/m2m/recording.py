"""What the request log keeps of an M2M call, with the secrets taken out.

Tests read ``/_sandbox/requests``; an API key or password must never show up there.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from stacbridge.sandbox._kit import Recorder


class _TagEntries:
    """Runs inside `RecordingMiddleware`: hands its log entry (the one just appended, before any
    await) to the endpoint and hides the API key in it."""

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith("/_sandbox/")
            and self.recorder.entries
        ):
            entry = self.recorder.entries[-1]
            if entry.get("path") == scope["path"]:
                if "x-auth-token" in entry["headers"]:
                    entry["headers"]["x-auth-token"] = "REDACTED"
                scope.setdefault("state", {})["m2m_entry"] = entry
        await self.app(scope, receive, send)


_SECRET_FIELDS = {"token", "password", "applicationToken", "userToken"}


def _redacted(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: ("REDACTED" if k in _SECRET_FIELDS else _redacted(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_redacted(v) for v in body]
    return body
