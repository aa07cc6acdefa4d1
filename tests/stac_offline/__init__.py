"""Answer STAC / JSON-schema fetches from the copies in ``schemas/``, so validation runs offline.

The validators the tests use (pystac, stac-validator, stac-api-validator) download the STAC
core and extension schemas from the web.  The test machines have no network, and a validator
whose fetch fails either crashes or, worse, reports nothing.  :func:`install` makes every such
fetch, in this process, read the local file instead:

* ``requests`` sessions created afterwards (stac-validator, stac-api-validator, pystac-client),
* ``urllib.request.urlopen`` (stac-validator's schema cache),
* ``pystac.StacIO`` (``pystac.validation.validate_dict``, ``Item.validate()``).

A URL on a mirrored host whose file is not here raises :class:`MissingSchema` naming the URL and
the file to add; it never passes silently.  URLs on other hosts are left alone (with no network
they fail as they would without this module).  Layout: ``schemas/<host>/<URL path>``; see
README.md beside this file.
"""

from __future__ import annotations

import email.message
import io
import urllib.parse
import urllib.request
import urllib.response
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parent / "schemas"
HOSTS = frozenset(p.name for p in SCHEMAS.iterdir() if p.is_dir())

_installed = False


class MissingSchema(LookupError):
    """A schema URL on a mirrored host that has no local copy."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(
            f"schema not in the offline mirror: {url} — add the published file as {path} "
            "(see tests/stac_offline/README.md)"
        )
        self.url = url
        self.path = path


def is_mirrored(url: str) -> bool:
    """Whether ``url`` is on one of the mirrored hosts (not whether its file exists)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in HOSTS


def local_path(url: str) -> Path | None:
    """The local copy of ``url``; None for a host that is not mirrored.

    Raises :class:`MissingSchema` for a mirrored host whose file is not here.
    """
    if not is_mirrored(url):
        return None
    parts = urllib.parse.urlsplit(url)
    relative = urllib.parse.unquote(parts.path).lstrip("/")
    path = (SCHEMAS / str(parts.hostname) / relative).resolve()
    if not path.is_relative_to(SCHEMAS) or not path.is_file():
        raise MissingSchema(url, SCHEMAS / str(parts.hostname) / relative)
    return path


def read_schema(url: str) -> bytes:
    """The bytes of a mirrored schema (raises MissingSchema / ValueError, never returns empty)."""
    path = local_path(url)
    if path is None:
        raise ValueError(f"not a mirrored schema host: {url} (mirrored: {sorted(HOSTS)})")
    return path.read_bytes()


def _patch_requests() -> None:
    try:
        import requests
        from requests.adapters import BaseAdapter
    except ImportError:  # pragma: no cover - requests is a test dependency
        return

    class MirrorAdapter(BaseAdapter):
        """A transport adapter that answers from the local files instead of the network."""

        def send(self, request, **kwargs):
            body = read_schema(request.url)
            response = requests.Response()
            response.status_code = 200
            response.url = request.url
            response.request = request
            response.headers["Content-Type"] = "application/schema+json"
            response.raw = io.BytesIO(body)
            response._content = body
            return response

        def close(self) -> None:
            pass

    original_init = requests.Session.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        adapter = MirrorAdapter()
        for host in HOSTS:
            self.mount(f"https://{host}/", adapter)
            self.mount(f"http://{host}/", adapter)

    requests.Session.__init__ = __init__


class _MirrorHandler(urllib.request.BaseHandler):
    """urllib: answer mirrored hosts locally, let everything else through to the next handler."""

    handler_order = 100  # before the default HTTP(S) handlers (500)

    def _open(self, req: urllib.request.Request) -> urllib.response.addinfourl | None:
        url = req.full_url
        if not is_mirrored(url):
            return None
        body = read_schema(url)
        headers = email.message.Message()
        headers["Content-Type"] = "application/schema+json"
        headers["Content-Length"] = str(len(body))
        response = urllib.response.addinfourl(io.BytesIO(body), headers, url, 200)
        response.msg = "OK"  # read by urllib's HTTPErrorProcessor
        return response

    http_open = https_open = _open


def _patch_pystac() -> None:
    try:
        from pystac.stac_io import DefaultStacIO
    except ImportError:  # pragma: no cover - pystac is a dependency
        return
    original = DefaultStacIO.read_text_from_href

    def read_text_from_href(self, href: str) -> str:
        if is_mirrored(href):
            return read_schema(href).decode("utf-8")
        return original(self, href)

    DefaultStacIO.read_text_from_href = read_text_from_href


def install() -> None:
    """From now on, in this process, answer schema fetches from the local mirror (idempotent)."""
    global _installed
    if _installed:
        return
    _patch_requests()
    _patch_pystac()
    urllib.request.install_opener(urllib.request.build_opener(_MirrorHandler()))
    _installed = True
