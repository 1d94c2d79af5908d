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

from ivr.store import filing
from ivr.store.schema import agents, callbacks, events, waiters

__all__ = [
    "OFFER_TIMEOUT_S",
    "Work",
    "ahead_of",
    "bridge",
    "callback_left_queue",
    "claim_next",
    "finish",
    "insert",
    "joined_above",
    "waiting_counts",
]

# An offered caller not bridged within this long goes back in line (the agent
# hung up before the Dial, or the Dial never reached Twilio).
OFFER_TIMEOUT_S = 90.0
# A callback dial with no result after this long counts as a failed attempt.
DIAL_TIMEOUT_S = 180.0
# A callback is "asked" until the caller has left the queue for it ("pending"):
# until then an agent may still take them live. If word of their leaving never
# comes, it is due after this long all the same.
ASKED_TIMEOUT_S = 120.0
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


def insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT of this dialect (both have ON CONFLICT: upserts)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _facts(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(label), str(value)) for label, value in raw or ())


def _log_on_call(
    conn: Connection, call_sid: str, event: str, now: float, **detail: Any
) -> None:
    """Log an event of the agent line on a caller's call, and refresh its record."""
    row = {"at": now, "call_sid": call_sid, "event": event, "detail": detail or None}
    conn.execute(sa.insert(events).values(**row))
    filing.refresh(conn, [row])


# -- the agents' side (synchronous, in write transactions) -----------------------


def add_callback(conn: Connection, row: dict[str, Any]) -> bool:
    """Store a callback request; False if this call already asked for one."""
    result = conn.execute(
        insert(conn, callbacks)
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
                    callbacks.c.status == "asked",
                    callbacks.c.asked_at < now - ASKED_TIMEOUT_S,
                ),
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
    offered to this agent goes back in line. A callback the caller asked for in
    the same instant is canceled: they have been served. ``row`` inserts the
    caller if their enqueue has not landed in the store (yet).
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
        insert(conn, waiters)
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
    # A caller who pressed 1 for a callback as an agent took them is served:
    # nobody must call them back.
    conn.execute(
        sa.update(callbacks)
        .where(
            callbacks.c.call_sid == call_sid,
            callbacks.c.status.in_(("asked", "pending")),
        )
        .values(status="canceled", updated_at=now, last_result="answered live")
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
            sa.or_(
                sa.and_(callbacks.c.status == "pending", callbacks.c.due_at <= now),
                sa.and_(
                    callbacks.c.status == "asked",
                    callbacks.c.asked_at < now - ASKED_TIMEOUT_S,
                ),
            ),
        )
    ).scalar_one()
    return int(callers), int(due)


def ahead_of(conn: Connection, menu: str, queue: str, priority: int, now: float) -> int:
    """Callers still holding in ``queue`` of ``menu`` above ``priority``."""
    return _above(
        conn,
        menu,
        queue,
        priority,
        waiters.c.status == "waiting",
        waiters.c.updated_at + waiters.c.stale_after_s > now,
    )


def _above(conn: Connection, menu: str, queue: str, priority: int, *more: Any) -> int:
    """Waiter records of ``queue`` of ``menu`` above ``priority``, and ``more``."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(waiters)
            .where(
                waiters.c.menu == menu,
                waiters.c.queue == queue,
                waiters.c.priority > priority,
                *more,
            )
        ).scalar_one()
    )


def callback_left_queue(conn: Connection, call_sid: str, now: float) -> None:
    """The caller left the queue for their callback: it is in line from now on."""
    conn.execute(
        sa.update(callbacks)
        .where(callbacks.c.call_sid == call_sid, callbacks.c.status == "asked")
        .values(status="pending", updated_at=now)
    )


def joined_above(
    conn: Connection, menu: str, queue: str, priority: int, since: float
) -> int:
    """Callers who joined ``queue`` of ``menu`` above ``priority`` after ``since``
    (however their wait ended: they went ahead of whoever was holding)."""
    return _above(conn, menu, queue, priority, waiters.c.enqueued_at > since)
