"""Benchmark: ivr.simulation against an idiomatic SimPy model, in one run.

Scenario: 100 agents, 1,140 calls per hour, 5-minute exponential handle time,
2-minute exponential patience (M/M/100+M at 95% load). Prints callers per second
for both simulators and their ratio, then each simulated figure with its 95%
interval beside Erlang A. Not part of the test suite:

    python bench/simulate.py [--callers 2000000] [--simpy-callers 200000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ivr

from ivr import queueing
from ivr import simulation as sim

CALLS_PER_HOUR, HANDLE_S, AGENTS, PATIENCE_S, TARGET_S = 1140.0, 300.0, 100, 120.0, 20.0


def simpy_run(callers: int, seed: int) -> dict[str, float]:
    """The textbook SimPy model: a Resource, one process per caller."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    waits: list[float] = []
    abandoned = 0

    def caller(env: simpy.Environment):
        nonlocal abandoned
        arrived = env.now
        with agents.request() as request:
            result = yield request | env.timeout(rng.exponential(PATIENCE_S))
            if request in result:
                waits.append(env.now - arrived)
                yield env.timeout(rng.exponential(HANDLE_S))
            else:
                abandoned += 1

    def source(env: simpy.Environment):
        for _ in range(callers):
            yield env.timeout(rng.exponential(3600.0 / CALLS_PER_HOUR))
            env.process(caller(env))

    env.process(source(env))
    env.run()
    return {
        "p_abandon": abandoned / callers,
        "mean_wait_served_s": float(np.mean(waits)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=2_000_000)
    parser.add_argument("--simpy-callers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    ours = sim.simulate_erlang(
        CALLS_PER_HOUR,
        sim.exponential(HANDLE_S),
        AGENTS,
        sim.exponential(PATIENCE_S),
        callers=args.callers,
        seed=args.seed,
        target_s=TARGET_S,
        warmup_share=0.0,  # time only recorded callers, like the SimPy run
    )
    ours_rate = ours["callers"] / (time.perf_counter() - start)

    start = time.perf_counter()
    theirs = simpy_run(args.simpy_callers, args.seed)
    simpy_rate = args.simpy_callers / (time.perf_counter() - start)

    print(f"scenario: {AGENTS} agents, {CALLS_PER_HOUR:g} calls/h, handle 5m, "
          "patience 2m")  # fmt: skip
    print(
        f"ivr.simulation  {ours_rate:>12,.0f} callers/s ({ours['callers']:,} callers)"
    )
    print(f"SimPy           {simpy_rate:>12,.0f} callers/s ({args.simpy_callers:,})")
    print(f"ratio           {ours_rate / simpy_rate:>12.1f}x")
    print()
    exact = queueing.erlang_a(CALLS_PER_HOUR, HANDLE_S, AGENTS, PATIENCE_S, TARGET_S)
    print(f"{'figure':<20}{'simulated':>12}{'± ci95':>12}{'Erlang A':>12}  inside")
    for key in ("p_wait", "asa_s", "mean_wait_served_s", "service_level",
                "p_abandon", "occupancy"):  # fmt: skip
        value, half, want = ours[key], ours["ci95"][key], getattr(exact, key)
        mark = "yes" if abs(value - want) <= half else "NO"
        print(f"{key:<20}{value:>12.5f}{half:>12.5f}{want:>12.5f}  {mark}")
    served_wait = theirs["mean_wait_served_s"]
    print(f"SimPy (one run): p_abandon {theirs['p_abandon']:.5f}, ", end="")
    print(f"mean_wait_served_s {served_wait:.3f}")


if __name__ == "__main__":
    main()
