"""A day's callers walking a menu: who self-serves, who queues, and when.

The traffic file (``NAME.traffic.yaml`` beside ``NAME.yaml``) says how many calls
arrive in each interval of the day. Each caller then walks the menu the way the
menu's designer expects callers to: at a menu they pick an option by its
``share`` (options without a share split what is left), or stay silent at the
``no_input`` rate; they spend the time each prompt takes to say; lookups find
the record at the ``found`` rate. Where the walk ends decides what the caller
costs: a ``hangup`` after self-service costs no agent, a ``queue`` node sends the
caller into that queue at the moment they reach it. The queue simulator then
takes those streams.

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
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ivr.durations import parse_duration
from ivr.menu import (
    AskNode,
    HangupNode,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    Queue,
    QueueNode,
    RouteNode,
    TransferNode,
    VoicemailNode,
)
from ivr.queueing import figures as erlang_figures
from ivr.queueing import staff
from ivr.simulation import (
    NEVER,
    QueueSetup,
    ci95,
    exponential,
    simulate_queue,
    summarize,
)
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml

__all__ = [
    "DayResult",
    "Journeys",
    "TrafficError",
    "TrafficPlan",
    "load_traffic",
    "propose_staffing",
    "simulate_day",
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

    @property
    def horizon_s(self) -> float:
        return self.interval_s * len(self.calls)

    def interval_start(self, index: int) -> dt.datetime:
        """The local wall-clock start of interval ``index`` (naive)."""
        first = dt.datetime.combine(self.day, self.start)
        return first + dt.timedelta(seconds=index * self.interval_s)


def traffic_path(menu_path: str | Path) -> Path:
    """``NAME.traffic.yaml`` beside ``NAME.yaml``."""
    path = Path(menu_path)
    return path.with_name(path.name.split(".")[0] + TRAFFIC_SUFFIX)


def load_traffic(path: str | Path) -> TrafficPlan:
    """Read a traffic file; raise ``TrafficError`` listing every problem."""
    path = Path(path)
    problems: list[str] = []

    def add(line: int, message: str) -> None:
        problems.append(f"{path}:{line}: {message}")

    try:
        doc, yaml_problems = read_yaml(path.read_text(encoding="utf-8"))
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
        for rule in node.rules:
            if rule.when is None:
                return rule.goto
            if rule.when == "open" and self._is_open(now):
                return rule.goto
            if rule.when == "closed" and not self._is_open(now):
                return rule.goto
            # A variable test the walk cannot evaluate: taken half the time
            # unless the traffic file gives this node's branches.
            if isinstance(rule.when, tuple) and self.rng.random() < 0.5:
                return rule.goto
        return node.rules[-1].goto


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


def interval_of(times_s: np.ndarray, plan: TrafficPlan) -> np.ndarray:
    """The interval index of each time (clipped to the plan's intervals)."""
    index = np.floor(np.asarray(times_s) / plan.interval_s).astype(int)
    return np.clip(index, 0, max(0, len(plan.calls) - 1))


def calls_per_hour(plan: TrafficPlan) -> np.ndarray:
    """Each interval's arrival rate in calls per hour."""
    return np.asarray(plan.calls, dtype=float) * (3600.0 / plan.interval_s)


# ---- the day's queues: simulation beside the hour-by-hour Erlang figure ----

DAY_KEYS = ("offered", "asa_s", "p90_wait_s", "service_level", "p_abandon",
            "occupancy")  # fmt: skip
_COMPARED = ("asa_s", "service_level", "p_abandon")
# Below these differences nobody would act (and every replication may agree
# exactly, e.g. no waits at all, giving a zero-width interval).
_NEGLIGIBLE = {"asa_s": 1.0, "service_level": 0.01, "p_abandon": 0.005}


def _queue_setup(
    queue: Queue, plan: TrafficPlan, agents: Sequence[int] | None = None
) -> QueueSetup:
    """The queue's day plan of agents in seconds from the traffic plan's start.

    ``agents`` (one count per interval) replaces the menu's day plan; the last
    count holds after the day so callers still holding are answered.
    """
    patience = exponential(queue.patience_s) if queue.patience_s else NEVER
    if agents is not None:
        shifts = tuple((i * plan.interval_s, int(n)) for i, n in enumerate(agents))
    else:
        begin = plan.start.hour * 3600 + plan.start.minute * 60 + plan.start.second
        changes = {0.0: queue.agents_at(plan.start)}
        for when, count in queue.agents:
            offset = (when.hour * 3600 + when.minute * 60 + when.second - begin) % 86400
            changes[float(offset)] = count
        shifts = tuple(sorted(changes.items()))
    return QueueSetup(
        agents=shifts,
        handle=exponential(queue.handle_time_s),
        patience=patience,
        callback_after_s=queue.callback_after_s,
        max_wait_s=queue.max_wait_s,
    )


@dataclass
class DayResult:
    """A simulated day: per queue and interval, the mean of the replications,
    their 95% half-widths, the hour-by-hour Erlang figure and where they disagree.

    ``ends`` counts (per replication, on average) how the callers' menu walks
    ended: ``self_service``, ``queue``, ``voicemail``, ``transfer``, ``gave_up``.
    """

    plan: TrafficPlan
    replications: int
    target_s: float
    ends: dict[str, float]
    agents: dict[str, list[int]]
    mean: dict[str, list[dict[str, float]]]
    ci95: dict[str, list[dict[str, float]]]
    erlang: dict[str, list[dict[str, float] | None]]
    disagree: dict[str, list[list[str]]]

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json`` (NaN and infinity become ``None``)."""

        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        queues = {}
        for qid in self.mean:
            queues[qid] = [
                {
                    "interval": i,
                    "start": self.plan.interval_start(i).strftime("%H:%M"),
                    "agents": self.agents[qid][i],
                    "simulated": self.mean[qid][i],
                    "ci95": self.ci95[qid][i],
                    "erlang": self.erlang[qid][i],
                    "disagree": self.disagree[qid][i],
                }
                for i in range(len(self.plan.calls))
            ]
        return clean(
            {
                "replications": self.replications,
                "target_s": self.target_s,
                "callers": sum(self.ends.values()),
                "ends": self.ends,
                "queues": queues,
            }
        )


def simulate_day(
    menu: Menu,
    plan: TrafficPlan,
    *,
    seed: int | None = 1,
    replications: int = 5,
    target_s: float = 20.0,
    agents: Mapping[str, Sequence[int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DayResult:
    """Walk the day's callers through ``menu`` and play out each queue, replicated.

    Each replication draws a new day of callers (its own generator, spawned from
    ``seed``), walks them, feeds every queue the callers who reach it, in the
    order they reach it, with the queue's day plan of agents (or ``agents``),
    handle time and patience. Figures are per interval of the plan, by the
    time callers join the queue. Beside each, the hour-by-hour Erlang figure:
    the calls of that clock hour spread evenly, in steady state, with the
    interval's agents (Erlang A with the queue's patience, else C).
    """
    if replications < 2:
        raise ValueError(f"replications must be >= 2, got {replications}")
    agents = agents or {}
    for qid in agents:
        if qid not in menu.queues:
            raise ValueError(f"no queue '{qid}' in menu '{menu.id}'")
    setups = {
        qid: _queue_setup(queue, plan, agents.get(qid))
        for qid, queue in menu.queues.items()
    }
    n_int = len(plan.calls)
    bounds = [(i * plan.interval_s, (i + 1) * plan.interval_s) for i in range(n_int)]
    runs: dict[str, list[list[dict[str, float]]]] = {qid: [] for qid in setups}
    ends: dict[str, float] = {}
    streams = np.random.SeedSequence(seed).spawn(replications)
    for stream in streams:
        rng = np.random.default_rng(stream)
        journeys = walk_callers(menu, plan, seed=int(rng.integers(2**63)))
        for kind in ("self_service", "queue", "voicemail", "transfer", "gave_up"):
            ends[kind] = ends.get(kind, 0.0) + float(np.sum(journeys.end == kind))
        for qid, setup in setups.items():
            mine = journeys.queue == qid
            order = np.argsort(journeys.ready_s[mine], kind="stable")
            ready = journeys.ready_s[mine][order]
            priority = journeys.priority[mine][order]
            records = simulate_queue(ready, setup, rng, priority)
            per_interval = []
            for t0, t1 in bounds:
                figures = summarize(records, target_s, setup, (t0, t1))
                figures["offered"] = figures.pop("callers")
                per_interval.append(figures)
            runs[qid].append(per_interval)
            if progress:
                progress(1)
    ends = {kind: count / replications for kind, count in ends.items()}
    mean: dict[str, list[dict[str, float]]] = {}
    half: dict[str, list[dict[str, float]]] = {}
    erlang: dict[str, list[dict[str, float] | None]] = {}
    disagree: dict[str, list[list[str]]] = {}
    staffed: dict[str, list[int]] = {}
    for qid, setup in setups.items():
        queue = menu.queues[qid]
        mean[qid], half[qid], erlang[qid], disagree[qid], staffed[qid] = (
            [],
            [],
            [],
            [],
            [],
        )
        offered = np.array(
            [[run[i]["offered"] for i in range(n_int)] for run in runs[qid]], float
        ).mean(axis=0)
        for i in range(n_int):
            m, h = {}, {}
            for key in (*DAY_KEYS, "mean_wait_served_s", "p_callback", "p_overflow"):
                m[key], h[key] = ci95([run[i][key] for run in runs[qid]])
            mean[qid].append(m)
            half[qid].append(h)
            count = setup.agents_at(bounds[i][0])
            staffed[qid].append(count)
            hourly = _hourly_rate(offered, i, plan)
            if count < 1 or hourly <= 0:
                erlang[qid].append(None)
                disagree[qid].append([])
                continue
            exact = erlang_figures(
                hourly, queue.handle_time_s, count, queue.patience_s, target_s
            )
            shown = {key: getattr(exact, key) for key in _COMPARED}
            shown["occupancy"] = exact.occupancy
            erlang[qid].append(shown)
            disagree[qid].append(
                [
                    key
                    for key in _COMPARED
                    if math.isfinite(m[key])
                    and math.isfinite(h[key])
                    and abs(shown[key] - m[key]) > max(h[key], _NEGLIGIBLE[key])
                ]
            )
    return DayResult(
        plan, replications, target_s, ends, staffed, mean, half, erlang, disagree
    )


def _hourly_rate(offered: np.ndarray, index: int, plan: TrafficPlan) -> float:
    """Calls per hour over the clock hour holding interval ``index``: the usual
    calculator's input (the hour's calls spread evenly over the hour)."""
    begin = plan.start.hour * 3600 + plan.start.minute * 60
    hour = (begin + index * plan.interval_s) // 3600
    members = [
        j for j in range(len(offered)) if (begin + j * plan.interval_s) // 3600 == hour
    ]
    return float(offered[members].sum()) * 3600 / (len(members) * plan.interval_s)


def propose_staffing(
    menu: Menu,
    plan: TrafficPlan,
    *,
    service_level: float = 0.8,
    target_s: float = 20.0,
    max_abandon: float | None = 0.05,
    seed: int | None = 1,
    replications: int = 4,
    rounds: int = 8,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, list[int]], DayResult]:
    """Agents per interval and queue that meet the targets in simulation.

    Starts from Erlang A staffing of each interval's own rate (the steady-state
    guess), then simulates the day and adds agents where an interval misses the
    target (and one interval earlier, since a queue that builds up before the
    peak is what makes the peak late), up to ``rounds`` times.
    """
    first = simulate_day(
        menu, plan, seed=seed, replications=replications, target_s=target_s,
        progress=progress,
    )  # fmt: skip
    staffing: dict[str, list[int]] = {}
    for qid, queue in menu.queues.items():
        counts = []
        for i in range(len(plan.calls)):
            rate = first.mean[qid][i]["offered"] * 3600 / plan.interval_s
            if rate <= 0:
                counts.append(0)
                continue
            counts.append(
                staff(
                    rate,
                    queue.handle_time_s,
                    patience_s=queue.patience_s,
                    service_level=service_level,
                    target_s=target_s,
                    max_abandon=max_abandon,
                ).agents
            )
        staffing[qid] = counts
    result = first
    for _ in range(rounds):
        result = simulate_day(
            menu, plan, seed=seed, replications=replications, target_s=target_s,
            agents=staffing, progress=progress,
        )  # fmt: skip
        short = False
        for qid, counts in staffing.items():
            for i, m in enumerate(result.mean[qid]):
                if m["offered"] <= 0 or math.isnan(m["service_level"]):
                    continue
                missed = m["service_level"] < service_level or (
                    max_abandon is not None and m["p_abandon"] > max_abandon
                )
                if missed:
                    short = True
                    step = max(1, math.ceil(counts[i] * 0.05))
                    counts[i] += step
                    if i:
                        counts[i - 1] += max(1, step // 2)
        if not short:
            break
    return staffing, result
