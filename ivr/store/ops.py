"""The writes a caller's webhooks hand to the writer, applied in batches.

Each op is a plain JSON-able dict (it travels through the writer's journal):
``event`` (a call-log row), ``waiter`` (an upsert of who waits where, guarded so
that writes landing out of order or replayed after an outage do no harm),
``callback`` (a request that could not be stored at once), ``bridge`` and
``callback_left`` (the agent line's record of who answered whom, and a callback
put in line, when the store was too busy for them in the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ivr.store import filing, prepared
from ivr.store.lines import (
    LIVE,
    add_callback,
    bridge,
    callback_left_queue,
    insert,
)
from ivr.store.schema import events, waiters

__all__ = ["apply_ops"]


def apply_ops(conn: Connection, ops: Sequence[dict[str, Any]]) -> None:
    """Apply the writer's ops in order in one transaction."""
    event_rows: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    for op in ops:
        kind = op.get("op")
        if kind == "event":
            event_rows.append(
                {
                    "at": op["at"],
                    "call_sid": op["call_sid"],
                    "menu": op.get("menu"),
                    "event": op["event"],
                    "node": op.get("node"),
                    "detail": op.get("detail"),
                    "op_id": op["id"],
                }
            )
            continue
        if event_rows:
            _insert_events(conn, event_rows)
            logged += event_rows
            event_rows = []
        if kind == "waiter":
            _upsert_waiter(conn, op)
        elif kind == "bridge":
            bridge(conn, **op["args"])
        elif kind == "callback_left":
            callback_left_queue(conn, op["call_sid"], op["at"])
        elif kind == "callback":
            add_callback(conn, op["row"])
    if event_rows:
        _insert_events(conn, event_rows)
        logged += event_rows
    # Last, the record of every call with a new event (``ivr.store.filing``).
    filing.refresh(conn, logged)


_EVENT_COLUMNS = ("at", "call_sid", "menu", "event", "node", "detail", "op_id")


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the events; a replayed one (its ``op_id`` known) is skipped.
    Compiled once per dialect and given plain values (``prepared``): SQLAlchemy's
    work per row cost more than the insert itself."""
    statement = prepared.statement(conn, _event_insert)
    if statement.names != _EVENT_COLUMNS:  # the table's order: the tuples' too
        raise RuntimeError(f"events are inserted as {statement.names}")
    encode = prepared.encode
    prepared.run_values(
        conn,
        statement,
        [
            (row["at"], row["call_sid"], row["menu"], row["event"], row["node"],
             encode(row["detail"]), row["op_id"])
            for row in rows
        ],
    )  # fmt: skip


def _event_insert(conn: Connection) -> Any:
    values = {name: sa.bindparam(name, type_=events.c[name].type)
              for name in _EVENT_COLUMNS}  # fmt: skip
    return (
        insert(conn, events)
        .values(values)
        .on_conflict_do_nothing(index_elements=["op_id"])
    )


def _upsert_waiter(conn: Connection, op: dict[str, Any]) -> None:
    """Insert the waiter, or update it if the guard allows.

    Ops from several workers may land out of order, or be replayed after an
    outage, so each carries the whole row (to insert if the enqueue has not
    landed yet) and a guard: ``newer`` (a later enqueue of the same call) or the
    statuses it may change (a hold round never reopens an answered caller).
    """
    row, changes, guard = op["row"], op.get("set") or {}, op.get("when", "live")
    upsert = insert(conn, waiters).values(**row)
    if guard == "newer":
        # Every write of one wait names the moment it began (sealed in the
        # call's URLs): only a later wait of the same call starts over.
        where = upsert.excluded.enqueued_at > waiters.c.enqueued_at
    else:
        where = waiters.c.status.in_(LIVE)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["call_sid"], set_=changes or dict(row), where=where
        )
    )
