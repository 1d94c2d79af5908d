"""The call log: what happened on each call, in SQLite, with sensitive digits masked.

Operators read it to see where callers go and where they give up. It is written on
the hot path of every webhook, so it is one small INSERT on a per-thread connection
in WAL mode, and it never raises: a full disk or a locked file costs a log line,
never a call.
"""

from __future__ import annotations

import json
import logging
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


class CallLog:
    """Append-only log of call events in one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._local.conn = conn
        return conn

    def record(
        self,
        call_sid: str,
        event: str,
        *,
        menu: str | None = None,
        node: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Add one event; never raises (a log fault must not break a call)."""
        try:
            self._connection().execute(
                "INSERT INTO events (at, call_sid, menu, event, node, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    call_sid or "unknown",
                    menu,
                    event,
                    node,
                    json.dumps(detail, ensure_ascii=False) if detail else None,
                ),
            )
        except Exception:
            log.warning("call log write failed for %s", call_sid, exc_info=True)

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        """Every event of one call, oldest first."""
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
