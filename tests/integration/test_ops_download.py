"""`stacbridge download` against the sandbox gateway: items, searches, resume, checksums, orders."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from stacbridge.cli import app
from stacbridge.sandbox.server import ServerThread

HLS = "HLSL30.v2.0"
HLS_ITEM = "HLS.L30.T15UXP.2024042T165831.v2.0"
L2 = "landsat_ot_c2_l2"

runner = CliRunner()


def item_url(gateway: str) -> str:
    return f"{gateway}/collections/{HLS}/items/{HLS_ITEM}"


def fetch(href: str) -> bytes:
    response = httpx.get(href, follow_redirects=True, timeout=60)
    assert response.status_code == 200
    return response.content


@pytest.fixture
def static_item():
    """Serves a hand-edited item (e.g. with file:checksum) whose hrefs still go to the gateway."""
    holder: dict = {}

    async def item(request):
        return JSONResponse(holder["item"], media_type="application/geo+json")

    with ServerThread(Starlette(routes=[Route("/item.json", item)])) as server:

        def serve(body: dict) -> str:
            holder["item"] = body
            return f"{server.url}/item.json"

        yield serve


def test_downloads_two_assets_of_an_hls_item(gateway, tmp_path):
    result = runner.invoke(
        app,
        [
            "download",
            item_url(gateway),
            "-o",
            str(tmp_path),
            "--asset",
            "B04",
            "--asset",
            "Fmask",
            "--parallel",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / HLS_ITEM
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{HLS_ITEM}.B04.tif", f"{HLS_ITEM}.Fmask.tif"]
    item = httpx.get(item_url(gateway), timeout=60).json()
    assert (folder / names[0]).read_bytes() == fetch(item["assets"]["B04"]["href"])
    assert (folder / names[0]).read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
    assert "2 of 2 files downloaded" in result.output


def test_dry_run_lists_without_fetching(gateway, tmp_path):
    result = runner.invoke(app, ["download", item_url(gateway), "-o", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith(HLS_ITEM)]
    assert len(lines) == 15  # the data assets (not metadata or thumbnails)
    assert any("  B04  -> " in line for line in lines)
    assert not any(tmp_path.iterdir())


def test_a_partial_file_is_resumed_with_a_range_request(sandbox, gateway, tmp_path):
    item = httpx.get(item_url(gateway), timeout=60).json()
    full = fetch(item["assets"]["B05"]["href"])
    folder = tmp_path / HLS_ITEM
    folder.mkdir()
    part = folder / f"{HLS_ITEM}.B05.tif.part"
    part.write_bytes(full[:12345])  # what an interrupted run left behind
    s3 = sandbox.earthdata.s3.url
    httpx.post(f"{s3}/_sandbox/reset", timeout=10)
    result = runner.invoke(app, ["download", item_url(gateway), "-o", str(tmp_path), "-a", "B05"])
    assert result.exit_code == 0, result.output
    assert (folder / f"{HLS_ITEM}.B05.tif").read_bytes() == full
    assert not part.exists()
    gets = [
        e
        for e in httpx.get(f"{s3}/_sandbox/requests", timeout=10).json()
        if e["method"] == "GET" and e["path"].endswith("B05.tif")
    ]
    assert [e["range"] for e in gets] == ["bytes=12345-"]
    assert gets[0]["status"] == 206 and gets[0]["bytes"] == len(full) - 12345
    assert "resumed at 12345" in result.output


def test_checksums_are_verified(gateway, tmp_path, static_item):
    item = httpx.get(item_url(gateway), timeout=60).json()
    good = hashlib.sha256(fetch(item["assets"]["B02"]["href"])).hexdigest()
    item["assets"]["B02"]["file:checksum"] = "1220" + good
    item["assets"]["B03"]["file:checksum"] = "d50110" + "0" * 32  # wrong md5
    url = static_item(item)
    result = runner.invoke(app, ["download", url, "-o", str(tmp_path), "-a", "B02", "-a", "B03"])
    assert result.exit_code == 1, result.output
    folder = tmp_path / HLS_ITEM
    assert (folder / f"{HLS_ITEM}.B02.tif").exists()
    assert not (folder / f"{HLS_ITEM}.B03.tif").exists()
    assert not (folder / f"{HLS_ITEM}.B03.tif.part").exists()  # wrong bytes are not kept
    failed = [line for line in result.output.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "checksum mismatch" in failed[0] and "B03" in failed[0]
    assert "checksum ok" in result.output
    # a second run skips the verified file and fails the bad one again
    again = runner.invoke(app, ["download", url, "-o", str(tmp_path), "-a", "B02"])
    assert again.exit_code == 0 and "skipped" in again.output


def test_an_m2m_bundle_waits_for_its_order(gateway, tmp_path, static_item):
    """The bundle answers 202 (being prepared) first, then 302 to the file."""
    since = "2019-03-01T00:00:00Z"
    scenes = httpx.get(
        f"{gateway}/collections/{L2}/items",
        params={"limit": 12, "datetime": f"{since}/.."},
        timeout=60,
    ).json()
    for scene in scenes["features"]:
        first = httpx.get(scene["assets"]["bundle"]["href"], timeout=60)
        if first.status_code == 202:
            break
        assert first.status_code == 302
    else:
        pytest.fail("no preparing bundle among 12 scenes")
    url = f"{gateway}/collections/{L2}/items/{scene['id']}"
    started = time.monotonic()
    result = runner.invoke(
        app, ["download", url, "-o", str(tmp_path), "-a", "bundle", "--order-timeout", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "waiting" in result.output and "pending" in result.output
    files = list((tmp_path / scene["id"]).iterdir())
    assert len(files) == 1 and files[0].stat().st_size > 0
    files[0].unlink()  # the sandbox's bundles are real-sized (about a gigabyte)
    assert time.monotonic() - started < 60


def test_a_search_url_follows_next_links(gateway, tmp_path):
    url = f"{gateway}/search?collections={HLS}&limit=2"
    result = runner.invoke(
        app, ["download", url, "-o", str(tmp_path), "-a", "Fmask", "--dry-run", "--max-items", "5"]
    )
    assert result.exit_code == 0, result.output
    listed = [line for line in result.stdout.splitlines() if "  Fmask  -> " in line]
    assert len(listed) == 5  # three pages of 2, cut at --max-items
    assert len({line.split()[0] for line in listed}) == len(listed)


def test_usage_errors_exit_2_and_failures_exit_1(gateway, tmp_path, static_item):
    not_stac = runner.invoke(app, ["download", f"{gateway}/conformance", "-o", str(tmp_path)])
    assert not_stac.exit_code == 2
    assert "neither a STAC Item" in not_stac.output
    assert len(not_stac.output.strip().splitlines()) == 1
    assert runner.invoke(app, ["download", "ftp://x/y"]).exit_code == 2
    item = httpx.get(item_url(gateway), timeout=60).json()
    item["assets"]["B04"]["href"] = f"{gateway}/assets/not-a-token/x.tif"
    bad = runner.invoke(app, ["download", static_item(item), "-o", str(tmp_path), "-a", "B04"])
    assert bad.exit_code == 1
    assert "403" in bad.output


def test_search_accepts_dates_and_leaves_no_partial_file(gateway, tmp_path):
    out = tmp_path / "items.json"
    ok = runner.invoke(
        app,
        [
            "search",
            gateway,
            "-c",
            HLS,
            "--datetime",
            "2024-01-01/2024-06-30",
            "--max-items",
            "3",
            "-o",
            str(out),
        ],
    )
    assert ok.exit_code == 0, ok.output
    features = json.loads(out.read_text())["features"]
    assert len(features) == 3
    assert all("2024-01-01" <= f["properties"]["datetime"][:10] <= "2024-06-30" for f in features)
    failing = tmp_path / "fail.json"
    bad = runner.invoke(app, ["search", gateway, "-c", HLS, "--bbox", "1,2,3", "-o", str(failing)])
    assert bad.exit_code == 1
    assert not failing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.json"]  # no temp file left
