"""The store: everything that must outlive a request, in one database.

The call log (one row per webhook), who waits in which queue, callback requests
and agents on shift live here, in SQLite by default (``instance/ivr.sqlite3``,
nothing to run) or PostgreSQL when several machines answer calls
(``IVR_DATABASE=postgresql://...``), through SQLAlchemy Core with Alembic
migrations applied on start.

Two ways in, by who is waiting for the answer:

- a **caller's** webhooks never wait on the store: what they write goes through
  the journaled background ``Writer`` (``record``, ``enqueued``, ``waited``,
  ``left``); the few reads a call needs (was a callback asked for? how many
  agents are on shift?) are bounded by a short time-out and have a fallback;
- the **agent line** waits for its transactions (``claim_next``, ``bridge``,
  ``finish``): an agent must not be given a caller someone else has.

The pure core never imports this package; the web layer and ``ivr report`` do.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ivr.store import lines
from ivr.store.database import Database
from ivr.store.lines import Work
from ivr.store.ops import apply_ops
from ivr.store.schema import agents, callbacks, calls, events, states, waiters
from ivr.store.writer import Writer

__all__ = ["CALL_PATH_TIMEOUT_S", "Store", "Work"]

log = logging.getLogger("ivr.store")

CALL_PATH_TIMEOUT_S = 1.0  # the longest a caller's webhook waits on the store
SCHEMA_RETRY_S = 5.0  # a store that could not be migrated is tried again after
ON_SHIFT_CACHE_S = 5.0
Pair = tuple[str, str]
SAID_EVERY_S = 60.0  # a fault on the call path is logged at most this often


class _Sparing:
    """Log a recurring fault once, then count it: a handful of lines an outage.

    In an outage every caller's webhook meets the same fault; the first is
    logged (with its traceback), the next ones only counted, and the count is
    said with the first line after ``SAID_EVERY_S``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._more: dict[str, int] = {}

    def warning(
        self, key: str, message: str, *args: object, trace: bool = False
    ) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < SAID_EVERY_S:
                self._more[key] = self._more.get(key, 0) + 1
                return
            self._last[key] = now
            more = self._more.pop(key, 0)
        if more:
            message += " (and %d more like it since the last such line)"
            args = (*args, more)
        log.warning(message, *args, exc_info=trace)


class Store:
    """The store at ``target``: a SQLite path or a ``postgresql://`` URL.

    ``spool_dir`` holds the writer's journal (``None``: in memory only, for
    throw-away stores such as ``ivr call``'s). ``clock`` gives seconds since the
    epoch; the app passes its own so tests and ``--at`` move time. ``sync``
    writes in the request's own thread (a line rung in process, on a simulated
    clock, where the next request must see the last one's writes). ``filer``
    leaves the filing to a filer process (``ivr.store.filer``; ``ivr serve``).
    """

    def __init__(
        self,
        target: str | Path,
        *,
        spool_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        sync: bool = False,
        filer: bool = False,
    ) -> None:
        self.target = str(target)
        self.database = Database(self.target)
        self.clock = clock
        self._schema_ok = False
        self._schema_tried = 0.0
        self._schema_lock = threading.Lock()
        self.writer = Writer(
            self.database,
            apply_ops,
            spool_dir,
            prepare=self.ensure_schema,
            sync=sync,
            filer=filer,
        )
        self._sparing = _Sparing()
        self._on_shift: tuple[float, dict[Pair, int], dict[Pair, int]] | None = None
        self._counts: dict[tuple[object, ...], tuple[float, int]] = {}
        try:
            self.ensure_schema()
        except Exception as error:  # the store may come up later
            log.warning(
                "store %s is not reachable yet (%s); calls go on, writes wait",
                self.shown,
                type(error).__name__,
            )

    @property
    def shown(self) -> str:
        """The target without a password, for logs."""
        if "://" in self.target and "@" in self.target:
            scheme, rest = self.target.split("://", 1)
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return self.target

    def ensure_schema(self) -> None:
        """Migrate once per process (retried at most every 5 s while it fails)."""
        if self._schema_ok:
            return
        with self._schema_lock:
            if self._schema_ok:
                return
            since = time.monotonic() - self._schema_tried
            if self._schema_tried and since < SCHEMA_RETRY_S:
                raise RuntimeError("the store's schema could not be brought up yet")
            self._schema_tried = time.monotonic()
            self.database.migrate()
            self._schema_ok = True

    def _write_tx(self, timeout_s: float | None = None) -> Any:
        self.ensure_schema()
        return self.database.transaction(write=True, timeout_s=timeout_s)

    def _read_tx(self, timeout_s: float | None = None) -> Any:
        self.ensure_schema()
        return self.database.transaction(timeout_s=timeout_s)

    def ping(self) -> bool:
        """Whether the store answers a query on its tables now (a bare
        ``SELECT 1`` would not even open a SQLite file)."""
        try:
            with self._read_tx(timeout_s=CALL_PATH_TIMEOUT_S) as conn:
                conn.execute(sa.select(calls.c.id).limit(1)).all()
            return True
        except Exception:
            return False

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until this process's queued writes are in the store."""
        return self.writer.flush(timeout_s)

    def close(self) -> None:
        self.flush()
        self.database.dispose()

    # -- the call log ------------------------------------------------------------

    def record(
        self,
        call_sid: str,
        event: str,
        *,
        menu: str | None = None,
        node: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Log one event of a call (queued; never raises)."""
        self.writer.put(
            {
                "op": "event",
                "at": self.clock(),
                "call_sid": call_sid or "unknown",
                "menu": menu,
                "event": event,
                "node": node,
                "detail": detail or None,
            }
        )

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        """Every event of one call, oldest first."""
        self.flush()
        with self._read_tx() as conn:
            rows = conn.execute(
                sa.select(
                    events.c.at,
                    events.c.menu,
                    events.c.event,
                    events.c.node,
                    events.c.detail,
                )
                .where(events.c.call_sid == call_sid)
                .order_by(events.c.id)
            ).mappings()
            return [{**row, "detail": row["detail"] or {}} for row in rows]

    # -- call records (``ivr.store.records``) -------------------------------------

    def call_records(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        menu: str | None = None,
        kind: str | None = "caller",
    ) -> list[dict[str, Any]]:
        """Call records started in [``since``, ``until``), oldest first.

        ``kind`` is ``caller`` (calls to the menus), ``agent`` (the agent line)
        or ``None`` for both.
        """
        self.flush()
        query = sa.select(calls).order_by(calls.c.started_at, calls.c.id)
        if since is not None:
            query = query.where(calls.c.started_at >= since)
        if until is not None:
            query = query.where(calls.c.started_at < until)
        if menu is not None:
            query = query.where(calls.c.menu == menu)
        if kind is not None:
            query = query.where(calls.c.kind == kind)
        with self._read_tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def outcome_counts(self) -> dict[str, int]:
        """Calls to the menus in the store by outcome (``in_progress``: none yet).

        Bounded by the call path's time-out: ``/metrics`` asks for it.
        """
        with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
            rows = conn.execute(
                sa.select(calls.c.outcome, sa.func.count())
                .where(calls.c.kind == "caller")
                .group_by(calls.c.outcome)
            ).all()
        return {outcome or "in_progress": int(n) for outcome, n in rows}

    def waiting_now(self) -> dict[Pair, int]:
        """Callers holding now per (menu, queue), by their waiter rows."""
        now = self.clock()
        with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
            rows = conn.execute(
                sa.select(waiters.c.menu, waiters.c.queue, sa.func.count())
                .where(
                    waiters.c.status.in_(lines.LIVE),
                    waiters.c.updated_at + waiters.c.stale_after_s > now,
                )
                .group_by(waiters.c.menu, waiters.c.queue)
            ).all()
        return {(menu, queue): int(n) for menu, queue, n in rows}

    # -- waiters (from the caller's webhooks, queued) ---------------------------------

    def enqueued(self, row: dict[str, Any]) -> None:
        """A caller joined a queue; ``row`` is the whole waiter row."""
        row = {**row, "status": "waiting", "updated_at": row["enqueued_at"]}
        self.writer.put({"op": "waiter", "row": row, "when": "newer"})

    def waited(self, row: dict[str, Any], *, position: int, now: float) -> None:
        """One hold round: the caller is still there, at ``position``."""
        changes = {"position": position, "updated_at": now}
        self.writer.put(
            {"op": "waiter", "row": {**row, **changes, "status": "waiting"},
             "set": changes}
        )  # fmt: skip

    def left(
        self, row: dict[str, Any], *, status: str, wait_s: float, now: float
    ) -> None:
        """The caller left the queue: ``status`` says how (abandoned, callback...)."""
        changes = {
            "status": status,
            "left_at": now,
            "wait_s": wait_s,
            "updated_at": now,
        }
        if status == "answered":
            changes["answered_at"] = now
        self.writer.put({"op": "waiter", "row": {**row, **changes}, "set": changes})

    # -- callbacks -----------------------------------------------------------------

    def ask_callback(self, row: dict[str, Any]) -> None:
        """Store a callback request now; if the store is down, queue it."""
        now = self.clock()
        row = {
            "asked_at": now,
            "due_at": now,
            "attempts": 0,
            # In line once the caller has left the queue (``callback_left_queue``).
            "status": "asked",
            "updated_at": now,
            **row,
        }
        try:
            with self._write_tx(CALL_PATH_TIMEOUT_S) as conn:
                lines.add_callback(conn, row)
        except Exception:
            self._sparing.warning(
                "callback", "store: callback request queued for later", trace=True
            )
            self.writer.put({"op": "callback", "row": row})

    def callback_left_queue(self, call_sid: str) -> None:
        """The caller left the queue for the callback they asked: put it in line.

        Bounded like every write on a caller's path; if it cannot be written
        now it goes through the writer (and at worst the callback comes due on
        its own a little later, ``lines.ASKED_TIMEOUT_S``).
        """
        now = self.clock()
        try:
            with self._write_tx(CALL_PATH_TIMEOUT_S) as conn:
                lines.callback_left_queue(conn, call_sid, now)
        except Exception:
            self._sparing.warning(
                "left", "store: callback of %s is put in line shortly", call_sid
            )
            self.writer.put({"op": "callback_left", "call_sid": call_sid, "at": now})

    def callback_for(self, call_sid: str) -> dict[str, Any] | None:
        """The callback request of a call, or None; raises if the store is down."""
        with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
            row = (
                conn.execute(
                    sa.select(callbacks).where(callbacks.c.call_sid == call_sid)
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def callbacks(self, **where: Any) -> list[dict[str, Any]]:
        """Callback rows matching ``where`` (column = value), oldest first."""
        self.flush()
        with self._read_tx() as conn:
            query = sa.select(callbacks).order_by(callbacks.c.id)
            for column, value in where.items():
                query = query.where(callbacks.c[column] == value)
            return [dict(row) for row in conn.execute(query).mappings()]

    def waiters(self, **where: Any) -> list[dict[str, Any]]:
        """Waiter rows matching ``where`` (column = value), oldest first."""
        self.flush()
        with self._read_tx() as conn:
            query = sa.select(waiters).order_by(waiters.c.id)
            for column, value in where.items():
                query = query.where(waiters.c[column] == value)
            return [dict(row) for row in conn.execute(query).mappings()]

    # -- agents (the agent line waits for these) ------------------------------------

    def agent_ready(self, agent: str, call_sid: str, serves: Sequence[Pair]) -> None:
        """The agent is on the line and waiting for work."""
        now = self.clock()
        row = {
            "id": agent,
            "call_sid": call_sid,
            "status": "ready",
            "serves": [list(pair) for pair in serves],
            "work": None,
            "since": now,
            "updated_at": now,
        }
        with self._write_tx() as conn:
            insert = lines.insert(conn, agents).values(**row)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["id"],
                    set_={k: v for k, v in row.items() if k not in ("id", "since")}
                    | {
                        "since": sa.case(
                            (agents.c.status == "off", now), else_=agents.c.since
                        )
                    },
                )
            )
        self._on_shift = None

    def agent_off(
        self, *, agent: str | None = None, call_sid: str | None = None
    ) -> bool:
        """The agent stopped (pressed 9, or their call ended); True if one was on."""
        now = self.clock()
        with self._write_tx() as conn:
            query = sa.update(agents).where(agents.c.status != "off")
            if agent is not None:
                query = query.where(agents.c.id == agent)
            if call_sid is not None:
                query = query.where(agents.c.call_sid == call_sid)
            result = conn.execute(
                query.values(status="off", work=None, updated_at=now, since=now)
            )
        self._on_shift = None
        return bool(result.rowcount)

    def claim_next(self, agent: str, pairs: Sequence[Pair]) -> Work | None:
        """The agent's next caller or callback (see ``lines.claim_next``)."""
        self.flush()  # this process's enqueues first, so none is passed over
        self._on_shift = None  # the agent is busy now
        with self._write_tx() as conn:
            return lines.claim_next(conn, agent, pairs, self.clock())

    def bridge(
        self, *, call_sid: str, agent: str, wait_s: float, row: dict[str, Any]
    ) -> None:
        """A caller was dequeued by ``agent`` (see ``lines.bridge``)."""
        now = self.clock()
        args = {
            "call_sid": call_sid,
            "agent": agent,
            "wait_s": wait_s,
            "now": now,
            "row": {"enqueued_at": now - wait_s, "stale_after_s": 300.0, **row},
        }
        try:
            with self._write_tx(CALL_PATH_TIMEOUT_S) as conn:
                lines.bridge(conn, **args)
        except Exception:
            # The caller is connected all the same; the record follows later.
            self._sparing.warning(
                "bridge", "store: who answered %s is written later", call_sid
            )
            self.writer.put({"op": "bridge", "args": args})

    def finish(self, *, agent: str, work: str, dial_status: str) -> str | None:
        """The agent's Dial ended (see ``lines.finish``)."""
        self._on_shift = None  # the agent is free again
        with self._write_tx() as conn:
            return lines.finish(
                conn, agent=agent, work=work, dial_status=dial_status, now=self.clock()
            )

    def waiting_counts(self, pairs: Sequence[Pair]) -> tuple[int, int]:
        """(callers waiting, callbacks due) in ``pairs``."""
        self.flush()
        with self._read_tx() as conn:
            return lines.waiting_counts(conn, pairs, self.clock())

    def on_shift(self) -> dict[Pair, int]:
        """Agents on shift (ready or busy) per (menu, queue) they serve.

        Read at most every few seconds per process and bounded by a short
        time-out: hold rounds ask for it, and a caller never waits on the store.
        An empty map means nobody has been on the agent line (or the store is
        down): the queues' day plans are all there is to go by.
        """
        return self._shift()[0]

    def ready(self) -> dict[Pair, int]:
        """Agents on shift and free now (at the agent line's prompt), per (menu,
        queue) they serve; read and cached with ``on_shift``."""
        return self._shift()[1]

    def _shift(self) -> tuple[dict[Pair, int], dict[Pair, int]]:
        cached = self._on_shift
        # On the store's clock: the app's, simulated in tests and ``ivr test``.
        now = self.clock()
        if cached is not None and 0 <= now - cached[0] < ON_SHIFT_CACHE_S:
            return cached[1], cached[2]
        counts: dict[Pair, int] = {}
        ready: dict[Pair, int] = {}
        try:
            with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
                rows = conn.execute(
                    sa.select(agents.c.serves, agents.c.status).where(
                        agents.c.status != "off"
                    )
                )
                for serves, status in rows:
                    for menu, queue in serves or ():
                        counts[(menu, queue)] = counts.get((menu, queue), 0) + 1
                        if status == "ready":
                            ready[(menu, queue)] = ready.get((menu, queue), 0) + 1
        except Exception:
            log.debug("store: agents on shift not readable", exc_info=True)
        self._on_shift = (now, counts, ready)
        return counts, ready

    def keep_state(self, token: str) -> str:
        """Keep a sealed state too long for a URL; return the short id for it.

        Written at once (the next request may come to another worker), bounded
        like every write on a caller's path; raises if the store cannot take it.
        """
        state_id = secrets.token_urlsafe(12)
        now = self.clock()
        with self._write_tx(CALL_PATH_TIMEOUT_S) as conn:
            conn.execute(sa.insert(states).values(id=state_id, token=token, at=now))
            # Now and then, clear the states of calls long over.
            if secrets.randbelow(100) == 0:
                conn.execute(sa.delete(states).where(states.c.at < now - 86400))
        return state_id

    def kept_state(self, state_id: str) -> str | None:
        """The sealed state kept under ``state_id`` (None if there is none)."""
        with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
            return conn.execute(
                sa.select(states.c.token).where(states.c.id == state_id)
            ).scalar_one_or_none()

    def ahead_of(self, menu: str, queue: str, priority: int) -> int:
        """Callers holding in ``queue`` at a higher priority than ``priority``.

        Twilio's ``QueuePosition`` counts only the caller's own priority level
        (its own Twilio queue); these are ahead of them too. Cached a few
        seconds and bounded by a short time-out (0 when the store cannot say).
        """
        return self._counted(
            ("ahead", menu, queue, priority),
            lambda conn, now: lines.ahead_of(conn, menu, queue, priority, now),
            "callers ahead",
        )

    def higher_joined(
        self, menu: str, queue: str, priority: int, window_s: float
    ) -> int:
        """Callers who joined ``queue`` at a priority above ``priority`` in the
        last ``window_s``: the rate at which they overtake the others.

        Cached a few seconds and bounded like ``ahead_of`` (0 when the store
        cannot say).
        """
        return self._counted(
            ("joined", menu, queue, priority),
            lambda conn, now: lines.joined_above(
                conn, menu, queue, priority, now - window_s
            ),
            "recent priority callers",
        )

    def _counted(
        self,
        key: tuple[object, ...],
        read: Callable[[Any, float], int],
        what: str,
    ) -> int:
        """A count a caller's webhook needs, cached ``ON_SHIFT_CACHE_S`` and
        bounded by ``CALL_PATH_TIMEOUT_S`` (0 when the store cannot say)."""
        now = self.clock()
        cached = self._counts.get(key)
        if cached is not None and 0 <= now - cached[0] < ON_SHIFT_CACHE_S:
            return cached[1]
        count = 0
        try:
            with self._read_tx(CALL_PATH_TIMEOUT_S) as conn:
                count = read(conn, now)
        except Exception:
            log.debug("store: %s not readable", what, exc_info=True)
        self._counts[key] = (now, count)
        return count

    def agent(self, agent: str) -> dict[str, Any] | None:
        with self._read_tx() as conn:
            row = conn.execute(sa.select(agents).where(agents.c.id == agent)).mappings()
            first = row.first()
            return dict(first) if first else None
