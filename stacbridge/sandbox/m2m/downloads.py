"""Serving download files as DDS does: padded band files, tar bundles and DDS's XML errors.

A band file is advertised at its real size, so a small COG is padded with zeros
rather than stored at full size. A Collection 2 product bundle is a real POSIX (ustar) tar of
the scene's band files, laid out arithmetically and streamed member by member, so a client
that unpacks a bundle gets the same files the band-file downloads serve.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
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


TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK  # what GNU tar and Python's tarfile pad an archive to


@dataclass(frozen=True)
class TarMember:
    """One file of a bundle: its name in the archive and where its bytes come from."""

    name: str
    path: str  # a path of the bundle's FileSource
    size: int
    mtime: int


def _tar_header(member: TarMember) -> bytes:
    info = tarfile.TarInfo(member.name)
    info.size, info.mtime, info.mode = member.size, member.mtime, 0o644
    info.uname = info.gname = "root"
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def tar_size(sizes: Sequence[int]) -> int:
    """The size of a ustar archive of files of `sizes`: a header block and the data rounded
    up to whole blocks each, two zero blocks, the whole rounded up to a 10240-byte record."""
    total = sum(TAR_BLOCK + -(-size // TAR_BLOCK) * TAR_BLOCK for size in sizes) + 2 * TAR_BLOCK
    return -(-total // TAR_RECORD) * TAR_RECORD


class _TarFiles:
    """A FileSource over `base` where ``tar/<...>`` paths are bundles: `members(path)` lists
    their files (None: no such bundle), streamed from `base` between their headers."""

    def __init__(
        self, base: FileSource, members: Callable[[str], Sequence[TarMember] | None]
    ) -> None:
        self.base = base
        self.members = members

    def _layout(self, path: str) -> list[tuple[int, int, TarMember]] | None:
        """(header offset, data offset, member) of each member, or None."""
        if not path.startswith("tar/"):
            return None
        found = self.members(path)
        if found is None:
            return None
        out, pos = [], 0
        for m in found:
            out.append((pos, pos + TAR_BLOCK, m))
            pos += TAR_BLOCK + -(-m.size // TAR_BLOCK) * TAR_BLOCK
        return out

    def stat(self, path: str) -> FileInfo | None:
        if not path.startswith("tar/"):
            return self.base.stat(path)
        found = self.members(path)
        if found is None:
            return None
        size = tar_size([m.size for m in found])
        etag = '"' + hashlib.md5(f"{path}:{size}".encode()).hexdigest() + '"'
        first = self.base.stat(found[0].path) if found else None
        modified = first.last_modified if first else None
        if modified is None:
            from stacbridge.sandbox.files import _last_modified

            modified = _last_modified(path)
        return FileInfo(size, etag, modified, "application/x-tar")

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        layout = self._layout(path)
        if layout is None:
            async for chunk in self.base.read(path, start, end):
                yield chunk
            return
        total = tar_size([m.size for _, _, m in layout])
        end = total if end is None else min(end, total)
        pos = max(0, start)
        for header_at, data_at, m in layout:
            stop = data_at + -(-m.size // TAR_BLOCK) * TAR_BLOCK
            if stop <= pos:
                continue
            if pos >= end:
                return
            if pos < data_at:
                header = _tar_header(m)
                yield header[pos - header_at : min(end, data_at) - header_at]
                pos = data_at
            if pos < end and pos < data_at + m.size:
                async for chunk in self.base.read(
                    m.path, pos - data_at, min(end, data_at + m.size) - data_at
                ):
                    yield chunk
                pos = min(end, data_at + m.size)
            if pos < end and pos < stop:
                n = min(end, stop) - pos
                yield bytes(n)
                pos += n
        if pos < end:  # the end-of-archive blocks and the record padding
            yield bytes(end - pos)
