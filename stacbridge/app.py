"""The application factory: `create_app(settings, providers)` builds the whole gateway.

Nothing happens at import time.  Providers are found through the registry's entry points and
built from their sections of the settings, unless injected (tests inject providers of their
own); the app's lifespan starts them (resuming orders, building the collection routing table —
a collection id two providers serve stops the start) and closes them.

Configuration comes from environment variables and an optional TOML file; see `config.py`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import attr
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field, StrictBool, StrictStr, field_validator, model_validator
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.models import ItemCollectionUri, create_request_model
from stac_fastapi.extensions import (
    FieldsExtension,
    FilterExtension,
    QueryExtension,
    SortExtension,
    TokenPaginationExtension,
)
from stac_fastapi.extensions.collection_search.request import BaseCollectionSearchGetRequest
from stac_fastapi.extensions.fields.request import FieldsExtensionGetRequest
from stac_fastapi.extensions.filter.request import FilterExtensionGetRequest
from stac_fastapi.extensions.free_text.request import FreeTextExtensionGetRequest
from stac_fastapi.extensions.pagination.request import GETTokenPagination
from stac_fastapi.extensions.query.request import QueryExtensionGetRequest
from stac_fastapi.extensions.sort.request import SortExtensionGetRequest
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.search import BaseSearchGetRequest, BaseSearchPostRequest
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from stacbridge import __version__
from stacbridge.api.body_limit import BodySizeLimitMiddleware
from stacbridge.api.breaker import Breaker
from stacbridge.api.caching import CacheControlMiddleware
from stacbridge.api.client import StacClient
from stacbridge.api.forwarded import ForwardedHeadersMiddleware
from stacbridge.api.links import json_response
from stacbridge.api.openapi import install_openapi
from stacbridge.api.params import UnknownParametersMiddleware
from stacbridge.api.present import Presenter
from stacbridge.assets.rewrite import AssetRewriter
from stacbridge.assets.routes import create_asset_router
from stacbridge.config import Settings, load_settings
from stacbridge.errors import add_error_handlers
from stacbridge.protocols import Plugin
from stacbridge.registry import ProviderSpec, Registry, build_plugins, discover
from stacbridge.signing import Signer
from stacbridge.store import Store, open_store

log = logging.getLogger("stacbridge")

#: request headers browsers may send and response headers they may read (design §2).
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "Accept",
]
CORS_EXPOSE_HEADERS = [
    "Content-Range",
    "Accept-Ranges",
    "Content-Length",
    "ETag",
    "Last-Modified",
    "Content-Disposition",
    "Retry-After",
]


class FilterPostRequest(BaseModel):
    """POST filter that also takes CQL2 text, as pystac-client sends it (`filter-lang`)."""

    # Strict: pydantic's lax bool would take `"filter": 0` for `false` and answer nothing.
    filter_expr: dict[str, Any] | StrictBool | StrictStr | None = Field(
        None,
        alias="filter",
        description="A CQL2 filter, as CQL2-JSON (an object, or the literal true/false) or "
        "CQL2 text.",
    )
    filter_crs: str | None = Field(None, alias="filter-crs")
    filter_lang: Literal["cql2-json", "cql2-text"] | None = Field(None, alias="filter-lang")


class SearchPostBody(BaseSearchPostRequest):
    """The POST /search body: refused with a 400 unless it is a JSON object.

    stac-pydantic's own `before` validators call `.get` on the body, so a JSON array, number,
    string, `null` or a non-JSON (form) body used to escape as an AttributeError — a 500.  This
    validator runs before them (pydantic runs a subclass's `before` validators first) and turns
    all of those into a validation error that says what was sent.
    """

    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # one collection or id sent as a string means that one (as GET's comma lists do)
            for key in ("collections", "ids"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [v for v in data[key].split(",") if v]}
            return data
        if isinstance(data, BaseModel):
            return data
        if isinstance(data, bytes | bytearray):
            got = "a body that is not JSON (send it as application/json)"
        else:
            got = {
                list: "a JSON array",
                str: "a JSON string",
                bool: "a JSON boolean",
                type(None): "JSON null",
            }.get(type(data), "a JSON number")
        raise ValueError(f"the request body must be a JSON object (a STAC search), got {got}")

    @field_validator("bbox", mode="before")
    @classmethod
    def _bbox_numbers(cls, value: Any) -> Any:
        """bbox coordinates are JSON numbers: pydantic's lax floats would read `false` or "1"
        as coordinates and search somewhere the client never asked for."""
        if isinstance(value, list | tuple) and any(
            isinstance(v, bool) or not isinstance(v, int | float) for v in value
        ):
            raise ValueError("bbox must be an array of 4 or 6 numbers")
        return value


@attr.s
class TextOrJsonFilterExtension(FilterExtension):
    """The filter extension, accepting CQL2 text in POST bodies too."""

    POST = FilterPostRequest


def configure_logging(level: str) -> None:
    """Structured-enough logs for operators; httpx's request lines would print signed URLs."""
    logging.getLogger("stacbridge").setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def describe(titles: Sequence[str]) -> str:
    """The default landing description, naming the providers a deployment serves."""
    listed = " and ".join(filter(None, [", ".join(titles[:-1]), *titles[-1:]])) or "providers"
    return f"One STAC API over {listed}, with every asset downloadable through one signing proxy."


class CollapseSlashesMiddleware:
    """Treat `//collections` like `/collections`: older QGIS plugins double the slash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            path = "/" + "/".join(p for p in scope["path"].split("/") if p)
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    providers: Sequence[Plugin] | None = None,
    store: Store | None = None,
    specs: Sequence[ProviderSpec] | None = None,
) -> FastAPI:
    """Build the gateway.

    `settings` default to `load_settings()`; `providers` (already built) replace those the
    settings would build from `specs` (default: every installed provider); `store` replaces
    the one `settings.store_url` names.
    """
    settings = settings or load_settings(specs)
    configure_logging(settings.log_level)
    if not settings.secret_keys:
        log.warning(
            "no secret_keys configured: paging tokens and asset links are signed with "
            "a per-process key and stop working on restart or in other workers"
        )
    store = store or open_store(settings.store_url)
    plugins = (
        list(providers)
        if providers is not None
        else build_plugins(settings, store, specs if specs is not None else discover())
    )
    registry = Registry(plugins)
    if settings.description == Settings.model_fields["description"].default:
        # the default names the providers this deployment serves (never planned ones)
        settings = settings.model_copy(update={"description": describe([p.title for p in plugins])})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await registry.start()
            yield
        finally:
            await registry.aclose()
            with contextlib.suppress(Exception):
                await store.aclose()

    signer = Signer(settings.signing_keys())
    client = StacClient(
        registry=registry,
        signer=signer,
        presenter=Presenter(
            registry, AssetRewriter(signer, settings.asset_token_ttl), settings.title
        ),
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
        max_ids=settings.max_ids,
        provider_deadline=settings.provider_deadline,
        search_max_upstream_pages=settings.search_max_upstream_pages,
        search_max_upstream_items=settings.search_max_upstream_items,
        search_max_seconds=settings.search_max_seconds,
        breaker=Breaker(open_seconds=settings.breaker_seconds),
        title=settings.title,
        description=settings.description,
    )
    extensions = [
        TokenPaginationExtension(),
        FieldsExtension(),
        SortExtension(),
        QueryExtension(),  # mapped onto CQL2 (api/request.py parse_query)
        TextOrJsonFilterExtension(client=client),  # type: ignore[arg-type]
    ]
    search_get = create_request_model(
        "SearchGetRequest",
        base_model=BaseSearchGetRequest,
        extensions=extensions,
        request_type="GET",
    )
    search_post = create_request_model(
        "SearchPostRequest", base_model=SearchPostBody, extensions=extensions, request_type="POST"
    )
    items_get = create_request_model(
        "ItemCollectionUri",
        base_model=ItemCollectionUri,
        mixins=[
            GETTokenPagination,
            FieldsExtensionGetRequest,
            SortExtensionGetRequest,
            FilterExtensionGetRequest,
            QueryExtensionGetRequest,
        ],
    )
    collections_get = create_request_model(
        "CollectionsGetRequest",
        base_model=BaseCollectionSearchGetRequest,
        mixins=[GETTokenPagination, FreeTextExtensionGetRequest],
    )

    app = FastAPI(
        title=settings.title,
        description=settings.description,
        openapi_url="/api",
        docs_url=None,  # an offline Swagger UI: stacbridge.observability.routes
        redoc_url=None,
        lifespan=lifespan,
    )
    api = StacApi(
        settings=ApiSettings(
            openapi_url="/api",
            docs_url="/api.html",
            stac_fastapi_title=settings.title,
            stac_fastapi_description=settings.description,
            stac_fastapi_landing_id="stacbridge",
            stac_fastapi_version=__version__,
        ),
        client=client,
        extensions=extensions,
        app=app,
        title=settings.title,
        description=settings.description,
        search_get_request_model=search_get,  # type: ignore[arg-type]
        search_post_request_model=search_post,  # type: ignore[arg-type]
        items_get_request_model=items_get,  # type: ignore[arg-type]
        collections_get_request_model=collections_get,  # type: ignore[arg-type]
        # StacApi makes the LAST of these the outermost: a request meets them bottom-up.
        middlewares=[
            Middleware(UnknownParametersMiddleware),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(CollapseSlashesMiddleware),
            Middleware(
                ForwardedHeadersMiddleware,
                trusted_proxies=settings.trusted_proxies,
                allowed_hosts=settings.allowed_hosts,
            ),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=CORS_EXPOSE_HEADERS,
                max_age=600,
            ),
            Middleware(CacheControlMiddleware, metadata_max_age=settings.metadata_max_age),
        ],
    )
    add_error_handlers(api.app)
    app.include_router(create_asset_router(registry, signer))
    install_openapi(app)
    app.state.client = client
    app.state.registry = registry
    app.state.settings = settings

    @app.get(
        "/catalogs/{provider_name}",
        tags=["Providers"],
        summary="One provider's collections as a child catalog",
    )
    async def provider_catalog(provider_name: str, request: Request):
        return json_response(await client.provider_catalog(provider_name, request))

    @app.get("/healthz", tags=["Operations"], summary="Liveness")
    async def healthz():
        return {"status": "ok", "providers": [p.name for p in registry.plugins]}

    # operations (docs/operations.md): /metrics, /readyz, offline /api.html, request ids,
    # Server-Timing and access logs
    from stacbridge.observability.routes import install as install_operations

    install_operations(app, registry)

    return api.app
