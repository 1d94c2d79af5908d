"""A day's callers walking a menu: who self-serves, who queues, and when.

Each caller of a traffic plan (``ivr.traffic``) walks the menu the way the
menu's designer expects callers to: at a menu they pick an option by its
``share`` (options without a share split what is left), or stay silent at the
``no_input`` rate; they spend the time each prompt takes to say; lookups find
the record at the ``found`` rate. Where the walk ends decides what the caller
costs: a ``hangup`` after self-service costs no agent, a ``queue`` node sends the
caller into that queue at the moment they reach it. The queue simulator then
takes those streams.
"""

from __future__ import annotations

import bisect
import datetime as dt
import wave
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ivr.menu import (
    AskNode,
    HangupNode,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    QueueNode,
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
    ``voicemail``, ``transfer`` or ``gave_up`` (still in the
    menu after MAX_STEPS nodes); ``queue`` and ``priority`` for queued callers.
    """

    arrival_s: np.ndarray
    ready_s: np.ndarray
    end: np.ndarray
    queue: np.ndarray
    priority: np.ndarray

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


class _Walker:
    """Walks callers through one menu; each node's timings are computed once."""

    def __init__(self, menu: Menu, plan: TrafficPlan, rng: np.random.Generator) -> None:
        self.menu = menu
        self.plan = plan
        self.rng = rng
        self.tz = ZoneInfo(menu.hours.timezone) if menu.hours else dt.UTC
        self.say_s = {
            node_id: speaking_time_s(node.prompt, menu.language, menu.recordings_dir)
            for node_id, node in menu.nodes.items()
        }
        self.choices = {
            node_id: self._choices(node) for node_id, node in menu.nodes.items()
        }
        self.cumulative: dict[str, list[float]] = {}

    def _choices(self, node: Node) -> tuple[list[str], np.ndarray] | None:
        """The ways out of a branching node and their probabilities."""
        override = self.plan.branches.get(node.id)
        if isinstance(node, MenuNode):
            targets = [o.goto for o in node.options]
            given = [o.share for o in node.options]
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

    def _is_open(self, when_s: float) -> bool:
        if self.menu.hours is None:
            return True
        local = dt.datetime.combine(self.plan.day, self.plan.start) + dt.timedelta(
            seconds=float(when_s)
        )
        return self.menu.is_open(local.replace(tzinfo=self.tz))

    def _pick(self, node_id: str) -> str:
        targets, shares = self.choices[node_id]
        # bisect on the cumulative shares: rng.choice costs ~20x more a call
        cumulative = self.cumulative.get(node_id)
        if cumulative is None:
            cumulative = self.cumulative[node_id] = np.cumsum(shares).tolist()
        index = bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])
        return targets[min(index, len(targets) - 1)]

    def walk(self, arrival_s: float) -> tuple[float, str, str, int]:
        """One caller: (time the menu ends, end kind, queue id, priority)."""
        menu = self.menu
        now, node_id = arrival_s, menu.start
        answered = False  # a lookup found the caller's record: self-service
        for _ in range(MAX_STEPS):
            node = menu.nodes[node_id]
            now += self.say_s[node_id]
            if isinstance(node, MessageNode):
                node_id = node.next
            elif isinstance(node, MenuNode | AskNode):
                content = answered and self.rng.random() < self.plan.satisfied
                if content and isinstance(node, MenuNode):
                    return now, "self_service", "", 0
                node_id, now = self._answer(node, now)
            elif isinstance(node, LookupNode):
                node_id = self._pick(node_id)
                answered = answered or node_id == node.found
            elif isinstance(node, RouteNode):
                node_id = self._route(node, now)
            elif isinstance(node, QueueNode):
                if node.closed and not self._is_open(now):
                    node_id = node.closed
                    continue
                return now, "queue", node.queue, node.priority
            elif isinstance(node, VoicemailNode):
                return now, "voicemail", "", 0
            elif isinstance(node, TransferNode):
                return now, "transfer", "", 0
            elif isinstance(node, HangupNode):
                return now, "self_service", "", 0
        return now, "gave_up", "", 0

    def _answer(self, node: MenuNode | AskNode, now: float) -> tuple[str, float]:
        """The caller's input at a menu or an ask, with retries on silence."""
        for _ in range(node.retries + 1):
            if self.rng.random() >= self.plan.no_input:
                if isinstance(node, MenuNode):
                    return self._pick(node.id), now + _THINK_S
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
            lambda: self._is_open(now), lambda _var, _value: self.rng.random() < 0.5
        )
        return target or node.rules[-1].goto


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
    return Journeys(arrivals, ready, end.astype(str), queue.astype(str), priority)
