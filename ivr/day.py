"""A day through the menu and its queues: simulation beside hour-by-hour Erlang.

``ivr.traffic`` walks the day's callers through the menu into per-queue arrival
streams; here each queue meets the agents its day plan puts on duty, replicated
for 95% intervals, and every interval is set beside what an hour-by-hour Erlang
calculator would say of it. Where the calculator falls outside the simulation's
interval (at a peak, or when a shift ends under a backlog) the interval is marked.
``propose_staffing`` raises each interval's agents until the simulation meets the
target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ivr.announcements import SCORE_KEYS, Announcements, announce, score
from ivr.journeys import walk_callers
from ivr.menu import (
    Menu,
    Queue,
)
from ivr.queueing import figures as erlang_figures
from ivr.queueing import staff
from ivr.simulation import (
    NEVER,
    QueueSetup,
    Records,
    ci95,
    exponential,
    simulate_queue,
    summarize_windows,
    window_shares,
)
from ivr.traffic import TrafficPlan

__all__ = ["DAY_KEYS", "DayResult", "propose_staffing", "simulate_day"]


DAY_KEYS = ("offered", "asa_s", "p90_wait_s", "service_level", "p_abandon",
            "occupancy")  # fmt: skip
_COMPARED = ("asa_s", "service_level", "p_abandon")
# Below these differences nobody would act (and every replication may agree
# exactly, e.g. no waits at all, giving a zero-width interval).
_NEGLIGIBLE = {"asa_s": 1.0, "service_level": 0.01, "p_abandon": 0.005}
_ENDS = ("self_service", "queue", "voicemail", "transfer", "feedback", "other_menu",
         "gave_up")  # fmt: skip
# Walks kept for later staffing rounds, at most this many bytes (16 a caller who
# queues); past it each round walks the callers again (the same callers: slower,
# never different).
_KEEP_WALKS_BYTES = 256 * 2**20


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
        callback_accept=plan.callback_accept,
    )


@dataclass
class DayResult:
    """A simulated day: per queue and interval, the mean of the replications,
    their 95% half-widths, the hour-by-hour Erlang figure and where they disagree.

    ``ends`` counts (per replication, on average) how the callers' menu walks
    ended: ``self_service``, ``queue``, ``voicemail``, ``transfer``,
    ``feedback``, ``other_menu``, ``gave_up``. ``recorded`` counts (the same way)
    the complaints and requests, as ``feedback: TOPIC`` / ``request: TOPIC``.
    ``told`` scores the wait announcements (``ivr.announcements.score``) per
    queue over the day, and under ``all`` for all queues together: means of the
    replications, with ``told_ci95`` their 95% half-widths; ``told_by_interval``
    the means per queue and interval, by the time the announcement was said.
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
    told: dict[str, dict[str, float]] = field(default_factory=dict)
    told_ci95: dict[str, dict[str, float]] = field(default_factory=dict)
    told_by_interval: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    recorded: dict[str, float] = field(default_factory=dict)

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
                    "announcements": (
                        self.told_by_interval[qid][i] if self.told_by_interval else None
                    ),
                }
                for i in range(len(self.plan.calls))
            ]
        return clean(
            {
                "replications": self.replications,
                "target_s": self.target_s,
                # Means over replications: a tenth of a caller is plenty.
                "callers": round(sum(self.ends.values()), 1),
                "ends": {end: round(n, 1) for end, n in self.ends.items()},
                "recorded": {k: round(n, 1) for k, n in self.recorded.items()},
                "queues": queues,
                "announcements": {
                    qid: {**figures, "ci95": self.told_ci95[qid]}
                    for qid, figures in self.told.items()
                },
            }
        )


@dataclass(frozen=True)
class _Walked:
    """One replication's day after the menu: how walks ended, who reached each
    queue when (sorted, with their priority), and the state of the generator the
    queues then draw handle times and patience from."""

    ends: dict[str, int]
    joins: dict[str, tuple[np.ndarray, np.ndarray]]
    state: dict
    recorded: Mapping[tuple[str, str], int]

    def queue_rng(self) -> np.random.Generator:
        bits = np.random.PCG64()
        bits.state = self.state
        return np.random.Generator(bits)


class _Walks:
    """The replications' walks through the menu, made once and reused.

    A walk depends on the menu, the traffic and the seed, never on the agents,
    so every staffing round of ``propose_staffing`` replays the same walks;
    they are kept while they fit in ``_KEEP_WALKS_BYTES`` and made again (the
    same) beyond.
    """

    def __init__(self, menu: Menu, plan: TrafficPlan, seed: int | None, count: int):
        self.menu, self.plan = menu, plan
        self.streams = np.random.SeedSequence(seed).spawn(count)
        self.kept: dict[int, _Walked] = {}
        self.kept_bytes = 0

    def __len__(self) -> int:
        return len(self.streams)

    def __getitem__(self, index: int) -> _Walked:
        if index in self.kept:
            return self.kept[index]
        rng = np.random.default_rng(self.streams[index])
        journeys = walk_callers(self.menu, self.plan, seed=int(rng.integers(2**63)))
        joins = {}
        for qid in self.menu.queues:
            mine = journeys.queue == qid
            order = np.argsort(journeys.ready_s[mine], kind="stable")
            joins[qid] = (journeys.ready_s[mine][order], journeys.priority[mine][order])
        walked = _Walked(
            {kind: int(np.sum(journeys.end == kind)) for kind in _ENDS},
            joins,
            rng.bit_generator.state,
            journeys.recorded,
        )
        size = sum(ready.nbytes + prio.nbytes for ready, prio in joins.values())
        if self.kept_bytes + size <= _KEEP_WALKS_BYTES:
            self.kept[index] = walked
            self.kept_bytes += size
        return walked


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
    walks = _Walks(menu, plan, seed, replications)
    return _play_day(menu, plan, walks, target_s, agents, progress)


@dataclass(frozen=True)
class _Played:
    """A simulated day: each replication's records, queue by queue (menu order),
    the setups they were played with, and how walks ended (mean a replication)."""

    setups: dict[str, QueueSetup]
    records: list[dict[str, Records]]
    ends: dict[str, float]
    recorded: dict[str, float]


def _play_day(
    menu: Menu,
    plan: TrafficPlan,
    walks: _Walks,
    target_s: float,
    agents: Mapping[str, Sequence[int]] | None,
    progress: Callable[[int], None] | None,
) -> DayResult:
    """``simulate_day`` on walks already made (or made on the way)."""
    return _day_result(menu, plan, _play(menu, plan, walks, agents, progress), target_s)


def _play(
    menu: Menu,
    plan: TrafficPlan,
    walks: _Walks,
    agents: Mapping[str, Sequence[int]] | None,
    progress: Callable[[int], None] | None,
) -> _Played:
    """Every queue of every replication played out with ``agents`` (or the
    menu's day plans)."""
    agents = agents or {}
    for qid in agents:
        if qid not in menu.queues:
            raise ValueError(f"no queue '{qid}' in menu '{menu.id}'")
    setups = {
        qid: _queue_setup(queue, plan, agents.get(qid))
        for qid, queue in menu.queues.items()
    }
    played: list[dict[str, Records]] = []
    ends: dict[str, float] = {}
    recorded: dict[str, float] = {}
    for index in range(len(walks)):
        walked = walks[index]
        for kind in _ENDS:
            ends[kind] = ends.get(kind, 0.0) + float(walked.ends[kind])
        for (event, topic), count in walked.recorded.items():
            name = f"{event}: {topic}"
            recorded[name] = recorded.get(name, 0.0) + count
        rng = walked.queue_rng()
        played.append({})
        for qid, setup in setups.items():
            ready, priority = walked.joins[qid]
            played[-1][qid] = simulate_queue(ready, setup, rng, priority)
            if progress:
                progress(1)
    ends = {kind: count / len(walks) for kind, count in ends.items()}
    recorded = {name: count / len(walks) for name, count in recorded.items()}
    return _Played(setups, played, ends, recorded)


def _targets_met(
    played: _Played, plan: TrafficPlan, target_s: float
) -> dict[str, list[dict[str, float]]]:
    """Per queue and interval, the means over replications of the figures
    staffing looks at (``offered``, ``service_level``, ``p_abandon``): the same
    numbers ``DayResult.mean`` holds, without the rest of the day's figures."""
    n_int = len(plan.calls)
    bounds = [(i * plan.interval_s, (i + 1) * plan.interval_s) for i in range(n_int)]
    out: dict[str, list[dict[str, float]]] = {}
    for qid in played.setups:
        runs = [window_shares(run[qid], target_s, bounds) for run in played.records]
        out[qid] = [
            {
                key: ci95([run[i][key] for run in runs])[0]
                for key in ("offered", "service_level", "p_abandon")
            }
            for i in range(n_int)
        ]
    return out


def _day_result(
    menu: Menu, plan: TrafficPlan, played: _Played, target_s: float
) -> DayResult:
    """The day's figures from its records: summaries, announcement scores and
    the hour-by-hour Erlang figures, per queue and interval."""
    setups, ends, recorded = played.setups, played.ends, played.recorded
    replications = len(played.records)
    n_int = len(plan.calls)
    bounds = [(i * plan.interval_s, (i + 1) * plan.interval_s) for i in range(n_int)]
    runs: dict[str, list[list[dict[str, float]]]] = {qid: [] for qid in setups}
    told_runs: dict[str, list[dict[str, float]]] = {qid: [] for qid in setups}
    for run in played.records:
        for qid, setup in setups.items():
            records = run[qid]
            queue = menu.queues[qid]
            announced = announce(records, setup, queue.announce_every_s)
            per_interval = summarize_windows(records, target_s, setup, bounds)
            told = _score_windows(announced, records, queue.callback_after_s, bounds)
            for figures, scores in zip(per_interval, told, strict=True):
                figures["offered"] = figures.pop("callers")
                figures.update({f"told_{key}": value for key, value in scores.items()})
            runs[qid].append(per_interval)
            told_runs[qid].append(score(announced, records, queue.callback_after_s))
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
    told, told_half, told_by_interval = _told(told_runs, runs, n_int)
    return DayResult(
        plan, replications, target_s, ends, staffed, mean, half, erlang, disagree,
        told, told_half, told_by_interval, recorded,
    )  # fmt: skip


def _score_windows(
    announced: Announcements,
    records: Records,
    callback_after_s: float | None,
    windows: Sequence[tuple[float, float]],
) -> list[dict[str, float]]:
    """``score`` of each window (back to back, in time order) in one pass: the
    announcements grouped by window keep their order, the callers of a window
    are one slice of the records, so each score is the windowed one exactly."""
    edges = np.array([t0 for t0, _ in windows] + [windows[-1][1]])
    bucket = np.searchsorted(edges, announced.time_s, side="right") - 1
    order = np.argsort(bucket, kind="stable")
    cuts = np.searchsorted(bucket[order], np.arange(len(windows) + 1)).tolist()
    spans = np.searchsorted(records.arrival_s, edges).tolist()
    out = []
    for i in range(len(windows)):
        pick = order[cuts[i] : cuts[i + 1]]
        lo, hi = spans[i], spans[i + 1]
        heard = Announcements(
            caller=announced.caller[pick],
            time_s=announced.time_s[pick],
            position=announced.position[pick],
            estimate_s=announced.estimate_s[pick],
            low_s=announced.low_s[pick],
            high_s=announced.high_s[pick],
            actual_s=announced.actual_s[pick],
            hung_up=announced.hung_up[lo:hi],
            higher_per_s=(
                None if announced.higher_per_s is None else announced.higher_per_s[pick]
            ),
            callback_s=(
                None if announced.callback_s is None else announced.callback_s[pick]
            ),
        )
        callers = Records(
            arrival_s=records.arrival_s[lo:hi],
            priority=records.priority[lo:hi],
            wait_s=records.wait_s[lo:hi],
            start_s=records.start_s[lo:hi],
            service_s=records.service_s[lo:hi],
            outcome=records.outcome[lo:hi],
        )
        out.append(score(heard, callers, callback_after_s))
    return out


def _told(
    told_runs: dict[str, list[dict[str, float]]],
    runs: dict[str, list[list[dict[str, float]]]],
    n_int: int,
) -> tuple[dict, dict, dict]:
    """Announcement scores: mean and half-width over replications per queue and
    for all queues together (counts pooled within each replication)."""
    told: dict[str, dict[str, float]] = {}
    half: dict[str, dict[str, float]] = {}
    replications = len(next(iter(told_runs.values()), []))
    pooled = [
        _pool([per_run[r] for per_run in told_runs.values()])
        for r in range(replications)
    ]
    for qid, per_run in [*told_runs.items(), ("all", pooled)]:
        told[qid], half[qid] = {}, {}
        for key in SCORE_KEYS:
            told[qid][key], half[qid][key] = ci95([r[key] for r in per_run])
    by_interval = {
        qid: [
            {
                key: float(np.nanmean([run[i][f"told_{key}"] for run in per_run]))
                if any(not math.isnan(run[i][f"told_{key}"]) for run in per_run)
                else math.nan
                for key in SCORE_KEYS
            }
            for i in range(n_int)
        ]
        for qid, per_run in runs.items()
    }
    return told, half, by_interval


def _pool(scores: list[dict[str, float]]) -> dict[str, float]:
    """Scores of several queues as one: counts add, shares and means weigh by
    the announcements they cover."""
    out = {}
    for key in SCORE_KEYS:
        known = [s[key] for s in scores if not math.isnan(s[key])]
        out[key] = float(sum(known)) if known else math.nan
    for key in ("within_tolerance", "mean_error_s"):
        weighted = [
            (s[key], s["announcements"])
            for s in scores
            if s["announcements"] and not math.isnan(s[key])
        ]
        weight = sum(w for _, w in weighted)
        out[key] = sum(v * w for v, w in weighted) / weight if weight else math.nan
    return out


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
    if replications < 2:
        raise ValueError(f"replications must be >= 2, got {replications}")
    walks = _Walks(menu, plan, seed, replications)
    played = _play(menu, plan, walks, None, progress)
    first = _targets_met(played, plan, target_s)
    staffing: dict[str, list[int]] = {}
    for qid, queue in menu.queues.items():
        counts = []
        for i in range(len(plan.calls)):
            rate = first[qid][i]["offered"] * 3600 / plan.interval_s
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
    # Rounds look only at service level and abandonment; the day's other
    # figures (announcements, waits, Erlang) are worked out for the last one.
    for _ in range(rounds):
        played = _play(menu, plan, walks, staffing, progress)
        met = _targets_met(played, plan, target_s)
        short = False
        for qid, counts in staffing.items():
            for i, m in enumerate(met[qid]):
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
    return staffing, _day_result(menu, plan, played, target_s)
