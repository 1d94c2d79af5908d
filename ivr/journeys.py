"""A day's callers walking a menu: who self-serves, who queues, and when.

Each caller of a traffic plan (``ivr.traffic``) walks the menu the way the
menu's designer expects callers to: at a menu they pick an option by its
``share`` (options without a share split what is left), or stay silent at the
``no_input`` rate; they spend the time each prompt takes to say; lookups find
the record at the ``found`` rate. Where the walk ends decides what the caller
costs: a ``hangup`` after self-service costs no agent, a ``queue`` node sends the
caller into that queue at the moment they reach it. The queue simulator then
takes those streams. Complaints recorded (``feedback`` nodes) and requests made
(``request`` nodes, an urged shipment) are counted by topic on the way.

At an ``ask`` the caller types the digits (``next``), unless the traffic file's
``branches`` give the share who take its person door (the ``person`` key or
words) instead; a menu's person door (when no option is on the person key) is
taken only as ``branches`` say.
"""

from __future__ import annotations

import bisect
import datetime as dt
import wave
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ivr.menu import (
    AskNode,
    FeedbackNode,
    GotoMenuNode,
    HangupNode,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    QueueNode,
    RequestNode,
    RouteNode,
    TransferNode,
    VoicemailNode,
)
from ivr.traffic import TrafficPlan

__all__ = [
    "Journeys",
    "arrival_times",
    "speaking_time_s",
    "walk_callers",
]

MAX_STEPS = 60  # a caller still in the menu after this many nodes gives up
# How fast a text-to-speech voice reads, in characters a second.
_CHARS_PER_S = {"zh": 4.5, "ja": 6.0, "ko": 5.0}
_LATIN_CHARS_PER_S = 14.0
_THINK_S = 2.0  # from the end of a menu prompt to the key press
_KEY_S = 0.6  # per digit typed at an ask


def speaking_time_s(prompt: Prompt, language: str, recordings_dir: str = "") -> float:
    """How long a prompt takes to play: the recording's length, else the text's.

    Text is timed at a text-to-speech voice's pace: about 4.5 characters a second
    in Chinese, 14 in languages written with the Latin alphabet.
    """
    if prompt.audio and recordings_dir:
        try:
            with wave.open(str(Path(recordings_dir) / prompt.audio)) as audio:
                return audio.getnframes() / float(audio.getframerate())
        except (OSError, wave.Error, EOFError, ZeroDivisionError):
            pass  # an MP3 or an unreadable file: time the text instead
    text = prompt.text or ""
    pace = _CHARS_PER_S.get(language.split("-")[0].lower(), _LATIN_CHARS_PER_S)
    return len(text) / pace


@dataclass
class Journeys:
    """Every caller of the day, one entry each, as parallel arrays.

    ``arrival_s`` is when the call starts (seconds from the plan's start);
    ``ready_s`` when the caller reaches the end of the menu (joins a queue, starts
    a voicemail...); ``end`` the kind of node reached: ``self_service`` (a
    ``hangup`` node, or hanging up content after an answer), ``queue``,
    ``voicemail``, ``transfer``, ``feedback`` (a complaint recorded, then the
    call ended), ``other_menu`` (went on in another menu, another language) or
    ``gave_up`` (still in the menu after MAX_STEPS nodes); ``queue`` and
    ``priority`` for queued callers. ``recorded`` counts the complaints and
    requests of the day by (``feedback`` or ``request``, topic).
    """

    arrival_s: np.ndarray
    ready_s: np.ndarray
    end: np.ndarray
    queue: np.ndarray
    priority: np.ndarray
    recorded: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrival_s)


def arrival_times(plan: TrafficPlan, rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals whose rate is constant within an interval and steps between.

    A non-homogeneous Poisson process with a piecewise-constant rate: in each
    interval the number of calls is Poisson with the interval's mean, spread
    uniformly over it.
    """
    counts = rng.poisson(np.asarray(plan.calls, dtype=float))
    starts = np.repeat(np.arange(len(plan.calls)) * plan.interval_s, counts)
    times = starts + rng.random(counts.sum()) * plan.interval_s
    return np.sort(times)


class _OpenHours:
    """Whether the human path is open at a second of the plan, looked up.

    Opening hours change only where a weekly range opens or closes and at
    midnight (a new date, a new weekday), so the plan's clock is cut at those
    moments and each stretch between two cuts is worked out once, with the
    menu's own ``is_open``; a moment within a microsecond of a cut (where the
    clock's rounding decides) is worked out on its own, as before.
    """

    def __init__(self, menu: Menu, plan: TrafficPlan) -> None:
        self.menu = menu
        self.origin = dt.datetime.combine(plan.day, plan.start)
        self.tz = ZoneInfo(menu.hours.timezone) if menu.hours else dt.UTC
        self.cuts: list[float] = []
        self.states: list[bool] = []
        if menu.hours is None:
            return
        days = int(len(plan.calls) * plan.interval_s // 86400) + 2
        moments = set()
        for offset in range(-1, days + 1):
            day = plan.day + dt.timedelta(days=offset)
            moments.add(dt.datetime.combine(day, dt.time(0)))
            for ranges in menu.hours.weekly.values():
                for start, end in ranges:
                    moments.add(dt.datetime.combine(day, start))
                    moments.add(dt.datetime.combine(day, end))
        self.cuts = sorted((when - self.origin).total_seconds() for when in moments)
        self.states = [self.work_out(cut) for cut in self.cuts]

    def work_out(self, when_s: float) -> bool:
        """Whether the line is open at ``when_s``, from the menu's hours."""
        local = self.origin + dt.timedelta(seconds=float(when_s))
        return self.menu.is_open(local.replace(tzinfo=self.tz))

    def __call__(self, when_s: float) -> bool:
        if self.menu.hours is None:
            return True
        cuts = self.cuts
        i = bisect.bisect_right(cuts, when_s) - 1
        if 0 <= i < len(cuts) - 1 and cuts[i] + 1e-6 < when_s < cuts[i + 1] - 1e-6:
            return self.states[i]
        return self.work_out(when_s)


# What the walk does at a node, by its kind.
(_SAY, _ASK, _LOOKUP, _ROUTE, _QUEUE, _VOICEMAIL, _TRANSFER, _HANGUP, _REQUEST,
 _FEEDBACK, _OTHER_MENU, _OTHER) = range(12)  # fmt: skip
_KINDS = (
    (MessageNode, _SAY), (MenuNode, _ASK), (AskNode, _ASK), (LookupNode, _LOOKUP),
    (RouteNode, _ROUTE), (QueueNode, _QUEUE), (VoicemailNode, _VOICEMAIL),
    (TransferNode, _TRANSFER), (HangupNode, _HANGUP), (RequestNode, _REQUEST),
    (FeedbackNode, _FEEDBACK), (GotoMenuNode, _OTHER_MENU),
)  # fmt: skip
_DRAWS = 4096  # uniforms drawn at a time: the same numbers as one at a time


class _Walker:
    """Walks callers through one menu; each node's timings are computed once."""

    def __init__(self, menu: Menu, plan: TrafficPlan, rng: np.random.Generator) -> None:
        self.menu = menu
        self.plan = plan
        self.rng = rng
        self.is_open = _OpenHours(menu, plan)
        self.say_s = {
            node_id: speaking_time_s(node.prompt, menu.language, menu.recordings_dir)
            for node_id, node in menu.nodes.items()
        }
        self.choices = {
            node_id: self._choices(node) for node_id, node in menu.nodes.items()
        }
        # bisect on the cumulative shares: rng.choice costs ~20x more a call
        self.cumulative = {
            node_id: np.cumsum(choice[1]).tolist()
            for node_id, choice in self.choices.items()
            if choice is not None
        }
        self.kind = {
            node_id: next(
                (kind for cls, kind in _KINDS if isinstance(node, cls)), _OTHER
            )
            for node_id, node in menu.nodes.items()
        }
        self.uniforms: list[float] = []
        self.used = 0
        self.recorded: Counter[tuple[str, str]] = Counter()

    def uniform(self) -> float:
        """The generator's next uniform number (drawn in blocks: the same ones)."""
        if self.used == len(self.uniforms):
            self.uniforms = self.rng.random(_DRAWS).tolist()
            self.used = 0
        self.used += 1
        return self.uniforms[self.used - 1]

    def _choices(self, node: Node) -> tuple[list[str], np.ndarray] | None:
        """The ways out of a branching node and their probabilities."""
        override = self.plan.branches.get(node.id)
        if isinstance(node, MenuNode):
            targets = [o.goto for o in node.options]
            given: list[float | None] = [o.share for o in node.options]
            if node.person:  # asked for by nobody unless the branches say so
                targets.append(node.person)
                given.append(0.0)
        elif isinstance(node, LookupNode):
            targets = [node.found, node.missing]
            given = [self.plan.found, 1 - self.plan.found]
        elif isinstance(node, RouteNode):
            targets = [rule.goto for rule in node.rules]
            given = [None] * len(targets)
        else:
            return None
        if override:
            shares = np.array([override.get(t, 0.0) for t in targets], dtype=float)
        else:
            known = sum(s for s in given if s is not None)
            unset = [s is None for s in given]
            rest = max(0.0, 1.0 - known) / max(1, sum(unset))
            shares = np.array([rest if s is None else s for s in given], dtype=float)
        if shares.sum() <= 0:
            shares = np.ones(len(targets))
        return targets, shares / shares.sum()

    def _pick(self, node_id: str) -> str:
        targets = self.choices[node_id][0]
        cumulative = self.cumulative[node_id]
        index = bisect.bisect_right(cumulative, self.uniform() * cumulative[-1])
        return targets[min(index, len(targets) - 1)]

    def walk(self, arrival_s: float) -> tuple[float, str, str, int]:
        """One caller: (time the menu ends, end kind, queue id, priority)."""
        nodes, say_s, kinds = self.menu.nodes, self.say_s, self.kind
        satisfied = self.plan.satisfied
        now, node_id = arrival_s, self.menu.start
        answered = False  # a lookup found the caller's record: self-service
        complained = False  # recorded feedback: a person will follow it up
        for _ in range(MAX_STEPS):
            node = nodes[node_id]
            now += say_s[node_id]
            kind = kinds[node_id]
            if kind == _SAY:
                node_id = node.next
            elif kind == _ASK:
                content = answered and self.uniform() < satisfied
                if content and isinstance(node, MenuNode):
                    return now, "feedback" if complained else "self_service", "", 0
                node_id, now = self._answer(node, now)
            elif kind == _REQUEST:
                self.recorded["request", node.topic or node.request] += 1
                node_id = node.next
            elif kind == _FEEDBACK:
                self.recorded["feedback", node.topic] += 1
                complained = True
                if not node.next:
                    return now, "feedback", "", 0
                now += node.max_length_s / 2  # the caller speaks, on average
                node_id = node.next
            elif kind == _OTHER_MENU:
                return now, "other_menu", "", 0
            elif kind == _LOOKUP:
                node_id = self._pick(node_id)
                answered = answered or node_id == node.found
            elif kind == _ROUTE:
                node_id = self._route(node, now)
            elif kind == _QUEUE:
                if node.closed and not self.is_open(now):
                    node_id = node.closed
                    continue
                return now, "queue", node.queue, node.priority
            elif kind == _VOICEMAIL:
                return now, "voicemail", "", 0
            elif kind == _TRANSFER:
                return now, "transfer", "", 0
            elif kind == _HANGUP:
                return now, "feedback" if complained else "self_service", "", 0
        return now, "gave_up", "", 0

    def _answer(self, node: MenuNode | AskNode, now: float) -> tuple[str, float]:
        """The caller's input at a menu or an ask, with retries on silence."""
        for _ in range(node.retries + 1):
            if self.uniform() >= self.plan.no_input:
                if isinstance(node, MenuNode):
                    return self._pick(node.id), now + _THINK_S
                shares = self.plan.branches.get(node.id)
                if shares and node.person:
                    person = shares.get(node.person, 0.0)
                    if self.uniform() < person:  # asks for a person instead
                        return node.person, now + _THINK_S
                typed = (node.min_digits + node.max_digits) / 2
                return node.next, now + _THINK_S + _KEY_S * typed
            now += node.timeout_s + self.say_s[node.id]  # silence, then a replay
        target = node.on_fail or self.menu.human_path
        return (target if target else node.id), now

    def _route(self, node: RouteNode, now: float) -> str:
        if node.id in self.plan.branches:
            return self._pick(node.id)
        # A variable test the walk cannot evaluate holds half the time unless the
        # traffic file gives this node's branches.
        target = node.choose(
            lambda: self.is_open(now),
            lambda _var, _value: self.uniform() < 0.5,
            lambda: self._on_holiday(now),
        )
        return target or node.rules[-1].goto

    def _on_holiday(self, when_s: float) -> bool:
        hours = self.menu.hours
        if hours is None:
            return False
        local = self.is_open.origin + dt.timedelta(seconds=float(when_s))
        return hours.holiday(local.replace(tzinfo=self.is_open.tz)) is not None


def walk_callers(menu: Menu, plan: TrafficPlan, seed: int | None = None) -> Journeys:
    """Every caller of the plan's day walked through ``menu`` (seeded, repeatable)."""
    rng = np.random.default_rng(seed)
    arrivals = arrival_times(plan, rng)
    walker = _Walker(menu, plan, rng)
    n = len(arrivals)
    ready = np.empty(n)
    end = np.empty(n, dtype=object)
    queue = np.empty(n, dtype=object)
    priority = np.zeros(n, dtype=np.int64)
    for i, arrival in enumerate(arrivals):
        ready[i], end[i], queue[i], priority[i] = walker.walk(float(arrival))
    return Journeys(
        arrivals,
        ready,
        end.astype(str),
        queue.astype(str),
        priority,
        recorded=dict(walker.recorded),
    )
