"""M2M scene lists in the emulator (the API a batched ids lookup relies on), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stacbridge.sandbox.edl import SandboxClock
from stacbridge.sandbox.m2m import create_m2m_app
from stacbridge.sandbox.m2m.generator import LandsatC2Scenes
from stacbridge.sandbox.m2m.scene_lists import parse_duration
from stacbridge.sandbox.server import ServerThread
from tests.unit.test_m2m_emulator import L1, L2, M2M


@pytest.fixture(scope="module")
def m2m() -> Iterator[M2M]:
    with ServerThread(create_m2m_app(clock=SandboxClock(), generated_scenes=2000)) as server:
        yield M2M(server.url)


@pytest.fixture
def key(m2m: M2M) -> str:
    return m2m.login()


@pytest.fixture(scope="module")
def scenes() -> LandsatC2Scenes:
    return LandsatC2Scenes(2000)


def test_a_scene_list_reads_every_dataset_in_one_call(m2m: M2M, key: str, scenes) -> None:
    l2 = [scenes.display_id(i, "L2") for i in (5, 9, 7)]
    l1 = [scenes.display_id(i, "L1") for i in (3,)]
    body = {"listId": "t1", "idField": "displayId", "timeToLive": "PT5M"}
    assert m2m.data("scene-list-add", {**body, "datasetName": L2, "entityIds": l2}, key) == 3
    unknown = {**body, "datasetName": L1, "entityIds": [*l1, "LC08_NOT_A_SCENE"]}
    assert m2m.data("scene-list-add", unknown, key) == 1  # ids naming no scene are skipped
    data = m2m.data("scene-metadata-list", {"listId": "t1", "metadataType": "full"}, key)
    assert set(data) == {L2, L1}
    assert [s["displayId"] for s in data[L2]] == l2  # in the order they were added
    assert [s["displayId"] for s in data[L1]] == l1
    assert data[L2][0]["metadata"]  # full metadata, as scene-metadata gives it
    only = m2m.data("scene-metadata-list", {"listId": "t1", "datasetName": L1}, key)
    assert set(only) == {L1}
    listed = m2m.data("scene-list-get", {"listId": "t1"}, key)
    assert [e["datasetName"] for e in listed] == [L2, L2, L2, L1]
    assert m2m.data("scene-list-remove", {"listId": "t1"}, key) is None
    assert m2m.data("scene-metadata-list", {"listId": "t1"}, key) == {}


def test_a_scene_list_expires_after_its_time_to_live(m2m: M2M, key: str, scenes) -> None:
    ids = [scenes.display_id(1, "L2")]
    body = {"listId": "t2", "datasetName": L2, "idField": "displayId", "entityIds": ids}
    m2m.data("scene-list-add", {**body, "timeToLive": "PT1M"}, key)
    assert m2m.data("scene-metadata-list", {"listId": "t2"}, key)
    m2m.advance(61)
    key = m2m.login()
    assert m2m.data("scene-metadata-list", {"listId": "t2"}, key) == {}


def test_scene_lists_belong_to_the_account(m2m: M2M, key: str, scenes) -> None:
    """Every process of one account sees its lists: a list id is shared state."""
    ids = [scenes.display_id(2, "L2")]
    body = {"listId": "t3", "datasetName": L2, "idField": "displayId", "entityIds": ids}
    m2m.data("scene-list-add", body, key)
    other = m2m.login()  # another API key of the same user
    assert m2m.data("scene-metadata-list", {"listId": "t3"}, other)
    m2m.data("scene-list-remove", {"listId": "t3"}, other)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"datasetName": L2, "entityIds": ["x"]}, "listId"),
        ({"listId": "t", "entityIds": ["x"]}, "datasetName"),
        ({"listId": "t", "datasetName": L2}, "entityId"),
        ({"listId": "t", "datasetName": L2, "entityIds": ["x"], "idField": "name"}, "idField"),
        ({"listId": "t", "datasetName": L2, "entityIds": ["x"], "timeToLive": "10m"}, "ISO"),
    ],
)
def test_scene_list_add_refuses_what_the_reference_does_not_allow(
    m2m: M2M, key: str, body: dict, message: str
) -> None:
    envelope = m2m.call("scene-list-add", body, key).json()
    assert envelope["errorCode"] == "INPUT_PARAMETER_INVALID"
    assert message in envelope["errorMessage"]


def test_scene_metadata_list_needs_a_list_and_a_known_metadata_type(m2m: M2M, key: str) -> None:
    assert m2m.call("scene-metadata-list", {}, key).json()["errorCode"] == "INPUT_PARAMETER_INVALID"
    bad = m2m.call("scene-metadata-list", {"listId": "t", "metadataType": "fgdc"}, key).json()
    assert bad["errorCode"] == "INPUT_PARAMETER_INVALID"


def test_durations() -> None:
    assert parse_duration("PT10M") == 600
    assert parse_duration("P1DT1H") == 90000
    assert parse_duration("PT0.5S") == 0.5
