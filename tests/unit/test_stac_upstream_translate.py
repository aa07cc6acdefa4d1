"""The STAC upstream translator (pure): ids, links, auth fields, next links as cursors."""

from __future__ import annotations

import pytest

from stacbridge.providers.stac import translate
from stacbridge.providers.stac.assets import SasAssets
from stacbridge.providers.stac.config import StacSettings, UpstreamSettings
from stacbridge.registry import ProviderSpec, build_plugins
from stacbridge.sandbox.stac.catalogue import MAAP, collection, maap_item
from stacbridge.store import MemoryStore

UP = "https://catalog.example.int/catalogue/"
REALM = "https://iam.example.int/realms/esa-maap"


def test_item_keeps_id_and_assets_drops_upstream_links_and_auth():
    raw = maap_item("TropForest", 3, UP, REALM)
    raw["links"].append({"rel": "license", "href": "https://elsewhere.org/terms"})
    raw["links"].append({"rel": "via", "href": "relative/page"})
    item = translate.to_item(raw, UP)
    assert item["id"] == raw["id"] and item["collection"] == "TropForest"
    assert [link["href"] for link in item["links"]] == ["https://elsewhere.org/terms"]
    assert "auth:schemes" not in item["properties"]
    assert all("auth:refs" not in a for a in item["assets"].values())
    assert not any("authentication" in e for e in item["stac_extensions"])
    assert item["assets"]["enclosure"]["href"] == raw["assets"]["enclosure"]["href"]
    assert "auth:schemes" in raw["properties"]  # the upstream's dict is not mutated


def test_prefix_applies_to_collection_ids_and_relative_asset_hrefs_become_absolute():
    raw = maap_item("TropForest", 0, UP, REALM)
    raw["assets"]["enclosure"]["href"] = "../../data/x.ZIP"
    item = translate.to_item(raw, UP, "maap:")
    assert item["collection"] == "maap:TropForest"
    assert item["assets"]["enclosure"]["href"] == UP + "collections/data/x.ZIP"
    coll = translate.to_collection(collection(MAAP, "TropForest", "T", UP, REALM), UP, "maap:")
    assert coll["id"] == "maap:TropForest"
    assert "auth:schemes" not in coll
    assert [x["rel"] for x in coll["links"]] == ["license"]
    assert translate.native_id("maap:TropForest", "maap:") == "TropForest"
    assert translate.native_id("TropForest", "maap:") is None


def test_malformed_upstream_records_are_untranslatable():
    with pytest.raises(ValueError):
        translate.to_item({"type": "Feature", "id": ""}, UP)
    with pytest.raises(ValueError):
        translate.to_collection({"type": "Collection"}, UP)
    with pytest.raises(ValueError):
        translate.to_item(["not", "an", "item"], UP)


def test_get_next_link_keeps_path_and_query_only():
    page = {"links": [{"rel": "next", "href": UP + "search?limit=5&token=abc"}]}
    assert translate.next_cursor(page, UP, None) == {
        "m": "GET",
        "h": "/catalogue/search?limit=5&token=abc",
    }
    assert translate.next_cursor({"links": [{"rel": "self", "href": UP}]}, UP, None) is None


def test_post_next_link_merges_or_replaces_the_body():
    sent = {"collections": ["a"], "limit": 5}
    merged = {"rel": "next", "href": UP + "search", "method": "POST", "body": {"token": "t"}}
    cursor = translate.next_cursor({"links": [{**merged, "merge": True}]}, UP, sent)
    assert cursor == {"m": "POST", "h": "/catalogue/search", "b": {**sent, "token": "t"}}
    cursor = translate.next_cursor({"links": [merged]}, UP, sent)
    assert cursor is not None and cursor["b"] == {"token": "t"}


def test_a_next_link_to_another_host_is_refused():
    page = {"links": [{"rel": "next", "href": "https://attacker.example/search?token=x"}]}
    with pytest.raises(ValueError, match="another host"):
        translate.next_cursor(page, UP, None)


def test_sas_reference_names_the_collection_only_for_proxied_hrefs():
    scheme = SasAssets(
        "pc",
        [".blob.core.windows.net"],
        "https://pc/api/sas/v1/token/{collection}",
        MemoryStore(),
        UpstreamSettings(url=UP).http,
        client=None,  # type: ignore[arg-type]
    )
    blob = "https://acct.blob.core.windows.net/cont/a/b.tif"
    assert scheme.reference(blob, "naip") == blob + "#collection=naip"
    assert scheme.proxies(blob + "#collection=naip")
    assert scheme.reference("https://elsewhere.org/x.tif", "naip") == "https://elsewhere.org/x.tif"
    assert scheme._token_url(blob + "#collection=naip") == (
        blob,
        "https://pc/api/sas/v1/token/naip",
    )
    by_container = SasAssets(
        "pc",
        [".blob.core.windows.net"],
        "https://pc/api/sas/v1/token/{account}/{container}",
        MemoryStore(),
        UpstreamSettings(url=UP).http,
        client=None,  # type: ignore[arg-type]
    )
    assert by_container.reference(blob, "naip") == blob
    assert by_container._token_url(blob)[1] == "https://pc/api/sas/v1/token/acct/cont"


def test_settings_refuse_bad_names_and_oidc_without_auth():
    with pytest.raises(ValueError, match="upstream name"):
        StacSettings(upstreams={"Bad Name": UpstreamSettings(url=UP)})
    with pytest.raises(ValueError, match="needs \\[auth\\]"):
        StacSettings(upstreams={"maap": UpstreamSettings(url=UP, assets={"scheme": "oidc"})})


def test_a_spec_may_build_several_providers():
    class Fake:
        roles = frozenset()

        def __init__(self, name: str) -> None:
            self.name = name

    class Section(StacSettings):
        pass

    spec = ProviderSpec("multi", "Multi", Section, lambda s, c: [Fake("a"), Fake("b")])

    class Settings:
        multi = Section(enabled=True)

    plugins = build_plugins(Settings(), MemoryStore(), [spec])  # type: ignore[arg-type]
    assert [p.name for p in plugins] == ["a", "b"]
