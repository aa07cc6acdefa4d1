"""docker/: the compose file's structure, and the topology it describes run as processes.

No container engine or registry is reachable here, so the image is not built.  What runs is
the same topology: Redis, two gateway processes with the compose file's environment for the
gateway service (with `redis` resolved to a loopback redis-server and the providers pointed at
the sandbox), and nginx with docker/nginx.conf rendered for loopback ports in front.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from stacbridge.sandbox.server import free_port
from tests.integration.test_ops_workers import metric, serve
from tests.redis_server import running_redis

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
HLS = "HLSL30.v2.0"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_file_has_the_expected_services():
    spec = compose()
    services = spec["services"]
    assert {"gateway-1", "gateway-2", "redis", "nginx", "stac-browser"} <= set(services)
    for name in ("gateway-1", "gateway-2"):
        gateway = services[name]
        assert gateway["build"]["dockerfile"] == "docker/Dockerfile"
        assert gateway["environment"]["STACBRIDGE_STORE_URL"] == "redis://redis:6379/0"
        assert "STACBRIDGE_SECRET_KEYS" in gateway["environment"]  # shared by the replicas
        assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["gateway-1"]["environment"] == services["gateway-2"]["environment"]
    # credentials come from an optional env file, never as empty interpolated strings
    assert services["gateway-1"]["env_file"] == [{"path": "./stacbridge.env", "required": False}]
    assert all(v for v in services["gateway-1"]["environment"].values())
    assert services["nginx"]["ports"] == ["8000:80"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert services["stac-browser"]["profiles"] == ["browser"]
    assert "--save" in services["redis"]["command"]


def test_compose_config_validates_when_docker_compose_is_installed():
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if (
            shutil.which(cmd[0])
            and subprocess.run([*cmd, "version"], capture_output=True, check=False).returncode == 0
        ):
            env = {**os.environ, "STACBRIDGE_SECRET_KEYS": '["k"]'}
            result = subprocess.run(
                [*cmd, "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert result.returncode == 0, result.stderr
            return
    pytest.skip(
        "neither `docker compose` nor docker-compose is installed (the YAML structure "
        "is checked by test_compose_file_has_the_expected_services)"
    )


def test_dockerfile_runs_as_non_root_with_healthcheck_volume_and_entrypoint():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^USER stacbridge$", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert re.search(r"^VOLUME \[\"/var/lib/stacbridge\"\]$", text, re.M)
    assert 'ENTRYPOINT ["stacbridge", "serve"' in text


def substitute(value: str, given: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} interpolation."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3] or ""
        if given.get(name):
            return given[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def render_nginx(port: int, gateways: list[str]) -> str:
    text = (DOCKER / "nginx.conf").read_text()
    for i, url in enumerate(gateways, 1):
        text, n = re.subn(rf"server gateway-{i}:8000\b", f"server {url.split('://')[1]}", text)
        assert n == 1, f"gateway-{i} not in nginx.conf"
    text, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    assert n == 1
    return text


@contextlib.contextmanager
def nginx(conf: str, workdir: Path) -> Iterator[str]:
    if NGINX is None:
        pytest.skip("nginx is not installed (.ci/run installs the Debian package nginx)")
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+);", conf)[1])
    (workdir / "nginx.conf").write_text(conf)
    log = workdir / "nginx.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(workdir),
                "-c",
                str(workdir / "nginx.conf"),
                "-g",
                f"daemon off; pid {workdir / 'nginx.pid'};",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_compose_topology_serves_searches_and_downloads(sandbox, tmp_path):
    gateway_env = compose()["services"]["gateway-1"]["environment"]
    with running_redis(tmp_path) as redis_url:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("STACBRIDGE_", "PROMETHEUS_MULTIPROC_DIR"))
        }
        given = {"STACBRIDGE_SECRET_KEYS": '["topology-key"]'}
        env.update({k: substitute(str(v), given) for k, v in gateway_env.items()})
        assert env["STACBRIDGE_STORE_URL"] == "redis://redis:6379/0"
        env["STACBRIDGE_STORE_URL"] = redis_url  # the `redis` service, on loopback
        env.update(sandbox.environment())  # providers: the sandbox instead of NASA and USGS
        env["PYTHONPATH"] = str(ROOT)
        with (
            serve(env, tmp_path / "g1.log") as g1,
            serve(env, tmp_path / "g2.log") as g2,
            nginx(render_nginx(free_port(), [g1, g2]), tmp_path) as edge,
        ):
            search = httpx.get(
                f"{edge}/search", params={"collections": HLS, "limit": 2}, timeout=60
            )
            assert search.status_code == 200, search.text
            assert search.headers["x-request-id"]  # nginx's $request_id, echoed by a gateway
            features = search.json()["features"]
            assert len(features) == 2
            href = features[0]["assets"]["Fmask"]["href"]
            assert href.startswith(f"{edge}/assets/")  # links name the edge, not a replica
            nxt = next(link["href"] for link in search.json()["links"] if link["rel"] == "next")
            assert nxt.startswith(edge)
            page2 = httpx.get(nxt, timeout=60)  # a token signed by one replica, read by either
            assert page2.status_code == 200
            for _ in range(2):  # round robin: both replicas resolve this asset once
                download = httpx.get(href, follow_redirects=True, timeout=60)
                assert download.status_code == 200
                assert download.content[:4] in (b"II*\x00", b"MM\x00*")
            served = [
                metric(httpx.get(f"{g}/metrics", timeout=10).text, "stacbridge_http_requests_total")
                for g in (g1, g2)
            ]
            assert all(n >= 2 for n in served), served
            assets = [
                metric(
                    httpx.get(f"{g}/metrics", timeout=10).text,
                    "stacbridge_http_requests_total",
                    route="/assets/{token}/{name}",
                )
                for g in (g1, g2)
            ]
            assert sum(assets) == 2
        assert "GET /search" in (tmp_path / "nginx.log").read_text()
