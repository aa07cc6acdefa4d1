"""Serving download files as DDS does: padded band files and DDS's XML errors.

A band file is advertised at its real size, so a small COG is padded with zeros
rather than stored at full size.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from html import escape

from starlette.requests import Request
from starlette.responses import Response

from stacbridge.sandbox.files import CHUNK_SIZE, FileInfo, FileSource


class _PaddedFiles:
    """A FileSource over `base` where ``pad/<size>/<path>`` is `path` followed by zeros up to
    `size` bytes (a TIFF/JPEG reader ignores trailing bytes)."""

    def __init__(self, base: FileSource) -> None:
        self.base = base
        self._zeros = bytes(CHUNK_SIZE)

    @staticmethod
    def _split(path: str) -> tuple[int, str] | None:
        if not path.startswith("pad/"):
            return None
        _, size, inner = path.split("/", 2)
        return int(size), inner

    def stat(self, path: str) -> FileInfo | None:
        padded = self._split(path)
        if padded is None:
            return self.base.stat(path)
        size, inner = padded
        info = self.base.stat(inner)
        if info is None:
            return None
        total = max(size, info.size)
        etag = '"' + hashlib.md5(f"{info.etag}:{total}".encode()).hexdigest() + '"'
        return FileInfo(total, etag, info.last_modified, info.content_type)

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        padded = self._split(path)
        if padded is None:
            async for chunk in self.base.read(path, start, end):
                yield chunk
            return
        size, inner = padded
        info = self.base.stat(inner)
        if info is None:
            raise FileNotFoundError(path)
        total = max(size, info.size)
        end = total if end is None else min(end, total)
        if start < info.size:
            async for chunk in self.base.read(inner, start, min(end, info.size)):
                yield chunk
        pos, zeros = max(start, info.size), memoryview(self._zeros)
        while pos < end:
            n = min(len(zeros), end - pos)
            yield zeros[:n]  # type: ignore[misc]  # zero-copy view
            pos += n


def _dds_error(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str]
) -> Response:
    keep = {k: v for k, v in headers.items() if k == "Content-Range"}
    if request.method == "HEAD":
        return Response(status_code=status, headers=keep)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status, headers=keep, media_type="application/xml")
