"""The STAC upstream provider against hand-made upstream answers (httpx.MockTransport):
collection paging, refused next links, fault mapping, conformance-driven capabilities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from stacbridge.protocols import ItemQuery, ProviderError, UpstreamRejected
from stacbridge.providers.stac.config import UpstreamSettings
from stacbridge.providers.stac.provider import StacUpstreamProvider

UP = "https://stac.example.org/api/"
CORE = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"]


def _collection(cid: str) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": cid,
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[-10, -10, 10, 10]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


def _provider(handler: Callable[[httpx.Request], httpx.Response], **extra) -> StacUpstreamProvider:
    settings = UpstreamSettings(url=UP, http={"retries": 0}, **extra)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return StacUpstreamProvider("up", settings, client=client)


def _run(coro):
    return asyncio.run(coro)


def test_collections_are_read_across_pages_and_capabilities_follow_conformance():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/":
            return httpx.Response(200, json={"conformsTo": [*CORE, "x/item-search#sort"]})
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"collections": [_collection("b")], "links": []})
        nxt = {"rel": "next", "href": UP + "collections?page=2"}
        return httpx.Response(200, json={"collections": [_collection("a")], "links": [nxt]})

    provider = _provider(handler, id_prefix="up:")

    async def run() -> None:
        await provider.start()
        assert provider.capabilities.sortable == frozenset({"datetime"})
        assert await provider.collection_ids() == ["up:a", "up:b"]
        assert provider.owns("up:zzz") and not provider.owns("a")
        assert (await provider.get_collection("up:b"))["id"] == "up:b"
        await provider.aclose()

    _run(run())


def _search_answer(links: list[dict]) -> httpx.Response:
    return httpx.Response(200, json={"type": "FeatureCollection", "features": [], "links": links})


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (httpx.Response(500), ProviderError, 502),
        (
            httpx.Response(400, json={"code": "BadRequest", "description": "bad bbox"}),
            UpstreamRejected,
            400,
        ),
        (httpx.Response(200, content=b"<html>"), ProviderError, 502),
        (httpx.Response(200, json={"type": "FeatureCollection"}), ProviderError, 502),
    ],
)
def test_upstream_faults_are_mapped_and_named(answer, error, status):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/":
            return httpx.Response(200, json={"conformsTo": CORE})
        if request.url.path == "/api/collections":
            return httpx.Response(200, json={"collections": [_collection("a")], "links": []})
        return answer

    provider = _provider(handler)

    async def run() -> None:
        with pytest.raises(error) as raised:
            await provider.search(ItemQuery(collections=("a",)), None)
        assert raised.value.provider == "up" and raised.value.status_code == status
        await provider.aclose()

    _run(run())


def test_a_next_link_to_another_host_is_a_502_not_followed():
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.path == "/api/":
            return httpx.Response(200, json={"conformsTo": CORE})
        if request.url.path == "/api/collections":
            return httpx.Response(200, json={"collections": [_collection("a")], "links": []})
        feature = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": "i",
            "collection": "a",
            "geometry": None,
            "properties": {"datetime": "2020-01-01T00:00:00Z"},
            "assets": {},
            "links": [],
        }
        nxt = {"rel": "next", "href": "https://elsewhere.example/search?token=t"}
        return httpx.Response(
            200, json={"type": "FeatureCollection", "features": [feature], "links": [nxt]}
        )

    provider = _provider(handler)

    async def run() -> None:
        with pytest.raises(ProviderError, match="another host"):
            await provider.search(ItemQuery(collections=("a",)), None)
        await provider.aclose()

    _run(run())
    assert set(hosts) == {"stac.example.org"}


def test_without_item_search_one_collection_is_read_through_its_items():
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/api/":
            return httpx.Response(200, json={"conformsTo": CORE[:1]})
        if request.url.path == "/api/collections":
            return httpx.Response(
                200, json={"collections": [_collection("a"), _collection("b")], "links": []}
            )
        return _search_answer([])

    provider = _provider(handler)

    async def run() -> None:
        page = await provider.search(ItemQuery(collections=("a",), limit=5), None)
        assert page.items == [] and page.next_cursor is None
        from stacbridge.errors import BadRequest

        with pytest.raises(BadRequest, match="one of its collections at a time"):
            await provider.search(ItemQuery(collections=("a", "b")), None)
        await provider.aclose()

    _run(run())
    assert "/api/collections/a/items" in paths and "/api/search" not in paths


def test_api_auth_sends_the_bearer_and_renews_it_once_on_a_401():
    from urllib.parse import parse_qs

    from pydantic import SecretStr

    from stacbridge.auth.oidc import OIDCSettings
    from stacbridge.sandbox.oidc.app import REALM, Keycloak

    realm = Keycloak()
    token_url = f"https://iam.example.org/realms/{REALM}/protocol/openid-connect/token"
    rejected: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == token_url:
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            answer = realm.grant(form)
            return httpx.Response(answer.status_code, content=bytes(answer.body))
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not rejected:
            rejected.add(bearer)  # the first token is refused, as a revoked session would be
        if not realm.valid(bearer) or bearer in rejected:
            return httpx.Response(401)
        if request.url.path == "/api/":
            return httpx.Response(200, json={"conformsTo": CORE})
        return httpx.Response(200, json={"collections": [_collection("a")], "links": []})

    auth = OIDCSettings(token_url=token_url, refresh_token=SecretStr(realm.issue_offline_token()))
    provider = _provider(handler, auth=auth, api_auth=True)
    assert provider.tokens is not None
    provider.tokens.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async def run() -> None:
        assert await provider.collection_ids() == ["a"]
        await provider.aclose()

    _run(run())
    assert realm.grants == 2  # the refused token was replaced once, then reused
