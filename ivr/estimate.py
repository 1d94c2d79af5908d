"""The wait a holding caller is told: expected time until an agent answers.

Picture the caller at position ``k`` of a queue served by ``c`` agents who each
take ``h`` on average. Every time an agent finishes a call the head of the queue
is answered and everyone moves up one place; every caller ahead may also hang up
(each after an exponential patience of mean ``1/θ``), which moves our caller up
too. With ``j`` callers ahead the next move comes after ``1 / (c/h + jθ)`` on
average, so the caller at position ``k`` waits on average

    W(k) = Σ_{j=0}^{k-1} 1 / (c/h + jθ) = (ψ(x + k) − ψ(x)) / θ,   x = (c/h) / θ,

ψ being the digamma function. Without patience (θ = 0) that is ``k × h / c``.
This is exact for the M/M/c+M queue (Erlang A) conditioned on the caller
holding on: callers behind do not matter to a first-come-first-served queue.

Staffing changes during the wait are played forward (``_Walk``):

- a **drop** in the day plan frees nobody until enough busy agents have finished
  their call and left (the ``p`` busy agents finish one after the other, after
  ``h/p``, ``h/(p-1)``, ... on average), while callers ahead still hang up;
- a **rise** brings several agents at once, who answer as many callers at once;
- a drop shortly *before* now still holds agents back, so the agents' side of
  the plan is replayed from a little before now.

Between two changes the wait is a sum of exponentials; taken as a gamma
variable with its mean and variance, it tells how likely the caller is to be
answered before the change (or to be among those a rise answers at once) and
how long the others still have to go, which carries on past the change.

Times are seconds on one clock: ``plan`` is ((from second, agents), ...) on it,
``now_s`` is on it too. ``day_plan`` turns a menu queue's day plan (times of
day) into such a timeline around the current local time. The simulator passes
its own timeline, so the live line and ``ivr simulate`` use the same function.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy is imported where a table is made: the live line that
    import numpy as np  # never reaches a queue (ivr call, ivr test) goes without

__all__ = [
    "Estimator",
    "day_plan",
    "expected_wait_s",
    "wait_by_position_s",
]

Plan = Sequence[tuple[float, int]]

_HORIZON_S = 8 * 86400.0  # beyond a week and a day the caller is told no figure
_DAY_S = 86400.0


def _digamma_tail(y: float) -> float:
    """ψ(y) − ln(y) for y >= 10 (asymptotic series, error below 1e-15)."""
    inv2 = 1.0 / (y * y)
    return -0.5 / y - inv2 * (
        1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132)))
    )


def _psi_gap(x: float, r: float) -> float:
    """ψ(x + r) − ψ(x) for x > 0, r >= 0, without cancelling the two logarithms.

    For a whole ``r`` it is Σ_{i<r} 1/(x+i); both arguments are moved up past 10
    by ψ(y) = ψ(y+1) − 1/y, then the logarithms are taken as one ``log1p``.
    """
    if r <= 0:
        return 0.0
    if r <= 16 and r == int(r):
        return math.fsum(1.0 / (x + i) for i in range(int(r)))
    a, b, acc = x, x + r, 0.0
    while a < 10:
        acc += 1.0 / a
        a += 1.0
    while b < 10:
        acc -= 1.0 / b
        b += 1.0
    return acc + math.log1p((b - a) / a) + _digamma_tail(b) - _digamma_tail(a)


def _trigamma_gap(x: float, r: float) -> float:
    """ψ'(x) − ψ'(x + r): for a whole ``r``, Σ_{i<r} 1/(x+i)²."""
    if r <= 0:
        return 0.0
    if r <= 16 and r == int(r):
        return math.fsum(1.0 / (x + i) ** 2 for i in range(int(r)))
    return _trigamma(x) - _trigamma(x + r)


def _trigamma(y: float) -> float:
    """ψ'(y) for y > 0."""
    acc = 0.0
    while y < 10:
        acc += 1.0 / (y * y)
        y += 1.0
    inv = 1.0 / y
    inv2 = inv * inv
    return (
        acc
        + inv
        + inv2 * (0.5 + inv * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 / 30))))
    )


def _gamma_p(shape: float, arg: float) -> float:
    """Regularized lower incomplete gamma P(shape, arg): the series below
    ``shape + 1``, the continued fraction of Q = 1 − P above (Lentz)."""
    if arg <= 0:
        return 0.0
    log_front = shape * math.log(arg) - arg - math.lgamma(shape)
    if arg < shape + 1.0:
        term = total = 1.0 / shape
        a = shape
        for _ in range(10_000):
            a += 1.0
            term *= arg / a
            total += term
            if term < total * 1e-16:
                break
        return min(total * math.exp(log_front), 1.0)
    tiny = 1e-300
    b = arg + 1.0 - shape
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - shape)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return max(1.0 - math.exp(log_front) * h, 0.0)


def wait_by_position_s(
    position: float, agents: int, handle_s: float, patience_s: float | None = None
) -> float:
    """W(k): expected wait at ``position`` with ``agents`` all busy, staffing fixed.

    ``position`` may be fractional (a mean over possible positions).
    """
    theta = 0.0 if not patience_s or math.isinf(patience_s) else 1.0 / patience_s
    return _wait_mean(position, agents / handle_s, theta)


def _wait_mean(position: float, rate: float, theta: float) -> float:
    """W(k) = Σ_{j<k} 1/(rate + jθ), ``rate`` the answers a second."""
    if rate <= 0:
        return math.inf
    if position <= 0:
        return 0.0
    if theta == 0.0:
        return position / rate
    return _psi_gap(rate / theta, position) / theta


def _wait_variance(position: float, rate: float, theta: float) -> float:
    """Variance of the wait at ``position``: Σ_{j<k} 1/(rate + jθ)²."""
    if theta == 0.0:
        return position / (rate * rate)
    return _trigamma_gap(rate / theta, position) / (theta * theta)


def _position_for_wait(wait_s: float, rate: float, theta: float) -> float:
    """The position whose expected wait is ``wait_s`` (the inverse of W)."""
    if wait_s <= 0:
        return 0.0
    if theta == 0.0:
        return wait_s * rate
    x = rate / theta
    goal = theta * wait_s
    # ψ(y) ≈ ln(y − ½) gives a start; Newton, kept inside a bracket, finishes.
    r = max((x - 0.5) * math.expm1(goal), 0.0)
    lo, hi = 0.0, max(r, 1.0)
    while _psi_gap(x, hi) < goal:
        lo, hi = hi, 2.0 * hi
    r = min(max(r, lo), hi)
    for _ in range(80):
        gap = _psi_gap(x, r) - goal  # increasing in r
        if gap < 0:
            lo = r
        else:
            hi = r
        nxt = r - gap / _trigamma(x + r)
        if not lo <= nxt <= hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - r) <= 1e-12 * (1.0 + r):
            return nxt
        r = nxt
    return r


def _retire(
    busy: int, target: int, t: float, until: float, handle_s: float
) -> tuple[int, float]:
    """Busy agents above ``target`` leave one by one as their calls end (mean path).

    Returns (busy agents, time) at the last departure before ``until``; a
    departure that would come after ``until`` is left for later (an exponential
    call has no memory of how long it has run).
    """
    while busy > target:
        step = handle_s / busy
        if t + step > until:
            break
        t += step
        busy -= 1
    return busy, t


def expected_wait_s(
    position: int,
    plan: Plan,
    now_s: float,
    handle_s: float,
    patience_s: float | None = None,
    *,
    on_shift: int | None = None,
) -> float:
    """Expected wait of the caller at ``position`` (1 = next) from ``now_s``.

    ``plan`` is the day plan as ((from second, agents), ...) in time order on the
    same clock as ``now_s``; ``handle_s`` the mean handle time; ``patience_s``
    the mean patience of the callers ahead (``None``: nobody hangs up).
    ``on_shift``, when the agent line knows it, replaces the plan's count now
    (and nobody is assumed still finishing after an earlier drop). Returns
    ``math.inf`` when the plan brings nobody within a week. With fixed
    staffing this is ``wait_by_position_s``; see the module docstring for
    plan changes.
    """
    return Estimator(plan, handle_s, patience_s).wait_s(
        position, now_s, on_shift=on_shift
    )


class Estimator:
    """``expected_wait_s`` for one queue: its plan, handle time and patience.

    The simulator asks it once per announcement, so it keeps, for each staffing
    level, the table W(1), W(2), ... of waits by position: where staffing holds
    still around the moment asked (no change since a drop could still hold
    agents back, the answer due well before the next change), the answer is
    read from the table; elsewhere it is played forward as the module says.
    """

    def __init__(self, plan: Plan, handle_s: float, patience_s: float | None = None):
        if not (isinstance(handle_s, int | float) and handle_s > 0):
            raise ValueError(f"handle time must be > 0 seconds, got {handle_s!r}")
        if not plan:
            raise ValueError("agents plan is empty: give at least (0, agents)")
        self.plan = tuple((float(start), int(count)) for start, count in plan)
        self.starts = [start for start, _ in self.plan]
        if self.starts != sorted(self.starts):
            raise ValueError(f"agents plan must be in time order, got {self.starts}")
        self.handle_s = float(handle_s)
        self.patience_s = patience_s
        self.theta = (
            0.0 if not patience_s or math.isinf(patience_s) else 1.0 / patience_s
        )
        most = max(count for _, count in self.plan)
        # Long enough for the agents above a drop to have left (mean path).
        self.lookback_s = self.handle_s * (2.0 + math.log1p(most))
        # The last drop at or before each entry: only a drop holds agents back.
        last, self._last_drop = -math.inf, []
        for i, (start, count) in enumerate(self.plan):
            if i and count < self.plan[i - 1][1]:
                last = start
            self._last_drop.append(last)
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def wait_s(
        self,
        position: float,
        now_s: float,
        *,
        on_shift: int | None = None,
    ) -> float:
        """Expected wait of the caller at ``position`` from ``now_s``."""
        plan, starts, handle_s = self.plan, self.starts, self.handle_s
        here = max(bisect.bisect_right(starts, now_s) - 1, 0)
        count = plan[here][1]
        if (
            on_shift is None
            and count > 0
            and self._last_drop[here] <= now_s - self.lookback_s
            and position == int(position)
        ):
            k = max(int(position), 1)
            mean, var = self._table(count, k)
            until = starts[here + 1] if here + 1 < len(starts) else math.inf
            if mean[k - 1] + 12.0 * math.sqrt(var[k - 1]) < until - now_s:
                return float(mean[k - 1])
        if on_shift is not None:
            busy = target = max(int(on_shift), 0)
        else:
            # Replay the agents' side from before now: a recent drop holds back.
            back = now_s - self.lookback_s
            first = max(bisect.bisect_right(starts, back) - 1, 0)
            t = max(back, starts[first])
            busy = target = plan[first][1]
            for when, count in plan[first + 1 : here + 1]:
                busy, t = _retire(busy, target, t, when, handle_s)
                t = when
                target = count
                busy = max(busy, target)
            busy, _ = _retire(busy, target, t, now_s, handle_s)
        return _Walk(plan, handle_s, self.theta).run(
            max(float(position), 1.0), busy, target, here, now_s
        )

    def waits_s(self, positions: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """``wait_s`` of many (whole) positions and times at once."""
        import numpy as np

        positions = np.maximum(np.asarray(positions, dtype=np.int64), 1)
        times_s = np.asarray(times_s, dtype=float)
        out = np.full(len(positions), np.nan)
        here = np.maximum(np.searchsorted(self.starts, times_s, side="right") - 1, 0)
        plain = np.asarray(self._last_drop)[here] <= times_s - self.lookback_s
        counts = np.array([count for _, count in self.plan])[here]
        nxt = np.append(self.starts[1:], math.inf)[here]
        for count in np.unique(counts[plain]):
            if count <= 0:
                continue
            pick = np.nonzero(plain & (counts == count))[0]
            mean, var = self._table(int(count), int(positions[pick].max()))
            m = mean[positions[pick] - 1]
            spread = np.sqrt(var[positions[pick] - 1])
            sure = m + 12.0 * spread < nxt[pick] - times_s[pick]
            out[pick[sure]] = m[sure]
        for i in np.nonzero(np.isnan(out))[0].tolist():
            out[i] = self.wait_s(int(positions[i]), float(times_s[i]))
        return out

    def _table(self, agents: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """W and its variance for positions 1..size with ``agents`` all busy."""
        import numpy as np

        have = self._tables.get(agents)
        if have is None or len(have[0]) < size:
            size = max(size, 2 * len(have[0]) if have else 256)
            rates = agents / self.handle_s + self.theta * np.arange(size)
            have = (np.cumsum(1.0 / rates), np.cumsum(1.0 / rates**2))
            self._tables[agents] = have
        return have


class _Walk:
    """Play the wait forward from now through the plan's coming changes.

    ``ahead`` is the moves the caller still needs (their position); ``mass``
    the chance they are still waiting. In a stretch of fixed staffing the wait
    is a sum of exponentials (mean W, variance V): taken as a gamma variable
    with those moments (exact without patience), it gives the chance to be
    answered before the next change and the mean time left after it, which is
    turned back into a position for the next stretch.
    """

    def __init__(self, plan: Plan, handle_s: float, theta: float):
        self.plan, self.handle_s, self.theta = plan, handle_s, theta

    def drift(self, ahead: float, span: float) -> float:
        """Moves still needed after ``span`` in which nobody is answered: the
        callers ahead may still hang up."""
        return 1.0 + (ahead - 1.0) * math.exp(-self.theta * span)

    def run(
        self, ahead: float, busy: int, target: int, here: int, now_s: float
    ) -> float:
        """Expected wait from ``now_s`` at position ``ahead``, with ``busy``
        agents on calls, the plan at ``target`` and ``plan[here]`` in force."""
        plan, handle_s, theta = self.plan, self.handle_s, self.theta
        total, mass, t = 0.0, 1.0, now_s
        spread = 0.0  # variance of when the current stretch starts (agents leaving)
        horizon = now_s + _HORIZON_S
        for step in range(here + 1, len(plan) + 1):
            until = min(plan[step][0] if step < len(plan) else math.inf, horizon)
            while busy > target:  # nobody is answered until the extra agents leave
                after, t_left = _retire(busy, busy - 1, t, until, handle_s)
                if after == busy:
                    break
                ahead = self.drift(ahead, t_left - t)
                spread += (t_left - t) ** 2
                busy, t = after, t_left
            rise = 0
            if step < len(plan) and busy == target and until < horizon:
                rise = max(plan[step][1] - busy, 0)
            rate = target / handle_s
            if busy == target and rate > 0:
                mean = _wait_mean(ahead, rate, theta)
                if until == math.inf:
                    return total + mass * (t - now_s + mean)
                span = until - t
                var = _wait_variance(ahead, rate, theta) + spread
                if mean + 12.0 * math.sqrt(var) < span:
                    return total + mass * (t - now_s + mean)  # done long before
                done, done_time = _gamma_split(mean, var, span)
                total += mass * (done * (t - now_s) + done_time)
                if rise and ahead > rise:
                    # Those within ``rise`` moves of the head at the change go then.
                    near = _wait_mean(rise, rate, theta)
                    moves = mean - near
                    moves_var = var - _wait_variance(rise, rate, theta)
                    reach, reach_time = _gamma_split(moves, moves_var, span)
                    total += mass * (reach - done) * (until - now_s)
                    if reach >= 1.0 - 1e-12:
                        return total
                    left = (moves - reach_time) / (1.0 - reach) - span
                    mass *= 1.0 - reach
                    ahead = _position_for_wait(near + left, rate, theta)
                elif rise:
                    return total + mass * (1.0 - done) * (until - now_s)
                else:
                    if done >= 1.0 - 1e-12:
                        return total
                    left = (mean - done_time) / (1.0 - done) - span  # E[A-span|A>span]
                    mass *= 1.0 - done
                    ahead = max(_position_for_wait(left, rate, theta), 1e-9)
                spread = 0.0
            elif until < math.inf:
                ahead = self.drift(ahead, until - t)
            t = until
            if step >= len(plan) or until >= horizon:
                return math.inf
            target = plan[step][1]
            if target > busy:  # agents come on: as many callers go at once
                ahead -= target - busy
                busy = target
                if ahead <= 0:
                    return total + mass * (t - now_s)
        return math.inf  # pragma: no cover - the loop always returns


def _gamma_split(mean: float, var: float, span: float) -> tuple[float, float]:
    """P(X <= span) and E[X; X <= span] for X gamma with this mean and variance."""
    if var <= 0:
        return (1.0, mean) if mean <= span else (0.0, 0.0)
    shape, scale = mean * mean / var, var / mean
    return _gamma_p(shape, span / scale), mean * _gamma_p(shape + 1.0, span / scale)


def day_plan(agents: Sequence[tuple[dt.time, int]], now: dt.time) -> Plan:
    """A queue's day plan (times of day) as a timeline in seconds around ``now``.

    ``now`` is the local time of day and second 0 of the timeline; the plan
    repeats every day, from a day before now to a week after (a day plan's count
    before its first entry is the last count of the day before).
    """
    if not agents:
        raise ValueError("agents plan is empty")
    origin = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    timeline = [(-_DAY_S - origin, agents[-1][1])]
    for day in range(-1, 9):
        for when, count in agents:
            at = day * _DAY_S + when.hour * 3600 + when.minute * 60 + when.second
            timeline.append((at - origin, count))
    return tuple(timeline)
