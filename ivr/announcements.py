"""Scoring the waits a simulated queue announces against the waits callers had.

On the live line a holding caller hears their position and an estimated wait
on joining and every ``announce_every`` after. Here the same announcements are
replayed over a simulated queue's records: at each moment a caller still holds,
their position is what the app would know then (callers of higher priority
holding, then those of their own priority who joined earlier), so is the rate
at which callers of a higher priority have been joining (those who joined in
the ``RATE_WINDOW_S`` before, as the store's waiter records tell the live
line), the estimate is the live one (``ivr.estimate``) and the words are the
live ones (``ivr.phrases.spoken_forecast``: a range for a caller who can be
overtaken, or whose wait is too spread for one figure to be likely right).
For callers later answered, what they were told is set against the wait they
actually had left.

This is a pass over the records after the simulation, not part of it: the
simulator's loop stays as fast as it was, and any engine that writes the same
records can be scored.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ivr.estimate import RATE_WINDOW_S, Estimator
from ivr.phrases import SURE, TOLERANCE, TOLERANCE_S, spoken_forecast
from ivr.simulation import (
    ABANDONED,
    CALLBACK,
    SERVED,
    QueueSetup,
    Records,
)

__all__ = [
    "SCORE_KEYS",
    "Announcements",
    "announce",
    "higher_rates",
    "score",
    "spoken_ranges",
    "tolerated_ranges",
    "within_tolerance",
]

SCORE_KEYS = (
    "announcements", "within_tolerance", "mean_error_s", "hung_up_announced",
    "callback_offers", "callback_needless", "callback_missed", "callbacks_taken",
)  # fmt: skip


@dataclass
class Announcements:
    """The announcements heard by callers later answered live, one row each.

    ``caller`` indexes the records; ``time_s`` is when it was said;
    ``position`` 1 = next; ``estimate_s`` the live estimate; ``low_s`` and
    ``high_s`` the range of waits the words covered ("less than a minute" is
    0-60 s, "about 5 minutes" exactly 300 s, "more than 15 minutes" 900 s on);
    ``actual_s`` the wait the caller still had. ``hung_up`` marks the callers
    who hung up after hearing at least one announcement. ``higher_per_s``:
    the rate of callers of a higher priority joining, as the app knew it
    (0 for callers nobody can overtake); ``callback_s`` the figure the
    callback offer weighed (``WaitForecast.callback_s``; the estimate when
    not given).
    """

    caller: np.ndarray
    time_s: np.ndarray
    position: np.ndarray
    estimate_s: np.ndarray
    low_s: np.ndarray
    high_s: np.ndarray
    actual_s: np.ndarray
    hung_up: np.ndarray
    higher_per_s: np.ndarray | None = None
    callback_s: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.caller)

    def error_s(self) -> np.ndarray:
        """What was said minus the actual wait (0 inside a range that was said)."""
        return np.clip(self.actual_s, self.low_s, self.high_s) - self.actual_s


def within_tolerance(said_s: np.ndarray, actual_s: np.ndarray) -> np.ndarray:
    """Whether each figure said is within ±25% or ±60 s (the looser) of the truth."""
    error = np.abs(np.asarray(said_s, float) - actual_s)
    return error <= np.maximum(TOLERANCE * actual_s, TOLERANCE_S)


def _sweep(
    records: Records, holds: np.ndarray, leave: np.ndarray, when: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a sweep over the queue needs: each caller's service-order key
    (higher priority first, then arrival), and the events in time order, as
    kinds (0 a holding caller leaves, 1 an announcement ``q``, 2 a caller
    joins) and ids (the caller, or ``q``); at the same instant leaves come
    first, then announcements, then joins."""
    n = len(records)
    levels = records.priority.max() if n else 0
    key = (levels - records.priority) * n + np.arange(n)
    joiners = np.nonzero(holds)[0]
    leavers = joiners[np.isfinite(leave[joiners])]
    times = np.concatenate([leave[leavers], when, records.arrival_s[joiners]])
    kinds = np.concatenate(
        [np.zeros(len(leavers)), np.ones(len(when)), np.full(len(joiners), 2)]
    ).astype(np.int8)
    ids = np.concatenate([leavers, np.arange(len(when)), joiners]).astype(np.int64)
    order = np.lexsort((kinds, times))
    return key, kinds[order], ids[order]


def _positions(
    records: Records, holds: np.ndarray, leave: np.ndarray, caller: np.ndarray,
    when: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Position of ``caller[q]`` at ``when[q]``: one sweep over joins and leaves.

    The holding callers are kept as a sorted list of service-order keys (higher
    priority first, then arrival); a caller's position is how many keys sort
    before theirs, plus one.
    """
    key, kinds, ids = _sweep(records, holds, leave, when)
    key = key.tolist()
    asked = caller.tolist()
    out = np.zeros(len(when), dtype=np.int64)
    holding: list[int] = []
    insort, find = bisect.insort, bisect.bisect_left
    for kind, who in zip(kinds.tolist(), ids.tolist(), strict=True):
        if kind == 0:
            del holding[find(holding, key[who])]
        elif kind == 1:
            out[who] = find(holding, key[asked[who]]) + 1
        else:
            insort(holding, key[who])
    return out


@lru_cache(maxsize=64)
def _estimator(setup: QueueSetup) -> Estimator:
    """The queue's estimator, kept across replications: its tables by staffing
    and rate of callers overtaking are the same in every one."""
    patience = None if setup.patience.kind == "none" else setup.patience.mean_s
    return Estimator(setup.agents, setup.handle.mean_s, patience)


def higher_rates(
    records: Records,
    caller: np.ndarray,
    when: np.ndarray,
    window_s: float = RATE_WINDOW_S,
) -> np.ndarray:
    """For each announcement to ``caller[q]`` at ``when[q]``, callers of a higher
    priority than theirs joining a second: ``ivr.estimate.arrival_rate_per_s``
    of the arrivals of higher priority in the ``window_s`` up to ``when[q]``.

    Every arrival counts, answered at once or not: each takes an agent that a
    caller already holding could have had.
    """
    rates = np.zeros(len(caller))
    priority = records.priority[caller]
    for level in np.unique(priority).tolist():
        above = np.sort(records.arrival_s[records.priority > level])
        if not len(above):
            continue
        rows = np.nonzero(priority == level)[0]
        t = when[rows]
        seen = np.searchsorted(above, t, side="right")
        seen -= np.searchsorted(above, t - window_s, side="right")
        rates[rows] = seen / window_s
    return rates


def spoken_ranges(
    seconds: np.ndarray, max_wait_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """``spoken_wait(s, max_wait_s)``'s ``low_s`` and ``high_s`` of many waits.

    The same steps as ``ivr.phrases.spoken_wait``, on arrays: under a minute,
    the nearest minute to 10, 5 minutes to 30, 10 to an hour, then half hours;
    "more than" past ``max_wait_s``.
    """
    seconds = np.asarray(seconds, dtype=float)
    exact = seconds / 60
    step = np.select([exact < 10.5, exact < 32.5, exact < 65.0], [1, 5, 10], 30)
    minutes = np.maximum(step, np.floor(exact / step + 0.5) * step)
    low = np.where(seconds < 60, 0.0, minutes * 60.0)
    high = np.where(seconds < 60, 60.0, low)
    if max_wait_s is not None:
        over = seconds > max_wait_s
        low[over] = max(1, int(max_wait_s // 60)) * 60.0
        high[over] = math.inf
    return low, high


def tolerated_ranges(
    low_s: np.ndarray, high_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``ivr.phrases.tolerated`` of many said ranges: the actual waits each
    is right about."""
    low = np.minimum(low_s - TOLERANCE_S, low_s / (1.0 + TOLERANCE))
    return np.maximum(low, 0.0), np.maximum(
        high_s + TOLERANCE_S, high_s / (1.0 - TOLERANCE)
    )


def _positions_compiled(
    records: Records, holds: np.ndarray, leave: np.ndarray, caller: np.ndarray,
    when: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """``_positions`` by ``ivr.kernels.queue.positions`` (a counting tree)."""
    from ivr.kernels import queue as kernel

    key, kinds, ids = _sweep(records, holds, leave, when)
    n = len(key)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(key, kind="stable")] = np.arange(n)
    return kernel.positions(kinds, ids, rank, caller.astype(np.int64), len(when))


def announce(
    records: Records,
    setup: QueueSetup,
    announce_every_s: float,
    estimator: Estimator | None = None,
    *,
    window_s: float = RATE_WINDOW_S,
    compiled: bool = True,
) -> Announcements:
    """Replay the announcements of a simulated queue (see the module docstring).

    Every caller who holds hears one on joining and every ``announce_every_s``
    while still holding; those heard by callers later answered live are kept.
    ``window_s``: how far back arrivals of higher priority are counted.
    ``compiled``: positions, estimates and the chance one figure is right by
    ``ivr.kernels`` (the same values as the pure-Python ``_positions``,
    ``Estimator.waits_s`` and ``WaitForecast.chance``, where the pure path
    forecasts every announcement one at a time).
    """
    if not announce_every_s > 0:
        raise ValueError(f"announce_every must be > 0 s, got {announce_every_s!r}")
    wait = records.wait_s
    outcome = records.outcome
    holds = ~(wait == 0) & (outcome != CALLBACK)  # NaN: held to the end
    leave = records.arrival_s + np.where(np.isnan(wait), np.inf, wait)
    answered = np.nonzero(holds & (outcome == SERVED))[0]
    count = np.ceil(wait[answered] / announce_every_s).astype(np.int64)
    caller = np.repeat(answered, count)
    first = np.repeat(np.cumsum(count) - count, count)
    rounds = np.arange(len(caller)) - first
    when = records.arrival_s[caller] + rounds * announce_every_s
    if estimator is None:
        estimator = _estimator(setup)
    higher = higher_rates(records, caller, when, window_s)
    plain = higher == 0
    estimate = np.full(len(caller), np.nan)
    if compiled and type(estimator) is Estimator:
        from ivr.kernels import estimate as kernel_estimate

        position = _positions_compiled(records, holds, leave, caller, when)
        estimate[plain] = kernel_estimate.waits_s(
            kernel_estimate.estimator_of(estimator), position[plain], when[plain]
        )
    else:
        position = _positions(records, holds, leave, caller, when)
        estimate[plain] = estimator.waits_s(position[plain], when[plain])
    low, high = estimate.copy(), estimate.copy()
    starts = [start for start, _ in setup.agents]
    counts = np.array([count for _, count in setup.agents])
    here = np.maximum(np.searchsorted(starts, when, side="right") - 1, 0)
    on_duty = counts[here] > 0
    # Nobody on duty: the caller hears when service starts, not a wait.
    told = np.nonzero(plain & on_duty & np.isfinite(estimate))[0]
    spread = told
    if compiled and type(estimator) is Estimator:
        # The figure, where one stretch of fixed staffing answers the wait and
        # the chance it is right is read off that one gamma variable (compiled,
        # as ``WaitForecast.chance`` reckons it); the others one at a time as
        # the live line does it (``spoken_forecast``).
        low[told], high[told] = spoken_ranges(estimate[told], setup.max_wait_s)
        mean, variance = estimator.table_moments(position[told], when[told])
        simple = np.isfinite(variance)
        bottom, top = tolerated_ranges(low[told][simple], high[told][simple])
        chance = np.zeros(len(told))
        chance[simple] = kernel_estimate.chances(
            mean[simple], variance[simple], bottom, top
        )
        spread = told[chance < SURE]
    for i in spread.tolist():
        forecast = estimator.forecast(int(position[i]), float(when[i]))
        words = spoken_forecast(forecast, setup.max_wait_s)
        low[i], high[i] = words.low_s, words.high_s
    # Callers who can be overtaken: the forecast, its range said (a few of
    # all announcements, one at a time).
    callback = estimate.copy()
    for i in np.nonzero(~plain)[0].tolist():
        forecast = estimator.forecast(
            int(position[i]), float(when[i]), higher_per_s=float(higher[i])
        )
        estimate[i] = low[i] = high[i] = forecast.mean_s
        callback[i] = forecast.callback_s
        if on_duty[i] and math.isfinite(forecast.low_s):
            words = spoken_forecast(forecast, setup.max_wait_s)
            low[i], high[i] = words.low_s, words.high_s
    hung_up = holds & (outcome == ABANDONED)
    return Announcements(
        caller=caller,
        time_s=when,
        position=position,
        estimate_s=estimate,
        low_s=low,
        high_s=high,
        actual_s=records.start_s[caller] - when,
        hung_up=hung_up,
        higher_per_s=higher,
        callback_s=callback,
    )


def score(
    announced: Announcements,
    records: Records,
    callback_after_s: float | None = None,
    window: tuple[float, float] | None = None,
) -> dict[str, float]:
    """How right the announcements were (those said in ``window``, if given).

    ``within_tolerance``: share within ±25% or ±60 s of the actual remaining
    wait; ``mean_error_s``: mean of what was said minus the actual wait
    (positive: too long); ``hung_up_announced``: callers (arriving in the
    window) who hung up after hearing a wait; ``callback_offers``: announcements
    that offered a callback (estimate past ``callback_after_s``),
    ``callback_needless`` of them to callers answered within
    ``callback_after_s``, ``callback_missed``: no offer though the caller waited
    longer (these three are NaN for a queue without ``callback_after``);
    ``callbacks_taken``: callers who took the offer on joining.
    """
    mine = np.ones(len(announced), dtype=bool)
    callers = np.ones(len(records), dtype=bool)
    if window is not None:
        t0, t1 = window
        mine = (announced.time_s >= t0) & (announced.time_s < t1)
        callers = (records.arrival_s >= t0) & (records.arrival_s < t1)
    actual = announced.actual_s[mine]
    error = announced.error_s()[mine]
    ok = np.isfinite(error)
    n = int(mine.sum())
    figures = {
        "announcements": n,
        "within_tolerance": (
            float(np.mean(within_tolerance(actual + error, actual) & ok))
            if n
            else math.nan
        ),
        "mean_error_s": float(error[ok].mean()) if ok.any() else math.nan,
        "hung_up_announced": int((announced.hung_up & callers).sum()),
        "callbacks_taken": int(((records.outcome == CALLBACK) & callers).sum()),
    }
    if callback_after_s is None:  # the queue offers no callbacks: nothing to score
        nan = math.nan
        figures.update(callback_offers=nan, callback_needless=nan, callback_missed=nan)
        return figures
    weighed = (
        announced.estimate_s if announced.callback_s is None else (announced.callback_s)
    )
    offered = weighed[mine] > callback_after_s
    longer = actual > callback_after_s
    figures.update(
        callback_offers=int(offered.sum()),
        callback_needless=int((offered & ~longer).sum()),
        callback_missed=int((~offered & longer).sum()),
    )
    return figures
