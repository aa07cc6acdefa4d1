"""`stacbridge download`: fetch the assets of an item or of a whole search through the proxy.

Built for the way the gateway's assets behave:

* **Many files, each possibly large**: up to ``parallel`` downloads at once on one async httpx
  client, each written in chunks (constant memory) with a rich progress bar per file.
* **Interrupted downloads resume**: bytes go to ``<name>.part`` and the file is renamed only
  when complete and verified; a later run sends ``Range: bytes=<size of .part>-`` and appends
  on a ``206``.  A ``200`` (the server ignored the range) restarts the file; a ``416`` for a
  non-empty ``.part`` means it already holds everything (verified by the checksum, if any).
* **Checksums**: an asset's ``file:checksum`` (multihash hex: ``1220`` + SHA-256, ``d50110`` +
  MD5, and the other codes in `stacbridge.stac.values`) is checked over the whole file; a
  mismatch deletes the ``.part`` (its bytes are wrong, resuming them would stay wrong) and
  fails that asset.  No checksum: the size the server announced is checked instead.
* **Orders**: a ``202 Accepted`` (an M2M product being prepared) is waited out, honouring
  ``Retry-After`` and showing the order's status on the file's line, up to ``order_timeout``.

Outcome per asset: ``ok``, ``skipped`` (already complete) or ``failed`` with one line saying
why; the command exits 0 when nothing failed, 1 otherwise (2 for usage errors, raised before
any download as `UsageError`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

#: multihash prefix (varint code + digest length) → hashlib name
_MULTIHASH = {
    "d50110": "md5",
    "1114": "sha1",
    "1220": "sha256",
    "2030": "sha384",
    "1340": "sha512",
}
_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]")
_EXTENSIONS = {
    "image/tiff": ".tif",
    "application/json": ".json",
    "application/geo+json": ".json",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "text/plain": ".txt",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "application/x-tar": ".tar",
    "application/gzip": ".tar.gz",
    "application/x-hdf5": ".h5",
    "application/x-netcdf": ".nc",
}


class UsageError(ValueError):
    """The URL is not an item or a search, or it cannot be read: exit code 2."""


@dataclass
class Job:
    """One asset to fetch."""

    item_id: str
    key: str
    href: str
    path: Path
    checksum: str | None = None
    size: int | None = None


@dataclass
class Outcome:
    job: Job
    status: str  # ok | skipped | failed
    message: str = ""
    resumed_from: int = 0
    bytes: int = 0
    waited: list[str] = field(default_factory=list)


def hasher_for(checksum: str) -> tuple[Any, str]:
    """A hashlib object and the expected hex digest for a multihash, or ValueError."""
    value = checksum.strip().lower()
    for prefix, name in _MULTIHASH.items():
        if value.startswith(prefix):
            return hashlib.new(name), value[len(prefix) :]
    raise ValueError(f"unsupported file:checksum {checksum[:12]}...")


def _file_name(key: str, asset: dict[str, Any]) -> str:
    """A local file name: the proxy href's name segment, else the key with a type extension."""
    parts = [p for p in urlsplit(asset.get("href", "")).path.split("/") if p]
    if len(parts) >= 3 and parts[-3] == "assets":  # /assets/<token>/<name>
        return _SAFE_NAME.sub("_", unquote(parts[-1]))
    media = str(asset.get("type", "")).split(";")[0].strip().lower()
    return _SAFE_NAME.sub("_", key) + _EXTENSIONS.get(media, "")


def select_assets(item: dict[str, Any], keys: list[str] | None) -> list[tuple[str, dict]]:
    """The assets to fetch: the named keys, or every asset with the ``data`` role."""
    assets = item.get("assets") or {}
    if keys:
        return [(k, assets[k]) for k in keys if k in assets]
    data = [(k, a) for k, a in assets.items() if "data" in (a.get("roles") or [])]
    return data or list(assets.items())


def plan(items: list[dict[str, Any]], out_dir: Path, keys: list[str] | None) -> list[Job]:
    jobs = []
    for item in items:
        item_id = str(item.get("id", "item"))
        folder = out_dir / _SAFE_NAME.sub("_", item_id)
        for key, asset in select_assets(item, keys):
            jobs.append(
                Job(
                    item_id=item_id,
                    key=key,
                    href=asset["href"],
                    path=folder / _file_name(key, asset),
                    checksum=asset.get("file:checksum"),
                    size=asset.get("file:size"),
                )
            )
    return jobs


def _error_line(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("description") or body.get("code") or ""
    except ValueError:
        detail = response.text[:200]
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


async def collect_items(
    client: httpx.AsyncClient,
    url: str,
    max_items: int | None = None,
    on_page: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """The item at `url`, or the items of the search at `url` (following ``next`` links), at
    most `max_items` of them: a search can match millions."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    seen: set[str] = set()
    while next_url and next_url not in seen and (max_items is None or len(items) < max_items):
        seen.add(next_url)
        try:
            response = await client.get(next_url)
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot reach {urlsplit(next_url).netloc}: {exc}") from exc
        if response.status_code >= 400:
            raise UsageError(f"cannot read {next_url}: {_error_line(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise UsageError(f"{next_url} is not JSON (not a STAC item or search)") from exc
        if body.get("type") == "Feature":
            return [body]
        if body.get("type") != "FeatureCollection":
            raise UsageError(f"{next_url} is neither a STAC Item nor an ItemCollection")
        features = body.get("features", [])
        items.extend(features if max_items is None else features[: max_items - len(items)])
        if on_page:
            on_page(len(items))
        next_url = next(
            (
                link["href"]
                for link in body.get("links", [])
                if link.get("rel") == "next" and link.get("method", "GET") == "GET"
            ),
            None,
        )
    return items


class Downloader:
    """Runs the jobs; `progress` gets ``(job, event, value)`` callbacks for the display."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        parallel: int = 4,
        order_timeout: float = 3600.0,
        progress: Callable[[Job, str, Any], None] | None = None,
    ) -> None:
        self.client = client
        self.parallel = max(1, parallel)
        self.order_timeout = order_timeout
        self.progress = progress or (lambda job, event, value: None)

    async def run(self, jobs: list[Job]) -> list[Outcome]:
        gate = asyncio.Semaphore(self.parallel)

        async def one(job: Job) -> Outcome:
            async with gate:
                try:
                    outcome = await self.fetch(job)
                except httpx.HTTPError as exc:
                    outcome = Outcome(job, "failed", f"{type(exc).__name__}: {exc}")
                except OSError as exc:
                    outcome = Outcome(job, "failed", f"cannot write {job.path}: {exc.strerror}")
                self.progress(job, "done", outcome)
                return outcome

        return await asyncio.gather(*(one(j) for j in jobs))

    def _verified(self, path: Path, job: Job) -> str | None:
        """None if `path` matches the job's checksum (or there is none), else why not."""
        if not job.checksum:
            return None
        try:
            digest, expected = hasher_for(job.checksum)
        except ValueError as exc:
            return str(exc)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            return (
                f"checksum mismatch ({digest.name} {digest.hexdigest()[:12]}..., expected "
                f"{expected[:12]}...)"
            )
        return None

    async def fetch(self, job: Job) -> Outcome:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        if job.path.exists() and job.checksum and self._verified(job.path, job) is None:
            return Outcome(job, "skipped", "already downloaded (checksum ok)")
        part = job.path.with_name(job.path.name + ".part")
        deadline = time.monotonic() + self.order_timeout
        waited: list[str] = []
        while True:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            async with self.client.stream("GET", job.href, headers=headers) as response:
                if response.status_code == 202:
                    retry = _retry_after(response.headers.get("retry-after"))
                    await response.aread()
                    status = _order_status(response)
                    waited.append(status)
                    if time.monotonic() + retry > deadline:
                        return Outcome(
                            job, "failed", f"order still {status} after {self.order_timeout:g} s"
                        )
                    self.progress(job, "waiting", f"{status}, retry in {retry:g} s")
                    await asyncio.sleep(retry)
                    continue
                if response.status_code == 416 and have:
                    await response.aread()
                    resumed, written = have, 0  # the .part already holds the whole file
                elif response.status_code in (200, 206):
                    resumed = have if response.status_code == 206 else 0
                    total = _total_size(response, resumed)
                    self.progress(job, "start", (resumed, total))
                    written = await self._write(part, response.aiter_bytes(_CHUNK), resumed, job)
                    if total is not None and resumed + written != total:
                        return Outcome(
                            job,
                            "failed",
                            f"short download ({resumed + written} of {total} "
                            "bytes); run again to resume",
                            resumed,
                            written,
                        )
                else:
                    await response.aread()
                    return Outcome(job, "failed", _error_line(response))
            problem = self._verified(part, job)
            if problem:
                part.unlink(missing_ok=True)
                return Outcome(job, "failed", problem, resumed, written, waited)
            os.replace(part, job.path)
            note = "checksum ok" if job.checksum else ""
            return Outcome(job, "ok", note, resumed, written, waited)

    async def _write(self, part: Path, chunks: AsyncIterator[bytes], offset: int, job: Job) -> int:
        written = 0
        with part.open("ab" if offset else "wb") as f:
            async for chunk in chunks:
                f.write(chunk)
                written += len(chunk)
                self.progress(job, "advance", len(chunk))
        return written


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 5), 0.5), 300.0)
    except ValueError:
        return 5.0


def _order_status(response: httpx.Response) -> str:
    try:
        order = response.json().get("order") or {}
    except ValueError:
        return "pending"
    status = str(order.get("status", "pending"))
    if order.get("progress") is not None:
        status += f" {float(order['progress']):.0%}"
    return f"order {order.get('id', '?')} {status}" if order.get("id") else status


def _total_size(response: httpx.Response, resumed: int) -> int | None:
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    length = response.headers.get("content-length")
    if length and length.isdigit() and "content-encoding" not in response.headers:
        return int(length) + (resumed if response.status_code == 206 else 0)
    return None
