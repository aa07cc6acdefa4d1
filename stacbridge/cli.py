"""The `stacbridge` command: serve the gateway, check providers, search from the shell.

Errors are one clear line on stderr; exit codes: 0 ok, 1 failure, 2 usage.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="stacbridge: one STAC API over NASA CMR, USGS M2M, AppEEARS, EGI and "
                       "STAC catalogues.")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"stacbridge: {message}", err=True)
    raise typer.Exit(code)


def create_app_from_env():
    """App factory for uvicorn workers: settings from the environment (set by `serve`)."""
    from stacbridge.app import create_app

    return create_app()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    sandbox: Annotated[bool, typer.Option(
        "--sandbox", help="Start the provider emulators and point the gateway at them.")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    config: Annotated[Path | None, typer.Option(
        help="TOML settings file (same keys as the STACBRIDGE_* variables).")] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the gateway."""
    import uvicorn

    if config is not None:
        if not config.is_file():
            _fail(f"config file not found: {config}", 2)
        os.environ["STACBRIDGE_CONFIG"] = str(config)
    sandbox_env = None
    if sandbox:
        from stacbridge.sandbox import Sandbox

        sandbox_env = Sandbox().start()
        os.environ.update(sandbox_env.environment())
        if workers == 1:
            os.environ.setdefault("STACBRIDGE_STORE_URL", "memory://")
    if (workers > 1 or sandbox) and not os.environ.get("STACBRIDGE_SECRET_KEYS"):
        # every worker must verify the tokens the others sign
        os.environ["STACBRIDGE_SECRET_KEYS"] = json.dumps([secrets.token_urlsafe(32)])

    url = f"http://{host}:{port}"
    typer.echo(f"stacbridge listening on {url}" + ("  (sandbox providers)" if sandbox else ""))
    if os.environ.get("STACBRIDGE_STORE_URL", "").startswith("memory:"):
        typer.echo("  state:     in memory: orders and logins are lost when it stops "
                   "(set STACBRIDGE_STORE_URL=sqlite:///path/state.sqlite to keep them)")
    typer.echo(f"  API docs:  {url}/api.html")
    typer.echo("  try:       python -c \"from pystac_client import Client; "
               f"print(next(Client.open('{url}').search(collections=['HLSL30.v2.0'], "
               "max_items=1).items()))\"")
    try:
        # proxy_headers=False: the app's ForwardedHeadersMiddleware decides whom to trust
        # (settings.trusted_proxies); uvicorn's own would replace the peer address first.
        uvicorn.run("stacbridge.cli:create_app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, proxy_headers=False)
    finally:
        if sandbox_env is not None:
            sandbox_env.stop()


@app.command()
def providers(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
) -> None:
    """Show each configured provider and whether it answers."""
    import asyncio

    if config is not None:
        os.environ["STACBRIDGE_CONFIG"] = str(config)
    from stacbridge.config import load_settings
    from stacbridge.protocols import CollectionQuery
    from stacbridge.registry import Registry, build_plugins, discover
    from stacbridge.store import MemoryStore

    async def check() -> int:
        failures = 0
        try:
            settings = load_settings()
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc).splitlines()[0], 2)
        registry = Registry(build_plugins(settings, MemoryStore(), discover()))
        for plugin in registry.plugins:
            catalog = registry.catalog_named(plugin.name)
            try:
                if catalog is None:
                    typer.echo(f"{plugin.name:8} ok      asset source  ({plugin.title})")
                    continue
                found = await catalog.list_collections(CollectionQuery())
                sortable = ",".join(sorted(catalog.capabilities.sortable)) or "-"
                typer.echo(f"{plugin.name:8} ok      {len(found)} collections  "
                           f"({plugin.title}; sorts by {sortable})")
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                failures += 1
                typer.echo(f"{plugin.name:8} FAILED  {exc}")
        await registry.aclose()
        return failures

    if asyncio.run(check()):
        raise typer.Exit(1)


@app.command()
def search(
    url: Annotated[str, typer.Argument(help="The gateway's root URL.")],
    collections: Annotated[list[str] | None, typer.Option("--collection", "-c")] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north")] = None,
    datetime: Annotated[str | None, typer.Option(help="RFC 3339 instant or interval")] = None,
    filter: Annotated[str | None, typer.Option(help="CQL2 text filter")] = None,
    max_items: Annotated[int, typer.Option(help="Stop after this many items.")] = 100,
    limit: Annotated[int, typer.Option(help="Page size asked of the gateway.")] = 100,
    output: Annotated[Path | None, typer.Option("-o", help="Write here (- for stdout).")] = None,
    ndjson: Annotated[bool, typer.Option(help="One item per line instead of an "
                                              "ItemCollection.")] = False,
) -> None:
    """Search a STAC API (following `next` links) and write an ItemCollection or ndjson."""
    import httpx

    params: dict[str, str] = {"limit": str(min(limit, max_items))}
    if collections:
        params["collections"] = ",".join(collections)
    if bbox:
        params["bbox"] = bbox
    if datetime:
        params["datetime"] = datetime
    if filter:
        params["filter"], params["filter-lang"] = filter, "cql2-text"
    items: list[dict] = []
    out = sys.stdout if output is None or str(output) == "-" else output.open("w")
    next_url: str | None = url.rstrip("/") + "/search"
    try:
        with httpx.Client(timeout=120) as client:
            first = True
            while next_url and len(items) < max_items:
                response = client.get(next_url, params=params if first else None)
                first = False
                if response.status_code >= 400:
                    try:
                        detail = response.json().get("description", response.text)
                    except ValueError:
                        detail = response.text[:200]
                    _fail(f"search failed ({response.status_code}): {detail}")
                page = response.json()
                for feature in page.get("features", [])[: max_items - len(items)]:
                    items.append(feature)
                    if ndjson:
                        out.write(json.dumps(feature) + "\n")
                typer.echo(f"\r{len(items)} items", err=True, nl=False)
                next_url = next((link["href"] for link in page.get("links", [])
                                 if link.get("rel") == "next"), None)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {url}: {exc}")
    typer.echo("", err=True)
    if not ndjson:
        json.dump({"type": "FeatureCollection", "features": items}, out)
        out.write("\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    app()
