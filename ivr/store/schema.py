"""The store's tables, one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Times are seconds since the epoch (floats): the same on both databases, cheap to
compare, and what the app's clock gives. ``detail`` and ``facts`` are JSON.

- ``events``: the call log, one row per webhook (written off the request path).
- ``waiters``: who waits in which queue, since when, with the facts the menu
  collected, and how their wait ended (answered by whom, abandoned, ...).
- ``callbacks``: callback requests, their place in line and their attempts.
- ``agents``: agents on shift (from the agent line), ready or on a call.
- ``calls``: one record per call, derived from its events (``ivr.store.records``):
  where it went, how it ended, how long it waited, what it was told.

Schema changes are Alembic migrations in ``ivr/store/migrations``; this module is
the shape the newest migration produces, used by the queries.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["agents", "callbacks", "calls", "events", "metadata", "waiters"]

metadata = MetaData()

# SQLite gives an INTEGER PRIMARY KEY its rowid (autoincrement); BIGINT would not.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("call_sid", String, nullable=False),
    Column("menu", String),
    Column("event", String, nullable=False),
    Column("node", String),
    Column("detail", Json),
    # The writer's id for the row: a row replayed after a crash is not doubled.
    Column("op_id", String),
    Index("events_call", "call_sid", "at"),
    Index("events_op", "op_id", unique=True),
)

waiters = Table(
    "waiters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_sid", String, nullable=False),
    Column("menu", String, nullable=False),
    Column("queue", String, nullable=False),
    Column("node", String),
    Column("priority", Integer, nullable=False, default=0),
    Column("twilio_queue", String, nullable=False),
    Column("topic", String),
    Column("facts", Json),
    Column("caller", String),
    Column("enqueued_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("stale_after_s", Float, nullable=False, default=300.0),
    Column("position", Integer),
    # waiting, offered (an agent was given it), answered, abandoned, callback,
    # overflow, closed
    Column("status", String, nullable=False),
    Column("agent", String),
    Column("offered_at", Float),
    Column("answered_at", Float),
    Column("left_at", Float),
    Column("wait_s", Float),
    Index("waiters_call", "call_sid", unique=True),
    Index("waiters_line", "status", "menu", "queue", "priority", "enqueued_at"),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_sid", String, nullable=False),
    Column("menu", String, nullable=False),
    Column("queue", String, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("number", String, nullable=False),
    Column("topic", String),
    Column("facts", Json),
    Column("asked_at", Float, nullable=False),
    Column("since", Float, nullable=False),  # place in line: when they first queued
    Column("due_at", Float, nullable=False),
    Column("expected_at", Float),  # what the caller was told
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("retry_after_s", Float, nullable=False, default=300.0),
    # asked (the caller has not left the queue yet), pending, dialing, reached,
    # failed, canceled (answered live after all)
    Column("status", String, nullable=False),
    Column("agent", String),
    Column("dialed_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("last_result", String),
    Index("callbacks_call", "call_sid", unique=True),
    Index("callbacks_line", "status", "menu", "queue", "priority", "since"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String, primary_key=True),
    Column("call_sid", String),  # the agent's own call to the agent line
    Column("status", String, nullable=False),  # ready, busy, off
    Column("serves", Json),  # [[menu, queue], ...] as the roster said
    Column("work", String),  # "waiter:ID" or "callback:ID" while busy
    Column("since", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("call_sid", String, nullable=False),
    Column("kind", String, nullable=False),  # caller, agent (the agent line)
    Column("menu", String),
    Column("caller", String),  # the call's From, as Twilio gave it
    Column("called", String),  # the call's To
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("path", Json),  # node ids entered, in order
    Column("last_node", String),
    Column("choices", Json),  # [[menu node, key], ...]
    Column("inputs", Integer, nullable=False, default=0),  # answers to a gather
    Column("no_input", Integer, nullable=False, default=0),  # of them silent
    Column("served", Boolean, nullable=False, default=False),  # heard an answer
    Column("gave_up_at", String),  # the node whose retries ran out (last)
    # see ivr.outcomes.OUTCOMES; NULL while the call goes on
    Column("outcome", String),
    Column("queue", String),
    Column("topic", String),
    Column("enqueued_at", Float),
    # answered, abandoned, callback, overflow, closed (as the waiter left)
    Column("queue_result", String),
    Column("wait_s", Float),
    Column("agent", String),
    Column("callback", String),  # asked, placed, reached, failed
    Column("callback_attempts", Integer, nullable=False, default=0),
    Column("recording_url", String),
    Column("recording_s", Float),
    Column("transfer", String),  # the transfer's DialCallStatus
    Column("announcements", Json),  # [{at, position, estimate_s, said, offer}]
    Column("status", String),  # Twilio's last CallStatus
    Column("duration_s", Float),
    Column("faults", Integer, nullable=False, default=0),
    Column("serves", Json),  # an agent call: [[menu, queue], ...]
    Column("fold", Json),  # what the next event needs besides (records.derive)
    Index("calls_call", "call_sid", unique=True),
    Index("calls_when", "started_at"),
)

# A call's sealed state too long for a URL (a lookup that returned long text a
# later prompt reads), kept here behind a short token; rows older than a day
# (no call lasts that long) are cleared.
states = Table(
    "states",
    metadata,
    Column("id", String, primary_key=True),
    Column("token", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("states_at", "at"),
)
