"""What one search may cost the upstreams: id lookups are batched and the ids are bounded.

Counts come from the emulators' own request logs, i.e. what the gateway really sent.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

L2, L1 = "landsat_ot_c2_l2", "landsat_ot_c2_l1"
HLS = "HLSL30.v2.0"
WINDOW = "2014-01-01T00:00:00Z/2014-03-01T00:00:00Z"


def _ids(gateway: str, collection: str, n: int, window: str = WINDOW) -> list[str]:
    response = httpx.get(
        f"{gateway}/search",
        params={"collections": collection, "limit": n, "datetime": window},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    ids = [f["id"] for f in response.json()["features"]]
    assert len(ids) == n
    return ids


def _m2m_calls(m2m: httpx.Client) -> Counter[str]:
    return Counter(
        str(e.get("endpoint"))
        for e in m2m.get("/_sandbox/requests").json()
        if e.get("endpoint") and e["endpoint"] != "login-token"
    )


def test_300_ids_over_two_m2m_datasets_cost_a_fixed_handful_of_calls(gateway, m2m):
    wanted = _ids(gateway, L2, 150) + _ids(gateway, L1, 150)
    m2m.delete("/_sandbox/requests")
    response = httpx.post(
        f"{gateway}/search",
        json={"collections": [L2, L1], "ids": wanted, "limit": 300},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    found = [f["id"] for f in response.json()["features"]]
    assert sorted(found) == sorted(wanted)
    assert all(f["assets"] for f in response.json()["features"])
    calls = _m2m_calls(m2m)
    # was 600 scene-metadata + 300 download-options; now 2 scene-list-add (one per dataset),
    # 1 scene-metadata-list, 2 download-options, 1 scene-list-remove
    assert calls["scene-metadata"] == 0
    assert calls == Counter(
        {
            "scene-list-add": 2,
            "scene-metadata-list": 1,
            "download-options": 2,
            "scene-list-remove": 1,
        }
    )


def test_an_ids_lookup_leaves_no_scene_list_on_the_account(gateway, m2m, sandbox):
    wanted = _ids(gateway, L2, 3)
    m2m.delete("/_sandbox/requests")
    response = httpx.get(
        f"{gateway}/search", params={"collections": L2, "ids": ",".join(wanted)}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert [f["id"] for f in response.json()["features"]] == wanted
    added = [
        e for e in m2m.get("/_sandbox/requests").json() if e.get("endpoint") == "scene-list-add"
    ]
    removed = [
        e for e in m2m.get("/_sandbox/requests").json() if e.get("endpoint") == "scene-list-remove"
    ]
    assert added and removed
    assert {e["body"]["listId"] for e in added} == {e["body"]["listId"] for e in removed}


def test_one_id_is_one_scene_metadata_per_dataset(gateway, m2m):
    wanted = _ids(gateway, L2, 1)
    m2m.delete("/_sandbox/requests")
    response = httpx.get(f"{gateway}/collections/{L2}/items/{wanted[0]}", timeout=60)
    assert response.status_code == 200, response.text
    assert _m2m_calls(m2m) == Counter({"scene-metadata": 1, "download-options": 1})


def test_300_ids_over_a_cmr_collection_are_one_granule_search(gateway, cmr):
    wanted = _ids(gateway, HLS, 300, "2024-01-01T00:00:00Z/2024-03-01T00:00:00Z")
    cmr.delete("/_sandbox/requests")
    response = httpx.post(
        f"{gateway}/search", json={"collections": [HLS], "ids": wanted, "limit": 300}, timeout=120
    )
    assert response.status_code == 200, response.text
    assert sorted(f["id"] for f in response.json()["features"]) == sorted(wanted)
    searches = [
        r
        for r in cmr.get("/_sandbox/requests").json()["requests"]
        if r["path"].endswith("granules.umm_json")
    ]
    assert len(searches) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_more_ids_than_the_limit_is_a_400_naming_it(gateway, m2m, method):
    m2m.delete("/_sandbox/requests")
    ids = [f"LC08_L2SP_000000_20140101_20200101_02_T{n}" for n in range(501)]
    if method == "GET":
        response = httpx.get(
            f"{gateway}/search", params={"collections": L2, "ids": ",".join(ids)}, timeout=60
        )
    else:
        response = httpx.post(
            f"{gateway}/search", json={"collections": [L2], "ids": ids}, timeout=60
        )
    assert response.status_code == 400, response.text
    assert "at most 500" in response.json()["description"]
    assert "max_ids" in response.json()["description"]
    assert not _m2m_calls(m2m)


def test_a_filter_naming_more_ids_than_the_limit_is_a_400(gateway):
    ids = ", ".join(f"'x{n}'" for n in range(501))
    response = httpx.get(
        f"{gateway}/search",
        params={"collections": L2, "filter": f"id IN ({ids})", "filter-lang": "cql2-text"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert "at most 500" in response.json()["description"]


# -- CMR's paging cursor -------------------------------------------------------------------------
HLS_WINDOW = "2024-01-01T00:00:00Z/2024-03-01T00:00:00Z"


@pytest.mark.parametrize("garbage", ["garbage", "{}", "[]", "x" * 5000])
def test_a_cmr_search_after_that_is_not_a_json_array_is_cmrs_502(gateway, cmr, garbage):
    cmr.post(
        "/_sandbox/faults",
        json={"path": "granules", "count": 1, "headers": {"cmr-search-after": garbage}},
    )
    response = httpx.get(
        f"{gateway}/search",
        params={"collections": HLS, "limit": 2, "datetime": HLS_WINDOW},
        timeout=60,
    )
    assert response.status_code == 502, response.text
    assert "CMR-Search-After" in response.json()["description"]
    assert "cmr" in response.text.lower()


def test_cmr_refusing_the_cursor_it_sent_is_its_502_not_the_clients_400(gateway, cmr):
    # a JSON array CMR will not take back (its sort has more values than this)
    cmr.post(
        "/_sandbox/faults",
        json={"path": "granules", "count": 1, "headers": {"cmr-search-after": '["x"]'}},
    )
    first = httpx.get(
        f"{gateway}/search",
        params={"collections": HLS, "limit": 2, "datetime": HLS_WINDOW},
        timeout=60,
    )
    assert first.status_code == 200, first.text
    nxt = next(link["href"] for link in first.json()["links"] if link["rel"] == "next")
    second = httpx.get(nxt, timeout=60)
    assert second.status_code == 502, second.text
    assert "CMR" in second.json()["description"]
    sent = [
        r
        for r in cmr.get("/_sandbox/requests").json()["requests"]
        if r["path"].endswith("granules.umm_json")
    ]
    assert sent[-1]["cmr_search_after"] == '["x"]' and sent[-1]["status"] == 400
    # CMR refusing a first page (no cursor sent) is still the client's query at fault: a 400
    cmr.post(
        "/_sandbox/faults",
        json={"path": "granules", "count": 1, "status": 400, "errors": ["bad parameter"]},
    )
    bad = httpx.get(
        f"{gateway}/search",
        params={"collections": HLS, "limit": 2, "datetime": HLS_WINDOW},
        timeout=60,
    )
    assert bad.status_code == 400, bad.text


# -- free-text q over CMR and M2M ----------------------------------------------------------------
def _listing(gateway: str, q: str) -> dict:
    response = httpx.get(f"{gateway}/collections", params={"q": q, "limit": 500}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "stacbridge:missing_providers" not in body, body["stacbridge:missing_providers"]
    return body


def test_q_terms_are_ored_and_cmr_is_asked_once_per_term(gateway, cmr):
    cmr.delete("/_sandbox/requests")
    both = {c["id"] for c in _listing(gateway, "ocean,coast")["collections"]}
    sent = [
        r["form"]
        for r in cmr.get("/_sandbox/requests").json()["requests"]
        if r["path"].endswith("collections.umm_json")
    ]
    assert sent and all(form.count("keyword=") == 1 for form in sent)
    ocean = {c["id"] for c in _listing(gateway, "ocean")["collections"]}
    coast = {c["id"] for c in _listing(gateway, "coast")["collections"]}
    assert ocean and coast
    assert both == ocean | coast


def test_a_q_term_of_several_words_is_a_phrase(gateway, cmr):
    cmr.delete("/_sandbox/requests")
    found = {c["id"] for c in _listing(gateway, "sea surface temperature")["collections"]}
    sent = [r["form"] for r in cmr.get("/_sandbox/requests").json()["requests"]]
    assert any("keyword=%22sea+surface+temperature%22" in form for form in sent), sent
    assert "MUR-JPL-L4-GLOB-v4.1.v4.1" in found
    # the same words in another order are another phrase
    assert found != {c["id"] for c in _listing(gateway, "temperature surface sea")["collections"]}


def test_m2m_q_means_what_it_means_for_cmr_whole_words(gateway):
    assert {c["id"] for c in _listing(gateway, "landsat")["collections"]} >= {L2, L1}
    assert not {L2, L1} & {c["id"] for c in _listing(gateway, "lands")["collections"]}


# -- M2M's answers are decoded by msgspec: junk of every kind is still M2M's 502 -------------------
@pytest.mark.parametrize("body", ["[" * 100_000, '{"data": 1e999, "errorCode": null}', "\xff"])
def test_an_undecodable_m2m_answer_is_its_502(gateway, m2m, body):
    m2m.post("/_sandbox/faults", json={"endpoint": "scene-search", "count": 1, "body": body})
    response = httpx.get(f"{gateway}/collections/{L2}/items", params={"limit": 2}, timeout=60)
    assert response.status_code == 502, response.text
    assert response.json()["provider"] == "m2m"


def test_the_max_ids_setting_is_the_limit_the_api_applies(sandbox, m2m):
    from stacbridge.app import create_app
    from stacbridge.sandbox.server import ServerThread

    app = create_app(sandbox.settings(secret_keys=["k"], max_ids=3))
    with ServerThread(app) as server:
        ids = ["a", "b", "c", "d"]
        for response in (
            httpx.get(f"{server.url}/search", params={"ids": ",".join(ids)}, timeout=60),
            httpx.post(f"{server.url}/search", json={"ids": ids}, timeout=60),
        ):
            assert response.status_code == 400, response.text
            assert "at most 3" in response.json()["description"]
