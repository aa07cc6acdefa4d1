"""M2M's error envelope as an exception, its messages, and the JSON helpers.

Which messages are recorded and which are guesses is listed in the package docstring;
keeping them in one place keeps that list checkable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

VERSION = "stable"


MSG_EXPIRED = "API key has expired due to inactivity"  # recorded
MSG_UNAUTHORIZED = "Your account does not have access to this endpoint"  # issue text
MSG_RATE_LIMIT = "Your account does not support multiple requests at a time."
MSG_KEY_INVALID = "Invalid API key"
MSG_LOGIN_INVALID = "User credential verification failed"
_FAULT_MESSAGES = {
    "RATE_LIMIT": MSG_RATE_LIMIT,
    "SERVER_ERROR": "An internal server error occurred",
    "AUTH_EXPIRED": MSG_EXPIRED,
    "AUTH_INVALID": MSG_KEY_INVALID,
    "AUTH_UNAUTHROIZED": MSG_UNAUTHORIZED,
}


class M2MError(Exception):
    """An M2M error envelope: `code`, `message`, HTTP `status`."""

    def __init__(self, code: str, message: str, status: int = 500, *, auth: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.auth = auth  # the auth layer's envelope: requestId 0, sessionId/version null


def _invalid(message: str) -> M2MError:
    return M2MError("INPUT_PARAMETER_INVALID", message)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _php_map(value: Mapping[str, Any]) -> Any:
    """PHP's json_encode writes an empty associative array as ``[]``."""
    return dict(value) if value else []
