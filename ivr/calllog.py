"""The call log: what happened on each call, in SQLite, with sensitive digits masked.

Operators read it to see where callers go and where they give up. It is written on
every webhook, so a request only drops its event on an in-memory queue; a writer
thread per process commits what has queued up in one transaction. Requests never
wait on the disk or on another worker's lock, and a full disk or a locked file costs
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

_SCHEMA = """
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
_INSERT = (
    "INSERT INTO events (at, call_sid, menu, event, node, detail) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class CallLog:
    """Append-only log of call events in one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._pid = 0
        self._conn: sqlite3.Connection | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

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

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until every event queued so far is written."""
        if self._writer is None or self._pid != os.getpid():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout_s)

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        """Every event of one call, oldest first."""
        self.flush()
        rows = self._connection().execute(
            "SELECT at, menu, event, node, detail FROM events WHERE call_sid = ? "
            "ORDER BY id",
            (call_sid,),
        )
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

    def _connection(self) -> sqlite3.Connection:
        # One connection per process, used by the writer and by `events` readers;
        # sqlite3 serialises access to it.
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
            self._pid = os.getpid()
        return self._conn

    def _ensure_writer(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist.
        if self._writer is not None and self._pid == os.getpid():
            return
        self._queue = queue.SimpleQueue()
        self._conn = None
        self._connection()
        self._writer = threading.Thread(target=self._write_forever, daemon=True)
        self._writer.start()
        atexit.register(self.flush)

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
                    conn = self._connection()
                    with conn:  # one transaction for the whole batch
                        conn.execute("BEGIN")
                        conn.executemany(_INSERT, batch)
                except Exception:
                    log.warning("call log lost %d events", len(batch), exc_info=True)
            for waiter in waiters:
                waiter.set()
