"""The command line against the sandbox: `providers` and `search`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stacbridge.cli import app

runner = CliRunner()


def test_providers_reports_each_provider(sandbox, monkeypatch):
    for key, value in sandbox.environment().items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "ok" in lines["cmr"] and "ok" in lines["m2m"]


def test_providers_fails_clearly_when_a_provider_is_down(sandbox, monkeypatch):
    for key, value in sandbox.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STACBRIDGE_CMR__URL", "http://127.0.0.1:9/search")
    monkeypatch.setenv("STACBRIDGE_CMR__HTTP__RETRIES", "0")
    result = runner.invoke(app, ["providers"])
    assert result.exit_code == 1
    assert "FAILED" in result.output


def test_search_writes_ndjson_following_next_links(gateway, tmp_path):
    out = tmp_path / "items.ndjson"
    result = runner.invoke(
        app,
        [
            "search",
            gateway,
            "-c",
            "HLSL30.v2.0",
            "--limit",
            "7",
            "--max-items",
            "20",
            "--ndjson",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(items) == 20 and len({i["id"] for i in items}) == 20


def test_search_errors_are_one_line_and_exit_1(gateway):
    result = runner.invoke(app, ["search", gateway, "-c", "HLSL30.v2.0", "--bbox", "1,2,3"])
    assert result.exit_code == 1
    assert "400" in result.output and "bbox" in result.output.lower()
    assert len(result.output.strip().splitlines()) == 1
