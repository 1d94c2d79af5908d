"""One simulated Twilio account: named queues, reachable phones, one clock.

A single call is a conversation between Twilio and one webhook. The human path
needs several at once: a caller holds in a queue while an agent rings the agent
line and takes them; an agent's line dials a customer back. On Twilio these calls
meet inside the *account*: ``<Enqueue>`` puts a call in a named queue of the
account, ``<Dial><Queue>`` takes the first caller of that queue, ``<Dial><Number>``
rings a phone. :class:`Switchboard` is that account for the Twilio-like caller,
like the switchboard of an old exchange: calls placed through it share its
queues, reach the phones registered on it, and live on its clock.

It runs in one of two ways:

- **lock-step, simulated time** (the default; deterministic): every call runs in
  its own thread, but only one runs at a time, and the switchboard always resumes
  the call whose simulated time is earliest. A ``<Say>`` takes time by its length,
  a ``<Pause>`` its seconds, a conversation its talk time, exactly as the caller
  already counts it; ``now_s`` is the simulated seconds since ``at``, which is the
  clock an in-process app should see (``clock()``).
- **free-running, real time** (``realtime=True``): calls in real threads, with real
  concurrency against a real server; simulated seconds pass as real seconds times
  ``time_scale``, and each waitUrl round lasts at least ``pace_s`` real seconds.
  This is for load tests: many callers and agents at once, every caller taken at
  most once.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.caller.clocks import (
    Dequeued,
    GaveUp,
    Interrupted,
    LockStepClock,
    Party,
    RealTimeClock,
)
from ivr.caller.inputs import CallResult, Input

if TYPE_CHECKING:
    from ivr.caller.call import Caller

__all__ = [
    "ANSWERS",
    "CallHandle",
    "Phone",
    "Ring",
    "Switchboard",
]

ANSWERS = ("picks-up", "busy", "no-answer", "failed")
BUSY_AFTER_S = 2.0  # a busy tone comes back at once


# -- what the people on the phones do -------------------------------------------


@dataclass(frozen=True)
class Ring:
    """How a phone answers one call: picks up (after ``after_s`` of ringing, then
    acts ``inputs`` at the whisper's ``<Gather>``), or is busy, does not answer,
    or fails. ``talk_s`` is how long this person talks once bridged (``None``:
    until the other side hangs up)."""

    answer: str = "picks-up"
    inputs: tuple[Input, ...] = ()
    after_s: float = 5.0
    talk_s: float | None = None

    def __post_init__(self) -> None:
        if self.answer not in ANSWERS:
            raise ValueError(
                f"answer must be one of {', '.join(ANSWERS)}, got {self.answer!r}"
            )
        if self.after_s < 0:
            raise ValueError(f"after_s must be >= 0, got {self.after_s}")
        object.__setattr__(self, "inputs", tuple(self.inputs))


@dataclass
class Phone:
    """A scripted phone the account can ring with ``<Dial><Number>``.

    Each time it rings it answers as the next :class:`Ring` of ``rings`` says;
    past the last one it no longer answers (``no-answer``). ``calls`` has one
    entry per time it rang: the call it picked up (its transcript is what the
    person heard), or ``None``.
    """

    number: str
    rings: list[Ring]
    calls: list[CallHandle | None] = field(default_factory=list)
    on_event: Callable[[dict[str, Any]], None] | None = None

    def next_ring(self) -> tuple[Ring, int]:
        index = len(self.calls)
        self.calls.append(None)
        if index < len(self.rings):
            return self.rings[index], index
        return Ring(answer="no-answer"), index


@dataclass
class CallHandle:
    """A call on the switchboard: who calls whom, when, and (after ``run``) how
    it went. ``direction`` is ``inbound`` for a placed call and ``outbound-dial``
    for a leg the account dialled (``parent_sid`` is the call that dialled)."""

    call_sid: str
    from_number: str
    to_number: str
    at_s: float
    direction: str = "inbound"
    parent_sid: str | None = None
    result: CallResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


# -- queues and bridges --------------------------------------------------------


@dataclass
class Member:
    """A caller in a queue: when they joined, and whether a ``<Dial>`` took them."""

    party: Party
    queue: Queue
    joined_s: float
    patience_s: float | None = None
    state: str = "waiting"  # waiting, taken, gone
    bridge: Bridge | None = None
    taken_s: float | None = None


@dataclass
class Queue:
    """A named queue of the account (Twilio creates one on the first ``<Enqueue>``)."""

    name: str
    sid: str
    max_size: int
    members: list[Member] = field(default_factory=list)
    diallers: list[Party] = field(default_factory=list)


@dataclass
class Bridge:
    """Two calls about to talk: the one that dialled and the one it reached.

    Before the conversation a document runs on the reached side: the
    ``<Queue url>`` on the dequeued caller's end, the ``<Number url>`` whisper on
    the called party's end. The dialler waits; when the reached side is ready both
    meet, talk, and one of them hangs up.
    """

    dialler: Party
    dialled: Party
    url: str | None
    method: str
    via: Any  # the dialler's call: its transport and token fetch the url document
    time_limit_s: float
    queue: Queue | None = None
    state: str = "ringing"  # ringing, up, cancelled
    reason: str = ""
    arrived: list[Party] = field(default_factory=list)
    start_s: float = 0.0
    seconds: float = 0.0
    hung_up_by: Party | None = None


@dataclass(frozen=True)
class Talk:
    """How a conversation went for one side: its length, who was on the other end,
    and whether this side hung up (the other side's call goes on)."""

    seconds: float
    other: CallHandle
    hung_up: bool


class Switchboard:
    """One simulated Twilio account that the calls placed through it share.

    ``place(caller, inputs, at_s=...)`` puts a call on it; ``phone(number, ...)``
    registers a scripted phone that ``<Dial><Number>`` reaches; ``run()`` plays
    every call to its end and returns the handles (the legs the account dialled
    included), each with its ``result``.

    ``numbers`` are the account's own Twilio numbers and ``verified_caller_ids``
    its verified ones: with the call's own From and To, the only valid
    ``<Dial callerId>`` values. ``queues`` lists the queues that exist before any
    call (``None``: every name dialled exists, as in an account that has run for
    a while; otherwise ``<Dial><Queue>`` to another name fails as Twilio fails a
    queue that does not exist). ``talk_s`` is a conversation's length when
    neither side says how long it talks; ``until_s`` ends the run (the calls
    still going are hung up). ``unknown_number`` is how a number nobody
    registered answers (by default it does not).
    """

    def __init__(
        self,
        *,
        at: dt.datetime | None = None,
        realtime: bool = False,
        time_scale: float = 0.001,
        pace_s: float = 0.02,
        numbers: Iterable[str] = (),
        verified_caller_ids: Iterable[str] = (),
        queues: Iterable[str] | None = None,
        max_queue_size: int = 100,
        talk_s: float = 120.0,
        until_s: float = 3600.0,
        unknown_number: Ring | None = None,
    ) -> None:
        if max_queue_size < 1:
            raise ValueError(f"max_queue_size must be >= 1, got {max_queue_size}")
        if talk_s <= 0:
            raise ValueError(f"talk_s must be > 0, got {talk_s}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.at = at or dt.datetime.now(dt.UTC)
        self.realtime = realtime
        self.pace_s = pace_s
        self.numbers = frozenset(numbers)
        self.verified_caller_ids = frozenset(verified_caller_ids)
        self.max_queue_size = max_queue_size
        self.talk_s = talk_s
        self.until_s = until_s
        self.unknown_number = unknown_number or Ring(answer="no-answer")
        self.account_sid = "AC" + secrets.token_hex(16)
        self._clock: LockStepClock | RealTimeClock = (
            RealTimeClock(until_s, time_scale) if realtime else LockStepClock(until_s)
        )
        self._lock = threading.RLock()
        self._queues: dict[str, Queue] = {}
        self._strict_queues = queues is not None
        for name in queues or ():
            self._new_queue(name)
        self._phones: dict[str, Phone] = {}
        self._handles: list[CallHandle] = []
        self._ran = False

    # -- the public side ---------------------------------------------------

    @property
    def now_s(self) -> float:
        """Simulated seconds since the run began."""
        return self._clock.now

    def clock(self) -> dt.datetime:
        """The account's wall clock: ``at`` plus the simulated seconds."""
        return self.at + dt.timedelta(seconds=self._clock.now)

    @property
    def calls(self) -> list[CallHandle]:
        """Every call: the placed ones, then the legs dialled, in order."""
        with self._lock:
            return list(self._handles)

    def place(
        self,
        caller: Caller,
        inputs: Iterable[Input] | Callable[..., Input | None] = (),
        *,
        at_s: float = 0.0,
        talk_s: float | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallHandle:
        """Put a call on the switchboard, starting ``at_s`` simulated seconds in.

        ``talk_s`` is how long this person talks once bridged to another call
        (``None``: until the other side hangs up).
        """
        if at_s < 0:
            raise ValueError(f"at_s must be >= 0, got {at_s}")
        if self._ran and not self.realtime:
            raise RuntimeError("place every call before run() on a lock-step board")
        call = caller._new_call(inputs, on_event, board=self)
        handle = CallHandle(call.call_sid, caller.from_number, caller.to_number, at_s)
        party = Party(handle, call.run)
        party.talk_s = talk_s
        call.party = party
        self._enter(party, at_s)
        return handle

    def phone(
        self,
        number: str,
        *rings: Ring,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Phone:
        """Register a scripted phone at ``number``; with no rings it picks up.

        ``on_event`` sees each transcript entry of the calls it picks up.
        """
        phone = Phone(number, list(rings) if rings else [Ring()], on_event=on_event)
        with self._lock:
            self._phones[number] = phone
        return phone

    def run(self) -> list[CallHandle]:
        """Play every call to its end; return all handles with their results."""
        if self._ran:
            raise RuntimeError("a switchboard runs once")
        self._ran = True
        self._clock.run()
        return self.calls

    # -- what calls ask of the account -------------------------------------

    def _enter(self, party: Party, at_s: float) -> None:
        with self._lock:
            self._handles.append(party.handle)
        self._clock.enter(party, at_s)

    def start_leg(self, party: Party) -> None:
        """A dialled phone picked up: its call starts now."""
        self._enter(party, self._clock.now)

    def spend(self, party: Party, seconds: float, member: Member | None = None) -> None:
        """``seconds`` of simulated time pass for a call (a Say, a Pause...).

        Every spend lets the calls due earlier run first. While the call holds in
        a queue (``member``) a ``<Dial>`` may take it (``Dequeued`` is raised)
        and its patience may run out (``GaveUp``).
        """
        deadline = math.inf
        if member is not None and member.patience_s is not None:
            deadline = member.joined_s + member.patience_s
        end = min(self._clock.now + seconds, deadline)
        while True:
            signal = self._clock.sleep(party, max(end - self._clock.now, 0.0))
            if isinstance(signal, Interrupted):
                raise signal
            if self._clock.now >= end:
                break
        if self._clock.now >= deadline:
            raise GaveUp("patience ran out")

    def pace_round(self, party: Party, started: bool, member: Member) -> None:
        """Realtime only: a waitUrl round lasts at least ``pace_s`` real seconds."""
        if not self.realtime:
            return
        if started:
            party.round_started = time.monotonic()
            return
        left = self.pace_s - (time.monotonic() - party.round_started)
        if left > 0:
            assert isinstance(self._clock, RealTimeClock)
            self.spend(party, left / self._clock.scale, member)

    def valid_caller_id(self, caller_id: str, call_from: str, call_to: str) -> bool:
        """Twilio's rule: the call's own From or To, or a number of the account."""
        return caller_id in (
            {call_from, call_to} | self.numbers | self.verified_caller_ids
        )

    # queues

    def _new_queue(self, name: str) -> Queue:
        queue = Queue(name, "QU" + secrets.token_hex(16), self.max_queue_size)
        self._queues[name] = queue
        return queue

    def join(self, name: str, party: Party, patience_s: float | None) -> Member | None:
        """Enqueue a call (the queue is made on demand); ``None`` when full."""
        with self._lock:
            queue = self._queues.get(name) or self._new_queue(name)
            if len(queue.members) >= queue.max_size:
                return None
            member = Member(party, queue, self._clock.now, patience_s)
            queue.members.append(member)
            diallers, queue.diallers = queue.diallers, []
        for dialler in diallers:
            self._clock.wake(dialler)
        return member

    def wait_params(self, member: Member) -> dict[str, str]:
        """What Twilio posts to a waitUrl: the caller's place and the queue's state."""
        with self._lock:
            now = self._clock.now
            queue = member.queue
            waits = [now - m.joined_s for m in queue.members]
            position = queue.members.index(member) + 1 if member in queue.members else 1
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(position),
            "QueueTime": str(int(now - member.joined_s)),
            "AvgQueueTime": str(int(sum(waits) / len(waits)) if waits else 0),
            "CurrentQueueSize": str(len(waits)),
            "MaxQueueSize": str(queue.max_size),
        }

    def leave(self, member: Member) -> Bridge | None:
        """The caller leaves the queue; if a ``<Dial>`` took them first, the bridge
        they must go to instead."""
        with self._lock:
            if member.state == "taken":
                bridge = member.bridge
            else:
                member.state = "gone"
                if member in member.queue.members:
                    member.queue.members.remove(member)
                return None
        party = member.party
        with party.cond:  # the pending Dequeued is answered here, not re-raised
            if isinstance(party.signal, Dequeued):
                party.signal = None
        return bridge

    def take(
        self,
        name: str,
        dialler: Party,
        *,
        url: str | None,
        method: str,
        via: Any,
        time_limit_s: float,
    ) -> Bridge | Queue | None:
        """``<Dial><Queue>``: take the first caller of the queue (a ``Bridge``), or
        wait for one (the ``Queue``: the dialler is woken when someone joins), or
        ``None`` when the queue does not exist."""
        with self._lock:
            queue = self._queues.get(name)
            if queue is None:
                if self._strict_queues:
                    return None
                queue = self._new_queue(name)
            if not queue.members:
                if dialler not in queue.diallers:
                    queue.diallers.append(dialler)
                return queue
            member = queue.members.pop(0)
            member.state = "taken"
            member.taken_s = self._clock.now
            bridge = Bridge(
                dialler, member.party, url, method, via, time_limit_s, queue=queue
            )
            member.bridge = bridge
        self._clock.wake(member.party, Dequeued(bridge))
        return bridge

    def stop_waiting(self, queue: Queue, dialler: Party) -> None:
        with self._lock:
            if dialler in queue.diallers:
                queue.diallers.remove(dialler)

    def wait(self, party: Party, seconds: float) -> None:
        """Wait until woken by another call or ``seconds`` pass."""
        signal = self._clock.sleep(party, seconds)
        if isinstance(signal, Interrupted):
            raise signal

    # phones

    def ring(self, number: str) -> tuple[Ring, Phone | None, int]:
        """How the phone at ``number`` answers this time, the phone, and which
        time it rings (a number nobody registered answers as ``unknown_number``)."""
        with self._lock:
            phone = self._phones.get(number)
            if phone is None:
                return self.unknown_number, None, 0
            ring, index = phone.next_ring()
            return ring, phone, index

    def answered(self, phone: Phone | None, index: int, handle: CallHandle) -> None:
        """The phone picked up its ``index``-th ring: ``handle`` is that call."""
        if phone is not None:
            with self._lock:
                phone.calls[index] = handle

    def bridge(
        self,
        dialler: Party,
        dialled: Party,
        *,
        url: str | None,
        method: str,
        via: Any,
        time_limit_s: float,
    ) -> Bridge:
        return Bridge(dialler, dialled, url, method, via, time_limit_s)

    # the conversation

    def meet(self, bridge: Bridge, party: Party) -> Talk | None:
        """Both sides of a bridge meet here and talk; ``None`` if it fell through.

        The dialler arrives first and waits for the reached side to finish its
        document. The conversation lasts as long as the side that talks least
        (``talk_s`` of each, the Dial's ``timeLimit``); on a tie the reached side
        hangs up and the dialler's call goes on.
        """
        with self._lock:
            if bridge.state == "cancelled":
                return None
            bridge.arrived.append(party)
            first = len(bridge.arrived) == 1
            if not first:
                self._start_talk(bridge)
        if first:
            while True:
                self.wait(party, math.inf)
                with self._lock:
                    if bridge.state != "ringing":
                        break
            if bridge.state == "cancelled":
                return None
        else:
            self._clock.wake(bridge.arrived[0])
        end = bridge.start_s + bridge.seconds
        while self._clock.now < end:
            signal = self._clock.sleep(party, end - self._clock.now)
            if isinstance(signal, Interrupted) and not isinstance(signal, Dequeued):
                raise signal
        other = bridge.dialled if party is bridge.dialler else bridge.dialler
        return Talk(bridge.seconds, other.handle, bridge.hung_up_by is party)

    def _start_talk(self, bridge: Bridge) -> None:
        mine = bridge.dialler.talk_s
        theirs = bridge.dialled.talk_s
        limits = [t for t in (mine, theirs) if t is not None]
        seconds = min(limits) if limits else self.talk_s
        seconds = min(seconds, bridge.time_limit_s)
        bridge.seconds = seconds
        bridge.start_s = self._clock.now
        bridge.state = "up"
        dialler_first = mine is not None and (theirs is None or mine < theirs)
        bridge.hung_up_by = (
            bridge.dialler
            if dialler_first and mine <= bridge.time_limit_s
            else bridge.dialled
        )

    def cancel(self, bridge: Bridge, reason: str) -> None:
        """The reached side will not come (it declined, hung up or failed)."""
        with self._lock:
            if bridge.state != "ringing":
                return
            bridge.state = "cancelled"
            bridge.reason = reason
            waiting = [p for p in bridge.arrived if p is bridge.dialler]
        for party in waiting:
            self._clock.wake(party)
