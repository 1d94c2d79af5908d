"""A day's callers walking a menu: who self-serves, who queues, and when.

The traffic file (``NAME.traffic.yaml`` beside ``NAME.yaml``) says how many calls
arrive in each interval of the day. Each caller then walks the menu the way the
menu's designer expects callers to: at a menu they pick an option by its
``share`` (options without a share split what is left), or stay silent at the
``no_input`` rate; they spend the time each prompt takes to say; lookups find
the record at the ``found`` rate. Where the walk ends decides what the caller
costs: a ``hangup`` after self-service costs no agent, a ``queue`` node sends the
caller into that queue at the moment they reach it. The queue simulator then
takes those streams. Complaints recorded (``feedback`` nodes) and requests made
(``request`` nodes, an urged shipment) are counted by topic on the way.

A traffic file::

    day: 2026-11-11            # the date simulated (opening hours, day plans)
    start: "08:00"             # the first interval's start, local menu time
    interval: 15m
    calls: [120, 180, 260, ...] # calls arriving in each interval, in order
    no_input: 0.04             # share of callers silent at each menu (default 0.03)
    found: 0.9                 # share of lookups that find a record (default 0.85)
    satisfied: 0.7             # after an answer, share who hang up at the next menu
    branches:                  # optional: shares of a node's ways out
      account_verify: {account_status: 0.85, account_retry: 0.15}
      order_ask: {agent_orders: 0.3}   # at an ask: who ask for a person instead

At an ``ask`` the caller types the digits (``next``), unless ``branches`` give
the share who take its person door (the ``person`` key or words) instead; a
menu's person door (when no option is on the person key) is taken only as
``branches`` say.
"""

from __future__ import annotations

import bisect
import datetime as dt
import wave
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ivr.checks import suggest
from ivr.durations import parse_duration
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
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml_file

__all__ = [
    "Journeys",
    "TrafficError",
    "TrafficPlan",
    "load_traffic",
    "speaking_time_s",
    "traffic_path",
    "walk_callers",
]

TRAFFIC_SUFFIX = ".traffic.yaml"
MAX_STEPS = 60  # a caller still in the menu after this many nodes gives up
# How fast a text-to-speech voice reads, in characters a second.
_CHARS_PER_S = {"zh": 4.5, "ja": 6.0, "ko": 5.0}
_LATIN_CHARS_PER_S = 14.0
_THINK_S = 2.0  # from the end of a menu prompt to the key press
_KEY_S = 0.6  # per digit typed at an ask


class TrafficError(Exception):
    """A traffic file that cannot be used; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TrafficPlan:
    """Calls arriving per interval over a day, and how callers behave."""

    day: dt.date
    start: dt.time
    interval_s: float
    calls: tuple[float, ...]
    no_input: float = 0.03
    found: float = 0.85
    satisfied: float = 0.7
    branches: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def interval_start(self, index: int) -> dt.datetime:
        """The local wall-clock start of interval ``index`` (naive)."""
        first = dt.datetime.combine(self.day, self.start)
        return first + dt.timedelta(seconds=index * self.interval_s)


def traffic_path(menu_path: str | Path) -> Path:
    """``NAME.traffic.yaml`` beside ``NAME.yaml``."""
    path = Path(menu_path)
    return path.with_name(path.name.split(".")[0] + TRAFFIC_SUFFIX)


def load_traffic(
    path: str | Path, menu: Menu | None = None, *, unread: Collection[str] = ()
) -> TrafficPlan:
    """Read a traffic file; raise ``TrafficError`` listing every problem.

    With the ``menu`` it belongs to, ``branches`` are checked against it: each
    must name a node that branches (a menu, lookup or route) and ways out of that
    node, with shares adding up to at most 1. ``unread`` are ids of nodes that
    exist but could not be read (their branches are not checked).
    """
    path = Path(path)
    problems: list[str] = []

    def add(line: int, message: str) -> None:
        problems.append(f"{path}:{line}: {message}")

    try:
        doc, yaml_problems = read_yaml_file(path)
    except OSError as error:
        raise TrafficError([f"{path}:1: cannot read the file: {error}"]) from None
    except YamlProblem as problem:
        raise TrafficError([f"{path}:{problem.line}: {problem.message}"]) from None
    for problem in yaml_problems:
        add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        raise TrafficError([f"{path}:1: a traffic file is a map with 'calls'"])
    allowed = ("day", "start", "interval", "calls", "no_input", "found", "satisfied")
    allowed += ("branches",)
    for key in doc:
        if key not in allowed:
            add(
                doc.line_of(key), f"unknown key '{key}' (allowed: {', '.join(allowed)})"
            )

    day = doc.get("day", dt.date(2026, 11, 11))
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            add(doc.line_of("day"), f"day '{day}' is not a date like '2026-11-11'")
            day = dt.date(2026, 11, 11)
    elif not isinstance(day, dt.date):
        add(doc.line_of("day"), f"day '{day}' is not a date like '2026-11-11'")
        day = dt.date(2026, 11, 11)

    start_text = str(doc.get("start", "00:00"))
    if isinstance(doc.get("start"), int):
        add(doc.line_of("start"), 'start must be quoted, like "08:00"')
        start_text = "00:00"
    try:
        start = dt.time.fromisoformat(start_text)
    except ValueError:
        add(doc.line_of("start"), f"start '{start_text}' is not a time like '08:00'")
        start = dt.time(0)

    try:
        interval_s = parse_duration(doc.get("interval", "15m"))
        if interval_s < 60:
            raise ValueError(
                f"intervals must be at least 1m, got {doc.get('interval')!r}"
            )
    except ValueError as error:
        add(doc.line_of("interval"), f"interval: {error}")
        interval_s = 900.0

    raw_calls = doc.get("calls")
    calls: list[float] = []
    if not isinstance(raw_calls, LineList) or not raw_calls:
        add(doc.line_of("calls"), "calls must be a list of calls per interval")
    else:
        for i, value in enumerate(raw_calls):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
            ):
                add(raw_calls.line_of(i), f"calls must be numbers >= 0, got {value!r}")
            else:
                calls.append(float(value))
    if interval_s * len(calls) > 86400 + 1e-9:
        add(doc.line_of("calls"), "the intervals run past one day")

    rates = {}
    for key, default in (("no_input", 0.03), ("found", 0.85), ("satisfied", 0.7)):
        value = doc.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 1
        ):
            add(doc.line_of(key), f"{key} must be a share from 0 to 1, got {value!r}")
            value = default
        rates[key] = float(value)

    branches: dict[str, dict[str, float]] = {}
    raw_branches = doc.get("branches") or {}
    if not isinstance(raw_branches, dict):
        add(doc.line_of("branches"), "branches must map node ids to {target: share}")
        raw_branches = {}
    for node_id, shares in raw_branches.items():
        line = raw_branches.line_of(node_id)
        if not isinstance(shares, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for v in shares.values()
        ):
            add(line, f"branches of '{node_id}' must map node ids to shares >= 0")
            continue
        branches[str(node_id)] = {str(k): float(v) for k, v in shares.items()}
        total = sum(branches[str(node_id)].values())
        if total > 1 + 1e-9:
            add(line, f"branches of '{node_id}' add up to {total:g}, more than 1")
        if menu is not None:
            _check_branches(str(node_id), shares, line, menu, unread, add)

    if problems:
        raise TrafficError(problems)
    return TrafficPlan(
        day=day,
        start=start,
        interval_s=interval_s,
        calls=tuple(calls),
        no_input=rates["no_input"],
        found=rates["found"],
        satisfied=rates["satisfied"],
        branches=branches,
    )


def _check_branches(
    node_id: str,
    shares: LineDict,
    line: int,
    menu: Menu,
    unread: Collection[str],
    add: Callable[[int, str], None],
) -> None:
    """Each branch must be a way out of a node that branches."""
    node = menu.nodes.get(node_id)
    if isinstance(node, AskNode):
        ways = [node.next, *([node.person] if node.person else [])]
        for target in shares:
            if str(target) not in ways:
                hint = suggest(target, ways)
                add(
                    shares.line_of(target),
                    f"branch '{target}' of '{node_id}' is not a way out of it{hint} "
                    f"(an ask's ways out: {', '.join(dict.fromkeys(ways))}, its "
                    "answer and its person door)",
                )
        return
    if node is None:
        if node_id not in unread:
            hint = suggest(node_id, [*menu.nodes, *unread])
            add(line, f"branches name unknown node '{node_id}'{hint}")
        return
    if isinstance(node, MenuNode):
        ways = [option.goto for option in node.options]
        ways += [node.person] if node.person else []
    elif isinstance(node, LookupNode):
        ways = [node.found, node.missing]
    elif isinstance(node, RouteNode):
        ways = [rule.goto for rule in node.rules]
    else:
        add(
            line,
            f"branches of '{node_id}': a {node.kind} node has no branches to share "
            "(only menus, asks, lookups and routes do)",
        )
        return
    for target in shares:
        if str(target) not in ways:
            hint = suggest(target, ways)
            add(
                shares.line_of(target),
                f"branch '{target}' of '{node_id}' is not a way out of it{hint} "
                f"(its ways out: {', '.join(dict.fromkeys(ways))})",
            )


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
        self.recorded: Counter[tuple[str, str]] = Counter()

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

    def _local(self, when_s: float) -> dt.datetime:
        local = dt.datetime.combine(self.plan.day, self.plan.start) + dt.timedelta(
            seconds=float(when_s)
        )
        return local.replace(tzinfo=self.tz)

    def _is_open(self, when_s: float) -> bool:
        if self.menu.hours is None:
            return True
        return self.menu.is_open(self._local(when_s))

    def _on_holiday(self, when_s: float) -> bool:
        hours = self.menu.hours
        return hours is not None and hours.holiday(self._local(when_s)) is not None

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
        complained = False  # recorded feedback: a person will follow it up
        for _ in range(MAX_STEPS):
            node = menu.nodes[node_id]
            now += self.say_s[node_id]
            if isinstance(node, MessageNode):
                node_id = node.next
            elif isinstance(node, RequestNode):
                self.recorded["request", node.topic or node.request] += 1
                node_id = node.next
            elif isinstance(node, FeedbackNode):
                self.recorded["feedback", node.topic] += 1
                complained = True
                if not node.next:
                    return now, "feedback", "", 0
                now += node.max_length_s / 2  # the caller speaks, on average
                node_id = node.next
            elif isinstance(node, GotoMenuNode):
                return now, "other_menu", "", 0
            elif isinstance(node, MenuNode | AskNode):
                content = answered and self.rng.random() < self.plan.satisfied
                if content and isinstance(node, MenuNode):
                    return now, "feedback" if complained else "self_service", "", 0
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
                return now, "feedback" if complained else "self_service", "", 0
        return now, "gave_up", "", 0

    def _answer(self, node: MenuNode | AskNode, now: float) -> tuple[str, float]:
        """The caller's input at a menu or an ask, with retries on silence."""
        for _ in range(node.retries + 1):
            if self.rng.random() >= self.plan.no_input:
                if isinstance(node, MenuNode):
                    return self._pick(node.id), now + _THINK_S
                shares = self.plan.branches.get(node.id)
                if shares and node.person:
                    person = shares.get(node.person, 0.0)
                    if self.rng.random() < person:  # asks for a person instead
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
            lambda: self._is_open(now),
            lambda _var, _value: self.rng.random() < 0.5,
            lambda: self._on_holiday(now),
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
    return Journeys(
        arrivals,
        ready,
        end.astype(str),
        queue.astype(str),
        priority,
        recorded=dict(walker.recorded),
    )
