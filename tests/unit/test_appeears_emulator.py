"""The AppEEARS emulator's rules: login, token expiry (403), task validation and lifecycle."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from stacbridge.sandbox._kit import SandboxClock
from stacbridge.sandbox.appeears.app import create_appeears_app, new_state, seed_recorded_tasks

AREA = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[-105.3, 40.0], [-105.1, 40.0], [-105.1, 40.2], [-105.3, 40.2], [-105.3, 40.0]]
                ],
            },
        }
    ],
}


def task(**params):
    base = {
        "dates": [{"startDate": "06-01-2024", "endDate": "06-12-2024"}],
        "layers": [{"product": "MOD11A2.061", "layer": "LST_Day_1km"}],
        "geo": AREA,
        "output": {"format": {"type": "geotiff"}, "projection": "geographic"},
    }
    return {"task_type": "area", "task_name": "unit", "params": {**base, **params}}


@pytest.fixture
def emulator():
    clock = SandboxClock()
    state = new_state({"alice": "pw"}, clock)
    seed_recorded_tasks(state, "alice")
    client = TestClient(create_appeears_app(state, data_url="http://data.test"))
    basic = base64.b64encode(b"alice:pw").decode()
    token = client.post("/api/login", headers={"Authorization": f"Basic {basic}"}).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client, state, clock


def test_login_needs_the_right_password_and_tokens_expire_with_a_403(emulator):
    client, _, clock = emulator
    bad = base64.b64encode(b"alice:nope").decode()
    assert client.post("/api/login", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.get("/api/task").status_code == 200
    clock.advance(48 * 3600 + 1)
    assert client.get("/api/task").status_code == 403
    assert client.get("/api/product").status_code == 200  # the catalogue is public


def test_the_recorded_tasks_are_listed_newest_first(emulator):
    client, _, _ = emulator
    listed = client.get("/api/task").json()
    assert [t["status"] for t in listed] == ["done", "done", "processing", "pending"]
    assert client.get("/api/bundle/aef60357-540c-4038-b7b6-b476156618ed").json()["files"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"layers": [{"product": "MOD11A2.061", "layer": "LST_Noon"}]}, "not a valid layer"),
        (
            {"dates": [{"startDate": "01-01-1990", "endDate": "02-01-1990"}]},
            "outside of the temporal extent",
        ),
        ({"geo": {"type": "FeatureCollection", "features": []}}, "FeatureCollection of polygons"),
        ({"output": {"format": {"type": "png"}, "projection": "native"}}, "output format"),
    ],
)
def test_bad_tasks_are_refused_with_a_message(emulator, params, message):
    client, _, _ = emulator
    response = client.post("/api/task", json=task(**params))
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_a_task_goes_pending_queued_processing_done_and_yields_clipped_geotiffs(emulator):
    import rasterio

    client, state, clock = emulator
    state.durations = (10.0, 10.0, 10.0)
    task_id = client.post("/api/task", json=task()).json()["task_id"]
    assert client.get(f"/api/status/{task_id}").json()["status"] == "pending"
    clock.advance(11)
    assert client.get(f"/api/status/{task_id}").json()["status"] == "queued"
    clock.advance(15)
    processing = client.get(f"/api/status/{task_id}").json()
    assert "status" not in processing and 0 < processing["progress"]["summary"] < 100
    assert client.get(f"/api/bundle/{task_id}").status_code == 404
    clock.advance(10)
    done = client.get(f"/api/status/{task_id}", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/api/task/{task_id}"
    files = client.get(f"/api/bundle/{task_id}").json()["files"]
    tifs = [f for f in files if f["file_type"] == "tif"]
    assert [f["file_name"].rsplit("/", 1)[1] for f in tifs] == [
        "MOD11A2.061_LST_Day_1km_doy2024153_aid0001.tif",
        "MOD11A2.061_LST_Day_1km_doy2024161_aid0001.tif",
    ]
    redirect = client.get(f"/api/bundle/{task_id}/{tifs[0]['file_id']}", follow_redirects=False)
    assert redirect.status_code == 307 and "X-Amz-Signature=" in redirect.headers["location"]
    data = state.files._files[f"appeears-output/{task_id}/{tifs[0]['file_name']}"][0]
    with rasterio.MemoryFile(data) as mem, mem.open() as tif:
        left, bottom, right, top = tif.bounds
        assert (
            left >= -105.3 - 1e-9
            and right <= -105.1 + 1e-9
            and bottom >= 40.0 - 1e-9
            and top <= 40.2 + 1e-9
        )


def test_a_task_made_to_fail_reports_its_error(emulator):
    client, state, clock = emulator
    state.fail_next("boom")
    task_id = client.post("/api/task", json=task()).json()["task_id"]
    clock.advance(60)
    assert client.get(f"/api/status/{task_id}").json()["status"] == "error"
    assert client.get(f"/api/task/{task_id}").json()["error"] == "boom"
