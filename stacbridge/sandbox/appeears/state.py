"""What the AppEEARS emulator remembers: tokens, tasks, their lifecycle and their bundles.

A submitted task is `pending`, then `queued`, then `processing` (with progress) and `done`, each
phase lasting `durations` seconds on the emulator's clock (tests advance it).  Tasks seeded from
the recordings keep the state they were recorded in.  `fail_next(message)` makes the next
submitted task end in `error`; `missing_dates` leaves those `YYYYDDD` dates out of every bundle
(a product with a gap).  Bundles of emulated tasks are built once, when first asked for after
the task is done, and their files put on the emulator's data host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from stacbridge.sandbox._kit import SandboxClock
from stacbridge.sandbox.appeears import catalogue
from stacbridge.sandbox.appeears.rasters import clipped_geotiff
from stacbridge.sandbox.files import MemoryFiles

JSON = dict[str, Any]
TOKEN_TTL = 48 * 3600.0
STEPS = (
    "Initializing",
    "Downloading",
    "Subsetting",
    "Generating Files",
    "Extracting Stats",
    "Finalizing",
)


class OutputFiles(MemoryFiles):
    """The data host's files: bundles are added as tasks finish."""

    def __init__(self) -> None:
        super().__init__({})
        self._lock = threading.Lock()

    def put(self, path: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self._files[path.lstrip("/")] = (data, content_type)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None).isoformat()


class Invalid(ValueError):
    """A task AppEEARS would refuse (answered 400 with this message)."""


@dataclass
class Task:
    record: JSON
    user: str
    created: float
    frozen: bool = False
    fail: str | None = None
    bundle: JSON | None = None
    status_body: JSON | None = None

    @property
    def task_id(self) -> str:
        return str(self.record["task_id"])


@dataclass
class AppEEARSState:
    clock: SandboxClock
    users: dict[str, str]
    files: OutputFiles
    durations: tuple[float, float, float] = (1.0, 1.0, 2.0)
    token_ttl: float = TOKEN_TTL
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    missing_dates: set[str] = field(default_factory=set)
    submitted: int = 0
    _fail_next: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- tokens ---------------------------------------------------------------------------
    def login(self, user: str, password: str) -> JSON | None:
        if self.users.get(user) != password:
            return None
        token = secrets.token_urlsafe(48)
        expires = self.clock() + self.token_ttl
        self.tokens[token] = (user, expires)
        stamp = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token_type": "Bearer", "token": token, "expiration": stamp}

    def user_of(self, token: str) -> str | None:
        entry = self.tokens.get(token)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def fail_next(self, message: str) -> None:
        self._fail_next.append(message)

    # -- tasks ----------------------------------------------------------------------------
    def seed(
        self, record: JSON, *, bundle: JSON | None = None, status: JSON | None = None, user: str
    ) -> None:
        """A recorded task, kept in its recorded state."""
        created = dt.datetime.fromisoformat(record["created"]).replace(tzinfo=dt.UTC).timestamp()
        self.tasks[record["task_id"]] = Task(
            record, user, created, frozen=True, bundle=bundle, status_body=status
        )

    def submit(self, body: Any, user: str) -> JSON:
        validate(body)
        now = self.clock()
        task_id = str(uuid.uuid4())
        record = {
            "error": None,
            "params": body["params"],
            "status": "pending",
            "created": _iso(now),
            "task_id": task_id,
            "updated": _iso(now),
            "user_id": f"{user}@example.org",
            "estimate": {"request_size": 1000},
            "retry_at": None,
            "task_name": body["task_name"],
            "task_type": body["task_type"],
            "api_version": "v1",
            "svc_version": "3.86",
            "web_version": None,
            "expires_on": _iso(now + 30 * 86400),
        }
        with self.lock:
            fail = self._fail_next.pop(0) if self._fail_next else None
            self.tasks[task_id] = Task(record, user, now, fail=fail)
            self.submitted += 1
        return {"task_id": task_id, "status": "pending"}

    def phase(self, task: Task) -> tuple[str, float]:
        """`(status, progress percent)` of an emulated task now."""
        if task.frozen:
            return str(task.record["status"]), 0.0
        elapsed = self.clock() - task.created
        pending, queued, processing = self.durations
        if elapsed < pending:
            return "pending", 0.0
        if elapsed < pending + queued:
            return "queued", 0.0
        if elapsed < pending + queued + processing:
            return "processing", 100.0 * (elapsed - pending - queued) / processing
        return ("error" if task.fail else "done"), 100.0

    def view(self, task: Task) -> JSON:
        """The task resource as `/task` lists it."""
        status, _ = self.phase(task)
        record = dict(task.record)
        if not task.frozen:
            record["status"] = status
            if status == "error":
                record["error"] = task.fail
            if status in ("done", "error"):
                record["completed"] = _iso(task.created + sum(self.durations))
        return record

    def status(self, task: Task) -> JSON:
        """`/status/{id}` of a task not yet done (the recorded shapes)."""
        if task.status_body is not None:
            return task.status_body
        status, pct = self.phase(task)
        base = {
            "task_id": task.task_id,
            "updated": _iso(self.clock()),
            "user_id": task.record["user_id"],
        }
        if status == "processing":
            done_steps = int(pct / 100 * len(STEPS))
            details = [
                {
                    "desc": d,
                    "step": i + 1,
                    "pct_complete": 100 if i < done_steps else int(pct) if i == done_steps else 0,
                }
                for i, d in enumerate(STEPS)
            ]
            return {
                **base,
                "progress": {"details": details, "summary": int(pct)},
                "status_id": str(uuid.uuid5(uuid.NAMESPACE_URL, task.task_id)),
                "status_type": "task",
            }
        out = {
            "task_id": task.task_id,
            "status": status,
            "user_id": task.record["user_id"],
            "updated": _iso(self.clock()),
            "status_type": "task",
        }
        if status == "error":
            out["error"] = task.fail
        return out

    def bundle_of(self, task: Task, data_path: str) -> JSON:
        """The bundle of a done task (built and put on the data host on first ask)."""
        with self.lock:
            if task.bundle is None:
                task.bundle = self._build_bundle(task, data_path)
            return task.bundle

    def _build_bundle(self, task: Task, data_path: str) -> JSON:
        params = task.record["params"]
        name = task.record["task_name"]
        start = dt.datetime.strptime(params["dates"][0]["startDate"], "%m-%d-%Y").date()
        end = dt.datetime.strptime(params["dates"][0]["endDate"], "%m-%d-%Y").date()
        files: list[tuple[str, bytes, str]] = []
        if task.record["task_type"] == "area":
            projection = params["output"]["projection"]
            folder = f"{_doy(start)}_to_{_doy(end)}"
            for entry in params["layers"]:
                pid, layer = entry["product"], entry["layer"]
                for day in composite_dates(pid, start, end):
                    if _doy(day) in self.missing_dates:
                        continue
                    path = f"{pid}_{folder}/{pid}_{layer}_doy{_doy(day)}_aid0001.tif"
                    data = clipped_geotiff(pid, layer, _doy(day), params["geo"], projection)
                    files.append((path, data, "tif"))
        else:
            for pid in sorted({e["product"] for e in params["layers"]}):
                csv = f"ID,Latitude,Longitude,Date,{pid}\n".encode()
                files.append((f"{name}-{pid.replace('.', '-')}-results.csv", csv, "csv"))
        request = json.dumps(
            {"task_type": task.record["task_type"], "task_name": name, "params": params}
        ).encode()
        files.append((f"{name}-request.json", request, "json"))
        files.append(("README.md", b"# AppEEARS sandbox bundle\n", "md"))
        listing = []
        for path, data, kind in files:
            s3_key = f"appeears-output/{task.task_id}/{path}"
            self.files.put(s3_key, data, _CONTENT_TYPES.get(kind, "application/octet-stream"))
            listing.append(
                {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_id": str(uuid.uuid5(uuid.NAMESPACE_URL, s3_key)),
                    "file_name": path,
                    "file_size": len(data),
                    "file_type": kind,
                    "s3_url": f"s3://{data_path}/{task.task_id}/{path}",
                }
            )
        now = _iso(self.clock())
        return {
            "files": listing,
            "created": now,
            "task_id": task.task_id,
            "updated": now,
            "bundle_type": task.record["task_type"],
        }


_CONTENT_TYPES = {
    "tif": "image/tiff",
    "csv": "text/csv",
    "json": "application/json",
    "md": "text/markdown",
    "txt": "text/plain",
    "xml": "application/xml",
}


def _doy(day: dt.date) -> str:
    return f"{day.year}{day.timetuple().tm_yday:03d}"


def composite_dates(pid: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """Dates of the product's files within `[start, end]`: N-day composites start on days
    1, 1+N, … of each year; a static product has one file, at its first day."""
    product = catalogue.product(pid) or {}
    granularity = str(product.get("TemporalGranularity", "")).lower()
    first = dt.date.fromisoformat(product.get("TemporalExtentStart", "2000-01-01"))
    if granularity == "static":
        return [first]
    every = 1 if granularity == "daily" else int(granularity.split()[0])
    out = []
    day = max(start, first)
    while day <= end:
        if (day.timetuple().tm_yday - 1) % every == 0:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _date(text: Any, what: str) -> dt.date:
    try:
        return dt.datetime.strptime(str(text), "%m-%d-%Y").date()
    except ValueError:
        raise Invalid(f"{what} '{text}' is not a valid date (expected MM-DD-YYYY)") from None


def validate(body: Any) -> None:
    """AppEEARS's checks of a task request (messages in its style; the wording is a guess)."""
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    kind = body.get("task_type")
    if kind not in ("area", "point"):
        raise Invalid(f"'{kind}' is not a valid task_type. Choose 'area' or 'point'.")
    if not isinstance(body.get("task_name"), str) or not body["task_name"]:
        raise Invalid("A task_name is required.")
    params = body.get("params")
    if not isinstance(params, dict):
        raise Invalid("params is required.")
    dates = params.get("dates")
    if not isinstance(dates, list) or not dates:
        raise Invalid("At least one date range is required in params.dates.")
    spans = []
    for span in dates:
        if not isinstance(span, dict):
            raise Invalid("Each entry of params.dates needs startDate and endDate.")
        start = _date(span.get("startDate"), "startDate")
        end = _date(span.get("endDate"), "endDate")
        if start > end:
            raise Invalid(f"startDate {span['startDate']} is after endDate {span['endDate']}.")
        spans.append((start, end))
    layers = params.get("layers")
    if not isinstance(layers, list) or not layers:
        raise Invalid("At least one layer is required in params.layers.")
    for entry in layers:
        pid = entry.get("product") if isinstance(entry, dict) else None
        product = catalogue.product(str(pid))
        if product is None:
            raise Invalid(f"'{pid}' is not a valid product.")
        layer = entry.get("layer")
        if layer not in catalogue.LAYERS.get(str(pid), {}):
            raise Invalid(f"'{layer}' is not a valid layer for product '{pid}'.")
        first = dt.date.fromisoformat(product["TemporalExtentStart"])
        last_text = product["TemporalExtentEnd"]
        last = dt.date.max if last_text == "Present" else dt.date.fromisoformat(last_text)
        if all(end < first or start > last for start, end in spans):
            raise Invalid(
                f"The date range requested is outside of the temporal extent of "
                f"'{pid}' ({product['TemporalExtentStart']} to {last_text})."
            )
    if kind == "area":
        geo = params.get("geo")
        features = geo.get("features") if isinstance(geo, dict) else None
        if not features or not all(
            isinstance(f, dict)
            and isinstance(f.get("geometry"), dict)
            and f["geometry"].get("type") in ("Polygon", "MultiPolygon")
            for f in features
        ):
            raise Invalid("params.geo must be a GeoJSON FeatureCollection of polygons.")
        output = params.get("output") or {}
        fmt = (output.get("format") or {}).get("type")
        if fmt not in ("geotiff", "netcdf4"):
            raise Invalid(f"'{fmt}' is not a valid output format. Choose 'geotiff' or 'netcdf4'.")
        names = {p["Name"] for p in catalogue.projections()}
        if output.get("projection") not in names:
            raise Invalid(f"'{output.get('projection')}' is not a valid projection.")
    else:
        coordinates = params.get("coordinates")
        if not isinstance(coordinates, list) or not coordinates:
            raise Invalid("At least one coordinate is required in params.coordinates.")
