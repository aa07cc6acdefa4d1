"""Planetary Computer's SAS token API and an Azure blob host that insists on its tokens.

SYNTHETIC: no recorded Planetary Computer exchange is in /work/shared/fixtures.  Shapes follow
the documented API: `GET /api/sas/v1/token/{collection}` (and `/{account}/{container}`)
answers `{"msft:expiry": "<RFC 3339>", "token": "<query string>"}`; the token is appended to
blob URLs as their query string.  Guesses, listed:

* the token's fields (`se` expiry, `sp=rl`, `sv`, `sr=c`, `sig`) are Azure's service-SAS
  names, the signature an HMAC of this emulator's own (`sig` over container and `se`);
* a blob read without a SAS answers `409 PublicAccessNotPermitted`, with an expired or forged
  one `403 AuthenticationFailed`, in Azure's XML error shape;
* tokens live `ttl` seconds (PC's are about an hour).

Test controls: `authority.issued` (tokens handed out, per scope), the shared `SandboxClock`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, SandboxClock, sandbox_app
from stacbridge.sandbox.datahost import file_response
from stacbridge.sandbox.files import FileSource, default_files

#: which container holds each collection's blobs (PC: one container per collection, mostly).
CONTAINERS = {"sentinel-2-l2a": "sentinel2-l2", "naip": "naip"}


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SasAuthority:
    """Issues and checks container SAS tokens on one clock."""

    clock: SandboxClock = field(default_factory=SandboxClock)
    ttl: float = 3600.0
    secret: bytes = b"sandbox-sas-secret"
    issued: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _sig(self, container: str, expiry: str) -> str:
        return hmac.new(self.secret, f"{container}\n{expiry}".encode(), hashlib.sha256).hexdigest()

    def issue(self, scope: str, container: str) -> dict[str, str]:
        with self.lock:
            self.issued[scope] += 1
        expiry = _iso(self.clock() + self.ttl)
        token = f"se={expiry}&sp=rl&sv=2024-05-04&sr=c&sig={self._sig(container, expiry)}"
        return {"msft:expiry": expiry, "token": token}

    def refusal(
        self, container: str, query: Mapping[str, list[str]]
    ) -> tuple[int, str, str] | None:
        """Why a read of `container` with `query` is refused, or None."""
        if "sig" not in query:
            return (
                409,
                "PublicAccessNotPermitted",
                "Public access is not permitted on this storage account.",
            )
        expiry = query.get("se", [""])[0]
        good = hmac.compare_digest(query["sig"][0], self._sig(container, expiry))
        try:
            alive = (
                dt.datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp() > self.clock()
            )
        except ValueError:
            alive = False
        if not good or not alive:
            return (
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization "
                "header is formed correctly including the signature."
                + ("" if alive else " Signed expiry time has passed."),
            )
        return None


def _xml_error(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str]
) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml", headers=dict(headers))


def sas_token_routes(authority: SasAuthority) -> list[Route]:
    """`/api/sas/v1/token/{collection}` and `/api/sas/v1/token/{account}/{container}`."""

    async def by_collection(request: Request) -> Response:
        cid = request.path_params["collection"]
        if cid not in CONTAINERS:
            return JSONResponse({"detail": f"Collection {cid} not found"}, status_code=404)
        return JSONResponse(authority.issue(cid, CONTAINERS[cid]))

    async def by_container(request: Request) -> Response:
        container = request.path_params["container"]
        scope = f"{request.path_params['account']}/{container}"
        return JSONResponse(authority.issue(scope, container))

    return [
        Route("/api/sas/v1/token/{collection}", by_collection),
        Route("/api/sas/v1/token/{account}/{container}", by_container),
    ]


def create_blob_app(authority: SasAuthority, files: FileSource | None = None) -> Any:
    """A blob host: `GET|HEAD /{container}/{path}?<SAS>`, Range and validators as S3's host."""
    source = files or default_files()
    recorder = Recorder(authority.clock)

    async def blob(request: Request) -> Response:
        container = request.path_params["container"]
        refused = authority.refusal(container, parse_qs(request.url.query))
        if refused is not None:
            return _xml_error(request, *refused, {})
        path = f"{container}/{request.path_params['path']}"
        info = source.stat(path)
        if info is None:
            return _xml_error(
                request, 404, "BlobNotFound", "The specified blob does not exist.", {}
            )
        return file_response(request, source, path, info, _xml_error)

    return sandbox_app([Route("/{container}/{path:path}", blob, methods=["GET", "HEAD"])], recorder)
