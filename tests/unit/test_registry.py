"""The provider seam: discovery, settings sections, lifecycle and collection routing."""

from __future__ import annotations

import pytest

from stacbridge.config import load_settings, settings_model
from stacbridge.protocols import CollectionNotFound, ProviderError
from stacbridge.registry import ConfigurationError, Registry, build_plugins, discover
from stacbridge.store import MemoryStore
from tests.toy_provider import SPEC as TOY
from tests.toy_provider.config import ToySettings
from tests.toy_provider.provider import ToyCatalog


def test_the_built_in_providers_are_found_through_entry_points():
    names = [spec.name for spec in discover()]
    assert {"cmr", "m2m"} <= set(names)
    assert names == sorted(names)


def test_each_provider_owns_a_settings_section_configured_by_env(monkeypatch):
    monkeypatch.setenv("STACBRIDGE_TOY__ITEMS", "7")
    monkeypatch.setenv("STACBRIDGE_TOY__COLLECTION", "toy-env")
    settings = load_settings(discover(extra=[TOY]))
    assert isinstance(settings.toy, ToySettings)  # type: ignore[attr-defined]
    assert settings.toy.items == 7  # type: ignore[attr-defined]
    assert "toy" not in settings_model(discover()).model_fields


def test_a_missing_config_file_is_an_error_not_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("STACBRIDGE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings()


def test_disabled_sections_build_nothing():
    settings = load_settings(discover(extra=[TOY]), toy=ToySettings(enabled=False))
    names = [p.name for p in build_plugins(settings, MemoryStore(), [TOY])]
    assert names == []
    settings = load_settings(discover(extra=[TOY]))
    assert [p.name for p in build_plugins(settings, MemoryStore(), [TOY])] == ["toy"]


async def test_start_and_close_reach_every_provider_and_build_the_table():
    toy = ToyCatalog(ToySettings())
    registry = Registry([toy])
    await registry.start()
    assert toy.started
    assert await registry.catalog_for("toy-grid") is toy
    await registry.aclose()
    assert toy.closed


async def test_a_collection_served_twice_stops_the_start():
    first = ToyCatalog(ToySettings(), name="first")
    second = ToyCatalog(ToySettings(), name="second")
    with pytest.raises(ConfigurationError, match="'toy-grid' is served by both first and second"):
        await Registry([first, second]).start()


def test_two_providers_with_one_name_are_refused():
    with pytest.raises(ConfigurationError, match="two providers are named toy"):
        Registry([ToyCatalog(ToySettings()), ToyCatalog(ToySettings())])


async def test_ids_the_table_does_not_know_are_routed_by_syntax_then_by_asking():
    first = ToyCatalog(ToySettings(collection="toy-a"), name="first")
    second = ToyCatalog(ToySettings(collection="toy-b"), name="second")
    registry = Registry([first, second])  # not started: the table is empty
    # both claim the `toy-` syntax: the registry asks them who has it
    assert await registry.catalog_for("toy-b") is second
    with pytest.raises(CollectionNotFound):
        await registry.catalog_for("toy-c")
    with pytest.raises(CollectionNotFound):
        await registry.catalog_for("not-a-toy-id")


async def test_an_id_two_upstreams_serve_at_run_time_is_a_provider_error():
    first = ToyCatalog(ToySettings(collection="toy-a"), name="first")
    second = ToyCatalog(ToySettings(collection="toy-a"), name="second")
    with pytest.raises(ProviderError, match="served by both"):
        await Registry([first, second]).catalog_for("toy-a")


async def test_a_listing_that_fails_at_start_does_not_stop_the_gateway():
    class Down(ToyCatalog):
        async def collection_ids(self) -> list[str]:
            raise ProviderError("down", "upstream unreachable")

    down = Down(ToySettings(), name="down")
    registry = Registry([down])
    await registry.start()
    assert await registry.catalog_for("toy-grid") is down  # routed by syntax


def test_an_unknown_or_retired_settings_key_is_an_error(tmp_path, monkeypatch):
    config = tmp_path / "old.toml"
    config.write_text('[cmr]\nedl_token = "moved to [earthdata] token"\n')
    monkeypatch.setenv("STACBRIDGE_CONFIG", str(config))
    with pytest.raises(ValueError, match="edl_token"):
        load_settings()
