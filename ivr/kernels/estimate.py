"""``ivr.estimate.Estimator.wait_s`` compiled, for the simulator's callback offers
and the announcements it scores.

Line for line the arithmetic of ``ivr.estimate`` (read the concept there), with
what CPython does under the hood made explicit so the answers agree to the last
bit: ``math.fsum`` (Shewchuk's exact partial sums, rounded once), CPython's own
``lgamma`` (Lanczos, not the C library's), ``x ** 2`` through the C library's
``pow`` (which now and then differs from ``x * x`` in the last bit; the exponent
arrives at run time in ``two`` so LLVM keeps the call), and ``min``/``max`` that
keep their first argument on ties as Python's do.

An estimator is a tuple ``(starts, counts, last_drop, handle_s, theta,
lookback_s, two)`` built by ``estimator_of``; the tables of W(k) by position
are grown inside one kernel call (``new_tables``), as ``Estimator._table`` does.
"""

from __future__ import annotations

import math

import numpy as np

from ivr.kernels import jit

__all__ = ["chances", "estimator_of", "new_tables", "wait_s", "waits_s"]

HORIZON_S = 8 * 86400.0  # as ivr.estimate._HORIZON_S
_LANCZOS_G = 6.024680040776729583740234375
_LANCZOS_NUM = np.array([
    23531376880.410759688572007674451636754734846804940,
    42919803642.649098768957899047001988850926355848959,
    35711959237.355668049440185451547166705960488635843,
    17921034426.037209699919755754458931112671403265390,
    6039542586.3520280050642916443072979210699388420708,
    1439720407.3117216736632230727949123939715485786772,
    248874557.86205415651146038641322942321632125127801,
    31426415.585400194380614231628318205362874684987640,
    2876370.6289353724412254090516208496135991145378768,
    186056.26539522349504029498971604569928220784236328,
    8071.6720023658162106380029022722506138218516325024,
    210.82427775157934587250973392071336271166969580291,
    2.5066282746310002701649081771338373386264310793408,
])  # fmt: skip
_LANCZOS_DEN = np.array([
    0.0, 39916800.0, 120543840.0, 150917976.0, 105258076.0, 45995730.0,
    13339535.0, 2637558.0, 357423.0, 32670.0, 1925.0, 66.0, 1.0,
])  # fmt: skip


def estimator_of(estimator) -> tuple:
    """The kernel's view of an ``ivr.estimate.Estimator`` (its plan and means)."""
    return (
        np.array(estimator.starts, dtype=np.float64),
        np.array([count for _, count in estimator.plan], dtype=np.int64),
        np.array(estimator._last_drop, dtype=np.float64),
        float(estimator.handle_s),
        float(estimator.theta),
        float(estimator.lookback_s),
        2.0,
    )


@jit
def _max(a, b):
    """Python's ``max(a, b)``: ``a`` unless ``b`` is greater."""
    return b if b > a else a


@jit
def _min(a, b):
    """Python's ``min(a, b)``: ``a`` unless ``b`` is less."""
    return b if b < a else a


@jit
def fsum(terms, count):
    """``math.fsum`` of ``terms[:count]``: exact partial sums, rounded once."""
    partials = np.empty(count + 2)
    used = 0
    for k in range(count):
        x = terms[k]
        i = 0
        for j in range(used):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        used = i
        if x != 0.0:
            partials[i] = x
            used = i + 1
    # CPython's final step: add the partials from the top, then correct the
    # rounding of the last addition when the next partial says to.
    hi = 0.0
    n = used
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and (
            (lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)
        ):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@jit
def lgamma(x):
    """CPython's ``math.lgamma`` for ``x > 0`` (its Lanczos sum, not libm's)."""
    if not math.isfinite(x):
        return x if math.isnan(x) else math.inf
    if x == math.floor(x) and x <= 2.0:
        return math.inf if x <= 0.0 else 0.0
    absx = abs(x)
    if absx < 1e-20:
        return -math.log(absx)
    num = 0.0
    den = 0.0
    if absx < 5.0:
        for i in range(12, -1, -1):
            num = num * absx + _LANCZOS_NUM[i]
            den = den * absx + _LANCZOS_DEN[i]
    else:
        for i in range(13):
            num = num / absx + _LANCZOS_NUM[i]
            den = den / absx + _LANCZOS_DEN[i]
    r = math.log(num / den) - _LANCZOS_G
    r += (absx - 0.5) * (math.log(absx + _LANCZOS_G - 0.5) - 1)
    return r  # x > 0 here: the reflection for negative x is never needed


@jit
def _digamma_tail(y):
    inv2 = 1.0 / (y * y)
    return -0.5 / y - inv2 * (
        1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132)))
    )


@jit
def _psi_gap(x, r):
    if r <= 0:
        return 0.0
    if r <= 16 and r == int(r):
        terms = np.empty(16)
        for i in range(int(r)):
            terms[i] = 1.0 / (x + i)
        return fsum(terms, int(r))
    a, b, acc = x, x + r, 0.0
    while a < 10:
        acc += 1.0 / a
        a += 1.0
    while b < 10:
        acc -= 1.0 / b
        b += 1.0
    return acc + math.log1p((b - a) / a) + _digamma_tail(b) - _digamma_tail(a)


@jit
def _trigamma(y):
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


@jit
def _trigamma_gap(x, r, two):
    if r <= 0:
        return 0.0
    if r <= 16 and r == int(r):
        terms = np.empty(16)
        for i in range(int(r)):
            terms[i] = 1.0 / (x + i) ** two
        return fsum(terms, int(r))
    return _trigamma(x) - _trigamma(x + r)


@jit
def _gamma_p(shape, arg):
    if arg <= 0:
        return 0.0
    log_front = shape * math.log(arg) - arg - lgamma(shape)
    if arg < shape + 1.0:
        term = 1.0 / shape
        total = term
        a = shape
        for _ in range(10_000):
            a += 1.0
            term *= arg / a
            total += term
            if term < total * 1e-16:
                break
        return _min(total * math.exp(log_front), 1.0)
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
    return _max(1.0 - math.exp(log_front) * h, 0.0)


@jit
def _wait_mean(position, rate, theta):
    if rate <= 0:
        return math.inf
    if position <= 0:
        return 0.0
    if theta == 0.0:
        return position / rate
    return _psi_gap(rate / theta, position) / theta


@jit
def _wait_variance(position, rate, theta, two):
    if theta == 0.0:
        return position / (rate * rate)
    return _trigamma_gap(rate / theta, position, two) / (theta * theta)


@jit
def _position_for_wait(wait, rate, theta):
    if wait <= 0:
        return 0.0
    if theta == 0.0:
        return wait * rate
    x = rate / theta
    goal = theta * wait
    r = _max((x - 0.5) * math.expm1(goal), 0.0)
    lo, hi = 0.0, _max(r, 1.0)
    while _psi_gap(x, hi) < goal:
        lo, hi = hi, 2.0 * hi
    r = _min(_max(r, lo), hi)
    for _ in range(80):
        gap = _psi_gap(x, r) - goal
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


@jit
def _retire(busy, target, t, until, handle):
    while busy > target:
        step = handle / busy
        if t + step > until:
            break
        t += step
        busy -= 1
    return busy, t


@jit
def _gamma_split(mean, var, span):
    if var <= 0:
        return (1.0, mean) if mean <= span else (0.0, 0.0)
    shape, scale = mean * mean / var, var / mean
    return _gamma_p(shape, span / scale), mean * _gamma_p(shape + 1.0, span / scale)


@jit
def _drift(ahead, span, theta):
    return 1.0 + (ahead - 1.0) * math.exp(-theta * span)


@jit
def _walk(est, ahead, busy, target, here, now):
    """``ivr.estimate._Walk.run``: the wait played forward through the plan."""
    starts, counts, _, handle, theta, _, two = est
    size = len(starts)
    total, mass, t = 0.0, 1.0, now
    spread = 0.0
    horizon = now + HORIZON_S
    for step in range(here + 1, size + 1):
        until = _min(starts[step] if step < size else math.inf, horizon)
        while busy > target:
            after, t_left = _retire(busy, busy - 1, t, until, handle)
            if after == busy:
                break
            ahead = _drift(ahead, t_left - t, theta)
            spread += (t_left - t) ** two
            busy, t = after, t_left
        rise = 0
        if step < size and busy == target and until < horizon:
            rise = _max(counts[step] - busy, 0)
        rate = target / handle
        if busy == target and rate > 0:
            mean = _wait_mean(ahead, rate, theta)
            if until == math.inf:
                return total + mass * (t - now + mean)
            span = until - t
            var = _wait_variance(ahead, rate, theta, two) + spread
            if mean + 12.0 * math.sqrt(var) < span:
                return total + mass * (t - now + mean)
            done, done_time = _gamma_split(mean, var, span)
            total += mass * (done * (t - now) + done_time)
            if rise and ahead > rise:
                near = _wait_mean(float(rise), rate, theta)
                moves = mean - near
                moves_var = var - _wait_variance(float(rise), rate, theta, two)
                reach, reach_time = _gamma_split(moves, moves_var, span)
                total += mass * (reach - done) * (until - now)
                if reach >= 1.0 - 1e-12:
                    return total
                left = (moves - reach_time) / (1.0 - reach) - span
                mass *= 1.0 - reach
                ahead = _position_for_wait(near + left, rate, theta)
            elif rise:
                return total + mass * (1.0 - done) * (until - now)
            else:
                if done >= 1.0 - 1e-12:
                    return total
                left = (mean - done_time) / (1.0 - done) - span
                mass *= 1.0 - done
                ahead = _max(_position_for_wait(left, rate, theta), 1e-9)
            spread = 0.0
        elif until < math.inf:
            ahead = _drift(ahead, until - t, theta)
        t = until
        if step >= size or until >= horizon:
            return math.inf
        target = counts[step]
        if target > busy:
            ahead -= target - busy
            busy = target
            if ahead <= 0:
                return total + mass * (t - now)
    return math.inf


@jit
def new_tables(est):
    """Empty W(k) tables, one per entry of the plan's counts (grown on demand)."""
    counts = est[1]
    top = 0
    for c in counts:
        top = max(top, c)
    slot = np.full(top + 1, -1, dtype=np.int64)
    used = 0
    for c in counts:
        if slot[c] < 0:
            slot[c] = used
            used += 1
    means = [np.empty(0) for _ in range(used)]
    variances = [np.empty(0) for _ in range(used)]
    return slot, means, variances


@jit
def _table(est, tables, agents, size):
    """W(1..size) and their variances with ``agents`` busy (``Estimator._table``:
    a running sum, so a longer table starts with the same values)."""
    slot, means, variances = tables
    s = slot[agents]
    have = len(means[s])
    if have < size:
        size = max(size, 2 * have if have else 256)
        handle, theta = est[3], est[4]
        mean = np.empty(size)
        var = np.empty(size)
        mean[:have] = means[s]
        var[:have] = variances[s]
        m = mean[have - 1] if have else 0.0
        v = var[have - 1] if have else 0.0
        base = agents / handle
        for j in range(have, size):
            rate = base + theta * float(j)
            m += 1.0 / rate
            v += 1.0 / (rate * rate)  # numpy's rates**2 is a multiply
            mean[j] = m
            var[j] = v
        means[s] = mean
        variances[s] = var
    return means[s], variances[s]


@jit
def wait_s(est, tables, position, now):
    """``Estimator.wait_s(position, now)`` (no ``on_shift``: the simulator's)."""
    starts, counts, last_drop, handle, _, lookback, _ = est
    size = len(starts)
    here = max(np.searchsorted(starts, now, side="right") - 1, 0)
    count = counts[here]
    if count > 0 and last_drop[here] <= now - lookback and position == int(position):
        k = max(int(position), 1)
        mean, var = _table(est, tables, count, k)
        until = starts[here + 1] if here + 1 < size else math.inf
        if mean[k - 1] + 12.0 * math.sqrt(var[k - 1]) < until - now:
            return mean[k - 1]
    back = now - lookback
    first = max(np.searchsorted(starts, back, side="right") - 1, 0)
    t = _max(back, starts[first])
    busy = target = counts[first]
    for step in range(first + 1, here + 1):
        busy, t = _retire(busy, target, t, starts[step], handle)
        t = starts[step]
        target = counts[step]
        busy = _max(busy, target)
    busy, _ = _retire(busy, target, t, now, handle)
    return _walk(est, _max(float(position), 1.0), busy, target, here, now)


@jit
def waits_s(est, positions, times):
    """``Estimator.waits_s``: the estimate for each (whole) position and time."""
    tables = new_tables(est)
    out = np.empty(len(positions))
    for i in range(len(positions)):
        out[i] = wait_s(est, tables, float(max(positions[i], 1)), times[i])
    return out


@jit
def _chance_within(shape, mean, t):
    """``ivr.estimate._cdf`` of one gamma piece from now (mass 1, no end)."""
    if t < 0.0:
        return 0.0
    inside = 1.0 if math.isinf(t) else _gamma_p(shape, t * shape / mean)
    return _min(0.0 + 1.0 * _min(inside, 1.0), 1.0)


@jit
def chances(means, variances, lows, highs):
    """``WaitForecast.chance(lows[i], highs[i])`` of waits that one stretch of
    fixed staffing answers (``Estimator.table_moments``: a gamma variable of
    that mean and variance), for ``ivr.phrases.spoken_forecast``'s choice."""
    out = np.empty(len(means))
    for i in range(len(means)):
        mean = means[i]
        shape = mean * mean / variances[i]
        out[i] = _max(
            _chance_within(shape, mean, highs[i])
            - _chance_within(shape, mean, lows[i]),
            0.0,
        )
    return out
