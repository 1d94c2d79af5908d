"""Who waits for a person, and who takes them: waiters, callbacks and agents.

The queue itself is Twilio's (``<Enqueue>``); the store keeps the *record* of who
waits where, so an agent who calls the agent line can be given the right caller
and hear what they came for. Three kinds of rows:

- a **waiter** per caller in a queue: written on enqueue, touched every hold
  round, closed when they leave (answered, hung up, took a callback...);
- a **callback** per accepted offer: its place in line is when the caller first
  queued; each attempt to reach them is counted, a failed one retried later;
- an **agent** per person on shift: ready, or busy with one piece of work.

``claim_next`` is the heart: across the queues an agent serves (open ones only),
the highest priority first, then whoever has waited longest, live callers and due
callbacks alike. It runs in a write transaction that locks what it reads (SQLite's
``BEGIN IMMEDIATE``; PostgreSQL's ``FOR UPDATE SKIP LOCKED``), so two agents
asking at the same instant never get the same row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ivr.store import records
from ivr.store.schema import agents, callbacks, events, waiters

__all__ = [
    "OFFER_TIMEOUT_S",
    "Work",
    "ahead_of",
    "apply_ops",
    "bridge",
    "claim_next",
    "finish",
    "waiting_counts",
]

# An offered caller not bridged within this long goes back in line (the agent
# hung up before the Dial, or the Dial never reached Twilio).
OFFER_TIMEOUT_S = 90.0
# A callback dial with no result after this long counts as a failed attempt.
DIAL_TIMEOUT_S = 180.0
LIVE = ("waiting", "offered")


@dataclass(frozen=True)
class Work:
    """The next piece of work for an agent: a live caller or a callback."""

    kind: str  # "caller" or "callback"
    id: int
    menu: str
    queue: str
    priority: int
    since: float  # waiting since (a callback keeps the caller's place)
    topic: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    twilio_queue: str | None = None  # a caller: the Twilio queue holding them
    call_sid: str | None = None
    number: str | None = None  # a callback: whom to dial
    attempt: int = 0  # a callback: this attempt's number (1 = first)
    asked_at: float | None = None  # a callback: when the caller asked for it

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


def _insert(conn: Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _facts(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(label), str(value)) for label, value in raw or ())


# -- writes from the call path (through the writer, in batches) --------------------


def apply_ops(conn: Connection, ops: Sequence[dict[str, Any]]) -> None:
    """Apply the writer's ops in order in one transaction.

    Last, the call records of every call with a new event are written again
    from their events (``ivr.store.records``).
    """
    event_rows = []
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
        elif kind == "callback":
            add_callback(conn, op["row"])
    if event_rows:
        _insert_events(conn, event_rows)
        logged += event_rows
    records.refresh(conn, logged)


def _log_on_call(
    conn: Connection, call_sid: str, event: str, now: float, **detail: Any
) -> None:
    """Log an event of the agent line on a caller's call, and refresh its record."""
    row = {"at": now, "call_sid": call_sid, "event": event, "detail": detail or None}
    conn.execute(sa.insert(events).values(**row))
    records.refresh(conn, [row])


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(
        _insert(conn, events).on_conflict_do_nothing(index_elements=["op_id"]), rows
    )


def _upsert_waiter(conn: Connection, op: dict[str, Any]) -> None:
    """Insert the waiter, or update it if the guard allows.

    Ops from several workers may land out of order, or be replayed after an
    outage, so each carries the whole row (to insert if the enqueue has not
    landed yet) and a guard: ``newer`` (a later enqueue of the same call) or the
    statuses it may change (a hold round never reopens an answered caller).
    """
    row, changes, guard = op["row"], op.get("set") or {}, op.get("when", "live")
    insert = _insert(conn, waiters).values(**row)
    if guard == "newer":
        where = insert.excluded.enqueued_at > waiters.c.enqueued_at
    else:
        where = waiters.c.status.in_(LIVE)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["call_sid"], set_=changes or dict(row), where=where
        )
    )


# -- the agents' side (synchronous, in write transactions) -----------------------


def add_callback(conn: Connection, row: dict[str, Any]) -> bool:
    """Store a callback request; False if this call already asked for one."""
    result = conn.execute(
        _insert(conn, callbacks)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["call_sid"])
    )
    return bool(result.rowcount)


def _served(table: sa.Table, pairs: Iterable[tuple[str, str]]) -> Any:
    pairs = list(pairs)
    return sa.or_(
        *(sa.and_(table.c.menu == menu, table.c.queue == q) for menu, q in pairs)
    )


def _next_waiter(conn: Connection, pairs: list[tuple[str, str]], now: float) -> Any:
    query = (
        sa.select(waiters)
        .where(
            _served(waiters, pairs),
            sa.or_(
                waiters.c.status == "waiting",
                sa.and_(
                    waiters.c.status == "offered",
                    waiters.c.offered_at < now - OFFER_TIMEOUT_S,
                ),
            ),
            waiters.c.updated_at + waiters.c.stale_after_s > now,
        )
        .order_by(waiters.c.priority.desc(), waiters.c.enqueued_at, waiters.c.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).mappings().first()


def _next_callback(conn: Connection, pairs: list[tuple[str, str]], now: float) -> Any:
    query = (
        sa.select(callbacks)
        .where(
            _served(callbacks, pairs),
            sa.or_(
                sa.and_(callbacks.c.status == "pending", callbacks.c.due_at <= now),
                sa.and_(
                    callbacks.c.status == "dialing",
                    callbacks.c.dialed_at < now - DIAL_TIMEOUT_S,
                ),
            ),
        )
        .order_by(callbacks.c.priority.desc(), callbacks.c.since, callbacks.c.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).mappings().first()


def claim_next(
    conn: Connection, agent: str, pairs: Sequence[tuple[str, str]], now: float
) -> Work | None:
    """Give ``agent`` the next caller or due callback among ``pairs``, or None.

    ``pairs`` are the (menu, queue) pairs the agent serves that are open now.
    Must run in a write transaction (``Database.transaction(write=True)``).
    """
    pairs = list(pairs)
    if not pairs:
        return None
    waiter = _next_waiter(conn, pairs, now)
    callback = _next_callback(conn, pairs, now)
    take_callback = callback is not None and (
        waiter is None
        or (callback["priority"], -callback["since"])
        > (waiter["priority"], -waiter["enqueued_at"])
    )
    if take_callback:
        attempts = callback["attempts"]
        if callback["status"] == "dialing" and attempts >= callback["max_attempts"]:
            # The last attempt never reported back: give up on it, look again.
            conn.execute(
                sa.update(callbacks)
                .where(callbacks.c.id == callback["id"])
                .values(status="failed", updated_at=now, last_result="no-report")
            )
            _log_on_call(
                conn, callback["call_sid"], "callback_failed", now,
                attempt=attempts, status="no-report",
            )  # fmt: skip
            return claim_next(conn, agent, pairs, now)
        conn.execute(
            sa.update(callbacks)
            .where(callbacks.c.id == callback["id"])
            .values(
                status="dialing",
                agent=agent,
                dialed_at=now,
                attempts=attempts + 1,
                updated_at=now,
            )
        )
        _log_on_call(
            conn, callback["call_sid"], "callback_placed", now,
            agent=agent, attempt=attempts + 1,
        )  # fmt: skip
        work = Work(
            kind="callback",
            id=callback["id"],
            menu=callback["menu"],
            queue=callback["queue"],
            priority=callback["priority"],
            since=callback["since"],
            topic=callback["topic"],
            facts=_facts(callback["facts"]),
            call_sid=callback["call_sid"],
            number=callback["number"],
            attempt=attempts + 1,
            asked_at=callback["asked_at"],
        )
    elif waiter is not None:
        conn.execute(
            sa.update(waiters)
            .where(waiters.c.id == waiter["id"])
            .values(status="offered", agent=agent, offered_at=now)
        )
        work = Work(
            kind="caller",
            id=waiter["id"],
            menu=waiter["menu"],
            queue=waiter["queue"],
            priority=waiter["priority"],
            since=waiter["enqueued_at"],
            topic=waiter["topic"],
            facts=_facts(waiter["facts"]),
            twilio_queue=waiter["twilio_queue"],
            call_sid=waiter["call_sid"],
        )
    else:
        return None
    conn.execute(
        sa.update(agents)
        .where(agents.c.id == agent)
        .values(status="busy", work=work.ref, updated_at=now)
    )
    return work


def bridge(
    conn: Connection,
    *,
    call_sid: str,
    agent: str,
    wait_s: float,
    now: float,
    row: dict[str, Any],
) -> None:
    """The caller ``call_sid`` was dequeued by ``agent``: answered, after ``wait_s``.

    Twilio's queue is first come, first served: when two agents dial the same
    queue at once, each gets whoever is in front *then*, which may be the caller
    the other agent was offered. So the bridge, not the offer, says who answered
    whom: the caller is marked answered by this agent, and any other caller
    offered to this agent goes back in line. ``row`` inserts the caller if their
    enqueue has not landed in the store (yet).
    """
    answered = {
        "status": "answered",
        "agent": agent,
        "answered_at": now,
        "left_at": now,
        "wait_s": wait_s,
        "updated_at": now,
    }
    conn.execute(
        _insert(conn, waiters)
        .values(**{**row, **answered, "call_sid": call_sid})
        .on_conflict_do_update(index_elements=["call_sid"], set_=answered)
    )
    conn.execute(
        sa.update(waiters)
        .where(
            waiters.c.agent == agent,
            waiters.c.status == "offered",
            waiters.c.call_sid != call_sid,
        )
        .values(status="waiting", agent=None, offered_at=None)
    )


def finish(
    conn: Connection,
    *,
    agent: str,
    work: str,
    dial_status: str,
    now: float,
) -> str | None:
    """The agent's Dial for ``work`` ended with ``dial_status``; the agent is ready.

    A caller not bridged goes back in line. A callback answered is ``reached``;
    busy, no answer or failed is retried after the queue's delay until its
    attempts are used up, then ``failed``. Returns the callback's new status.
    """
    kind, _, raw_id = work.partition(":")
    result = None
    if kind == "caller" and dial_status != "completed":
        conn.execute(
            sa.update(waiters)
            .where(
                waiters.c.id == int(raw_id),
                waiters.c.agent == agent,
                waiters.c.status == "offered",
            )
            .values(status="waiting", agent=None, offered_at=None)
        )
    elif kind == "callback":
        row = (
            conn.execute(sa.select(callbacks).where(callbacks.c.id == int(raw_id)))
            .mappings()
            .first()
        )
        if row is not None and row["status"] == "dialing":
            if dial_status in ("completed", "answered"):
                values: dict[str, Any] = {"status": "reached"}
            elif row["attempts"] >= row["max_attempts"]:
                values = {"status": "failed"}
            else:
                values = {"status": "pending", "due_at": now + row["retry_after_s"]}
            values.update(updated_at=now, last_result=dial_status, agent=None)
            conn.execute(
                sa.update(callbacks).where(callbacks.c.id == row["id"]).values(values)
            )
            result = values["status"]
            state = {"pending": "retry"}.get(result, result)
            _log_on_call(
                conn, row["call_sid"], f"callback_{state}", now,
                attempt=row["attempts"], status=dial_status,
            )  # fmt: skip
    conn.execute(
        sa.update(agents)
        .where(agents.c.id == agent)
        .values(status="ready", work=None, updated_at=now)
    )
    return result


def waiting_counts(
    conn: Connection, pairs: Sequence[tuple[str, str]], now: float
) -> tuple[int, int]:
    """(callers waiting, callbacks due) in ``pairs``, as an agent would be told."""
    pairs = list(pairs)
    if not pairs:
        return 0, 0
    callers = conn.execute(
        sa.select(sa.func.count())
        .select_from(waiters)
        .where(
            _served(waiters, pairs),
            waiters.c.status == "waiting",
            waiters.c.updated_at + waiters.c.stale_after_s > now,
        )
    ).scalar_one()
    due = conn.execute(
        sa.select(sa.func.count())
        .select_from(callbacks)
        .where(
            _served(callbacks, pairs),
            callbacks.c.status == "pending",
            callbacks.c.due_at <= now,
        )
    ).scalar_one()
    return int(callers), int(due)


def ahead_of(conn: Connection, menu: str, queue: str, priority: int, now: float) -> int:
    """Callers still holding in ``queue`` of ``menu`` above ``priority``."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(waiters)
            .where(
                waiters.c.menu == menu,
                waiters.c.queue == queue,
                waiters.c.priority > priority,
                waiters.c.status == "waiting",
                waiters.c.updated_at + waiters.c.stale_after_s > now,
            )
        ).scalar_one()
    )
