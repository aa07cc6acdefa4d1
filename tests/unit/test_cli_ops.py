"""The command line's own behaviour, without a gateway: config check, dates, --config, help,
and that `stacbridge serve` starts without stac-fastapi's misleading warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from stacbridge.cli import app, normalise_datetime
from stacbridge.sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env():
    """No STACBRIDGE_* from outside; and none left behind (commands set STACBRIDGE_CONFIG
    and the sandbox's variables in os.environ, as they must for uvicorn's workers)."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("STACBRIDGE_"):
            del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_config_check_prints_effective_settings_with_secrets_masked(tmp_path, monkeypatch):
    config = tmp_path / "stacbridge.toml"
    config.write_text(
        'secret_keys = ["very-secret-key"]\n'
        'store_url = "redis://:redis-pass@cache:6379/0"\n'
        '[earthdata]\nusername = "me"\npassword = "edl-pass"\n'
        '[m2m]\nenabled = true\nusername = "u"\ntoken = "m2m-token"\n'
    )
    monkeypatch.setenv("STACBRIDGE_MAX_LIMIT", "500")  # the environment counts too
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    effective = json.loads(result.stdout)
    assert effective["max_limit"] == 500
    assert effective["earthdata"]["username"] == "me"
    assert effective["earthdata"]["password"] == "**********"
    assert effective["m2m"]["token"] == "**********"
    assert effective["secret_keys"] == ["**********"]
    assert effective["store_url"] == "redis://:**********@cache:6379/0"
    for secret in ("very-secret-key", "redis-pass", "edl-pass", "m2m-token"):
        assert secret not in result.output
    assert "AppEEARS" not in effective["description"]  # only installed providers


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[earthdata]\nbogus = 1\n", "earthdata.bogus"),
        ("max_limit = 'many'\n", "max_limit"),
        ("bogus_top_level = 1\n", "unknown setting bogus_top_level"),
        ("this is = = not toml\n", "not valid TOML"),
    ],
)
def test_config_check_rejects_bad_files_with_exit_2(tmp_path, body, message):
    config = tmp_path / "bad.toml"
    config.write_text(body)
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize("command", [["config", "check"], ["providers"], ["serve"]])
def test_a_missing_config_file_is_an_error_everywhere(command):
    result = runner.invoke(app, [*command, "--config", "/nonexistent.toml"])
    assert result.exit_code == 2
    assert "config file not found: /nonexistent.toml" in result.output


def test_a_missing_config_from_the_environment_is_an_error(monkeypatch):
    monkeypatch.setenv("STACBRIDGE_CONFIG", "/nonexistent.toml")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2 and "/nonexistent.toml" in result.output


def test_dates_are_normalised_as_pystac_client_does():
    assert normalise_datetime("2024-01-01/2024-06-30") == (
        "2024-01-01T00:00:00Z/2024-06-30T23:59:59Z"
    )
    assert normalise_datetime("2024-02") == "2024-02-01T00:00:00Z/2024-02-29T23:59:59Z"
    assert normalise_datetime("2023") == "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z"
    assert normalise_datetime("../2020-05-01") == "../2020-05-01T23:59:59Z"
    assert normalise_datetime("2024-01-01T10:00:00Z") == "2024-01-01T10:00:00Z"
    assert normalise_datetime("2024-01-01T10:00:00/..") == "2024-01-01T10:00:00Z/.."
    assert normalise_datetime("2024-01-01T10:00:00+02:00") == "2024-01-01T10:00:00+02:00"
    with pytest.raises(ValueError):
        normalise_datetime("2024-13-01")
    with pytest.raises(ValueError):
        normalise_datetime("yesterday")


def test_bad_datetime_is_a_usage_error():
    result = runner.invoke(app, ["search", "http://127.0.0.1:9", "--datetime", "2024-02-30"])
    assert result.exit_code == 2 and "--datetime" in result.output


def test_help_lists_only_installed_providers():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(f"{name}," in result.output for name in ("cmr", "egi")) and "m2m" in result.output
    assert "AppEEARS" not in result.output and "EGI" not in result.output
    for command in ("serve", "providers", "search", "download", "config"):
        assert command in result.output


def test_sandbox_extra_has_what_the_printed_one_liner_needs():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    sandbox = " ".join(project["optional-dependencies"]["sandbox"])
    assert "pystac-client" in sandbox
    assert "redis" in " ".join(project["optional-dependencies"]["redis"])


def test_serve_starts_without_the_stac_fastapi_defaults_warning(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STACBRIDGE_STORE_URL": "memory://",
        "STACBRIDGE_CMR__ENABLED": "false",
        "STACBRIDGE_SECRET_KEYS": '["k"]',
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stacbridge.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "stacbridge listening on" in text
    assert "Using default values" not in text
    json_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert json_lines, text  # the server's own logs are JSON
    access = [j for j in json_lines if j["logger"] == "stacbridge.access"]
    assert access and all("request_id" in j and "route" in j for j in access)


def test_providers_sandbox_checks_the_emulators():
    result = runner.invoke(app, ["providers", "--sandbox"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "ok" in lines["cmr"] and "ok" in lines["m2m"]
