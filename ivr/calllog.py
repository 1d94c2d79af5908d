"""The call log: what happened on each call, with sensitive digits masked.

Operators read it to see where callers go and where they give up. It lives in
SQLite by default (one file, nothing to run) or in PostgreSQL when several machines
answer calls (``postgresql://...``). It is written on every webhook, so a request
only drops its event on an in-memory queue; a writer thread per process commits
what has queued up in one transaction. Requests never wait on the disk, the
network or another worker's lock, and a full disk or a database that is down costs
a log line, never a call.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MASK", "CallLog"]

MASK = "***"
log = logging.getLogger(__name__)


class _Sqlite:
    """One SQLite file (or ``:memory:``), in WAL mode so readers never block."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    call_sid TEXT NOT NULL,
    menu TEXT,
    event TEXT NOT NULL,
    node TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_call ON events (call_sid, at);
"""
    INSERT = (
        "INSERT INTO events (at, call_sid, menu, event, node, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    SELECT = (
        "SELECT at, menu, event, node, detail FROM events WHERE call_sid = ? "
        "ORDER BY id"
    )

    def __init__(self, path: str) -> None:
        self.path = path

    def connect(self) -> Any:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(self.SCHEMA)
        return conn

    def write(self, conn: Any, rows: list[tuple]) -> None:
        with conn:  # one transaction for the whole batch
            conn.execute("BEGIN")
            conn.executemany(self.INSERT, rows)

    def read(self, conn: Any, call_sid: str) -> list[tuple]:
        return list(conn.execute(self.SELECT, (call_sid,)))


class _Postgres:
    """A PostgreSQL database shared by every machine that answers calls."""

    SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    call_sid TEXT NOT NULL,
    menu TEXT,
    event TEXT NOT NULL,
    node TEXT,
    detail JSONB
);
CREATE INDEX IF NOT EXISTS events_call ON events (call_sid, at);
"""
    INSERT = (
        "INSERT INTO events (at, call_sid, menu, event, node, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
    )
    SELECT = (
        "SELECT at, menu, event, node, detail::text FROM events WHERE call_sid = %s "
        "ORDER BY id"
    )

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        try:
            import psycopg
        except ImportError as error:  # an optional dependency
            raise RuntimeError(
                "a postgresql:// call log needs psycopg: pip install 'ivrkit[postgres]'"
            ) from error
        conn = psycopg.connect(self.url, connect_timeout=5)
        with conn.transaction():
            # Several workers may start at once: one creates, the others wait.
            conn.execute("SELECT pg_advisory_xact_lock(5151)")
            conn.execute(self.SCHEMA)
        return conn

    def write(self, conn: Any, rows: list[tuple]) -> None:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(self.INSERT, rows)

    def read(self, conn: Any, call_sid: str) -> list[tuple]:
        with conn.transaction():
            return list(conn.execute(self.SELECT, (call_sid,)))


class CallLog:
    """Append-only log of call events: a SQLite path or a ``postgresql://`` URL."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self._store = (
            _Postgres(self.target)
            if self.target.startswith(("postgresql://", "postgres://"))
            else _Sqlite(self.target)
        )
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._pid = 0
        self._conn: Any = None
        self._lock = threading.Lock()  # one connection, used by writer and readers

    def record(
        self,
        call_sid: str,
        event: str,
        *,
        menu: str | None = None,
        node: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one event to write; never raises: a log fault must not break a call."""
        try:
            self._ensure_writer()
            row = (
                time.time(),
                call_sid or "unknown",
                menu,
                event,
                node,
                json.dumps(detail, ensure_ascii=False) if detail else None,
            )
            self._queue.put(row)
        except Exception:  # logging is best effort by design
            log.warning("call log write failed for %s", call_sid, exc_info=True)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every event queued so far is written; False on time-out."""
        if self._writer is None or self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        """Every event of one call, oldest first."""
        self.flush()
        with self._lock:
            rows = self._store.read(self._connection(), call_sid)
        return [
            {
                "at": at,
                "menu": menu,
                "event": event,
                "node": node,
                "detail": json.loads(detail) if detail else {},
            }
            for at, menu, event, node, detail in rows
        ]

    # -- the writer ------------------------------------------------------------

    def _connection(self) -> Any:
        """This process's connection (callers hold ``_lock``)."""
        if self._conn is None or self._pid != os.getpid():
            self._conn = self._store.connect()
            self._pid = os.getpid()
        return self._conn

    def _ensure_writer(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist.
        if self._writer is not None and self._pid == os.getpid():
            return
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()  # a lock copied mid-use by fork stays held
        self._conn = None
        self._pid = os.getpid()
        self._writer = threading.Thread(target=self._write_forever, daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def _drop_connection(self) -> None:
        with self._lock:
            try:
                if self._conn is not None:
                    self._conn.close()
            except Exception:  # the connection is already broken
                pass
            self._conn = None

    def _write_forever(self) -> None:
        while True:
            batch, waiters = [], []
            item = self._queue.get()
            while True:
                (waiters if isinstance(item, threading.Event) else batch).append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    with self._lock:
                        self._store.write(self._connection(), batch)
                except Exception:
                    log.warning("call log lost %d events", len(batch), exc_info=True)
                    self._drop_connection()  # reconnect for the next batch
            for waiter in waiters:
                waiter.set()
