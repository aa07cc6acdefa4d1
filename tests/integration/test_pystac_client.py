"""pystac-client, the way scientists use it, against the gateway on the sandbox."""

from __future__ import annotations

import warnings

import pytest
from pystac_client import Client

HLS = "HLSL30.v2.0"


@pytest.fixture(scope="module")
def client(gateway):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Client.open must not warn (conformance, links)
        return Client.open(gateway)


def test_open_and_collections(client):
    assert client.conforms_to("ITEM_SEARCH")
    collection = client.get_collection(HLS)
    assert collection.id == HLS
    first_three = []
    for item in client.get_collection(HLS).get_items():
        first_three.append(item)
        if len(first_three) == 3:
            break
    assert all(i.collection_id == HLS for i in first_three)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pages_10000_items_each_exactly_once(client, method):
    search = client.search(
        collections=[HLS],
        datetime="2019-01-01T00:00:00Z/..",
        limit=1000,
        max_items=10_000,
        method=method,
    )
    ids = [item["id"] for page in search.pages_as_dicts() for item in page["features"]]
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000


def test_item_collection_and_matched(client):
    search = client.search(
        collections=[HLS],
        bbox=[-91.7, 47.7, -90.9, 48.3],
        datetime="2024-02-11T00:00:00Z/2024-02-12T00:00:00Z",
        max_items=10,
    )
    collection = search.item_collection()
    assert len(collection) >= 1
    assert search.matched() is not None
    for item in collection:
        assert item.collection_id == HLS
