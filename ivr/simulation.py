"""Event simulation of a call queue: one record per caller, replications, intervals.

Where Erlang assumes the phones have been ringing at the same rate for ever, a
simulation plays the day out caller by caller: each arrives (at a rate that climbs
and falls through the day), waits for one of the agents on shift, and is answered,
gives up, asks for a callback or is sent on after the queue's longest wait. Run it
several times with independent random streams and the spread of the answers is the
uncertainty (a 95% confidence interval).

Two engines give the same records: a tight first-come-first-served loop over the
arrivals (a heap of the times agents come free; a caller gives up if their
patience ends before the earliest free agent), and a general event loop for
priorities and callbacks. ``simulate_queue`` picks the fast one when it can.
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ivr.estimate import Estimator

__all__ = [
    "CHUNK",
    "NEVER",
    "OUTCOMES",
    "Distribution",
    "QueueSetup",
    "Records",
    "arrival_times",
    "ci95",
    "exponential",
    "fixed",
    "lognormal",
    "replicate",
    "simulate_erlang",
    "simulate_queue",
    "summarize",
    "summarize_windows",
    "window_shares",
]

OUTCOMES = ("served", "abandoned", "callback", "overflow", "unserved")
SERVED, ABANDONED, CALLBACK, OVERFLOW, UNSERVED = range(5)


@dataclass(frozen=True)
class Distribution:
    """A duration distribution: ``exponential``, ``lognormal``, ``fixed`` or ``none``.

    ``mean_s`` is the mean; ``spread_s`` the standard deviation of a log-normal.
    ``none`` means "never" (a caller with no patience limit waits for ever).
    """

    kind: str
    mean_s: float = math.inf
    spread_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("exponential", "lognormal", "fixed", "none"):
            raise ValueError(
                "distribution must be exponential, lognormal, fixed or none, "
                f"got {self.kind!r}"
            )
        if self.kind != "none" and not (math.isfinite(self.mean_s) and self.mean_s > 0):
            raise ValueError(f"mean must be a positive time, got {self.mean_s!r}")
        if self.kind == "lognormal" and not self.spread_s > 0:
            raise ValueError(f"lognormal spread must be > 0, got {self.spread_s!r}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent durations in seconds."""
        if self.kind == "none":
            return np.full(n, np.inf)
        if self.kind == "fixed":
            return np.full(n, float(self.mean_s))
        if self.kind == "exponential":
            return rng.exponential(self.mean_s, n)
        sigma2 = math.log1p((self.spread_s / self.mean_s) ** 2)
        mu = math.log(self.mean_s) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


def exponential(mean_s: float) -> Distribution:
    return Distribution("exponential", mean_s)


def lognormal(mean_s: float, spread_s: float) -> Distribution:
    return Distribution("lognormal", mean_s, spread_s)


def fixed(mean_s: float) -> Distribution:
    return Distribution("fixed", mean_s)


NEVER = Distribution("none")


@dataclass(frozen=True)
class QueueSetup:
    """One queue and its agents: ``agents`` is ((from second, agents on shift), ...).

    When the plan drops, idle agents leave at once and busy ones when their call
    ends. ``callback_after_s``: a caller whose estimated wait on joining (what
    the announcement says: ``ivr.estimate`` from their position, the plan, the
    handle time and patience) exceeds it is offered a callback; the share
    ``callback_accept`` of them take it, leave the queue and are called back
    when an agent is free and nobody is holding, the others hold as if not
    offered. ``max_wait_s``: a caller still holding then is sent on (the queue
    node's ``overflow``).
    """

    agents: tuple[tuple[float, int], ...]
    handle: Distribution
    patience: Distribution = NEVER
    callback_after_s: float | None = None
    max_wait_s: float | None = None
    callback_accept: float = 1.0

    def __post_init__(self) -> None:
        if not self.agents:
            raise ValueError("agents plan is empty: give at least (0, agents)")
        for _, count in self.agents:
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"agents must be an integer >= 0, got {count!r}")
        starts = [start for start, _ in self.agents]
        if starts != sorted(starts):
            raise ValueError(f"agents plan must be in time order, got {starts}")
        if self.handle.kind == "none":
            raise ValueError("handle time cannot be 'none'")
        if not 0 <= self.callback_accept <= 1:
            raise ValueError(
                f"callback_accept must be a share from 0 to 1, got "
                f"{self.callback_accept!r}"
            )

    def declines(self, rng: np.random.Generator, n: int) -> np.ndarray | None:
        """Which of ``n`` callers would turn a callback offer down, or None when
        every offer is taken (then nothing is drawn: the same seed gives the
        same callers as before ``callback_accept`` existed)."""
        if self.callback_after_s is None or self.callback_accept >= 1:
            return None
        return rng.random(n) >= self.callback_accept

    def agents_at(self, time_s: float) -> int:
        count = self.agents[0][1]
        for start, n in self.agents:
            if time_s >= start:
                count = n
        return count


@dataclass
class Records:
    """One row per caller (numpy columns), in arrival order.

    ``wait_s`` is the time on hold (until answered, hanging up, the callback offer
    or the overflow); ``start_s`` when an agent picked the call up (NaN if never);
    ``service_s`` the agent's busy time (0 if not answered).
    """

    arrival_s: np.ndarray
    priority: np.ndarray
    wait_s: np.ndarray
    start_s: np.ndarray
    service_s: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)


def arrival_times(
    calls_per_interval: Sequence[float],
    interval_s: float,
    rng: np.random.Generator,
    *,
    start_s: float = 0.0,
    shape: str = "step",
) -> np.ndarray:
    """Arrival times of a non-homogeneous Poisson process, sorted.

    ``calls_per_interval[i]`` is the expected number of calls in interval ``i``.
    ``step`` holds each interval's rate constant; ``linear`` ramps the rate
    between interval midpoints (thinning), so a climb to the peak is a climb
    within each interval too rather than a staircase.
    """
    counts = np.asarray(calls_per_interval, dtype=float)
    if counts.ndim != 1 or len(counts) == 0 or np.any(~(counts >= 0)):
        raise ValueError(f"calls per interval must be >= 0, got {calls_per_interval}")
    if not interval_s > 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval_s!r}")
    if shape == "step":
        n = rng.poisson(counts)
        offsets = np.repeat(np.arange(len(counts)) * interval_s, n)
        times = offsets + rng.uniform(0.0, interval_s, n.sum())
        return start_s + np.sort(times)
    if shape != "linear":
        raise ValueError(f"arrival shape must be 'step' or 'linear', got {shape!r}")
    # Rate at midpoints, linear between, flat at both ends; thin from the max.
    mids = (np.arange(len(counts)) + 0.5) * interval_s
    rates = counts / interval_s
    top = np.maximum(rates, np.maximum(np.r_[rates[1:], 0], np.r_[0, rates[:-1]]))
    n = rng.poisson(top * interval_s)
    times = np.repeat(np.arange(len(counts)) * interval_s, n) + rng.uniform(
        0.0, interval_s, n.sum()
    )
    bound = np.repeat(top, n)
    keep = rng.uniform(0.0, 1.0, len(times)) * bound < np.interp(times, mids, rates)
    return start_s + np.sort(times[keep])


def _fcfs(
    arrivals: np.ndarray,
    service: np.ndarray,
    limit: np.ndarray,
    overflow_first: np.ndarray,
    plan: tuple[tuple[float, int], ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First come, first served with reneging: returns (wait, start, outcome).

    ``free`` is a heap of the times each agent on shift comes free. A caller is
    answered at max(arrival, earliest free time) unless their limit (patience or
    the queue's max wait) ends first; callers who hang up take no agent time.
    Shift changes are applied lazily, just before the first answer they affect.
    """
    n = len(arrivals)
    wait = np.zeros(n)
    outcome = np.zeros(n, dtype=np.int8)
    free = [float(min(plan[0][0], arrivals[0] if n else 0.0))] * plan[0][1]
    heapq.heapify(free)
    present = plan[0][1]
    changes = plan[1:]
    nchanges = len(changes)
    step = 0
    push, pop, replace = heapq.heappush, heapq.heappop, heapq.heapreplace
    inf = math.inf
    # The hot loop stores nothing for a caller answered at once (the common
    # case): their wait is 0 and their answer time is derived afterwards.
    for i, t, svc, lim in zip(
        range(n), arrivals.tolist(), service.tolist(), limit.tolist(), strict=True
    ):
        while step < nchanges:
            when, count = changes[step]
            if when > (max(t, free[0]) if free else inf):
                break
            if count > present:
                for _ in range(count - present):
                    push(free, when)
            else:
                for _ in range(present - count):
                    pop(free)
            present = count
            step += 1
        first = free[0] if free else inf
        if first <= t:
            replace(free, t + svc)
            continue
        held = first - t
        if held > lim or first == inf:
            if lim == inf:  # nobody will ever answer: holding at the end
                outcome[i] = UNSERVED
                wait[i] = math.nan
            else:
                wait[i] = lim
                outcome[i] = OVERFLOW if overflow_first[i] else ABANDONED
            continue
        wait[i] = held
        replace(free, first + svc)
    start = np.where(outcome == SERVED, arrivals + wait, np.nan)
    return wait, start, outcome


def _events(
    arrivals: np.ndarray,
    service: np.ndarray,
    limit: np.ndarray,
    overflow_first: np.ndarray,
    priority: np.ndarray,
    setup: QueueSetup,
    offer_callback: Callable[[int, float], bool] | None = None,
    declines: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """General event loop: priorities (higher first, then FCFS) and callbacks.

    ``offer_callback(position, now)``: whether a caller who would join at
    ``position`` (callers of their priority or higher holding, plus one) is
    offered a callback, which they take unless ``declines`` says they turn it
    down (then they hold).
    """
    n = len(arrivals)
    wait = np.full(n, np.nan)
    start = np.full(n, np.nan)
    outcome = np.full(n, UNSERVED, dtype=np.int8)
    holding = np.zeros(n, dtype=bool)
    events: list[tuple[float, int, int]] = []  # (time, kind, caller or plan step)
    end_kind, change_kind, leave_kind = 0, 1, 2
    for step, (when, _) in enumerate(setup.agents[1:], start=1):
        heapq.heappush(events, (when, change_kind, step))
    present = target = setup.agents[0][1]
    idle = present
    waiting: list[tuple[int, float, int]] = []
    callbacks: deque[int] = deque()
    queued = 0
    by_level: dict[int, int] = {}  # callers holding, by priority
    arr = arrivals.tolist()
    prio = priority.tolist()
    turned_down = [False] * n if declines is None else declines.tolist()

    def dispatch(now: float) -> None:
        nonlocal idle, queued
        while idle > 0 and (queued or callbacks):
            if queued:
                _, _, i = heapq.heappop(waiting)
                if not holding[i]:
                    continue
                holding[i] = False
                queued -= 1
                by_level[prio[i]] -= 1
                wait[i] = now - arr[i]
            else:
                i = callbacks.popleft()
            start[i] = now
            outcome[i] = SERVED if outcome[i] != CALLBACK else CALLBACK
            idle -= 1
            heapq.heappush(events, (now + service[i], end_kind, i))

    i = 0
    while i < n or events:
        if i < n and (not events or arr[i] < events[0][0]):
            now = arr[i]
            if idle > 0 and not queued:
                wait[i] = 0.0
                start[i] = now
                outcome[i] = SERVED
                idle -= 1
                heapq.heappush(events, (now + service[i], end_kind, i))
            elif (
                offer_callback is not None
                and not turned_down[i]
                and offer_callback(
                    sum(n for level, n in by_level.items() if level >= prio[i]) + 1,
                    now,
                )
            ):
                wait[i] = 0.0
                outcome[i] = CALLBACK
                callbacks.append(i)
            else:
                holding[i] = True
                queued += 1
                by_level[prio[i]] = by_level.get(prio[i], 0) + 1
                heapq.heappush(waiting, (-prio[i], now, i))
                if limit[i] != math.inf:
                    heapq.heappush(events, (now + limit[i], leave_kind, i))
            i += 1
            continue
        now, kind, who = heapq.heappop(events)
        if kind == end_kind:
            if present > target:
                present -= 1
            else:
                idle += 1
                dispatch(now)
        elif kind == change_kind:
            target = setup.agents[who][1]
            if present < target:
                idle += target - present
                present = target
                dispatch(now)
            else:
                gone = min(idle, present - target)
                idle -= gone
                present -= gone
        elif holding[who]:
            holding[who] = False
            queued -= 1
            by_level[prio[who]] -= 1
            wait[who] = limit[who]
            outcome[who] = OVERFLOW if overflow_first[who] else ABANDONED
    return wait, start, outcome


def simulate_queue(
    arrivals: np.ndarray,
    setup: QueueSetup,
    rng: np.random.Generator,
    priority: np.ndarray | None = None,
    *,
    engine: str = "auto",
    compiled: bool = True,
) -> Records:
    """Simulate callers arriving at ``arrivals`` (sorted seconds) into one queue.

    ``engine``: ``fast`` (FCFS only), ``events`` or ``auto`` (fast unless there are
    priorities or callbacks). Both engines give identical records on a FCFS
    queue whose staffing only rises (they differ only in which busy agent leaves
    a shift when a later rise cancels the drop). ``compiled``: run the engine's
    compiled kernel (``ivr.kernels``), else its pure-Python reference; both give
    the same records from the same draws.
    """
    arrivals = np.asarray(arrivals, dtype=float)
    n = len(arrivals)
    if n and np.any(np.diff(arrivals) < 0):
        raise ValueError("arrival times must be sorted")
    priority = np.zeros(n, dtype=np.int64) if priority is None else np.asarray(priority)
    service = setup.handle.draw(rng, n)
    patience = setup.patience.draw(rng, n)
    declines = setup.declines(rng, n)
    return _play(
        arrivals, service, patience, priority, setup, engine, compiled, declines
    )


def _play(
    arrivals: np.ndarray,
    service: np.ndarray,
    patience: np.ndarray,
    priority: np.ndarray,
    setup: QueueSetup,
    engine: str,
    compiled: bool,
    declines: np.ndarray | None = None,
) -> Records:
    """The records of callers whose handle times and patience are drawn (and,
    ``declines``, who would turn a callback offer down; None: nobody)."""
    n = len(arrivals)
    max_wait = math.inf if setup.max_wait_s is None else setup.max_wait_s
    limit = np.minimum(patience, max_wait)
    overflow_first = patience > max_wait
    plain = setup.callback_after_s is None and (n == 0 or np.all(priority == 0))
    if engine == "auto":
        engine = "fast" if plain else "events"
    if engine == "fast" and not plain:
        raise ValueError("the fast engine is first-come-first-served only")
    if engine not in ("fast", "events"):
        raise ValueError(f"engine must be fast, events or auto, got {engine!r}")
    patience_mean = None if setup.patience.kind == "none" else setup.patience.mean_s
    estimate = Estimator(setup.agents, setup.handle.mean_s, patience_mean)
    if engine == "fast" and compiled:
        wait, start, outcome = _fcfs_compiled(
            arrivals, service, limit, overflow_first, setup.agents
        )
    elif engine == "fast":
        wait, start, outcome = _fcfs(
            arrivals, service, limit, overflow_first, setup.agents
        )
    elif compiled:
        from ivr.kernels import estimate as kernel_estimate
        from ivr.kernels import queue as kernel

        levels, level = np.unique(priority, return_inverse=True)
        after = setup.callback_after_s
        wait, start, outcome = kernel.events(
            arrivals, service, limit, overflow_first,
            level.astype(np.int64).reshape(-1), max(len(levels), 1),
            np.array([when for when, _ in setup.agents], dtype=np.float64),
            np.array([count for _, count in setup.agents], dtype=np.int64),
            after is not None, kernel_estimate.estimator_of(estimate),
            math.inf if after is None else float(after),
            np.zeros(n, dtype=np.bool_) if declines is None else declines,
        )  # fmt: skip
    else:
        offer = None
        if setup.callback_after_s is not None:
            after = setup.callback_after_s

            def offer(position: int, now: float) -> bool:
                return estimate.wait_s(position, now) > after

        wait, start, outcome = _events(
            arrivals, service, limit, overflow_first, priority, setup, offer,
            declines,
        )  # fmt: skip
    served = ~np.isnan(start)
    return Records(
        arrival_s=arrivals,
        priority=priority,
        wait_s=wait,
        start_s=start,
        service_s=np.where(served, service, 0.0),
        outcome=outcome,
    )


def _fcfs_compiled(
    arrivals: np.ndarray,
    service: np.ndarray,
    limit: np.ndarray,
    overflow_first: np.ndarray,
    plan: tuple[tuple[float, int], ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_fcfs`` by the compiled kernel, in one chunk."""
    from ivr.kernels import queue as kernel

    n = len(arrivals)
    free, state, when, count = kernel.fcfs_state(plan, arrivals[0] if n else 0.0)
    wait = np.empty(n)
    outcome = np.empty(n, dtype=np.int8)
    kernel.fcfs(
        arrivals, service, limit, overflow_first, free, state, when, count, wait,
        outcome,
    )  # fmt: skip
    start = np.where(outcome == SERVED, arrivals + wait, np.nan)
    return wait, start, outcome


def agent_seconds(setup: QueueSetup, t0: float, t1: float) -> float:
    """Agent-time on shift between ``t0`` and ``t1`` by the plan.

    The first entry's count also holds before its start time.
    """
    starts = [start for start, _ in setup.agents[1:]]
    bounds = [-math.inf, *starts, math.inf]
    total = 0.0
    for k, (_, count) in enumerate(setup.agents):
        lo, hi = max(bounds[k], t0), min(bounds[k + 1], t1)
        if hi > lo:
            total += count * (hi - lo)
    return total


def summarize(
    records: Records,
    target_s: float,
    setup: QueueSetup,
    window: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Figures of the callers arriving in ``window`` (all callers without one).

    The same keys as ``ivr erlang --json`` plus ``callers``, ``p90_wait_s``,
    ``p_callback`` and ``p_overflow``. Hold time of those who hang up counts in
    ``asa_s``; service level is the share of *all* callers answered live within
    ``target_s``. Occupancy is agent busy time in the window over agent time on
    shift in it.
    """
    if window is None:
        window = (
            float(records.arrival_s[0]) if len(records) else 0.0,
            float(records.arrival_s[-1]) if len(records) else 0.0,
        )
    return summarize_windows(records, target_s, setup, [window])[0]


def summarize_windows(
    records: Records,
    target_s: float,
    setup: QueueSetup,
    windows: Sequence[tuple[float, float]],
) -> list[dict[str, float]]:
    """``summarize`` of each window, in one pass over the records.

    The records are in arrival order, so a window's callers are one slice of
    them: the same callers in the same order as a mask picks, hence the same
    sums to the last bit. Shares are counts over callers (exactly what the mean
    of a mask gives), counted once for all windows by running sums.
    """
    arrival = records.arrival_s
    outcome = records.outcome
    served = outcome == SERVED
    live = outcome != CALLBACK
    held = np.where(np.isnan(records.wait_s), 0.0, records.wait_s)
    counts = {
        "p_wait": (held > 0) | ~served,
        "service_level": served & (held <= target_s),
        "p_abandon": outcome == ABANDONED,
        "p_callback": outcome == CALLBACK,
        "p_overflow": outcome == OVERFLOW,
        "live": live,
        "served": served,
        "live_waited": live & (held > 0),
        "served_waited": served & (held > 0),
    }
    running = {
        key: np.concatenate(([0], np.cumsum(flags))).tolist()
        for key, flags in counts.items()
    }
    served_at = ~np.isnan(records.start_s)
    begin = records.start_s[served_at]
    end = begin + records.service_s[served_at]
    starts = np.searchsorted(arrival, [t0 for t0, _ in windows]).tolist()
    stops = np.searchsorted(arrival, [t1 for _, t1 in windows]).tolist()
    nan = math.nan
    out = []
    for (t0, t1), lo, hi in zip(windows, starts, stops, strict=True):
        hi = max(hi, lo)
        n = hi - lo

        def count(key: str, lo: int = lo, hi: int = hi) -> int:
            return running[key][hi] - running[key][lo]

        figures: dict[str, float] = {"callers": n}
        for key in ("p_wait", "service_level", "p_abandon"):
            figures[key] = count(key) / n if n else nan
        # A mean of zeros is 0.0 to the last bit: only waits need summing.
        mine = slice(lo, hi)
        live_held = held[mine][live[mine]] if count("live_waited") else None
        if not count("live"):
            figures["asa_s"] = figures["p90_wait_s"] = nan
        elif live_held is None:
            figures["asa_s"] = figures["p90_wait_s"] = 0.0
        else:
            figures["asa_s"] = float(live_held.mean())
            figures["p90_wait_s"] = float(np.percentile(live_held, 90))
        if not count("served"):
            figures["mean_wait_served_s"] = nan
        elif not count("served_waited"):
            figures["mean_wait_served_s"] = 0.0
        else:
            figures["mean_wait_served_s"] = float(held[mine][served[mine]].mean())
        available = agent_seconds(setup, t0, t1)
        busy = np.clip(np.minimum(end, t1) - np.maximum(begin, t0), 0, None).sum()
        figures["occupancy"] = float(busy) / available if available else nan
        figures["p_callback"] = count("p_callback") / n if n else nan
        figures["p_overflow"] = count("p_overflow") / n if n else nan
        out.append({key: figures[key] for key in _SUMMARY_KEYS})
    return out


def window_shares(
    records: Records, target_s: float, windows: Sequence[tuple[float, float]]
) -> list[dict[str, float]]:
    """Callers (``offered``), ``service_level`` and ``p_abandon`` of each
    window: ``summarize_windows``' numbers, by counts alone."""
    arrival, outcome = records.arrival_s, records.outcome
    held = np.where(np.isnan(records.wait_s), 0.0, records.wait_s)
    served = outcome == SERVED
    running = {
        key: np.concatenate(([0], np.cumsum(flags))).tolist()
        for key, flags in (
            ("service_level", served & (held <= target_s)),
            ("p_abandon", outcome == ABANDONED),
        )
    }
    starts = np.searchsorted(arrival, [t0 for t0, _ in windows]).tolist()
    stops = np.searchsorted(arrival, [t1 for _, t1 in windows]).tolist()
    out = []
    for lo, hi in zip(starts, stops, strict=True):
        hi = max(hi, lo)
        n = hi - lo
        shares: dict[str, float] = {"offered": n}
        for key, counts in running.items():
            shares[key] = (counts[hi] - counts[lo]) / n if n else math.nan
        out.append(shares)
    return out


_SUMMARY_KEYS = (
    "callers", "p_wait", "asa_s", "mean_wait_served_s", "service_level",
    "p_abandon", "occupancy", "p90_wait_s", "p_callback", "p_overflow",
)  # fmt: skip


# Two-sided 97.5% Student t quantiles for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% half-width (Student t) of independent replication results."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(data) == 0:
        return math.nan, math.nan
    if len(data) == 1:
        return float(data[0]), math.inf
    df = len(data) - 1
    if df <= 30:
        t = _T975[df - 1]
    else:  # Cornish-Fisher expansion around the normal quantile
        z = 1.959963984540054
        t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    return float(data.mean()), float(t * data.std(ddof=1) / math.sqrt(len(data)))


def replicate(
    run: Callable[[np.random.Generator], dict[str, float]],
    replications: int,
    seed: int | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, float], dict[str, float], list[dict[str, float]]]:
    """Run ``run`` on independent streams spawned from ``seed``; mean, ci95, runs.

    The same seed gives the same result: each replication gets its own
    generator from ``numpy.random.SeedSequence(seed).spawn``.
    """
    if replications < 2:
        raise ValueError(
            f"replications must be >= 2 for an interval, got {replications}"
        )
    streams = np.random.SeedSequence(seed).spawn(replications)
    runs = []
    for stream in streams:
        runs.append(run(np.random.default_rng(stream)))
        if progress:
            progress(1)
    mean, half = {}, {}
    for key in runs[0]:
        mean[key], half[key] = ci95([r[key] for r in runs])
    mean["callers"] = int(sum(r["callers"] for r in runs))
    half.pop("callers", None)
    return mean, half, runs


def simulate_erlang(
    calls_per_hour: float,
    handle: Distribution,
    agents: int,
    patience: Distribution = NEVER,
    *,
    callers: int = 100_000,
    seed: int | None = 1,
    replications: int = 10,
    target_s: float = 20.0,
    warmup_share: float = 0.1,
    progress: Callable[[int], None] | None = None,
    compiled: bool = True,
) -> dict[str, object]:
    """The single-queue steady state of ``ivr erlang`` by simulation, with ci95.

    Each replication starts empty, runs ``warmup_share`` more callers first and
    discards them (the empty start would flatter the waits), then records
    ``callers / replications`` callers at a constant Poisson rate. The keys are
    ``summarize``'s but ``p90_wait_s`` (a quantile needs every wait at once).

    A replication draws arrivals, handle times and patience from three streams
    of its own and plays them ``CHUNK`` callers at a time through the compiled
    kernel, keeping running totals: memory stays that of one chunk however long
    the run, and the figures do not depend on the chunk size (but for rounding
    in the last digits). ``compiled=False``
    plays the same draws at once through the pure-Python reference (the same
    records; totals summed in another order, so equal to about 1e-12).
    """
    if not calls_per_hour > 0:
        raise ValueError(f"calls_per_hour must be > 0, got {calls_per_hour!r}")
    if callers < replications * 10:
        raise ValueError(f"callers must be >= {replications * 10}, got {callers}")
    per_run = callers // replications
    warm = max(
        int(per_run * warmup_share), int(20 * handle.mean_s * calls_per_hour / 3600)
    )
    setup = QueueSetup(agents=((0.0, agents),), handle=handle, patience=patience)
    mean_gap = 3600.0 / calls_per_hour

    def run(rng: np.random.Generator) -> dict[str, float]:
        play = _steady_run if compiled else _steady_run_reference
        figures = play(rng, setup, mean_gap, warm, per_run, target_s)
        figures.pop("p90_wait_s", None)
        return figures

    mean, half, _ = replicate(run, replications, seed, progress)
    return {**mean, "ci95": half}


CHUNK = 1 << 18  # callers a steady-state replication plays at a time


def _steady_run_reference(
    rng: np.random.Generator, setup: QueueSetup, mean_gap: float, warm: int,
    count: int, target_s: float,
) -> dict[str, float]:  # fmt: skip
    """One replication of ``simulate_erlang`` at once, in pure Python."""
    arrive, handle, patience = rng.spawn(3)
    total = warm + count
    arrivals = np.cumsum(arrive.exponential(mean_gap, total))
    records = _play(
        arrivals, setup.handle.draw(handle, total),
        setup.patience.draw(patience, total), np.zeros(total, dtype=np.int64),
        setup, "fast", compiled=False,
    )  # fmt: skip
    window = (float(arrivals[warm]), float(arrivals[-1]) + 1e-9)
    return summarize(records, target_s, setup, window)


def _steady_run(
    rng: np.random.Generator, setup: QueueSetup, mean_gap: float, warm: int,
    count: int, target_s: float,
) -> dict[str, float]:  # fmt: skip
    """One replication of ``simulate_erlang``, ``CHUNK`` callers at a time."""
    from ivr.kernels import queue as kernel

    arrive, handle, patience = rng.spawn(3)
    total = warm + count
    max_wait = math.inf if setup.max_wait_s is None else setup.max_wait_s
    tally = _Tally(target_s, warm)
    last = 0.0
    state = None
    for first in range(0, total, CHUNK):
        size = min(CHUNK, total - first)
        gaps = arrive.exponential(mean_gap, size)
        gaps[0] += last  # the running sum goes on: the same times as at once
        arrivals = np.cumsum(gaps)
        last = float(arrivals[-1])
        service = setup.handle.draw(handle, size)
        patient = setup.patience.draw(patience, size)
        if state is None:
            state = kernel.fcfs_state(setup.agents, float(arrivals[0]))
        wait = np.empty(size)
        outcome = np.empty(size, dtype=np.int8)
        kernel.fcfs(
            arrivals, service, np.minimum(patient, max_wait), patient > max_wait,
            *state, wait, outcome,
        )  # fmt: skip
        tally.add(first, arrivals, service, wait, outcome)
    return tally.figures(setup, last + 1e-9)


class _Tally:
    """``summarize`` kept as running totals over the chunks of one replication.

    Callers count from the ``warm``-th on (``t0``, their arrival). An answered
    call's agent time counts once it ends before the latest arrival (the window
    ends after every arrival); calls still going on wait in ``pending`` (a few
    per agent). Before ``t0`` is known every call that ended did so before it.
    """

    def __init__(self, target_s: float, warm: int) -> None:
        self.target_s, self.warm = target_s, warm
        self.t0 = math.inf
        self.counts = np.zeros(8, dtype=np.int64)
        self.sums = np.zeros(3)  # hold of the live, of the served; agent time
        self.pending = (np.empty(0), np.empty(0))

    def add(
        self, first: int, arrivals: np.ndarray, service: np.ndarray,
        wait: np.ndarray, outcome: np.ndarray,
    ) -> None:  # fmt: skip
        from ivr.kernels import queue as kernel

        if self.t0 == math.inf and first + len(arrivals) > self.warm:
            self.t0 = float(arrivals[self.warm - first])
        bound = float(arrivals[-1])
        begin, end = self.pending
        over = end <= bound
        self.sums[2] += float(
            np.clip(end[over] - np.maximum(begin[over], self.t0), 0, None).sum()
        )
        pend_begin, pend_end = np.empty(len(arrivals)), np.empty(len(arrivals))
        pending = kernel.tally(
            arrivals, service, wait, outcome, self.t0, self.target_s, bound,
            self.counts, self.sums, pend_begin, pend_end,
        )  # fmt: skip
        self.pending = (
            np.concatenate([begin[~over], pend_begin[:pending]]),
            np.concatenate([end[~over], pend_end[:pending]]),
        )

    def figures(self, setup: QueueSetup, t1: float) -> dict[str, float]:
        t0 = min(self.t0, t1)
        begin, end = self.pending
        busy = float(self.sums[2]) + float(
            np.clip(np.minimum(end, t1) - np.maximum(begin, t0), 0, None).sum()
        )
        available = agent_seconds(setup, t0, t1)
        n, waited, live, served, in_target, abandoned, callback, overflow = (
            self.counts.tolist()
        )
        live_s, served_s = self.sums[:2].tolist()
        nan = math.nan
        return {
            "callers": n,
            "p_wait": waited / n if n else nan,
            "asa_s": live_s / live if live else nan,
            "mean_wait_served_s": served_s / served if served else nan,
            "service_level": in_target / n if n else nan,
            "p_abandon": abandoned / n if n else nan,
            "occupancy": busy / available if available else nan,
            "p_callback": callback / n if n else nan,
            "p_overflow": overflow / n if n else nan,
        }
