"""STAC API upstreams through the gateway: ESA MAAP (STAC 1.1, OIDC) and Planetary Computer
(STAC 1.0, filter/sort, SAS), both emulated (`stacbridge/sandbox/stac`, synthetic bodies).

Real clients over real HTTP: pystac-client pages through MAAP-shaped items by GET and POST and
downloads a protected asset with no credentials; the data host sees a valid bearer.  The
token-lifecycle checks (refresh before expiry, a burst after expiry, rotation, SAS expiry)
drive the provider itself on a store that shares the emulators' clock, so time moves without
sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from pystac_client import Client

from stacbridge.protocols import (
    AssetRedirect,
    AssetRequest,
    ItemQuery,
    ProviderError,
)
from stacbridge.providers.stac.provider import StacUpstreamProvider
from stacbridge.store import MemoryStore
from tests.conftest import STAC_API_VALIDATOR, validate_stac

MAAP = "TropForest"  # 37 items
PC = "pc:naip"  # 23 items
GEOMETRY = {
    "type": "Polygon",
    "coordinates": [[[97.0, 20.0], [100.0, 20.0], [100.0, 25.0], [97.0, 25.0], [97.0, 20.0]]],
}


@pytest.fixture(scope="module")
def upstreams(sandbox):
    return sandbox.stac


@pytest.fixture(scope="module")
def stac_gateway(sandbox, upstreams) -> Iterator[str]:
    """A gateway federating CMR, M2M and both STAC upstreams, plus one MAAP upstream whose
    offline token is revoked (`dead:` collections)."""
    from stacbridge.app import create_app
    from stacbridge.providers.stac.config import StacSettings
    from stacbridge.sandbox.server import ServerThread

    dead = upstreams.maap_settings(id_prefix="dead:", title="MAAP with a revoked token")
    upstreams.keycloak.revoke(upstreams.offline_token)
    stac = StacSettings(
        enabled=True,
        upstreams={
            "maap": upstreams.maap_settings(),
            "pc": upstreams.pc_settings(),
            "maapdead": dead,
        },
    )
    # the gateway's store keeps the emulators' time, so tests expire tokens by moving it
    store = MemoryStore(clock=upstreams.clock)
    app = create_app(sandbox.settings(secret_keys=["stac-key"], stac=stac), store=store)
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def http(stac_gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stac_gateway, timeout=60) as client:
        yield client


def _when(index: int) -> str:
    """The emulator's datetime of item `index` (`sandbox/stac/catalogue.py`)."""
    from stacbridge.sandbox.stac.catalogue import _iso
    from stacbridge.sandbox.stac.catalogue import _when as when

    return _iso(when(index))


def _upstream_origins(upstreams) -> list[str]:
    return [upstreams.maap.url, upstreams.pc.url, upstreams.blob.url, upstreams.oidc.url]


def _all_hrefs(obj) -> list[str]:
    """Every `href` anywhere in `obj` (links, assets, next-link bodies)."""
    out = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "href" and isinstance(value, str):
                out.append(value)
            else:
                out += _all_hrefs(value)
    elif isinstance(obj, list):
        for value in obj:
            out += _all_hrefs(value)
    return out


def _assert_no_upstream(obj, upstreams, gateway: str) -> None:
    text = json.dumps(obj)
    for origin in _upstream_origins(upstreams):
        assert origin not in text, f"{origin} leaked: {text[:500]}"
    for href in _all_hrefs(obj):
        if href.startswith("http://127.0.0.1"):
            assert href.startswith(gateway), href


# ------------------------------------------------------------------ catalogue and links


def test_collections_of_both_upstreams_are_listed_with_gateway_links(http, upstreams, stac_gateway):
    listing = http.get("/collections", params={"limit": 1000}).json()
    ids = {c["id"] for c in listing["collections"]}
    assert {"TropForest", "BiomassLevel1cIOC", "pc:naip", "pc:sentinel-2-l2a"} <= ids
    assert "HLSL30.v2.0" in ids  # CMR alongside
    for cid in ("TropForest", "pc:naip"):
        collection = http.get(f"/collections/{cid}").json()
        validate_stac(collection)
        assert "auth:schemes" not in collection
        assert not any("authentication" in e for e in collection.get("stac_extensions", []))
        _assert_no_upstream(collection, upstreams, stac_gateway)
    catalog = http.get("/catalogs/maap").json()
    assert {x["href"].rsplit("/", 1)[1] for x in catalog["links"] if x["rel"] == "child"} == {
        "TropForest",
        "BiomassLevel1cIOC",
    }


def test_an_upstream_down_is_named_and_the_others_still_listed(sandbox, upstreams):
    from stacbridge.app import create_app
    from stacbridge.providers.stac.config import StacSettings
    from stacbridge.sandbox.server import ServerThread

    gone = upstreams.pc_settings(url="http://127.0.0.1:9/", id_prefix="gone:", http={"retries": 0})
    stac = StacSettings(enabled=True, upstreams={"maap": upstreams.maap_settings(), "gone": gone})
    app = create_app(sandbox.settings(secret_keys=["stac-key"], stac=stac))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        _down_and_others(http)


def _down_and_others(http: httpx.Client) -> None:
    listing = http.get("/collections", params={"limit": 1000})
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert "gone" in body["stacbridge:missing_providers"]
    assert "gone" in listing.headers["stacbridge-missing-providers"]
    ids = {c["id"] for c in body["collections"]}
    assert {"TropForest", "HLSL30.v2.0"} <= ids
    items = http.get("/collections/gone:anything/items")
    assert items.status_code == 502 and "gone" in items.json()["description"]


def test_items_pass_through_without_upstream_links_or_auth_fields(http, upstreams, stac_gateway):
    page = http.get(f"/collections/{MAAP}/items", params={"limit": 5}).json()
    _assert_no_upstream(page, upstreams, stac_gateway)
    item = page["features"][0]
    assert item["stac_version"] == "1.1.0"
    assert item["id"].startswith("AL1_OTPF_AL1_AV2_2F_")  # ids kept
    assert "auth:schemes" not in item["properties"]
    assert all("auth:refs" not in a for a in item["assets"].values())
    assert not any(link["rel"] == "alternate" for link in item["links"])  # the upstream's ATOM
    validate_stac(item)
    one = http.get(f"/collections/{MAAP}/items/{item['id']}")
    assert one.status_code == 200, one.text
    assert one.json()["assets"]["enclosure"]["href"] == item["assets"]["enclosure"]["href"]
    _assert_no_upstream(one.json(), upstreams, stac_gateway)
    pc = http.get(f"/collections/{PC}/items", params={"limit": 2}).json()["features"][0]
    assert pc["stac_version"] == "1.0.0" and pc["collection"] == PC
    assert not any(link["rel"] == "preview" for link in pc["links"])  # into the upstream
    assert any(link["rel"] == "license" for link in pc["links"])  # elsewhere: kept
    _assert_no_upstream(pc, upstreams, stac_gateway)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("collection", "total"), [(MAAP, 37), (PC, 23)])
def test_pystac_client_pages_to_the_end(stac_gateway, upstreams, method, collection, total):
    client = Client.open(stac_gateway)
    search = client.search(collections=[collection], limit=10, method=method, max_items=None)
    pages = list(search.pages_as_dicts())
    ids = [f["id"] for page in pages for f in page["features"]]
    assert len(ids) == total and len(set(ids)) == total
    assert len(pages) == -(-total // 10)
    for page in pages:
        _assert_no_upstream(page, upstreams, stac_gateway)
        nxt = [x for x in page["links"] if x["rel"] == "next"]
        if nxt:
            assert nxt[0]["href"].startswith(stac_gateway)
            assert nxt[0].get("method", "GET") == method


def test_upstream_page_limits_and_tokens_stay_behind_the_gateway(http, upstreams):
    # MAAP caps pages at 50: a gateway page of 37 is one upstream page, 200 spans them
    whole = http.get("/search", params={"collections": MAAP, "limit": 200}).json()
    assert len(whole["features"]) == 37
    assert whole["numberMatched"] == 37
    assert not any(x["rel"] == "next" for x in whole["links"])


# ------------------------------------------------------------------ conformance respected


def test_filter_the_upstream_lacks_is_evaluated_in_the_gateway(http, upstreams):
    response = http.get(
        "/search",
        params={
            "collections": MAAP,
            "filter": "start_datetime >= TIMESTAMP('2009-02-01T00:00:00Z')",
            "limit": 100,
        },
    )
    assert response.status_code == 200, response.text
    found = response.json()["features"]
    assert found and all(f["properties"]["start_datetime"] >= "2009-02-01" for f in found)
    assert len(found) == sum(1 for i in range(37) if _when(i) >= "2009-02-01")


def test_filter_the_upstream_declares_is_sent_upstream(http, upstreams):
    with httpx.Client(base_url=upstreams.pc.url) as pc:
        pc.post("/_sandbox/reset")
        body = {
            "collections": [PC],
            "limit": 50,
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]},
        }
        response = http.post("/search", json=body)
        assert response.status_code == 200, response.text
        found = response.json()["features"]
        assert found and all(f["properties"]["eo:cloud_cover"] < 30 for f in found)
        sent = [e for e in pc.get("/_sandbox/requests").json() if e["path"] == "/search"]
    assert sent and all(e["method"] == "POST" for e in sent)


def test_a_filter_the_upstream_refuses_is_evaluated_in_the_gateway(http, upstreams):
    # PC declares basic-cql2 only: LIKE is refused upstream, so the gateway asks without it
    with httpx.Client(base_url=upstreams.pc.url) as pc:
        pc.post("/_sandbox/reset")
        response = http.get(
            "/search",
            params={
                "collections": "pc:sentinel-2-l2a",
                "limit": 50,
                "filter": "platform LIKE 'Sentinel%' AND \"eo:cloud_cover\" < 20",
            },
        )
        statuses = [
            e["status"] for e in pc.get("/_sandbox/requests").json() if e["path"] == "/search"
        ]
    assert response.status_code == 200, response.text
    found = response.json()["features"]
    expected = sum(1 for i in range(23) if (i * 37) % 100 < 20)
    assert len(found) == expected and expected > 0
    assert statuses == [400, 200]


def test_sort_is_refused_where_the_upstream_cannot_and_passed_where_it_can(http):
    refused = http.get("/search", params={"collections": MAAP, "sortby": "-datetime"})
    assert refused.status_code == 400
    assert "maap" in refused.json()["description"]
    sorted_page = http.get("/search", params={"collections": PC, "sortby": "-datetime", "limit": 5})
    assert sorted_page.status_code == 200, sorted_page.text
    times = [f["properties"]["datetime"] for f in sorted_page.json()["features"]]
    assert times == sorted(times, reverse=True) and times[0] == _when(22)  # the last of 23


def test_fields_are_applied_by_the_gateway(http):
    page = http.get("/search", params={"collections": MAAP, "limit": 2, "fields": "-assets"})
    assert page.status_code == 200, page.text
    assert all("assets" not in f for f in page.json()["features"])


# ------------------------------------------------------------------ assets


def test_protected_asset_downloads_with_a_plain_get_and_range(http, upstreams):
    item = http.get(f"/collections/{MAAP}/items", params={"limit": 1}).json()["features"][0]
    href = item["assets"]["enclosure"]["href"]
    with httpx.Client(base_url=upstreams.maap.url) as maap:
        maap.post("/_sandbox/reset")
        whole = http.get(href)
        assert whole.status_code == 200, whole.text
        assert len(whole.content) == item["assets"]["enclosure"]["file:size"]
        ranged = http.get(href, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206
        assert ranged.content == whole.content[10:20]
        assert ranged.headers["content-range"] == f"bytes 10-19/{len(whole.content)}"
        stats = maap.get("/_sandbox/stats").json()
        log = maap.get("/_sandbox/requests").json()
    assert stats.get("authorized") == 2 and not stats.get("unauthorized")
    data = [e for e in log if e["path"].startswith("/data/")]
    assert all(e["headers"]["authorization"].startswith("Bearer at-") for e in data)
    assert "authorization" not in {k.lower() for k in whole.headers}


def test_a_redirect_to_a_presigned_url_is_handed_on_without_the_bearer(http, upstreams):
    items = http.get("/collections/BiomassLevel1cIOC/items", params={"limit": 1}).json()
    asset = items["features"][0]["assets"]["enclosure"]
    with httpx.Client(base_url=upstreams.blob.url) as blob:
        blob.post("/_sandbox/reset")
        answer = http.get(asset["href"], follow_redirects=False)
        assert answer.status_code == 307, answer.text
        location = answer.headers["location"]
        assert location.startswith(upstreams.blob.url + "/data/BiomassLevel1cIOC/")
        data = httpx.get(location)
        assert data.status_code == 200 and len(data.content) == asset["file:size"]
        # a HEAD is answered by the proxy itself, following the redirect
        head = http.head(asset["href"])
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == asset["file:size"]
        seen = blob.get("/_sandbox/requests").json()
    assert len(seen) == 2
    assert not any("authorization" in e["headers"] for e in seen)  # the bearer stayed home


def test_sas_asset_redirects_to_a_signed_blob_url(http, upstreams):
    item = http.get(f"/collections/{PC}/items", params={"limit": 1}).json()["features"][0]
    href = item["assets"]["B04"]["href"]
    answer = http.get(href, follow_redirects=False)
    assert answer.status_code == 307, answer.text
    location = answer.headers["location"]
    assert location.startswith(upstreams.blob.url) and "sig=" in location and "#" not in location
    blob = httpx.get(location, headers={"Range": "bytes=0-3"})
    assert blob.status_code == 206 and blob.content[:2] in (b"II", b"MM")  # a TIFF


def test_a_revoked_offline_token_is_a_502_naming_the_provider_and_no_retry_storm(http, upstreams):
    item = http.get("/collections/dead:TropForest/items", params={"limit": 1}).json()["features"][0]
    href = item["assets"]["enclosure"]["href"]
    grants = upstreams.keycloak.grants
    answers = [http.get(href) for _ in range(5)]
    assert {a.status_code for a in answers} == {502}
    message = answers[0].json()["description"]
    assert "maapdead" in message and "renew the offline token" in message
    assert upstreams.keycloak.grants - grants <= 1  # remembered: not asked again
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert "invalid_grant" in json.dumps(ready.json())
    # the other upstreams are unaffected
    assert http.get(f"/collections/{MAAP}/items", params={"limit": 1}).status_code == 200


# ------------------------------------------------------------------ token lifecycle


def _provider(upstreams, settings) -> StacUpstreamProvider:
    return StacUpstreamProvider("maap", settings, store=MemoryStore(clock=upstreams.clock))


def test_access_token_expiry_during_a_burst_of_50_downloads_costs_one_refresh(
    http, stac_gateway, upstreams
):
    item = http.get(f"/collections/{MAAP}/items", params={"limit": 1}).json()["features"][0]
    href = item["assets"]["enclosure"]["href"]
    assert http.get(href, headers={"Range": "bytes=0-9"}).status_code == 206  # a token cached
    upstreams.clock.advance(290)  # within the 30 s refresh margin of the 300 s access token
    before = upstreams.keycloak.grants

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            answers = await asyncio.gather(
                *(client.get(href, headers={"Range": "bytes=0-9"}) for _ in range(50))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert set(statuses) == {206}
    assert upstreams.keycloak.grants - before == 1  # one refresh for the whole burst


def test_a_rotated_refresh_token_is_used_for_the_next_refresh(upstreams):
    settings = upstreams.maap_settings()
    configured = settings.auth.refresh_token.get_secret_value()
    provider = _provider(upstreams, settings)

    async def twice() -> tuple[bytes | None, bytes | None]:
        tokens = provider.tokens
        assert tokens is not None
        await tokens.access_token()
        rotated = await provider.store.get(tokens.refresh_key)
        upstreams.clock.advance(400)  # the access token expired
        await tokens.access_token()  # the stale configured token would be invalid_grant
        again = await provider.store.get(tokens.refresh_key)
        await provider.aclose()
        return rotated, again

    rotated, again = asyncio.run(twice())
    assert rotated is not None and rotated.decode() != configured
    assert again is not None and again != rotated  # rotated once more, and kept


def test_sas_tokens_are_fetched_once_per_collection_and_refreshed_before_expiry(upstreams):
    provider = StacUpstreamProvider(
        "pc", upstreams.pc_settings(), store=MemoryStore(clock=upstreams.clock)
    )

    async def run() -> list[str]:
        page = await provider.search(ItemQuery(collections=("pc:naip",), limit=3), None)
        refs = [i["assets"]["B04"]["href"] for i in page.items]
        urls = []
        for ref in refs:
            answer = await provider.resolve_asset(AssetRequest(ref))
            assert isinstance(answer, AssetRedirect)
            urls.append(answer.url)
        assert provider.assets.fetches == 1  # three assets, one collection: one token
        upstreams.clock.advance(3600 - 200)  # inside the 300 s margin of the 1 h token
        answer = await provider.resolve_asset(AssetRequest(refs[0]))
        assert isinstance(answer, AssetRedirect)
        urls.append(answer.url)
        await provider.aclose()
        return urls

    urls = asyncio.run(run())
    assert provider.assets.fetches == 2
    assert urls[-1] != urls[0]
    fresh = httpx.get(urls[-1], headers={"Range": "bytes=0-1"})
    assert fresh.status_code == 206
    upstreams.clock.advance(400)  # the first token is past its msft:expiry now
    stale = httpx.get(urls[0], headers={"Range": "bytes=0-1"})
    assert stale.status_code == 403 and b"AuthenticationFailed" in stale.content


def test_client_credentials_and_invalid_client(upstreams):
    from pydantic import SecretStr

    from stacbridge.auth.oidc import OIDCError, OIDCSettings
    from stacbridge.sandbox.oidc.app import SERVICE_CLIENT

    store = MemoryStore(clock=upstreams.clock)

    async def run(secret: str) -> str:
        from stacbridge.auth.oidc import OIDCTokens

        settings = OIDCSettings(
            token_url=upstreams.token_url,
            grant="client_credentials",
            client_id=SERVICE_CLIENT[0],
            client_secret=SecretStr(secret),
        )
        async with httpx.AsyncClient() as client:
            return await OIDCTokens(settings, store, client, "svc").access_token()

    token = asyncio.run(run(SERVICE_CLIENT[1]))
    assert upstreams.keycloak.valid(token)
    with pytest.raises(OIDCError) as refused:
        asyncio.run(run("wrong-secret"))
    assert (
        refused.value.code == "invalid_client" and "client id and secret" in refused.value.message
    )


def test_an_upstream_that_is_down_is_named_and_leaves_the_others(sandbox, upstreams):
    provider = StacUpstreamProvider(
        "gone",
        upstreams.maap_settings(url="http://127.0.0.1:9/", http={"retries": 0}),
        store=MemoryStore(),
    )

    async def run() -> None:
        with pytest.raises(ProviderError) as fault:
            await provider.collection_ids()
        await provider.aclose()
        assert fault.value.provider == "gone" and fault.value.status_code == 502

    asyncio.run(run())


# ------------------------------------------------------------------ third-party judges


def test_stac_api_validator_on_a_maap_collection(stac_gateway):
    import subprocess
    import sys

    args = [
        sys.executable,
        str(STAC_API_VALIDATOR),
        "--root-url",
        stac_gateway,
        "--collection",
        MAAP,
        "--geometry",
        json.dumps(GEOMETRY),
        *("--conformance", "core", "--conformance", "collections"),
        *("--conformance", "features", "--conformance", "item-search"),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert "Errors: none" in output, output


def test_get_searches_send_filter_as_cql2_text_and_sort_as_sortby(upstreams):
    provider = StacUpstreamProvider(
        "pcget", upstreams.pc_settings(search_method="GET"), store=MemoryStore()
    )
    expr = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 40]}

    async def run() -> list[dict]:
        await provider.start()
        assert provider.capabilities.sortable == frozenset({"datetime"})
        query = ItemQuery(
            collections=("pc:naip",), limit=5, filter=expr, sortby=(("datetime", "desc"),)
        )
        found, cursor = [], None
        while True:
            page = await provider.search(query, cursor)
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
        await provider.aclose()
        return found

    with httpx.Client(base_url=upstreams.pc.url) as pc:
        pc.post("/_sandbox/reset")
        found = asyncio.run(run())
        sent = [e for e in pc.get("/_sandbox/requests").json() if e["path"] == "/search"]
    expected = [i for i in range(23) if (i * 37) % 100 < 40]
    assert [f["properties"]["datetime"] for f in found] == [_when(i) for i in reversed(expected)]
    assert all(e["method"] == "GET" and e["status"] == 200 for e in sent)
    assert "filter-lang=cql2-text" in sent[0]["query"] and "sortby=-datetime" in sent[0]["query"]
    assert len(sent) == -(-len(expected) // 5)
