"""Unknown query parameters are a 400 (issue 10 #8); Cache-Control on every answer (#11);
upstream error text reaches clients without its credentials (#14)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

HLS = "HLSL30.v2.0"
SECRET = "9f8e7d6c5b4a39f8e7d6c5b4a3s3cr3t"


@pytest.fixture(scope="module")
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        # `query` is the query extension now; a misspelling of it must still be refused
        ("/search", {"collections": HLS, "qeury": '{"eo:cloud_cover":{"lt":10}}'}, "'qeury'"),
        ("/search", {"colections": HLS}, "'colections'"),
        ("/collections", {"q": "HLS", "sortby": "title"}, "'sortby'"),
        (f"/collections/{HLS}/items", {"limit": 1, "f": "json"}, "'f'"),
    ],
)
def test_an_unknown_parameter_is_refused_by_name(http, path, params, unknown):
    response = http.get(path, params=params)
    assert response.status_code == 400
    description = response.json()["description"]
    assert unknown in description and "accepts:" in description
    assert response.headers["cache-control"] == "no-store"


def test_items_take_collections_naming_their_own_collection_only(http):
    """pystac-client's Collection.get_items() sends `collections=<id>` to the items route."""
    same = http.get(f"/collections/{HLS}/items", params={"collections": HLS, "limit": 1})
    assert same.status_code == 200
    other = http.get(f"/collections/{HLS}/items", params={"collections": "landsat_ot_c2_l2"})
    assert other.status_code == 400
    assert "'collections'" in other.json()["description"]


def test_post_search_takes_no_query_parameters(http):
    response = http.post("/search", params={"collections": HLS}, json={"limit": 1})
    assert response.status_code == 400
    assert "'collections'" in response.json()["description"]


def test_every_declared_parameter_still_works(http):
    params = {
        "collections": HLS,
        "limit": 1,
        "bbox": "-180,-90,180,90",
        "fields": "id",
        "datetime": "2015-01-01T00:00:00Z/..",
        "sortby": "-datetime",
        "filter-lang": "cql2-text",
        "filter": "eo:cloud_cover < 50",
    }
    assert http.get("/search", params=params).status_code == 200
    assert http.get("/collections", params={"q": "HLS", "limit": 2}).status_code == 200


def test_cors_preflight_is_unaffected(http):
    response = http.options(
        "/search?colections=x",
        headers={"Origin": "https://browser.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://browser.example")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "public, max-age=60"),
        ("/conformance", "public, max-age=60"),
        ("/collections", "public, max-age=60"),
        (f"/collections/{HLS}", "public, max-age=60"),
        ("/api", "public, max-age=60"),
        (f"/search?collections={HLS}&limit=1", "no-store"),
        (f"/collections/{HLS}/items?limit=1", "no-store"),
        ("/collections/no-such-collection", "no-store"),
        ("/assets/not-a-token", "no-store"),
        ("/healthz", "no-store"),
    ],
)
def test_cache_control_is_deliberate(http, path, expected):
    assert http.get(path).headers["cache-control"] == expected


def test_an_error_response_is_not_cached_even_on_post(http):
    response = http.post("/search", content=b"[1]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"


# --- upstream text, injected through the emulators' fault queues ------------------------------


def assert_scrubbed(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert SECRET not in response.text
    return response.json()["description"]


def test_cmr_error_text_is_quoted_without_credentials(cmr, http):
    text = (
        f"<script>alert(1)</script> bad query apiKey={SECRET}; Authorization: Bearer {SECRET} "
        f"see https://data.example/x.tif?X-Amz-Signature={SECRET}"
    )
    cmr.post(
        "/_sandbox/faults", json={"status": 400, "count": 1, "path": "granules", "errors": [text]}
    )
    response = http.get("/search", params={"collections": HLS, "limit": 1})
    assert response.status_code == 400
    description = assert_scrubbed(response)
    assert "bad query" in description and "apiKey=[redacted]" in description


def test_m2m_error_text_is_quoted_without_credentials(m2m, http):
    m2m.post(
        "/_sandbox/faults",
        json={
            "errorCode": "SEARCH_ERROR",
            "count": 1,
            "endpoint": "scene-search",
            "message": f"search failed for X-Auth-Token: {SECRET} token={SECRET}",
        },
    )
    response = http.get("/search", params={"collections": "landsat_ot_c2_l2", "limit": 1})
    assert response.status_code == 400
    description = assert_scrubbed(response)
    assert "search failed" in description


# --- found by schemathesis -------------------------------------------------------------------


def test_allow_lists_every_method_of_a_path(http):
    response = http.request("DELETE", "/search")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    "body",
    [{"filter": 0}, {"filter": 1}, {"bbox": [0, 0, 1, False]}, {"bbox": [0, 0, 1, "1"]}],
)
def test_booleans_and_strings_are_not_coerced_into_a_search(http, body):
    response = http.post("/search", json={"collections": [HLS], **body})
    assert response.status_code == 400, response.text


def test_the_openapi_document_declares_what_is_answered(http):
    document = http.get("/api").json()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
    assets = document["paths"]["/assets/{token}"]["get"]["responses"]
    assert {"202", "302", "307", "403", "410", "416"} <= set(assets)
    assert assets["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/StacError")
    assert "413" in document["paths"]["/search"]["post"]["responses"]
