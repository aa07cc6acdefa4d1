"""Prometheus metrics: the families the gateway records and the `/metrics` exposition.

Every family is defined once here, so instrumented modules import a name and call one method;
the metric names are the operator-facing contract documented in docs/operations.md.

Several workers (`stacbridge serve --workers N`) are several processes, each with its own
counters.  `serve` then points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the
workers start, prometheus-client writes each worker's values there (memory-mapped files) and
`/metrics`, whichever worker answers, sums them.  Without that variable (one worker, or one
process per container behind a load balancer) each process exposes its own values and
Prometheus scrapes each one.  The variable must be set before `prometheus_client` is first
imported in a worker, which is why `serve` sets it in the parent's environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: upstream latency buckets (seconds): CMR pages take 0.1-3 s, logins and orders longer.
_UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

UPSTREAM_LATENCY = Histogram(
    "stacbridge_upstream_request_duration_seconds",
    "Time of one upstream HTTP exchange (each retry attempt counts), until response headers.",
    ["provider"],
    buckets=_UPSTREAM_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "stacbridge_upstream_errors_total",
    "Failed upstream attempts by kind: timeout, transport, or the HTTP status that is retried "
    "(429, 5xx).",
    ["provider", "kind"],
)
PROXY_BYTES = Counter(
    "stacbridge_proxy_bytes_streamed_total",
    "Bytes the asset proxy streamed to clients (redirects carry none).",
    ["provider"],
)
PROXY_ACTIVE = Gauge(
    "stacbridge_proxy_active_streams",
    "Asset downloads being streamed through the proxy right now.",
    ["provider"],
    multiprocess_mode="livesum",
)
ORDER_UPDATES = Counter(
    "stacbridge_order_updates_total",
    "Order writes by the state they record: 'pending' counts placements and polls, 'ready' "
    "and 'failed' count completions.",
    ["provider", "status"],
)
HTTP_REQUESTS = Counter(
    "stacbridge_http_requests_total",
    "Requests served, by route template (never the concrete path: asset tokens stay out), "
    "method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "stacbridge_http_request_duration_seconds",
    "Time until the response headers were sent, by route template.",
    ["route", "method"],
)


async def metered_stream(chunks: AsyncIterator[bytes], provider: str) -> AsyncIterator[bytes]:
    """Pass `chunks` through, counting bytes and holding the active-streams gauge meanwhile."""
    active = PROXY_ACTIVE.labels(provider)
    sent = PROXY_BYTES.labels(provider)
    active.inc()
    try:
        async for chunk in chunks:
            sent.inc(len(chunk))
            yield chunk
    finally:
        active.dec()


def order_updated(provider: str, status: str) -> None:
    ORDER_UPDATES.labels(provider, status).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition and its content type: this process's, or every worker's summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode); harmless otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
