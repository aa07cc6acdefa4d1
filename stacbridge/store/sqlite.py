"""Embedded `Store` on one SQLite file: the default, shared by the workers of one host.

Why it is built this way:

* **One table** ``kv(key TEXT PRIMARY KEY, value BLOB, expires REAL)``.  Expiry is an absolute
  time of the store's clock (wall-clock seconds by default, so every process agrees on it).
* **WAL mode + busy timeout**: readers never block the writer and concurrent writers from
  several ``uvicorn --workers`` processes wait for each other instead of failing with
  "database is locked".  ``synchronous=NORMAL`` is durable against a crashed process (what a
  gateway restart is); a power cut may lose the last few writes, which for tokens, orders and
  caches only costs a re-login or a re-poll.
* **Every statement is a single autocommit statement**, hence atomic across processes without
  explicit transactions: `add` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``
  (so an expired key can be re-added) and `delete_if` is one ``DELETE ... WHERE value = ?``.
* **One dedicated thread per store** owns the connection and runs every call, so the event loop
  never blocks on disk or on the busy timeout, calls from one process are serialised in
  submission order (cheap: no connection pool, no locking in Python), and the connection is
  only ever used by the thread that created it.
* **Opportunistic purge**: at most once per ``purge_interval`` seconds a write also deletes
  expired rows (indexed on ``expires``); correctness never depends on it since reads filter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .base import Clock, ClosesOnExit, StoreClosedError, as_bytes, prefix_upper_bound

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key     TEXT PRIMARY KEY,
    value   BLOB NOT NULL,
    expires REAL
);
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL;
"""

_LIVE = "(expires IS NULL OR expires > ?)"

_UPSERT = (
    "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
)
# Same upsert, but the update only happens over an *expired* row: a live row makes the
# statement a no-op (0 rows changed), which is how `add` learns it lost.
_ADD = _UPSERT + " WHERE kv.expires IS NOT NULL AND kv.expires <= ?"


class SQLiteStore(ClosesOnExit):
    """A `Store` in a SQLite file; safe to share between processes on one host.

    ``path`` may be ``":memory:"`` (private to this instance; mostly useful in tests).  Parent
    directories are created.  The database is opened (and the schema created) in the
    constructor so a bad path fails at start-up rather than on the first request.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = time.time,
        busy_timeout: float = 10.0,
        purge_interval: float = 60.0,
    ) -> None:
        self.clock: Clock = clock
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.purge_interval = purge_interval
        self._next_purge = -math.inf
        self._closed = False
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stacbridge-sqlite")
        try:
            self._executor.submit(self._connect).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- worker-thread side ------------------------------------------------------------------

    def _connect(self) -> None:
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit: each statement is its own atomic transaction
            check_same_thread=True,  # only the store's own thread touches it
        )
        try:
            # Switching to WAL needs an exclusive lock and, when several workers start at once,
            # can report "locked" without going through the busy handler: retry briefly.
            deadline = time.monotonic() + self.busy_timeout
            while True:
                try:
                    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(_SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    msg = str(exc).lower()
                    if ("locked" not in msg and "busy" not in msg) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            if mode.lower() != "wal" and self.path != ":memory:":
                log.warning(
                    "SQLite store %s is in journal mode %r, not WAL; concurrent workers will "
                    "contend more (is it on a network file system?)",
                    self.path,
                    mode,
                )
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:  # pragma: no cover - only after aclose()
            raise StoreClosedError(f"{self!r} is closed")
        return self._conn

    def _purge(self, conn: sqlite3.Connection, now: float | None) -> None:
        if now is not None:
            conn.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (now,))

    def _get(self, key: str, now: float) -> bytes | None:
        row = self._db().execute(f"SELECT value FROM kv WHERE key = ? AND {_LIVE}", (key, now))
        found = row.fetchone()
        return None if found is None else bytes(found[0])

    def _set(self, key: str, value: bytes, expires: float | None, purge: float | None) -> None:
        conn = self._db()
        conn.execute(_UPSERT, (key, value, expires))
        self._purge(conn, purge)

    def _add(
        self, key: str, value: bytes, expires: float | None, now: float, purge: float | None
    ) -> bool:
        conn = self._db()
        added = conn.execute(_ADD, (key, value, expires, now)).rowcount == 1
        self._purge(conn, purge)
        return added

    def _delete(self, key: str) -> None:
        self._db().execute("DELETE FROM kv WHERE key = ?", (key,))

    def _delete_if(self, key: str, value: bytes, now: float) -> bool:
        cur = self._db().execute(
            f"DELETE FROM kv WHERE key = ? AND value = ? AND {_LIVE}", (key, value, now)
        )
        return cur.rowcount == 1

    def _scan(self, prefix: str, now: float) -> list[tuple[str, bytes]]:
        bound = prefix_upper_bound(prefix)
        if bound is None:
            sql = f"SELECT key, value FROM kv WHERE key >= ? AND {_LIVE} ORDER BY key"
            args: tuple[object, ...] = (prefix, now)
        else:
            sql = f"SELECT key, value FROM kv WHERE key >= ? AND key < ? AND {_LIVE} ORDER BY key"
            args = (prefix, bound, now)
        return [(k, bytes(v)) for k, v in self._db().execute(sql, args)]

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- event-loop side ---------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise StoreClosedError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _purge_due(self, now: float) -> float | None:
        """Decide on the loop thread whether this write should also sweep expired rows."""
        if now < self._next_purge:
            return None
        self._next_purge = now + self.purge_interval
        return now

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._get, key, self.clock())

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        now = self.clock()
        expires = None if ttl is None else now + ttl
        await self._run(self._set, key, as_bytes(value), expires, self._purge_due(now))

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        now = self.clock()
        expires = None if ttl is None else now + ttl
        return await self._run(self._add, key, as_bytes(value), expires, now, self._purge_due(now))

    async def delete(self, key: str) -> None:
        await self._run(self._delete, key)

    async def delete_if(self, key: str, value: bytes) -> bool:
        return await self._run(self._delete_if, key, as_bytes(value), self.clock())

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return await self._run(self._scan, prefix, self.clock())

    async def aclose(self) -> None:
        if self._closed:
            return
        try:
            await self._run(self._close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)
