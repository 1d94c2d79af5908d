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
how long the others still have to go, which carries on past the change. The
same pieces give the chance of being answered by any time, so the median, the
range the wait likely falls in, and how likely any figure said is to be right
(``WaitForecast.chance``): with a few long calls ahead the next may end in
seconds or in ten minutes, and one figure would often be wrong.

A caller below a queue's top priority can be **overtaken**: callers of a higher
priority keep joining (``higher_per_s``, the rate seen lately:
``arrival_rate_per_s``) and go ahead. Their place is then a birth–death chain
(``_Overtaken``: down as agents answer and callers ahead hang up, up as
priority callers join ahead); only the capacity the higher levels leave serves
them, ``k / (c/h − λ)`` without patience. Their wait is so spread that they
are told its likely range rather than one figure (``WaitForecast.low_s`` to
``high_s``).

Times are seconds on one clock: ``plan`` is ((from second, agents), ...) on it,
``now_s`` is on it too. ``day_plan`` turns a menu queue's day plan (times of
day) into such a timeline around the current local time. The simulator passes
its own timeline, so the live line and ``ivr simulate`` use the same function.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy is imported where a table is made: the live line that
    import numpy as np  # never reaches a queue (ivr call, ivr test) goes without

__all__ = [
    "LIKELY",
    "RATE_WINDOW_S",
    "Estimator",
    "WaitForecast",
    "arrival_rate_per_s",
    "day_plan",
    "expected_wait_s",
    "wait_by_position_s",
    "wait_forecast",
]

Plan = Sequence[tuple[float, int]]

RATE_WINDOW_S = 900.0  # callers of a higher priority counted over the last 15 min
LIKELY = (0.1, 0.9)  # the range told when one figure would not do: 80% likely
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


class _Overtaken:
    """The moves of a caller whom callers of a higher priority overtake.

    With all agents busy, ``rate`` answers a second, each of the ``j`` callers
    ahead hanging up at ``θ`` and callers of a higher priority joining ahead at
    ``lam`` a second, going from ``j`` callers ahead to ``j - 1`` (to being
    answered, from ``j = 0``) takes ``T_j``: the next event is an answer or a
    hang-up ahead (rate ``d_j = rate + jθ``) or an arrival ahead (``lam``),
    after which the caller must first get back to ``j``. So, by first step,

        E T_j = (1 + lam E T_{j+1}) / d_j,
        E T_j² = (2/R + 2 lam (E T_{j+1} + E T_j)/R
                  + lam (E T_{j+1}² + 2 E T_{j+1} E T_j)) / d_j,   R = d_j + lam,

    and the wait at position ``k`` is the sum of the independent ``T_j``,
    ``j < k``: its mean and variance are running sums. The recursion runs down
    from far enough back that ``d_j`` dwarfs ``lam``: there ``T_j`` is nearly
    a busy period of an M/M/1 queue served at ``d_j`` (mean ``1/(d_j − lam)``),
    and each step down shrinks the error of that start by ``lam/d_j``. Past
    the table, the terms are those busy periods: W grows by
    ``Σ 1/(rate − lam + jθ)``, a digamma difference as in ``_wait_mean``.
    Without patience every ``T_j`` is that busy period: mean
    ``1/(rate − lam)``, infinite once ``lam >= rate`` (higher priorities take
    every agent).
    """

    def __init__(self, rate: float, theta: float, lam: float):
        import numpy as np

        self.rate, self.theta, self.lam = rate, theta, lam
        if theta == 0.0:
            return
        # From ``size`` on, d_j >= 2 lam: the tail formulas hold there.
        self.size = size = 64 + max(math.ceil((2.0 * lam - rate) / theta), 0)
        top = size + 64
        d = rate + top * theta
        m_next = 1.0 / (d - lam)
        s_next = (d + lam) / (d - lam) ** 3 + m_next * m_next
        means, variances = [0.0] * size, [0.0] * size
        for j in range(top - 1, -1, -1):
            d = rate + j * theta
            big = d + lam
            m = (1.0 + lam * m_next) / d
            s = 2.0 + 2.0 * lam * (m_next + m)
            s = (s + big * lam * (s_next + 2.0 * m_next * m)) / (big * d)
            if j < size:
                means[j], variances[j] = m, max(s - m * m, 0.0)
            m_next, s_next = m, s
        self.mean = np.concatenate(([0.0], np.cumsum(means)))
        self.var = np.concatenate(([0.0], np.cumsum(variances)))
        self.tail_rate = rate - lam + size * theta  # the first tail term's rate

    def wait(self, position: float) -> float:
        """Mean wait at ``position`` (linear between whole positions)."""
        if position <= 0:
            return 0.0
        if self.theta == 0.0:
            gap = self.rate - self.lam
            return position / gap if gap > 0 else math.inf
        if position >= self.size:
            return float(self.mean[-1]) + _wait_mean(
                position - self.size, self.tail_rate, self.theta
            )
        return _between(self.mean, position)

    def variance(self, position: float) -> float:
        if position <= 0:
            return 0.0
        if self.theta == 0.0:
            gap = self.rate - self.lam
            return position * (self.rate + self.lam) / gap**3 if gap > 0 else math.inf
        if position >= self.size:
            return float(self.var[-1]) + _wait_variance(
                position - self.size, self.tail_rate, self.theta
            )
        return _between(self.var, position)

    def position_for(self, wait_s: float) -> float:
        """The position whose mean wait is ``wait_s`` (the inverse of ``wait``)."""
        import numpy as np

        if wait_s <= 0:
            return 0.0
        if self.theta == 0.0:
            gap = self.rate - self.lam
            return wait_s * gap if gap > 0 else 1.0
        if wait_s >= self.mean[-1]:
            rest = wait_s - float(self.mean[-1])
            return self.size + _position_for_wait(rest, self.tail_rate, self.theta)
        i = int(np.searchsorted(self.mean, wait_s))
        low, high = self.mean[i - 1], self.mean[i]
        return i - 1 + (wait_s - low) / (high - low)


def _between(table: np.ndarray, position: float) -> float:
    """``table`` (by whole position) read at ``position``, linear in between."""
    low = int(position)
    part = position - low
    if part == 0:
        return float(table[low])
    return float(table[low] + part * (table[low + 1] - table[low]))


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
    higher_per_s: float | None = None,
) -> float:
    """Expected wait of the caller at ``position`` (1 = next) from ``now_s``.

    ``plan`` is the day plan as ((from second, agents), ...) in time order on the
    same clock as ``now_s``; ``handle_s`` the mean handle time; ``patience_s``
    the mean patience of the callers ahead (``None``: nobody hangs up).
    ``on_shift``, when the agent line knows it, replaces the plan's count now
    (and nobody is assumed still finishing after an earlier drop).
    ``higher_per_s``: callers of a higher priority than this caller's joining
    the queue a second (``arrival_rate_per_s`` of their recent arrivals); they
    go ahead of this caller. Returns ``math.inf`` when the plan brings nobody
    within a week. With fixed staffing and nobody overtaking this is
    ``wait_by_position_s``; see the module docstring for plan changes.
    """
    return Estimator(plan, handle_s, patience_s).wait_s(
        position, now_s, on_shift=on_shift, higher_per_s=higher_per_s
    )


@dataclass(frozen=True)
class WaitForecast:
    """The wait of a caller in a queue: its mean, median and likely range.

    ``low_s`` and ``high_s`` are the 10th and 90th percentiles (``LIKELY``);
    ``pieces`` how the chance of being answered spreads over time, so
    ``chance`` tells how likely any figure said is to be right
    (``ivr.phrases.spoken_forecast`` says one figure only when it is likely
    enough, else the range). ``overtaken`` says callers of a higher priority
    are joining ahead: the wait is then too uncertain for one figure, so the
    caller is told the range, and a callback is worth offering when they will
    more likely than not wait past ``callback_after`` (``callback_s``: the
    median, where a long tail would otherwise pull the mean past it).
    """

    mean_s: float
    low_s: float
    median_s: float
    high_s: float
    overtaken: bool = False
    pieces: tuple[_Piece, ...] = field(default=(), repr=False, compare=False)

    def chance(self, low_s: float, high_s: float) -> float:
        """How likely the wait is to fall between ``low_s`` and ``high_s``,
        as the forecast spreads it (without ``pieces``: all of it at the mean)."""
        if not self.pieces:
            return float(low_s <= self.mean_s <= high_s)
        return max(_cdf(self.pieces, high_s) - _cdf(self.pieces, low_s), 0.0)

    @property
    def callback_s(self) -> float:
        """The figure the callback offer sets against ``callback_after``: the
        mean, or the median for a caller who can be overtaken."""
        return self.median_s if self.overtaken else self.mean_s


def wait_forecast(
    position: int,
    plan: Plan,
    now_s: float,
    handle_s: float,
    patience_s: float | None = None,
    *,
    on_shift: int | None = None,
    higher_per_s: float | None = None,
) -> WaitForecast:
    """``expected_wait_s`` with the range the wait likely falls in."""
    return Estimator(plan, handle_s, patience_s).forecast(
        position, now_s, on_shift=on_shift, higher_per_s=higher_per_s
    )


def arrival_rate_per_s(
    times_s: Iterable[float], now_s: float, window_s: float = RATE_WINDOW_S
) -> float:
    """Arrivals a second over the ``window_s`` before ``now_s``.

    Given the times callers of a higher priority joined the queue (the store's
    waiter records live; the simulated records in ``ivr simulate``), this is
    ``higher_per_s``: the rate at which such callers are joining now. Only the
    recent past counts, as on the line: a rate that climbs is followed within
    the window.
    """
    if not window_s > 0:
        raise ValueError(f"window must be > 0 seconds, got {window_s!r}")
    count = sum(1 for t in times_s if now_s - window_s < t <= now_s)
    return count / window_s


class Estimator:
    """``expected_wait_s`` for one queue: its plan, handle time and patience.

    The simulator asks it once per announcement, so it keeps, for each staffing
    level (and rate of callers overtaking), the table W(1), W(2), ... of waits
    by position: where staffing holds still around the moment asked (no change
    since a drop could still hold agents back, the answer due well before the
    next change), the answer is read from the table; elsewhere it is played
    forward as the module says.
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
        self._overtaken: dict[tuple[int, float], _Overtaken] = {}

    def overtaken(self, agents: int, higher_per_s: float) -> _Overtaken:
        """Mean and variance by position with ``agents`` all busy and callers
        of a higher priority joining at ``higher_per_s`` (kept per pair)."""
        key = (agents, higher_per_s)
        have = self._overtaken.get(key)
        if have is None:
            have = _Overtaken(agents / self.handle_s, self.theta, higher_per_s)
            self._overtaken[key] = have
        return have

    def wait_s(
        self,
        position: float,
        now_s: float,
        *,
        on_shift: int | None = None,
        higher_per_s: float | None = None,
    ) -> float:
        """Expected wait of the caller at ``position`` from ``now_s``."""
        return self._wait(position, now_s, on_shift, _rate(higher_per_s))

    def _wait(
        self,
        position: float,
        now_s: float,
        on_shift: int | None,
        lam: float,
        pieces: list[_Piece] | None = None,
    ) -> float:
        """``wait_s``; ``pieces`` (if given) receives how the chance of being
        answered is spread over time (see ``_Piece``)."""
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
            if lam:
                table = self.overtaken(count, lam)
                mean, var = table.wait(k), table.variance(k)
            else:
                means, variances = self._table(count, k)
                mean, var = float(means[k - 1]), float(variances[k - 1])
            until = starts[here + 1] if here + 1 < len(starts) else math.inf
            if mean + 12.0 * math.sqrt(var) < until - now_s:
                if pieces is not None:
                    pieces.append(_Piece(0.0, 1.0, mean, var))
                return float(mean)
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
        walk = _Walk(
            plan, handle_s, self.theta, lam, lambda agents: self.overtaken(agents, lam)
        )
        return walk.run(max(float(position), 1.0), busy, target, here, now_s, pieces)

    def forecast(
        self,
        position: float,
        now_s: float,
        *,
        on_shift: int | None = None,
        higher_per_s: float | None = None,
    ) -> WaitForecast:
        """The mean wait (``wait_s``), its median and the range it likely
        falls in (``LIKELY``), from the same walk through the plan: in each
        stretch of fixed staffing the wait is the gamma variable the walk
        takes it to be, a rise answers its share at once, and the quantiles
        are read off that spread of chances. A caller who can be overtaken
        gets the long right tail their wait has (the exact variance of the
        moves ahead, ``_Overtaken``)."""
        lam = _rate(higher_per_s)
        pieces: list[_Piece] = []
        mean = self._wait(position, now_s, on_shift, lam, pieces)
        low, high = LIKELY
        return WaitForecast(
            float(mean),
            float(_quantile(pieces, low)),
            float(_quantile(pieces, 0.5)),
            float(_quantile(pieces, high)),
            bool(lam),
            tuple(pieces),
        )

    def waits_s(self, positions: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """``wait_s`` of many (whole) positions and times at once (nobody
        overtaking; ``forecast`` one at a time for callers who can be)."""
        import numpy as np

        positions = np.maximum(np.asarray(positions, dtype=np.int64), 1)
        out, _ = self.table_moments(positions, times_s)
        for i in np.nonzero(np.isnan(out))[0].tolist():
            out[i] = self.wait_s(int(positions[i]), float(times_s[i]))
        return out

    def table_moments(
        self, positions: np.ndarray, times_s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the wait of many (whole) positions and times
        where one stretch of fixed staffing answers it (nobody overtaking):
        read from the table by staffing, as ``wait_s`` does there; NaN where
        the wait must be played forward through the plan."""
        import numpy as np

        positions = np.maximum(np.asarray(positions, dtype=np.int64), 1)
        times_s = np.asarray(times_s, dtype=float)
        out = np.full(len(positions), np.nan)
        variance = np.full(len(positions), np.nan)
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
            v = var[positions[pick] - 1]
            sure = m + 12.0 * np.sqrt(v) < nxt[pick] - times_s[pick]
            out[pick[sure]] = m[sure]
            variance[pick[sure]] = v[sure]
        return out, variance

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


def _rate(higher_per_s: float | None) -> float:
    if higher_per_s is None:
        return 0.0
    if not (math.isfinite(higher_per_s) and higher_per_s >= 0):
        raise ValueError(
            f"higher_per_s must be a rate >= 0 a second, got {higher_per_s!r}"
        )
    return float(higher_per_s)


@lru_cache(maxsize=4096)
def _standard_gamma_quantile(shape: float, p: float) -> float:
    """x with P(shape, x) = p: Newton on log x, kept inside a bracket."""
    if p <= 0:
        return 0.0
    if p >= 1:
        return math.inf
    z = NormalDist().inv_cdf(p)
    if shape >= 0.5:  # Wilson-Hilferty
        x = shape * max(1.0 - 1.0 / (9 * shape) + z / (3 * math.sqrt(shape)), 0.05) ** 3
    else:  # P(a, x) ≈ x^a / Γ(a + 1) for small x
        x = math.exp((math.log(p) + math.lgamma(shape + 1.0)) / shape)
    lo, hi = x, x
    while _gamma_p(shape, lo) > p:
        lo /= 2.0
    while _gamma_p(shape, hi) < p:
        hi *= 2.0
    for _ in range(100):
        gap = _gamma_p(shape, x) - p
        if gap < 0:
            lo = x
        else:
            hi = x
        slope = math.exp(shape * math.log(x) - x - math.lgamma(shape))  # x·density
        nxt = x * math.exp(-gap / slope) if slope > 0 else 0.5 * (lo + hi)
        if not lo <= nxt <= hi:
            nxt = math.sqrt(lo * hi)
        if abs(nxt - x) <= 1e-12 * x:
            return nxt
        x = nxt
    return x


_SHAPE_STEP = 0.02  # grid of log(shape) on which the LIKELY quantiles are kept


def _gamma_quantile(shape: float, p: float) -> float:
    """The ``p`` quantile of a gamma variable of mean ``shape`` (scale 1).

    For the quantiles said (``LIKELY`` and the median) the answer is kept on
    a grid of log(shape) and read between grid points (log-linear: the
    quantile moves by far less than a part in a thousand between them), so a
    simulated day solves a few hundred of them, not one per announcement.
    """
    if p not in (*LIKELY, 0.5):
        return _standard_gamma_quantile(shape, p)
    at = math.log(shape) / _SHAPE_STEP
    below = math.floor(at)
    part = at - below
    low = _standard_gamma_quantile(math.exp(below * _SHAPE_STEP), p)
    if part == 0:
        return low
    high = _standard_gamma_quantile(math.exp((below + 1) * _SHAPE_STEP), p)
    if low <= 0 or high <= 0:
        return low + part * (high - low)
    return math.exp(math.log(low) + part * (math.log(high) - math.log(low)))


class _Walk:
    """Play the wait forward from now through the plan's coming changes.

    ``ahead`` is the moves the caller still needs (their position); ``mass``
    the chance they are still waiting. In a stretch of fixed staffing the wait
    is a sum of exponentials (mean W, variance V): taken as a gamma variable
    with those moments (exact without patience), it gives the chance to be
    answered before the next change and the mean time left after it, which is
    turned back into a position for the next stretch.
    """

    def __init__(
        self,
        plan: Plan,
        handle_s: float,
        theta: float,
        lam: float = 0.0,
        overtaken: Callable[[int], _Overtaken] | None = None,
    ):
        self.plan, self.handle_s, self.theta = plan, handle_s, theta
        self.lam, self.overtaken = lam, overtaken

    def mean(self, ahead: float, agents: int) -> float:
        if self.lam and self.overtaken is not None:
            return self.overtaken(agents).wait(ahead)
        return _wait_mean(ahead, agents / self.handle_s, self.theta)

    def variance(self, ahead: float, agents: int) -> float:
        if self.lam and self.overtaken is not None:
            return self.overtaken(agents).variance(ahead)
        return _wait_variance(ahead, agents / self.handle_s, self.theta)

    def position_for(self, wait_s: float, agents: int) -> float:
        if self.lam and self.overtaken is not None:
            return self.overtaken(agents).position_for(wait_s)
        return _position_for_wait(wait_s, agents / self.handle_s, self.theta)

    def drift(self, ahead: float, span: float, rate: float = 0.0) -> float:
        """Moves still needed after ``span`` in which nobody is answered: the
        callers ahead may still hang up, callers of a higher priority join
        ahead (at ``lam``, less the ``rate`` at which agents answer them when
        they outrun every agent)."""
        theta, lam = self.theta, max(self.lam - rate, 0.0)
        if theta == 0.0:
            return ahead + lam * span
        fade = math.exp(-theta * span)
        return 1.0 + (ahead - 1.0) * fade + lam / theta * (1.0 - fade)

    def run(
        self,
        ahead: float,
        busy: int,
        target: int,
        here: int,
        now_s: float,
        pieces: list[_Piece] | None = None,
    ) -> float:
        """Expected wait from ``now_s`` at position ``ahead``, with ``busy``
        agents on calls, the plan at ``target`` and ``plan[here]`` in force.
        ``pieces``, if given, receives the chance of being answered over time:
        a gamma piece per stretch, a jump where a rise answers callers at once.
        """
        plan, handle_s = self.plan, self.handle_s
        keep = pieces.append if pieces is not None else lambda piece: None
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
            mean = self.mean(ahead, target) if busy == target and rate > 0 else 0.0
            if busy == target and rate > 0 and math.isinf(mean):
                # Callers of a higher priority take every agent (no patience).
                if until == math.inf:
                    return math.inf
                ahead = self.drift(ahead, until - t, rate)
            elif busy == target and rate > 0:
                var = self.variance(ahead, target) + spread
                if until == math.inf:
                    keep(_Piece(t - now_s, mass, mean, var))
                    return total + mass * (t - now_s + mean)
                span = until - t
                if mean + 12.0 * math.sqrt(var) < span:
                    keep(_Piece(t - now_s, mass, mean, var))
                    return total + mass * (t - now_s + mean)  # done long before
                done, done_time = _gamma_split(mean, var, span)
                keep(_Piece(t - now_s, mass, mean, var, span, done))
                total += mass * (done * (t - now_s) + done_time)
                if rise and ahead > rise:
                    # Those within ``rise`` moves of the head at the change go then.
                    near = self.mean(rise, target)
                    moves = mean - near
                    moves_var = var - self.variance(rise, target)
                    reach, reach_time = _gamma_split(moves, moves_var, span)
                    total += mass * (reach - done) * (until - now_s)
                    keep(_Piece(until - now_s, mass * (reach - done)))
                    if reach >= 1.0 - 1e-12:
                        return total
                    left = (moves - reach_time) / (1.0 - reach) - span
                    mass *= 1.0 - reach
                    ahead = self.position_for(near + left, target)
                elif rise:
                    keep(_Piece(until - now_s, mass * (1.0 - done)))
                    return total + mass * (1.0 - done) * (until - now_s)
                else:
                    if done >= 1.0 - 1e-12:
                        return total
                    left = (mean - done_time) / (1.0 - done) - span  # E[A-span|A>span]
                    mass *= 1.0 - done
                    ahead = max(self.position_for(left, target), 1e-9)
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
                    keep(_Piece(t - now_s, mass))
                    return total + mass * (t - now_s)
        return math.inf  # pragma: no cover - the loop always returns


def _gamma_split(mean: float, var: float, span: float) -> tuple[float, float]:
    """P(X <= span) and E[X; X <= span] for X gamma with this mean and variance."""
    if var <= 0:
        return (1.0, mean) if mean <= span else (0.0, 0.0)
    shape, scale = mean * mean / var, var / mean
    return _gamma_p(shape, span / scale), mean * _gamma_p(shape + 1.0, span / scale)


@dataclass(frozen=True)
class _Piece:
    """A share of the chance of being answered, as the walk spreads it.

    From ``start_s`` (after now) a gamma wait of ``mean``/``var`` answers
    ``mass`` × its chance, up to ``span`` later (``done``: the gamma's chance
    within the span); without ``mean``, a jump: ``mass`` answered at once at
    ``start_s`` (agents coming on).
    """

    start_s: float
    mass: float
    mean: float | None = None
    var: float = 0.0
    span: float = math.inf
    done: float = 1.0


def _quantile(pieces: Sequence[_Piece], p: float) -> float:
    """The time by which the chance of being answered reaches ``p``.

    The pieces follow each other in time, so the one where the running chance
    passes ``p`` holds the answer: a jump's moment, or a gamma quantile.
    ``math.inf`` when the walk never gets there (nobody on duty for a week).
    """
    reached = 0.0
    for piece in pieces:
        if piece.mean is None:
            reached += piece.mass
            if reached >= p:
                return piece.start_s
            continue
        share = piece.mass * piece.done
        if reached + share >= p and share > 0:
            inside = min((p - reached) / piece.mass, piece.done)
            return piece.start_s + min(
                _gamma_quantile_of(piece.mean, piece.var, inside), piece.span
            )
        reached += share
    return math.inf


def _cdf(pieces: Sequence[_Piece], t: float) -> float:
    """The chance of being answered within ``t`` (the inverse of ``_quantile``)."""
    reached = 0.0
    for piece in pieces:
        if piece.start_s > t:
            break
        if piece.mean is None:
            reached += piece.mass
            continue
        into = min(t - piece.start_s, piece.span)
        if piece.var <= 0 or piece.mean <= 0:
            inside = float(piece.mean <= into)
        elif math.isinf(into):
            inside = 1.0
        else:
            shape = piece.mean * piece.mean / piece.var
            inside = _gamma_p(shape, into * shape / piece.mean)
        reached += piece.mass * min(inside, piece.done)
    return min(reached, 1.0)


def _gamma_quantile_of(mean: float, var: float, p: float) -> float:
    """The ``p`` quantile of a gamma variable with this mean and variance."""
    if var <= 0 or mean <= 0:
        return mean
    shape = mean * mean / var
    return mean / shape * _gamma_quantile(shape, p)


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
