"""The two clocks of a switchboard: simulated lock-step time, or real time.

Every call on a switchboard runs in its own thread, and every moment a call
spends (a ``<Say>``, a ``<Pause>``, a conversation, waiting for someone) goes
through its clock. The lock-step clock is a director with a single baton: only
the call holding it runs, and it is always handed to the call whose simulated
time is earliest, so a run is fully deterministic. The real-time clock lets
every thread run at once and turns simulated seconds into real ones.

A call that waits can be woken early by another (``wake``): a ``<Dial>`` that
takes it from its queue, a caller joining the queue it dials. A wake-up carries
a *signal*; an :class:`Interrupted` one is raised in the woken call.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.caller.inputs import CallResult

if TYPE_CHECKING:
    from ivr.caller.switchboard import Bridge, CallHandle

__all__ = [
    "Closed",
    "Dequeued",
    "GaveUp",
    "Interrupted",
    "LockStepClock",
    "Party",
    "RealTimeClock",
    "Stalled",
]

STALL_AFTER_S = 60.0  # real time: the longest a call waits on another


class Interrupted(Exception):
    """Something from outside the call stops what it is doing."""


class Dequeued(Interrupted):
    """Another call's ``<Dial><Queue>`` took this caller from its queue."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__("dequeued")
        self.bridge = bridge


class Closed(Interrupted):
    """The switchboard reached its ``until_s``: calls still going are hung up."""


class Stalled(Interrupted):
    """Every call left waits on another: nothing can happen any more."""


class GaveUp(Interrupted):
    """The caller's patience ran out while holding."""


class Party:
    """One call's seat on the switchboard: its thread, its turn, what wakes it."""

    def __init__(self, handle: CallHandle, body: Callable[[], CallResult]) -> None:
        self.handle = handle
        self.body = body
        self.talk_s: float | None = None  # once bridged; None: until the other
        self.signal: object | None = None  # set by wake(); Interrupted raises
        self.token = 0  # lock-step: invalidates the earlier heap entries
        self.turn = threading.Semaphore(0)
        self.cond = threading.Condition()
        self.round_started = 0.0
        self.finished = False  # a wake-up for a call that ended is dropped


def _run_party(party: Party) -> None:
    try:
        result = party.body()
    except Exception as error:  # a bug in one call must not hang the others
        result = CallResult(outcome="error", error=f"caller failed: {error!r}")
        result.call_sid = party.handle.call_sid
    party.handle.result = result


class LockStepClock:
    """Simulated time: one call runs at a time, the earliest one first.

    Each call's thread waits for its turn on a semaphore. A call that spends time
    (``sleep``) goes into a heap at its wake-up time and hands the turn to the
    call whose time is earliest; a call woken by another (``wake``) is put back
    at the current time. Same-time entries run in the order they were scheduled.
    Past ``until_s`` each call is resumed with :class:`Closed`.
    """

    realtime = False

    def __init__(self, until_s: float) -> None:
        self.until_s = until_s
        self.now = 0.0
        self._heap: list[tuple[float, int, int, Party]] = []
        self._seq = itertools.count()
        self._parked: dict[Party, int] = {}  # waiting on another, no deadline
        self._live = 0
        self._done = threading.Event()
        self._waiting: list[threading.Thread] | None = []  # None once running

    def _push(self, party: Party, at_s: float) -> None:
        heapq.heappush(self._heap, (at_s, next(self._seq), party.token, party))

    def enter(self, party: Party, at_s: float) -> None:
        """A call joins; its thread waits for its first turn at ``at_s``."""
        self._live += 1
        self._push(party, max(at_s, self.now))
        thread = threading.Thread(target=self._body, args=(party,), daemon=True)
        if self._waiting is None:
            thread.start()
        else:  # threads start with the run, so an unrun board leaves none behind
            self._waiting.append(thread)

    def _body(self, party: Party) -> None:
        party.turn.acquire()
        _run_party(party)
        self.finish(party)

    def run(self) -> None:
        """Hand out the first turn; return when every call has ended."""
        threads, self._waiting = self._waiting or [], None
        for thread in threads:
            thread.start()
        if self._live:
            self._dispatch()
            self._done.wait()

    def sleep(self, party: Party, seconds: float) -> object | None:
        """Let ``seconds`` pass for ``party`` (``inf``: until woken); return the
        signal it was woken with, or ``None`` when the time simply passed."""
        if math.isinf(seconds):
            self._parked[party] = next(self._seq)
        else:
            self._push(party, self.now + max(seconds, 0.0))
        self._dispatch()
        party.turn.acquire()
        signal, party.signal = party.signal, None
        return signal

    def wake(self, party: Party, signal: object = True) -> None:
        """Resume ``party`` now (after the running call yields) with ``signal``."""
        if party.finished:
            return
        party.token += 1
        if not isinstance(party.signal, Interrupted):
            party.signal = signal
        self._parked.pop(party, None)
        self._push(party, self.now)

    def finish(self, party: Party) -> None:
        party.finished = True
        party.token += 1
        self._parked.pop(party, None)
        self._live -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        while self._heap:
            at_s, _, token, party = heapq.heappop(self._heap)
            if token != party.token:
                continue
            if at_s > self.until_s:
                self.now = max(self.now, self.until_s)
                party.signal = Closed(f"the switchboard closed at {self.until_s:g} s")
            else:
                self.now = max(self.now, at_s)
            party.turn.release()
            return
        if self._parked:
            party = min(self._parked, key=self._parked.__getitem__)
            del self._parked[party]
            party.signal = (
                Closed(f"the switchboard closed at {self.until_s:g} s")
                if self.now >= self.until_s
                else Stalled("every call left waits on another")
            )
            party.turn.release()
            return
        if self._live == 0:
            self._done.set()


class RealTimeClock:
    """Real threads, real time: simulated seconds are real seconds / ``scale``."""

    realtime = True

    def __init__(self, until_s: float, scale: float) -> None:
        self.until_s = until_s
        self.scale = scale
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._live = 0
        self._done = threading.Event()
        self._started = False
        self._pending: list[tuple[Party, float]] = []

    @property
    def now(self) -> float:
        return (time.monotonic() - self._t0) / self.scale

    def enter(self, party: Party, at_s: float) -> None:
        """A call joins: placed ones start with ``run``, dialled legs at once."""
        with self._lock:
            self._live += 1
            if not self._started:
                self._pending.append((party, at_s))
                return
        self._start(party, 0.0)

    def _start(self, party: Party, delay_s: float) -> None:
        thread = threading.Thread(target=self._body, args=(party, delay_s))
        thread.daemon = True
        thread.start()

    def _body(self, party: Party, delay_s: float) -> None:
        if delay_s > 0:
            time.sleep(delay_s * self.scale)
        _run_party(party)
        self.finish(party)

    def run(self) -> None:
        with self._lock:
            self._started = True
            self._t0 = time.monotonic()
            pending, self._pending = self._pending, []
            if not self._live:
                return
        for party, at_s in pending:
            self._start(party, at_s)
        self._done.wait()

    def sleep(self, party: Party, seconds: float) -> object | None:
        limit = STALL_AFTER_S if math.isinf(seconds) else seconds * self.scale
        with party.cond:
            party.cond.wait_for(lambda: party.signal is not None, max(limit, 0.0))
            signal, party.signal = party.signal, None
        if signal is None and math.isinf(seconds):
            return Stalled(f"waited {STALL_AFTER_S:g} real seconds on another call")
        if signal is None and self.now > self.until_s:
            return Closed(f"the switchboard closed at {self.until_s:g} s")
        return signal

    def wake(self, party: Party, signal: object = True) -> None:
        with party.cond:
            if not isinstance(party.signal, Interrupted):  # never lose one
                party.signal = signal
            party.cond.notify_all()

    def finish(self, party: Party) -> None:
        party.finished = True
        with self._lock:
            self._live -= 1
            if self._live == 0:
                self._done.set()
