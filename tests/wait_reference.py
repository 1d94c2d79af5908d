"""Exact expected wait by position in an M/M/c+M queue whose staffing follows a plan.

An independent reference for ``ivr.estimate``: the caller at position ``k`` is a
continuous-time Markov chain on (callers ahead ``j``, busy agents ``b``), with
the day plan's target ``c`` changing at fixed times:

- an agent finishes at rate ``b/h``: if ``b > c`` (the plan dropped) that agent
  leaves and nobody moves up; otherwise the head of the queue is answered
  (``j`` falls by one, or our caller is answered when ``j = 0``);
- each caller ahead hangs up at rate ``θ``;
- when the plan rises above ``b``, the new agents answer that many callers at once.

Between plan changes the chain is solved by uniformization (a Poisson mixture
of one-step matrices, truncated where the Poisson tail is below 1e-15), after
the last change by the exact expected absorption times (first-step analysis).
The expected wait is the integral of the chance of not yet being answered:
over a stretch of length τ, ∫ P(waiting) = Σ_n P(N > n)/Λ · (mass after n
steps), N ~ Poisson(Λτ). No mean path, no digamma, no gamma approximation:
a different computation from the code under test.
"""

from __future__ import annotations

import math

import numpy as np


def _poisson_weights(mean: float, tol: float = 1e-15) -> np.ndarray:
    """P(N = n) for N ~ Poisson(mean), n = 0.. until P(N > n) is below ``tol``."""
    if mean == 0:
        return np.ones(1)
    top = int(mean + 14 * math.sqrt(mean) + 40)
    n = np.arange(top + 1)
    lgam = np.array([math.lgamma(i + 1) for i in n])
    weights = np.exp(n * math.log(mean) - mean - lgam)
    tail = 1.0 - np.cumsum(weights)
    below = np.nonzero(tail < tol)[0]
    return weights[: (below[0] if len(below) else top) + 1]


class _Chain:
    """The chain's states as an array ``v[j, b]`` of probabilities."""

    def __init__(self, k: int, most: int, handle_s: float, patience_s: float | None):
        self.k, self.most = k, most
        self.mu = 1.0 / handle_s
        self.theta = 0.0 if patience_s is None else 1.0 / patience_s
        self.j = np.arange(k)[:, None] * np.ones((1, most + 1))
        self.b = np.ones((k, 1)) * np.arange(most + 1)[None, :]

    def out_rate(self) -> np.ndarray:
        return self.b * self.mu + self.j * self.theta

    def step(self, v: np.ndarray, target: int, big: float) -> np.ndarray:
        """One step of the uniformized chain, v (I + Q/big), on the waiting states."""
        nxt = v * (1.0 - self.out_rate() / big)
        finish = v * (self.b * self.mu / big)
        nxt[:, target : self.most] += finish[:, target + 1 :]  # extra agent leaves
        nxt[:-1, : target + 1] += finish[1:, : target + 1]  # head answered: j - 1
        quit_ = v * (self.j * self.theta / big)
        nxt[:-1, :] += quit_[1:, :]  # a caller ahead hangs up: j - 1
        return nxt  # mass answered from j = 0 has left the array

    def stretch(self, v: np.ndarray, target: int, length: float):
        """(∫ P(waiting) over a stretch of fixed staffing, distribution at its end)."""
        big = float(self.out_rate().max()) or 1.0
        weights = _poisson_weights(big * length)
        tail = 1.0 - np.cumsum(weights)
        area, end = 0.0, np.zeros_like(v)
        for n, w in enumerate(weights):
            area += max(tail[n], 0.0) / big * v.sum()
            end += w * v
            v = self.step(v, target, big)
        return area, end

    def absorption(self, target: int) -> np.ndarray:
        """Expected time to be answered from each state, staffing fixed for ever."""
        mu, theta = self.mu, self.theta
        m = np.full((self.k, self.most + 1), math.nan)
        for j in range(self.k):
            for b in range(target, self.most + 1):
                rate = b * mu + j * theta
                if rate == 0:
                    m[j, b] = math.inf
                    continue
                total = 1.0
                if b > target:
                    total += b * mu * m[j, b - 1]
                elif j > 0:
                    total += b * mu * m[j - 1, b]
                if j > 0:
                    total += j * theta * m[j - 1, b]
                m[j, b] = total / rate
        return m


def exact_wait_s(
    position: int,
    plan: list[tuple[float, int]],
    handle_s: float,
    patience_s: float | None = None,
    busy: dict[int, float] | None = None,
) -> float:
    """Expected wait of the caller at ``position`` from time 0.

    ``plan``: ((from second, agents), ...), the first entry in force at 0.
    ``busy``: distribution of busy agents at time 0 (default: the plan's count).
    """
    target = plan[0][1]
    busy = busy or {target: 1.0}
    most = max(*(count for _, count in plan), *busy)
    chain = _Chain(position, most, handle_s, patience_s)
    v = np.zeros((position, most + 1))
    for b, p in busy.items():
        v[position - 1, b] = p
    t, total = 0.0, 0.0
    for when, count in plan[1:]:
        area, v = chain.stretch(v, target, when - t)
        total += area
        t, target = when, count
        moved = np.zeros_like(v)
        for b in range(most + 1):
            new = count - b
            if new <= 0:
                moved[:, b] += v[:, b]
            elif new < position:  # j < new are answered at once
                moved[: position - new, count] += v[new:, b]
        v = moved
    m = chain.absorption(target)
    held = v > 0
    return total + float(np.sum(v[held] * m[held]))


def busy_after_drop(
    busy: int, target: int, elapsed_s: float, handle_s: float
) -> dict[int, float]:
    """Distribution of busy agents ``elapsed_s`` after the plan dropped to
    ``target`` with ``busy`` agents all on calls: each call ends at rate 1/h, and
    while more than ``target`` remain, the agent who finishes leaves."""
    v = np.zeros(busy + 1)
    v[busy] = 1.0
    rates = np.arange(busy + 1) / handle_s
    rates[: target + 1] = 0.0
    big = float(rates.max()) or 1.0
    end = np.zeros_like(v)
    for w in _poisson_weights(big * elapsed_s):
        end += w * v
        moved = v * rates / big
        v = v - moved
        v[:-1] += moved[1:]
    return {b: float(p) for b, p in enumerate(end) if p > 0}


class _OvertakenChain:
    """The caller's chain when callers of a higher priority join ahead.

    States ``(j, b)`` as in ``_Chain``, with one more move: a caller of a
    higher priority joins ahead at rate ``lam`` (``j`` up by one). ``j`` is cut
    at ``room`` callers ahead, far past where the chain's mass goes.
    """

    def __init__(self, room, most, handle_s, patience_s, lam):
        self.room, self.most, self.lam = room, most, lam
        self.mu = 1.0 / handle_s
        self.theta = 0.0 if patience_s is None else 1.0 / patience_s
        self.j = np.arange(room)[:, None] * np.ones((1, most + 1))
        self.b = np.ones((room, 1)) * np.arange(most + 1)[None, :]

    def generator(self, target: int) -> np.ndarray:
        """Q on the waiting states (flattened j-major); answered leaves."""
        room, most, mu, theta, lam = self.room, self.most, self.mu, self.theta, self.lam
        size = room * (most + 1)
        q = np.zeros((size, size))

        def at(j, b):
            return j * (most + 1) + b

        for j in range(room):
            for b in range(most + 1):
                here = at(j, b)
                if b > target:
                    q[here, at(j, b - 1)] += b * mu  # that agent leaves
                elif j > 0:
                    q[here, at(j - 1, b)] += b * mu  # head answered
                q[here, here] -= b * mu  # (from j = 0: our caller answered)
                if j > 0:
                    q[here, at(j - 1, b)] += j * theta
                    q[here, here] -= j * theta
                if j + 1 < room:
                    q[here, at(j + 1, b)] += lam
                    q[here, here] -= lam
        return q

    def out_rate(self) -> np.ndarray:
        arrive = np.where(self.j < self.room - 1, self.lam, 0.0)
        return self.b * self.mu + self.j * self.theta + arrive

    def step(self, v: np.ndarray, target: int, big: float) -> np.ndarray:
        """One step of the uniformized chain, v (I + Q/big) (as ``generator``)."""
        nxt = v * (1.0 - self.out_rate() / big)
        finish = v * (self.b * self.mu / big)
        nxt[:, target : self.most] += finish[:, target + 1 :]  # extra agent leaves
        nxt[:-1, : target + 1] += finish[1:, : target + 1]  # head answered: j - 1
        nxt[:-1, :] += (v * (self.j * self.theta / big))[1:, :]  # hang-up ahead
        nxt[1:, :] += v[:-1, :] * (self.lam / big)  # a higher priority joins
        return nxt

    def stretch(self, v: np.ndarray, target: int, length: float, times=()):
        """(∫ P(waiting), distribution at the end, P(waiting) at ``times``)."""
        big = float(self.out_rate().max()) or 1.0
        weights = _poisson_weights(big * length)
        tail = 1.0 - np.cumsum(weights)
        steps = max([len(weights)] + [len(_poisson_weights(big * t)) for t in times])
        area, end = 0.0, np.zeros_like(v)
        masses = []
        for n in range(steps):
            masses.append(v.sum())
            if n < len(weights):
                area += max(tail[n], 0.0) / big * v.sum()
                end += weights[n] * v
            v = self.step(v, target, big)
        masses = np.array(masses)
        waiting = []
        for t in times:
            w_t = _poisson_weights(big * t)
            n = min(len(w_t), len(masses))
            waiting.append(float(w_t[:n] @ masses[:n]))
        return area, end, waiting

    def moments(self, v: np.ndarray, target: int) -> tuple[float, float]:
        """Mean and second moment of the time to be answered from ``v``,
        staffing fixed for ever (first-step analysis: -Q m = 1, -Q s = 2m)."""
        if target == 0:
            return math.inf, math.inf
        # Only states with at least ``target`` agents busy are reachable.
        keep = (self.b >= target).reshape(-1)
        q = self.generator(target)[np.ix_(keep, keep)]
        mean = np.linalg.solve(-q, np.ones(len(q)))
        second = np.linalg.solve(-q, 2.0 * mean)
        flat = v.reshape(-1)[keep]
        return float(flat @ mean), float(flat @ second)


def exact_overtaken_wait(
    position: int,
    plan: list[tuple[float, int]],
    handle_s: float,
    patience_s: float | None,
    higher_per_s: float,
    *,
    room: int = 120,
    times: tuple[float, ...] = (),
) -> tuple[float, float, list[float]]:
    """(mean, second moment, P(still waiting) at ``times``) of the wait of the
    caller at ``position`` when callers of a higher priority join ahead at
    ``higher_per_s``, from time 0 with the plan's first count all busy.

    The second moment is of the last stretch's remainder only when the plan
    changes (it is exact for fixed staffing); ``times`` in increasing order.
    """
    target = plan[0][1]
    most = max(count for _, count in plan)
    chain = _OvertakenChain(position + room, most, handle_s, patience_s, higher_per_s)
    v = np.zeros((position + room, most + 1))
    v[position - 1, target] = 1.0
    t, total, waiting = 0.0, 0.0, []
    for when, count in plan[1:]:
        inside = [x - t for x in times if t <= x < when]
        area, v, seen = chain.stretch(v, target, when - t, inside)
        waiting += seen
        total += area
        t, target = when, count
        moved = np.zeros_like(v)
        for b in range(most + 1):
            new = count - b
            if new <= 0:
                moved[:, b] += v[:, b]
            else:  # j < new are answered at once
                moved[: len(v) - new, count] += v[new:, b]
        v = moved
    after = [x - t for x in times if x >= t]
    if after:
        waiting += chain.stretch(v, target, 0.0, after)[2]
    mean, second = chain.moments(v, target)
    return total + mean, second, waiting
