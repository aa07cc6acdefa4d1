"""Structured logs: one JSON object per line, with the request id, and never a secret.

The request id lives in a context variable (`request_id`), set by the middleware for the whole
of a request - including the tasks it awaits and the upstream calls in `send_with_retries`,
which forward it as ``X-Request-ID`` - so a line logged anywhere below a request carries it.

Secrets: the gateway's own messages name hosts and paths, never queries or headers (see
`stacbridge.http`), and httpx's request lines are turned down in `app.configure_logging`.  The
formatter still scrubs what looks like a credential (``Bearer ...``, ``password=``,
``X-Amz-Signature=``, ``token=``, cookies) from every message and exception text, as a second
line of defence for third-party libraries' messages.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stacbridge_request_id", default=None
)

_SECRETISH = re.compile(
    r"(?i)\b(bearer\s+|basic\s+)[A-Za-z0-9._~+/=-]+"
    r"|\b((?:x-amz-[a-z-]+|password|passwd|secret|token|access_token|api_?key|signature|"
    r"sig|accesstoken|session|cookie|set-cookie|authorization)\s*[=:]\s*)"
    r"(?:(?:bearer|basic)\s+)?[^&\s,;\"']+"
)


def scrub(text: str) -> str:
    """`text` with credential-looking values replaced by ``***``."""

    def hide(match: re.Match[str]) -> str:
        return (match.group(1) or match.group(2)) + "***"

    return _SECRETISH.sub(hide, text)


#: attributes every LogRecord has; anything else was passed with ``extra=`` and is emitted.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "pid", "request_id", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            "pid": os.getpid(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, int | float | bool | None) else scrub(str(value))
                )
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class _DropMessage(logging.Filter):
    """Drops records whose unformatted message starts with a given text, nothing else."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


_STAC_FASTAPI_DEFAULTS = "Using default values for %s."


def silence_stac_fastapi_defaults_warning() -> None:
    """Hide stac-fastapi's "Using default values for ..." warning, and only that message.

    stac-fastapi builds a module-level ``ApiSettings()`` at import, with its own defaults, and
    warns about them - before the gateway passes its real title, description and version.
    The warning is true of that throw-away instance only, so it misleads operators.  Must run
    before `stac_fastapi.types.config` is first imported.
    """
    logger = logging.getLogger("stac_fastapi.types.config")
    if not any(isinstance(f, _DropMessage) for f in logger.filters):
        logger.addFilter(_DropMessage(_STAC_FASTAPI_DEFAULTS))


def uvicorn_log_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """The `logging.config.dictConfig` that `stacbridge serve` hands uvicorn (every worker).

    JSON (default) or plain text on stderr for uvicorn's, the gateway's and every library's
    loggers.  uvicorn's own access log is off: the gateway's middleware logs each request
    with its id, route template and duration instead, and without the asset token.
    """
    formatter: dict[str, Any] = (
        {"()": "stacbridge.observability.logging.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "no_stac_fastapi_defaults": {
                "()": "stacbridge.observability.logging._DropMessage",
                "prefix": _STAC_FASTAPI_DEFAULTS,
            }
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
                "filters": ["no_stac_fastapi_defaults"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"level": level.upper()},
            "uvicorn.access": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
