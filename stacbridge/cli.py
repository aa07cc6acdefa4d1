"""The `stacbridge` command: serve the gateway, check providers and configuration, search and
download from the shell.

Errors are one clear line on stderr; exit codes: 0 ok, 1 failure, 2 usage.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from stacbridge.observability.logging import silence_stac_fastapi_defaults_warning

# before anything imports stac_fastapi (the workers import this module first, too)
silence_stac_fastapi_defaults_warning()


def _installed_providers() -> str:
    """The installed provider plug-ins' names, read without importing them; an entry point
    whose module is absent (stale package metadata) is not a provider."""
    from importlib.util import find_spec

    def present(module: str) -> bool:
        try:
            return find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    names = sorted(
        {
            ep.name
            for ep in entry_points(group="stacbridge.providers")
            if present(ep.value.split(":")[0])
        }
    )
    return ", ".join(names) or "no providers installed"


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="stacbridge: one STAC API over the installed providers "
    f"({_installed_providers()}), with a signing asset proxy.",
)
config_app = typer.Typer(no_args_is_help=True, help="Check the configuration.")
app.add_typer(config_app, name="config")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"stacbridge: {message}", err=True)
    raise typer.Exit(code)


def _use_config(config: Path | None) -> None:
    """Point the settings at `config`; a file that does not exist is a usage error."""
    if config is not None:
        if not config.is_file():
            _fail(f"config file not found: {config}", 2)
        os.environ["STACBRIDGE_CONFIG"] = str(config)
    elif (named := os.environ.get("STACBRIDGE_CONFIG")) and not Path(named).is_file():
        _fail(f"config file not found: {named} (from STACBRIDGE_CONFIG)", 2)


def create_app_from_env():
    """App factory for uvicorn workers: settings from the environment (set by `serve`)."""
    from stacbridge.app import create_app

    return create_app()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Start the provider emulators and point the gateway at them."
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML settings file (same keys as the STACBRIDGE_* variables)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    log_format: Annotated[str, typer.Option(help="json (one object a line) or text.")] = "json",
) -> None:
    """Run the gateway."""
    import shutil
    import tempfile

    import uvicorn

    from stacbridge.observability.logging import uvicorn_log_config

    if log_format not in ("json", "text"):
        _fail(f"--log-format must be json or text, not {log_format!r}", 2)
    _use_config(config)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums every worker's values (stacbridge.observability.metrics)
        metrics_dir = tempfile.mkdtemp(prefix="stacbridge-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
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
        typer.echo(
            "  state:     in memory: orders and logins are lost when it stops "
            "(set STACBRIDGE_STORE_URL=sqlite:///path/state.sqlite to keep them)"
        )
    typer.echo(f"  API docs:  {url}/api.html")
    typer.echo(
        '  try:       python -c "from pystac_client import Client; '
        f"print(next(Client.open('{url}').search(collections=['HLSL30.v2.0'], "
        'max_items=1).items()))"'
    )
    typer.echo(f"  operate:   {url}/metrics  {url}/readyz  {url}/healthz")
    try:
        # proxy_headers=False: the app's ForwardedHeadersMiddleware decides whom to trust
        # (settings.trusted_proxies); uvicorn's own would replace the peer address first.
        uvicorn.run(
            "stacbridge.cli:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            log_config=uvicorn_log_config(log_level, log_format),
            proxy_headers=False,
        )
    finally:
        if sandbox_env is not None:
            sandbox_env.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def providers(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Start the provider emulators and check those.")
    ] = False,
) -> None:
    """Show each configured provider and whether it answers."""
    import asyncio

    _use_config(config)
    box = None
    if sandbox:
        from stacbridge.sandbox import Sandbox

        box = Sandbox().start()
        os.environ.update(box.environment())
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
                typer.echo(
                    f"{plugin.name:8} ok      {len(found)} collections  "
                    f"({plugin.title}; sorts by {sortable})"
                )
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                failures += 1
                typer.echo(f"{plugin.name:8} FAILED  {exc}")
        await registry.aclose()
        return failures

    try:
        failures = asyncio.run(check())
    finally:
        if box is not None:
            box.stop()
    if failures:
        raise typer.Exit(1)


_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?"
)


def _date_bound(value: str, end: bool) -> str:
    """One side of an interval as RFC 3339: dates widen to the whole year, month or day."""
    import calendar

    value = value.strip()
    if value in ("", ".."):
        return ".."
    match = _DATE.fullmatch(value)
    if match is None:
        # a full timestamp: RFC 3339 needs a zone; a naive one is read as UTC
        stamp = _TIMESTAMP.fullmatch(value)
        if stamp is None:
            raise ValueError(f"not a date or RFC 3339 timestamp: {value!r}")
        return value if stamp[1] else value + "Z"
    year = int(match[1])
    month = int(match[2]) if match[2] else (12 if end else 1)
    if not 1 <= month <= 12:
        raise ValueError(f"not a date: {value!r}")
    last = calendar.monthrange(year, month)[1]
    day = int(match[3]) if match[3] else (last if end else 1)
    if not 1 <= day <= last:
        raise ValueError(f"not a date: {value!r}")
    time_of_day = "23:59:59Z" if end else "00:00:00Z"
    return f"{year:04d}-{month:02d}-{day:02d}T{time_of_day}"


def normalise_datetime(value: str) -> str:
    """What pystac-client sends for a `datetime` argument: `2024-01-01/2024-06-30` becomes
    `2024-01-01T00:00:00Z/2024-06-30T23:59:59Z`, `2024-03` the whole month, `2024` the year;
    RFC 3339 timestamps pass through (a naive one gets `Z`), `..` stays open."""
    if "/" in value:
        start, _, stop = value.partition("/")
        return f"{_date_bound(start, False)}/{_date_bound(stop, True)}"
    if _DATE.fullmatch(value.strip()):
        return f"{_date_bound(value, False)}/{_date_bound(value, True)}"
    return _date_bound(value, False)


@app.command()
def search(
    url: Annotated[str, typer.Argument(help="The gateway's root URL.")],
    collections: Annotated[list[str] | None, typer.Option("--collection", "-c")] = None,
    bbox: Annotated[str | None, typer.Option(help="west,south,east,north")] = None,
    datetime: Annotated[
        str | None,
        typer.Option(
            help="A date, RFC 3339 instant or interval (2024-01-01/2024-06-30, 2024-03, ../2020)"
        ),
    ] = None,
    filter: Annotated[str | None, typer.Option(help="CQL2 text filter")] = None,
    max_items: Annotated[int, typer.Option(help="Stop after this many items.")] = 100,
    limit: Annotated[int, typer.Option(help="Page size asked of the gateway.")] = 100,
    output: Annotated[Path | None, typer.Option("-o", help="Write here (- for stdout).")] = None,
    ndjson: Annotated[
        bool, typer.Option(help="One item per line instead of an ItemCollection.")
    ] = False,
) -> None:
    """Search a STAC API (following `next` links) and write an ItemCollection or ndjson.

    A file named with -o appears only once the search succeeded: items are written to a
    temporary file beside it, renamed at the end, and removed on any failure.
    """
    import tempfile

    import httpx

    params: dict[str, str] = {"limit": str(min(limit, max_items))}
    if collections:
        params["collections"] = ",".join(collections)
    if bbox:
        params["bbox"] = bbox
    if datetime:
        try:
            params["datetime"] = normalise_datetime(datetime)
        except ValueError as exc:
            _fail(f"--datetime: {exc}", 2)
    if filter:
        params["filter"], params["filter-lang"] = filter, "cql2-text"
    items: list[dict] = []
    to_stdout = output is None or str(output) == "-"
    tmp_path: Path | None = None
    if to_stdout:
        out = sys.stdout
    else:
        assert output is not None
        fd, name = tempfile.mkstemp(
            prefix=f".{output.name}.",
            suffix=".tmp",
            dir=output.parent if str(output.parent) else ".",
        )
        tmp_path = Path(name)
        out = os.fdopen(fd, "w")
    next_url: str | None = url.rstrip("/") + "/search"
    completed = False
    try:
        with httpx.Client(timeout=120) as client:
            first = True
            while next_url and len(items) < max_items:
                try:
                    response = client.get(next_url, params=params if first else None)
                except httpx.HTTPError as exc:
                    _fail(f"cannot reach {url}: {exc}")
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
                next_url = next(
                    (link["href"] for link in page.get("links", []) if link.get("rel") == "next"),
                    None,
                )
        typer.echo("", err=True)
        if not ndjson:
            json.dump({"type": "FeatureCollection", "features": items}, out)
            out.write("\n")
        completed = True
    finally:
        if out is not sys.stdout:
            out.close()
        if tmp_path is not None:
            if completed and output is not None:
                os.replace(tmp_path, output)
            else:
                tmp_path.unlink(missing_ok=True)


@config_app.command("check")
def config_check(
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
) -> None:
    """Validate the settings file and the STACBRIDGE_* environment; print the effective
    settings with secrets masked.  Exit 0 when valid, 2 when not."""
    import tomllib

    from pydantic import ValidationError

    from stacbridge.config import load_settings

    _use_config(config)
    source = os.environ.get("STACBRIDGE_CONFIG")
    try:
        settings = load_settings()
    except ValidationError as exc:
        typer.echo(
            f"stacbridge: invalid settings ({exc.error_count()} errors"
            + (f", file {source}" if source else "")
            + "):",
            err=True,
        )
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            typer.echo(f"  {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    except tomllib.TOMLDecodeError as exc:
        _fail(f"{source}: not valid TOML: {exc}", 2)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc).splitlines()[0], 2)
    if source:
        # sections forbid unknown keys themselves; the top level ignores them (so that
        # STACBRIDGE_* variables of other tools pass), which in a file hides a typo
        with open(source, "rb") as f:
            unknown = sorted(set(tomllib.load(f)) - set(type(settings).model_fields))
        if unknown:
            _fail(
                f"{source}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                2,
            )
    effective = settings.model_dump(mode="json")  # SecretStr -> "**********"
    from stacbridge.app import describe
    from stacbridge.config import Settings
    from stacbridge.registry import discover

    if settings.description == Settings.model_fields["description"].default:
        enabled = [
            s.title
            for s in discover()
            if getattr(getattr(settings, s.name, None), "enabled", False)
        ]
        effective["description"] = describe(enabled)  # what the landing page will say
    effective["store_url"] = _mask_url_password(str(effective.get("store_url", "")))
    typer.echo(
        f"settings ok ({'file ' + source if source else 'no file'}, environment "
        "STACBRIDGE_*); effective values, secrets masked:",
        err=True,
    )
    typer.echo(json.dumps(effective, indent=2, sort_keys=True))


def _mask_url_password(url: str) -> str:
    """redis://:secret@host -> redis://:**********@host (a store URL may carry a password)."""
    return re.sub(r"(://[^/@:]*:)[^/@]+@", r"\1**********@", url)


@app.command()
def download(
    url: Annotated[
        str,
        typer.Argument(
            help="A STAC Item URL, or a gateway /search?... URL (its next links are followed)."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write to.")] = Path(
        "."
    ),
    asset: Annotated[
        list[str] | None,
        typer.Option(
            "--asset", "-a", help="Asset key to fetch (repeatable); default: the data assets."
        ),
    ] = None,
    parallel: Annotated[int, typer.Option(help="Downloads at once.", min=1, max=64)] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be fetched.")] = False,
    max_items: Annotated[
        int, typer.Option(help="For a search URL: stop after this many items.", min=1)
    ] = 1000,
    order_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for products being prepared (202 + Retry-After).")
    ] = 3600.0,
) -> None:
    """Download assets through the proxy: parallel, resumable (.part + Range), checksummed,
    waiting for orders.  Files land in OUTPUT/<item id>/<file name>."""
    import asyncio

    import httpx

    from stacbridge.download import UsageError, collect_items, plan

    if not url.startswith(("http://", "https://")):
        _fail(f"not an http(s) URL: {url}", 2)

    async def main() -> int:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(120, connect=10), follow_redirects=True
        ) as client:
            try:
                items = await collect_items(client, url, max_items)
            except UsageError as exc:
                _fail(str(exc), 2)
            jobs = plan(items, output, asset)
            if asset:
                missing = sorted(set(asset) - {j.key for j in jobs})
                if missing:
                    typer.echo(
                        f"stacbridge: no asset {', '.join(missing)} in any of the "
                        f"{len(items)} items",
                        err=True,
                    )
            if not jobs:
                _fail(f"nothing to download: {len(items)} items, no matching assets", 1)
            if dry_run:
                for job in jobs:
                    size = f"{job.size} bytes" if job.size else "size unknown"
                    check = "checksum" if job.checksum else "no checksum"
                    typer.echo(f"{job.item_id}  {job.key}  -> {job.path}  ({size}, {check})")
                typer.echo(
                    f"{len(jobs)} files from {len(items)} items (dry run: nothing fetched)",
                    err=True,
                )
                return 0
            return await _download_with_progress(client, jobs, parallel, order_timeout)

    raise typer.Exit(asyncio.run(main()))


async def _download_with_progress(client, jobs, parallel: int, order_timeout: float) -> int:
    """Run the downloads with one rich progress line per file; returns the exit code."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from stacbridge.download import Downloader

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    failed = 0
    # not a terminal (a log, CI): no live bars, the one line per event below says it all
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal
    ) as progress:
        tasks = {
            id(job): progress.add_task(f"{job.item_id}/{job.path.name}", total=None, start=False)
            for job in jobs
        }

        def update(job, event: str, value) -> None:
            nonlocal failed
            task = tasks[id(job)]
            name = f"{job.item_id}/{job.path.name}"
            if event == "start":
                resumed, total = value
                progress.start_task(task)
                progress.update(
                    task,
                    total=total,
                    completed=resumed,
                    description=name + (f" (resumed at {resumed})" if resumed else ""),
                )
            elif event == "advance":
                progress.advance(task, value)
            elif event == "waiting":
                progress.update(task, description=f"{name}: waiting, {value}")
                if not console.is_terminal:
                    console.print(f"waiting  {name}: {value}")
            elif event == "done":
                if value.status == "failed":
                    failed += 1
                    progress.update(task, description=f"[red]{name}: FAILED[/red]")
                    console.print(f"[red]failed[/red]   {name}: {value.message}")
                else:
                    progress.update(task, description=f"{name}: {value.status}")
                    detail = f"{value.resumed_from + value.bytes} bytes"
                    if value.resumed_from:
                        detail += f", resumed at {value.resumed_from}"
                    if value.message:
                        detail += f", {value.message}"
                    console.print(f"{value.status:8} {job.path} ({detail})")

        await Downloader(
            client, parallel=parallel, order_timeout=order_timeout, progress=update
        ).run(jobs)
    total = len(jobs)
    summary = f"{total - failed} of {total} files downloaded"
    console.print(summary + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    app()
