"""The OpenAPI document at `/api`, made to describe what the gateway really answers.

FastAPI documents each route from its signature: a 200 and a 422.  The gateway never answers
422 (a validation error is a 400, `errors.py`), and every route answers statuses FastAPI cannot
see: the 400 of the forwarded-header and query-parameter checks (middleware), the 404 of an
unknown collection, the upstream 502/503/504, the 413 of the body limit, and on the asset
proxy its redirects, 202 for an order being prepared, 206/304/412/416 passed through, 403 and
410 for bad or expired tokens.  A client generator or a fuzzer (schemathesis, issue 10 #8) reads
the document as a contract, so an undocumented status is a broken contract.

Rather than decorate every route (several are built by stac-fastapi, and the asset routes
belong to `stacbridge/assets/routes.py`), `install_openapi()` post-processes the generated
document once, in one place: the table `route_statuses()` says which statuses each route
answers, and every error status is described by the one STAC error schema `{code, description}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

__all__ = [
    "ERROR_SCHEMA",
    "allowed_methods",
    "describe_responses",
    "install_openapi",
    "path_pattern",
    "route_statuses",
]

ERROR_REF = "#/components/schemas/StacError"

#: the body of every error the gateway answers (STAC API: `code` and `description`).
ERROR_SCHEMA: dict[str, Any] = {
    "title": "StacError",
    "type": "object",
    "required": ["code", "description"],
    "properties": {
        "code": {"type": "string", "description": "A short error code, e.g. `BadRequest`."},
        "description": {"type": "string", "description": "What is wrong, for a person."},
        "provider": {"type": "string", "description": "The upstream provider at fault, if any."},
    },
    "additionalProperties": True,
}

#: what each status means, as the document says it.
REASONS = {
    202: "The product is being prepared: retry after `Retry-After` seconds.",
    206: "Partial content (a Range request), passed through from the data host.",
    302: "Redirect to the asset (a pre-signed URL).",
    303: "Redirect to the asset (a pre-signed URL).",
    307: "Redirect to the asset (a pre-signed URL).",
    304: "Not modified (conditional request), passed through.",
    400: "Bad request: a parameter, the body, the Host or a forwarded header is invalid, or a "
    "query parameter is unknown. The description says which.",
    401: "The caller's credentials are needed (passthrough credentials) and were not usable.",
    403: "The asset token is invalid, or the data host refused the gateway.",
    404: "Not found: the collection, item or provider does not exist.",
    410: "The asset link has expired: search again for fresh links.",
    412: "Precondition failed (conditional request), passed through.",
    413: "The request body exceeds the gateway's limit.",
    416: "Range not satisfiable, passed through.",
    502: "The upstream provider answered with an error or something unreadable.",
    503: "The upstream provider is busy or rate-limited: retry after `Retry-After` seconds.",
    504: "The upstream provider did not answer in time.",
}

UPSTREAM = (502, 503, 504)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}
LOCATION = {
    "Location": {
        "description": "Where the asset is.",
        "required": True,
        "schema": {"type": "string"},
    }
}


def route_statuses(method: str, path: str) -> tuple[int, ...]:
    """The statuses besides 200 that `method path` answers: the one table of them.

    400 is everywhere: the Host and forwarded-header checks run before routing.
    """
    if path.startswith("/assets/"):
        return (202, 206, 302, 303, 307, 304, 400, 401, 403, 404, 410, 412, 416, *UPSTREAM)
    if path in ("/healthz", "/api", "/api.html", "/conformance") or path.startswith("/_mgmt/"):
        return (400,)
    statuses: list[int] = [400]
    if "{" in path or path == "/search":
        statuses.append(404)  # an unknown collection, item or provider (/search: collections=)
    if method == "post":
        statuses.append(413)
    return (*statuses, *UPSTREAM)


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": REASONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status == 503:
        response["headers"] = RETRY_AFTER
    return response


def _asset_responses(method: str) -> dict[str, dict[str, Any]]:
    """What the proxy answers besides errors: bytes of any type, redirects, a pending order."""
    bytes_content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    out: dict[str, dict[str, Any]] = {
        "200": {
            "description": "The asset's bytes, streamed from the data host.",
            "content": {} if method == "head" else bytes_content,
        },
        "206": {"description": REASONS[206], "content": {} if method == "head" else bytes_content},
        "202": {
            "description": REASONS[202],
            "headers": RETRY_AFTER,
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [{"$ref": ERROR_REF}],
                        "properties": {"order": {"description": "The order's status."}},
                    }
                }
            },
        },
    }
    for status in (302, 303, 307):
        out[str(status)] = {"description": REASONS[status], "headers": LOCATION}
    for status in (304, 412, 416):
        out[str(status)] = {"description": REASONS[status]}
    return out


def describe_responses(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the responses of every operation in `document` (in place) after the table."""
    document.setdefault("components", {}).setdefault("schemas", {})["StacError"] = ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            responses.pop("422", None)
            if path.startswith("/assets/"):
                responses.update(_asset_responses(method))
            for status in route_statuses(method, path):
                if status in REASONS and str(status) not in responses and status >= 400:
                    responses[str(status)] = _error_response(status)
    _drop_unreferenced(document, ("HTTPValidationError", "ValidationError"))
    _fields_sets_take_duplicates(document)
    _lists_may_be_comma_separated(document)
    _item_pages_may_be_partial(document)
    _answers_may_miss_providers(document)
    return document


def _answers_may_miss_providers(document: dict[str, Any]) -> None:
    """A search or listing that spans providers answers 200 without a failed one, naming it."""
    for path in ("/search", "/collections"):
        for operation in document.get("paths", {}).get(path, {}).values():
            ok = operation.get("responses", {}).get("200") if isinstance(operation, dict) else None
            if ok is not None:
                ok.setdefault("headers", {}).update(MISSING_PROVIDERS)


#: the header naming the providers a federated answer is missing (api/fanout.py).
MISSING_PROVIDERS = {
    "Stacbridge-Missing-Providers": {
        "description": "Comma-separated names of the providers left out of this answer (they "
        "failed, missed their deadline, or their circuit is open); "
        "`stacbridge:missing_providers` in the body says why. The next page asks them again.",
        "schema": {"type": "string"},
    }
}
MISSING_FIELD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "Provider name -> why it is missing from this answer.",
}


#: what a search or items page is, whatever `fields` left of its items.
PARTIAL_ITEM_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features", "links"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {
            "type": "array",
            "items": {"type": "object", "required": ["id"]},
            "description": "STAC Items; with `fields`, only the fields asked for (and `id`, "
            "`type`, `stac_version`, `collection`).",
        },
        "links": {"type": "array", "items": {"type": "object"}},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
        "stacbridge:missing_providers": MISSING_FIELD_SCHEMA,
    },
}


def _item_pages_may_be_partial(document: dict[str, Any]) -> None:
    """The fields extension returns Items without the fields a client excluded, so the
    generated `ItemCollection` schema (every Item whole) would be a false promise."""
    for path in ("/search", "/collections/{collection_id}/items"):
        for operation in document.get("paths", {}).get(path, {}).values():
            ok = operation.get("responses", {}).get("200") if isinstance(operation, dict) else None
            if ok and "content" in ok:
                for media in ok["content"].values():
                    media["schema"] = PARTIAL_ITEM_PAGE


def _lists_may_be_comma_separated(document: dict[str, Any]) -> None:
    """POST `collections`/`ids` may also be one comma-separated string, as GET sends them
    (stac-api-validator's sort and query checks do so); the document says so."""
    body = document.get("components", {}).get("schemas", {}).get("SearchPostRequest", {})
    for name in ("collections", "ids"):
        prop = body.get("properties", {}).get(name)
        if prop is not None and "anyOf" in prop:
            prop["anyOf"].insert(1, {"type": "string", "description": "comma-separated"})


def _fields_sets_take_duplicates(document: dict[str, Any]) -> None:
    """The fields extension's `include`/`exclude` are sets: a repeated name is merged, not
    refused, so the document must not promise `uniqueItems` (a client sending duplicates gets
    the answer it meant; a fuzzer expects a 400 that would help nobody)."""
    fields = document.get("components", {}).get("schemas", {}).get("PostFieldsExtension", {})
    for prop in fields.get("properties", {}).values():
        for option in prop.get("anyOf", [prop]):
            option.pop("uniqueItems", None)


def _drop_unreferenced(document: dict[str, Any], names: tuple[str, ...]) -> None:
    """Remove FastAPI's 422 schemas once nothing refers to them (they would mislead)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        if name not in schemas:
            continue
        rest = {k: v for k, v in schemas.items() if k != name}
        text = repr({**document, "components": {**document["components"], "schemas": rest}})
        if not re.search(rf"#/components/schemas/{name}\b", text):
            del schemas[name]


def path_pattern(template: str) -> re.Pattern[str]:
    """An OpenAPI path template (`/collections/{collection_id}/items`) as a regex; a path
    parameter is one segment, as Starlette's default converter has it, captured by name."""
    pattern = re.sub(
        r"\\\{(\w+)\\\}|\{(\w+)\}", lambda m: f"(?P<{m[1] or m[2]}>[^/]+)", re.escape(template)
    )
    return re.compile(f"^{pattern}$")


HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete")


def allowed_methods(document: dict[str, Any], path: str) -> list[str]:
    """The methods the document lists for the path template `path` matches (for `Allow`).

    Starlette's 405 names only the first route that matched the path; `/search` is two routes
    (GET and POST), so its `Allow` said `POST` alone.
    """
    for template, operations in document.get("paths", {}).items():
        if path_pattern(template).match(path):
            return [m.upper() for m in HTTP_METHODS if m in operations]
    return []


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi` (what `/api` serves) the generated document, described once.

    Installed after stac-fastapi set its own `app.openapi`, which it wraps; the result is
    cached in `app.openapi_schema` as FastAPI's own is.
    """
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
