"""Analytic queueing: Erlang B, Erlang C (M/M/c) and Erlang A (M/M/c+M), staffing.

Picture a bank of ``agents`` phones. Calls arrive at random (Poisson) at
``calls_per_hour``; each takes an exponential ``handle_s`` on average. Erlang B
counts the calls that find every phone busy when nobody can wait; Erlang C lets
them wait for ever; Erlang A, the realistic one for a hotline, lets them wait but
hang up after an exponential ``patience_s``. These are steady-state answers: the
quick figure for one interval, not the truth at a peak where the rate climbs
(``ivr.simulation`` gives that).

Everything is pure Python and numerically stable from 1 to 100,000 agents: Erlang
B by its recursion (started a safe distance below the load so large pools stay
fast), Erlang A by summing the birth-death chain of the waiting room with
rescaling instead of overflowing factorials. Above full load Erlang C has no
steady state and says so (``stable=False``, infinite waits), Erlang A has one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = [
    "QueueFigures",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "figures",
    "staff",
]

_TINY = 1e-18  # relative size at which a series term no longer matters


@dataclass(frozen=True)
class QueueFigures:
    """Steady-state figures of one queue, the shape ``ivr erlang --json`` prints.

    ``asa_s`` is the mean wait of all callers (abandoners' time in queue counts),
    ``mean_wait_served_s`` the mean wait of those answered, ``service_level`` the
    share of *all* callers answered within ``target_s``. Infinite waits (Erlang C
    at or above full load) are ``math.inf`` and ``stable`` is false.
    """

    agents: int
    calls_per_hour: float
    handle_s: float
    patience_s: float | None
    target_s: float
    p_wait: float
    asa_s: float
    mean_wait_served_s: float
    service_level: float
    p_abandon: float
    occupancy: float
    stable: bool = True

    @property
    def load_erlangs(self) -> float:
        return self.calls_per_hour * self.handle_s / 3600.0

    def as_dict(self) -> dict[str, object]:
        """Plain data; infinite waits become ``None`` so the result is valid JSON."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float) and math.isinf(value):
                data[key] = None
        return data


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents must be an integer >= 1, got {agents!r}")


def _inverse_b(agents: int, load: float) -> tuple[float, float]:
    """Return (1/B(agents-1), 1/B(agents)) for offered load ``load`` in erlangs.

    The recursion 1/B(k) = 1 + (k/a)/B(k-1) is stable going up. Terms of the
    Poisson sum more than ~14 standard deviations below min(k, a) change nothing
    in double precision, so the recursion starts there rather than at k = 0.
    """
    start = max(0, int(min(agents, load) - 14.0 * math.sqrt(load) - 10.0))
    inv = 1.0
    inv_prev = 1.0
    scale = 1.0 / load
    for k in range(start + 1, agents + 1):
        inv_prev = inv
        inv = 1.0 + k * scale * inv
        if inv == math.inf:
            return (math.inf, math.inf) if k < agents else (inv_prev, inv)
    if agents == start:  # agents == 0 cannot happen; start < agents always
        inv_prev = 1.0
    return inv_prev, inv


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` lines offered ``load`` erlangs, no queue."""
    _check_agents(agents)
    _check_positive("load", load)
    return 1.0 / _inverse_b(agents, load)[1]


def _rates(calls_per_hour: float, handle_s: float) -> tuple[float, float]:
    _check_positive("calls_per_hour", calls_per_hour)
    _check_positive("handle_s", handle_s)
    lam = calls_per_hour / 3600.0
    return lam, lam * handle_s


def erlang_c(
    calls_per_hour: float, handle_s: float, agents: int, target_s: float = 20.0
) -> QueueFigures:
    """Figures of M/M/c: callers wait as long as it takes (nobody hangs up).

    At or above full load (``load >= agents``) the queue grows without bound: the
    figures say so with infinite waits, ``p_wait`` 1 and ``stable=False``.
    """
    _, load = _rates(calls_per_hour, handle_s)
    _check_agents(agents)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError(f"target_s must be >= 0, got {target_s!r}")
    common = dict(
        agents=agents,
        calls_per_hour=float(calls_per_hour),
        handle_s=float(handle_s),
        patience_s=None,
        target_s=float(target_s),
        p_abandon=0.0,
    )
    if load >= agents:
        return QueueFigures(
            **common,
            p_wait=1.0,
            asa_s=math.inf,
            mean_wait_served_s=math.inf,
            service_level=0.0,
            occupancy=1.0,
            stable=False,
        )
    inv_prev, _ = _inverse_b(agents, load)
    # C = 1 / (1 + (c - a)/c * (1/B - 1)) and 1/B - 1 = (c/a)/B(c-1).
    spare = agents - load
    rest = (agents / load) * inv_prev  # (1 - B) / B
    odds = spare / agents * rest  # P(no wait) / P(wait)
    p_wait = 1.0 / (1.0 + odds) if odds != math.inf else 0.0
    p_now = odds / (1.0 + odds) if odds != math.inf else 1.0
    asa = p_wait * handle_s / spare
    # 1 - C e^{-k}, written so that neither part cancels when C is near 1.
    service_level = p_now - p_wait * math.expm1(-spare * target_s / handle_s)
    return QueueFigures(
        **common,
        p_wait=p_wait,
        asa_s=asa,
        mean_wait_served_s=asa,
        service_level=service_level,
        occupancy=load / agents,
    )


@dataclass
class _Chain:
    """Sums over the waiting room of M/M/c+M, all scaled by ``exp(-log_scale)``.

    With x = c*mu/theta and z = lambda/theta, the waiting-room state k (callers in
    queue) has weight t_k = z^k / ((x+1)...(x+k)) relative to the all-busy state.
    """

    log_scale: float
    total: float  # sum t_k = A(x, z)
    above: float  # sum_{k>=1} t_k = A - 1, kept apart to avoid cancellation
    waiting: float  # sum k t_k (mean queue length times the total)
    served: float  # sum t_k x/(x+k+1): a caller entering at k+1 is answered
    served_wait: float  # sum t_k x/(x+k+1) H_k, H_k = sum_{i<=k+1} 1/(x+i)


def _log_rising(x: float, k: int) -> float:
    """log((x+1)(x+2)...(x+k)) without the cancellation of two large lgammas."""
    if k < 64:
        return math.fsum(math.log(x + i) for i in range(1, k + 1))
    shift = 0.0
    while x + 1 < 20:  # Stirling's series needs arguments >= 20 for 1e-15
        shift += math.log(x + 1)
        x += 1
        k -= 1
    a, b = x + 1, x + k + 1

    def tail(n: float) -> float:
        n2 = n * n
        return (1 / 12 - (1 / 360 - (1 / 1260 - 1 / (1680 * n2)) / n2) / n2) / n

    # lgamma(b) - lgamma(a) rearranged: k ln b + (a - 1/2) ln(b/a) - k + ...
    return (
        shift + k * math.log(b) - (a - 0.5) * -math.log1p(k / a) - k + tail(b) - tail(a)
    )


def _harmonic(x: float, k: int) -> float:
    """1/(x+1) + ... + 1/(x+k), by the digamma series for long sums."""
    if k < 64:
        return math.fsum(1.0 / (x + i) for i in range(1, k + 1))
    head = 0.0
    while x + 1 < 20:
        head += 1.0 / (x + 1)
        x += 1
        k -= 1
    a, b = x + 1, x + k + 1

    def tail(n: float) -> float:
        n2 = n * n
        return -1 / (2 * n) - (1 / 12 - (1 / 120 - 1 / (252 * n2)) / n2) / n2

    return head + math.log1p(k / a) + tail(b) - tail(a)


def _chain(x: float, z: float, with_waits: bool = True) -> _Chain:
    # The terms rise to a peak near k = z - x and fall on a scale of sqrt(z);
    # far below the peak they are negligible, so heavy overload starts near it.
    k = max(0, int(z - x - 14.0 * math.sqrt(z) - 10.0))
    if k:
        log_scale = k * math.log(z) - _log_rising(x, k)
        harmonic = _harmonic(x, k)
    else:
        log_scale = 0.0
        harmonic = 0.0
    total = above = waiting = served = served_wait = 0.0
    term = 1.0
    while True:
        position = x + k + 1
        harmonic += 1.0 / position
        total += term
        if k:
            above += term
            waiting += k * term
        if with_waits:
            share = term * x / position
            served += share
            served_wait += share * harmonic
        ratio = z / position
        if ratio < 1.0 and term * (k + 2) < _TINY * (1.0 - ratio) ** 2 * total:
            break
        term *= ratio
        if term > 1e250:  # rescale every sum by the same factor
            log_scale += math.log(1e250)
            term /= 1e250
            total /= 1e250
            above /= 1e250
            waiting /= 1e250
            served /= 1e250
            served_wait /= 1e250
        k += 1
    return _Chain(log_scale, total, above, waiting, served, served_wait)


def _upper_gamma_cf(shape: float, arg: float) -> float:
    """Continued fraction h with Gamma(shape, arg) = exp(-arg) arg**shape h.

    Modified Lentz; converges quickly for ``arg > shape + 1``.
    """
    tiny = 1e-300
    b = arg + 1.0 - shape
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - shape)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            break
    return h


def _answered_within(x: float, z: float, time: float, chain: _Chain) -> float:
    """P(answered within ``time``/theta | all agents busy on arrival).

    The served-wait density, summed over the waiting room, is proportional to
    x u^x e^{z(1-u)} with u = exp(-theta s); integrated from 0 to t it becomes an
    incomplete gamma difference over [z e^{-theta t}, z] (docs/queueing.md).
    Beyond the peak of v^x e^{-v} the difference is taken between two upper
    gammas (continued fractions); before it, from the waiting-room series.
    """
    shape = x + 1.0
    low = z * math.exp(-time)
    log_a = math.log(chain.total) + chain.log_scale
    if low > shape + 1.0:
        log_low = -low + shape * math.log(low) + math.log(_upper_gamma_cf(shape, low))
        log_high = -z + shape * math.log(z) + math.log(_upper_gamma_cf(shape, z))
        log_part = log_low + math.log(-math.expm1(log_high - log_low))
        return math.exp(math.log(x) + z - shape * math.log(z) + log_part - log_a)
    near = _chain(x, low, with_waits=False)
    late = math.exp(
        -x * time
        + z * -math.expm1(-time)
        + near.log_scale
        + (math.log(near.above) if near.above > 0 else -math.inf)
        - log_a
    )
    return (x / z) * max(chain.above / chain.total - late, 0.0)


def erlang_a(
    calls_per_hour: float,
    handle_s: float,
    agents: int,
    patience_s: float,
    target_s: float = 20.0,
) -> QueueFigures:
    """Figures of M/M/c+M (Palm's queue): callers hang up after ``patience_s`` mean.

    Stable at any load: impatient callers keep the queue finite even when calls
    arrive faster than agents can answer them.
    """
    lam, load = _rates(calls_per_hour, handle_s)
    _check_agents(agents)
    _check_positive("patience_s", patience_s)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError(f"target_s must be >= 0, got {target_s!r}")
    theta = 1.0 / patience_s
    x = agents / handle_s / theta  # c mu / theta
    z = lam / theta
    inv_prev, _ = _inverse_b(agents, load)
    chain = _chain(x, z)
    # P(all busy) = A / ((1-B)/B + A); (1-B)/B = (c/a)/B(c-1).
    rest = (agents / load) * inv_prev
    if rest == math.inf:
        p_wait, p_now = 0.0, 1.0
    else:
        odds = rest * math.exp(-chain.log_scale) / chain.total
        p_wait, p_now = 1.0 / (1.0 + odds), odds / (1.0 + odds)
    per_waiter = p_wait / chain.total  # P(arrival sees exactly c busy, k=0) per t_k
    p_abandon = per_waiter * chain.waiting / z
    asa = per_waiter * chain.waiting / lam
    p_served_after_wait = per_waiter * chain.served
    p_served = p_now + p_served_after_wait
    wait_served_total = per_waiter * chain.served_wait / theta
    mean_wait_served = wait_served_total / p_served if p_served > 0 else 0.0
    # Answered within t after waiting: (x/z)[(A-1) - u^x e^{z(1-u)} (A(x,zu)-1)]
    # per A, with u = exp(-theta t); see docs/queueing.md for the derivation.
    if target_s > 0:
        quick = p_wait * _answered_within(x, z, theta * target_s, chain)
    else:
        quick = 0.0
    service_level = p_now + quick
    return QueueFigures(
        agents=agents,
        calls_per_hour=float(calls_per_hour),
        handle_s=float(handle_s),
        patience_s=float(patience_s),
        target_s=float(target_s),
        p_wait=p_wait,
        asa_s=asa,
        mean_wait_served_s=mean_wait_served,
        service_level=service_level,
        p_abandon=p_abandon,
        occupancy=load * p_served / agents,
    )


def figures(
    calls_per_hour: float,
    handle_s: float,
    agents: int,
    patience_s: float | None = None,
    target_s: float = 20.0,
) -> QueueFigures:
    """Erlang A when callers have a ``patience_s``, else Erlang C."""
    if patience_s is None or patience_s == math.inf:
        return erlang_c(calls_per_hour, handle_s, agents, target_s)
    return erlang_a(calls_per_hour, handle_s, agents, patience_s, target_s)


def _meets(
    result: QueueFigures,
    service_level: float | None,
    max_asa_s: float | None,
    max_abandon: float | None,
) -> bool:
    if not result.stable:
        return False
    if service_level is not None and result.service_level < service_level:
        return False
    if max_asa_s is not None and result.asa_s > max_asa_s:
        return False
    return max_abandon is None or result.p_abandon <= max_abandon


def staff(
    calls_per_hour: float,
    handle_s: float,
    *,
    patience_s: float | None = None,
    service_level: float | None = None,
    target_s: float = 20.0,
    max_asa_s: float | None = None,
    max_abandon: float | None = None,
    max_agents: int = 1_000_000,
) -> QueueFigures:
    """The fewest agents whose figures meet every target given; returns those figures.

    Targets: ``service_level`` (share answered within ``target_s``), ``max_asa_s``
    (mean wait of all callers) and ``max_abandon``. Every figure improves as agents
    are added, so a doubling search then a bisection finds the exact minimum.
    """
    if service_level is None and max_asa_s is None and max_abandon is None:
        raise ValueError(
            "give at least one target: service_level, max_asa_s or max_abandon"
        )
    if service_level is not None and not 0 < service_level < 1:
        raise ValueError(
            f"service_level must be between 0 and 1 (exclusive), got {service_level!r}"
        )
    if max_abandon is not None and not 0 < max_abandon <= 1:
        raise ValueError(f"max_abandon must be in (0, 1], got {max_abandon!r}")
    if max_asa_s is not None and not max_asa_s > 0:
        raise ValueError(f"max_asa_s must be > 0, got {max_asa_s!r}")
    _, load = _rates(calls_per_hour, handle_s)

    def ok(agents: int) -> QueueFigures | None:
        result = figures(calls_per_hour, handle_s, agents, patience_s, target_s)
        return result if _meets(result, service_level, max_asa_s, max_abandon) else None

    low = max(1, math.floor(load) if patience_s is None else 1)  # low fails or is 1
    if ok(low):
        return figures(calls_per_hour, handle_s, low, patience_s, target_s)
    high = max(low + 1, math.ceil(load) + 1)
    while not ok(high):
        low = high
        high *= 2
        if high > max_agents:
            raise ValueError(f"no staffing up to {max_agents} agents meets the targets")
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return figures(calls_per_hour, handle_s, high, patience_s, target_s)
