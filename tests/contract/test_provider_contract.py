"""What every registered provider must do through the gateway, whatever it translates.

Parametrised over the providers the registry finds (the built-in ones and the toy third-party
one), so a new provider is held to the same contract the day its entry point is added.
"""

from __future__ import annotations

import httpx
import pytest

from stacbridge.providers.appeears import SPEC as APPEEARS_SPEC
from stacbridge.providers.egi import SPEC as EGI_SPEC
from stacbridge.registry import discover
from tests.conftest import validate_stac
from tests.contract.conftest import TOY_ENTRY_POINT

#: built-in providers (entry points of this package, AppEEARS's even where the installed
#: metadata predates it) plus the toy one the fixture installs.
#: The `stac` spec builds one provider per configured upstream: the sandbox's two stand in.
STAC_UPSTREAMS = {"maap", "pc"}
#: item decorators own no collections: they are held to the decorator contract below instead,
#: each with a collection it decorates in the sandbox.
DECORATORS = {"egi": "NLDAS_NOAH0125_H.v002"}
PROVIDERS = sorted(
    ({s.name for s in discover(extra=[APPEEARS_SPEC, EGI_SPEC])} - set(DECORATORS) - {"stac"})
    | STAC_UPSTREAMS
    | {TOY_ENTRY_POINT.split(" ")[0]}
)

#: how many collections of each provider are checked in depth.
SAMPLE = 3


@pytest.fixture(scope="module")
def http(contract_gateway: str):
    with httpx.Client(base_url=contract_gateway, timeout=120) as client:
        yield client


def _collection_ids(http: httpx.Client, provider: str) -> list[str]:
    catalog = http.get(f"/catalogs/{provider}")
    assert catalog.status_code == 200, catalog.text
    return [x["href"].rsplit("/", 1)[1] for x in catalog.json()["links"] if x["rel"] == "child"]


def _collection_with_items(http: httpx.Client, provider: str) -> str:
    for cid in _collection_ids(http, provider)[:10]:
        page = http.get(f"/collections/{cid}/items", params={"limit": 1}).json()
        if page.get("features"):
            return cid
    pytest.fail(f"{provider}: none of its first collections has items")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_is_registered_and_listed(http, provider):
    # provider catalogs are `related` links of the root (as `child` they doubled collections)
    related = [
        x["href"].rsplit("/", 1)[1] for x in http.get("/").json()["links"] if x["rel"] == "related"
    ]
    assert provider in related
    assert _collection_ids(http, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_collections_validate_and_ids_are_unique_and_stable(http, provider):
    first = _collection_ids(http, provider)
    assert len(first) == len(set(first))
    assert _collection_ids(http, provider) == first
    for cid in first[:SAMPLE]:
        response = http.get(f"/collections/{cid}")
        assert response.status_code == 200, response.text
        collection = response.json()
        assert collection["id"] == cid
        validate_stac(collection)
        rels = {x["rel"] for x in collection["links"]}
        assert {"self", "root", "parent", "items", "queryables"} <= rels


def test_collection_ids_never_collide_across_providers(http):
    seen: dict[str, str] = {}
    for provider in PROVIDERS:
        for cid in _collection_ids(http, provider):
            assert cid not in seen, f"{cid} served by {seen[cid]} and {provider}"
            seen[cid] = provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_paging_returns_every_item_once_in_the_same_order(http, provider):
    cid = _collection_with_items(http, provider)
    whole = http.get(f"/collections/{cid}/items", params={"limit": 21}).json()["features"]
    ids: list[str] = []
    url, params = f"/collections/{cid}/items", {"limit": 7}
    for _ in range(3):
        page = http.get(url, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [f["id"] for f in body["features"]]
        nxt = next((x for x in body["links"] if x["rel"] == "next"), None)
        if nxt is None:
            break
        assert body["features"], "a page with a next link must not be empty"
        url, params = nxt["href"], None
    assert len(ids) == len(set(ids))
    assert ids == [f["id"] for f in whole][: len(ids)]
    for feature in whole[:SAMPLE]:
        validate_stac(feature)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_collection_and_item_are_404(http, provider):
    cid = _collection_with_items(http, provider)
    missing_item = http.get(f"/collections/{cid}/items/no-such-item-0000")
    assert missing_item.status_code == 404, missing_item.text
    assert missing_item.json()["code"] == "NotFound"
    for path in (
        "/collections/no-such-collection.v9",
        "/collections/toy-nothing",
        "/collections/no_such_dataset/items",
    ):
        response = http.get(path)
        assert response.status_code == 404, (path, response.text)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_data_assets_go_through_the_proxy(http, contract_gateway, provider):
    cid = _collection_with_items(http, provider)
    item = http.get(f"/collections/{cid}/items", params={"limit": 1}).json()["features"][0]
    data = {k: a for k, a in item["assets"].items() if "data" in a.get("roles", [])}
    assert data, f"{provider}: an item without data assets"
    for asset in data.values():
        assert asset["href"].startswith(f"{contract_gateway}/assets/"), asset["href"]
    href = next(iter(data.values()))["href"]
    response = http.head(href)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_queryables_are_served(http, contract_gateway, provider):
    cid = _collection_ids(http, provider)[0]
    response = http.get(f"/collections/{cid}/queryables")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["$id"] == f"{contract_gateway}/collections/{cid}/queryables"
    assert "properties" in schema


@pytest.mark.parametrize(("decorator", "collection"), sorted(DECORATORS.items()))
def test_a_decorator_adds_signed_assets_listed_in_item_assets(http, decorator, collection):
    described = http.get(f"/collections/{collection}").json()
    validate_stac(described)
    page = http.get(f"/collections/{collection}/items", params={"limit": 1}).json()
    item = page["features"][0]
    validate_stac(item)
    added = {k for k in item["assets"] if k in described.get("item_assets", {})}
    assert added, "the decorator added no asset that item_assets describes"
    for key in added:
        href = item["assets"][key]["href"]
        assert "/assets/" in href and "stacbridge:source" not in item["assets"][key]
    # a HEAD never places an order upstream: an ordered asset is described as orderable
    ordered = [k for k in added if "order" in item["assets"][k].get("roles", [])]
    if ordered:
        head = http.head(item["assets"][ordered[0]]["href"])
        assert head.status_code == 202
