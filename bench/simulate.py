"""Benchmark: ivr's queue simulator against an idiomatic SimPy model, in one run.

Scenario: 100 agents, 1,140 calls per hour, 5-minute exponential handle time,
2-minute exponential patience (M/M/100+M at 95% load). Measured three ways,
each round in turn, medians and spreads over the rounds:

- in process: ``simulate_erlang`` (kernels already loaded) against the SimPy
  model in the same process, callers per second;
- whole commands: ``ivr simulate`` for N callers against a SimPy script
  (this file with ``--simpy-run``) for N/10, start-up included;
- memory: the peak resident size of ``ivr simulate`` for N callers.

Then each simulated figure with its 95% interval beside Erlang A. Not part of
the test suite:

    python bench/simulate.py [--callers 10000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLS_PER_HOUR, HANDLE_S, AGENTS, PATIENCE_S, TARGET_S = 1140.0, 300.0, 100, 120.0, 20.0


def simpy_run(callers: int, seed: int) -> dict[str, float]:
    """The textbook SimPy model: a Resource, one process per caller."""
    import numpy as np
    import simpy

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


def ivr_command(callers: int, seed: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("ivr")), "simulate",
        "--calls-per-hour", str(CALLS_PER_HOUR), "--handle-time", str(HANDLE_S),
        "--agents", str(AGENTS), "--patience", str(PATIENCE_S),
        "--callers", str(callers), "--seed", str(seed), "--json",
    ]  # fmt: skip


def timed(command: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak resident MB and output of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    out = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, out


def spread(values: list[float]) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"median {mid:,.1f} ({low:,.1f}-{high:,.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=10_000_000)
    parser.add_argument("--simpy-callers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simpy-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simpy_run:  # the SimPy side of the whole-command comparison
        print(json.dumps(simpy_run(args.simpy_run, args.seed)))
        return

    sys.path.insert(0, str(ROOT))  # this checkout's ivr
    from ivr import queueing
    from ivr import simulation as sim

    simpy_callers = args.simpy_callers or args.callers // 10

    def ours_in_process() -> dict[str, object]:
        return sim.simulate_erlang(
            CALLS_PER_HOUR, sim.exponential(HANDLE_S), AGENTS,
            sim.exponential(PATIENCE_S), callers=args.callers, seed=args.seed,
            target_s=TARGET_S,
            warmup_share=0.0,  # time only recorded callers, like the SimPy run
        )  # fmt: skip

    start = time.perf_counter()
    sim.simulate_erlang(
        CALLS_PER_HOUR, sim.exponential(HANDLE_S), AGENTS, callers=1000, seed=1
    )
    load_s = time.perf_counter() - start  # Numba loads the kernels from its cache

    print(
        f"scenario: {AGENTS} agents, {CALLS_PER_HOUR:g} calls/h, handle 5m, "
        f"patience 2m; {os.cpu_count()} cores; ivr {args.callers:,} callers, "
        f"SimPy {simpy_callers:,}; {args.rounds} rounds\n"
        f"(first use of the kernels in a process: {load_s:.2f} s, Numba's start-up)"
    )
    # Wall time and CPU time (user + system): on a machine others share, the
    # CPU time of each side moves far less than its wall time.
    table: dict[str, list[float]] = {}
    ours = None
    for round_ in range(args.rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        ours = ours_in_process()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        simpy_wall, simpy_cpu = time.perf_counter(), time.process_time()
        simpy_run(simpy_callers, args.seed + round_)
        simpy_wall = time.perf_counter() - simpy_wall
        simpy_cpu = time.process_time() - simpy_cpu
        ivr_s, ivr_cpu, ivr_mb, _ = timed(ivr_command(args.callers, args.seed))
        simpy_s, simpy_cmd_cpu, _, _ = timed(
            [sys.executable, __file__, "--simpy-run", str(simpy_callers),
             "--seed", str(args.seed + round_)]
        )  # fmt: skip
        n, m = args.callers, simpy_callers
        row = {
            "ivr callers/s in process (wall)": n / wall,
            "SimPy callers/s in process (wall)": m / simpy_wall,
            "ratio in process (wall)": (n / wall) / (m / simpy_wall),
            "ratio in process (CPU)": (n / cpu) / (m / simpy_cpu),
            "ivr command s (wall)": ivr_s,
            "SimPy command s (wall)": simpy_s,
            "ratio whole commands (wall)": (n / ivr_s) / (m / simpy_s),
            "ratio whole commands (CPU)": (n / ivr_cpu) / (m / simpy_cmd_cpu),
            "ivr simulate peak RSS MB": ivr_mb,
        }
        for key, value in row.items():
            table.setdefault(key, []).append(value)
        print(f"round {round_ + 1}: " + "; ".join(
            f"{key} {value:,.1f}" for key, value in row.items()
        ))  # fmt: skip
    print()
    for key, values in table.items():
        print(f"{key:<36} {spread(values)}")
    print()
    exact = queueing.erlang_a(CALLS_PER_HOUR, HANDLE_S, AGENTS, PATIENCE_S, TARGET_S)
    print(f"{'figure':<20}{'simulated':>12}{'± ci95':>12}{'Erlang A':>12}  inside")
    for key in ("p_wait", "asa_s", "mean_wait_served_s", "service_level",
                "p_abandon", "occupancy"):  # fmt: skip
        value, half, want = ours[key], ours["ci95"][key], getattr(exact, key)
        mark = "yes" if abs(value - want) <= half else "NO"
        print(f"{key:<20}{value:>12.5f}{half:>12.5f}{want:>12.5f}  {mark}")


if __name__ == "__main__":
    main()
