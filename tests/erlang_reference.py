"""High-precision Erlang B/C/A reference with mpmath (tests only).

Independent of ``ivr.queueing``'s series: it uses incomplete gamma functions and a
numerical integral of the served-wait density.
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 50


def erlang_b(agents: int, load: float) -> mp.mpf:
    a = mp.mpf(load)
    log_pmf = agents * mp.log(a) - a - mp.loggamma(agents + 1)
    cdf = mp.gammainc(agents + 1, a, mp.inf, regularized=True)
    return mp.exp(log_pmf) / cdf


def erlang_c(calls_per_hour, handle_s, agents, target_s):
    lam = mp.mpf(calls_per_hour) / 3600
    h = mp.mpf(handle_s)
    a = lam * h
    b = erlang_b(agents, a)
    rho = a / agents
    p_wait = b / (1 - rho * (1 - b))
    asa = p_wait * h / (agents - a)
    p_now = (1 - rho) * (1 - b) / (1 - rho * (1 - b))
    sl = p_now - p_wait * mp.expm1(-(agents - a) * target_s / h)
    return {
        "p_wait": p_wait,
        "asa_s": asa,
        "mean_wait_served_s": asa,
        "service_level": sl,
        "p_abandon": mp.mpf(0),
        "occupancy": rho,
    }


def erlang_a(calls_per_hour, handle_s, agents, patience_s, target_s, waits=True):
    lam = mp.mpf(calls_per_hour) / 3600
    h = mp.mpf(handle_s)
    theta = 1 / mp.mpf(patience_s)
    a = lam * h
    x = agents / h / theta
    y = lam / theta
    b = erlang_b(agents, a)
    big_a = mp.hyp1f1(1, x + 1, y, maxterms=10**7)  # A(x, y) = x e^y y^-x gamma(x, y)
    p_wait = big_a * b / (1 + (big_a - 1) * b)
    rho = a / agents
    p_abandon = p_wait * (1 / (rho * big_a) + 1 - 1 / rho)
    asa = p_abandon / theta
    u0 = mp.exp(-theta * target_s)

    def lower(v):  # x e^y y^(-x-1) gamma(x+1, v), gamma(s, v) by Kummer's series
        log_front = mp.log(x) + y - (x + 1) * mp.log(y) + (x + 1) * mp.log(v) - v
        return mp.exp(log_front) / (x + 1) * mp.hyp1f1(1, x + 2, v, maxterms=10**7)

    within = lower(y) - lower(y * u0)
    p_now = (1 - b) / (1 + (big_a - 1) * b)  # 1 - p_wait without cancellation
    sl = p_now + p_wait / big_a * within
    out = {
        "p_wait": p_wait,
        "asa_s": asa,
        "service_level": sl,
        "p_abandon": p_abandon,
        "occupancy": rho * (1 - p_abandon),
    }
    if waits:
        peak = min(mp.mpf(1), x / y)
        width = mp.sqrt(x + 1) / max(x, y)
        points = sorted(
            {mp.mpf(0), mp.mpf(1)}
            | {p for p in (peak - 40 * width, peak - 8 * width, peak) if 0 < p < 1}
            | {p for p in (peak + 8 * width, peak + 40 * width) if 0 < p < 1}
        )

        def density(u):
            return -mp.log(u) * x * mp.exp(x * mp.log(u) + y * (1 - u))

        integral = mp.quad(density, points)
        served_wait = p_wait / big_a * integral / theta
        out["mean_wait_served_s"] = served_wait / (1 - p_abandon)
    return out
