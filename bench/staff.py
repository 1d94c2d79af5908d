"""Benchmark: ``ivr simulate --staff`` against the same command without it.

Times the two whole commands on the shop's sale day, in turn, for a few
rounds, and prints medians and spreads and their ratio (the staffing rounds
replay the walks of the first round, so ``--staff`` should cost little more
than one simulation). Checks both print the same figures on every round. Not
part of the test suite:

    python bench/staff.py [--rounds 5] [--menu menus/shop.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and output of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    out = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command)} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--menu", default="menus/shop.yaml")
    parser.add_argument("--traffic", default="menus/shop.traffic.yaml")
    args = parser.parse_args()
    ivr = str(Path(sys.executable).with_name("ivr"))
    plain = [ivr, "simulate", args.menu, "--traffic", args.traffic, "--json"]
    staff = [*plain, "--staff"]
    times: dict[str, list[float]] = {"plain": [], "staff": []}
    cpu: dict[str, list[float]] = {"plain": [], "staff": []}
    outputs: dict[str, set[str]] = {"plain": set(), "staff": set()}
    print(f"{os.cpu_count()} cores; {' '.join(plain[1:])} [--staff]")
    for round_ in range(args.rounds):
        for name, command in (("plain", plain), ("staff", staff)):
            seconds, busy, out = timed(command)
            times[name].append(seconds)
            cpu[name].append(busy)
            outputs[name].add(out)
        print(
            f"round {round_ + 1}: without --staff {times['plain'][-1]:.2f} s "
            f"(CPU {cpu['plain'][-1]:.2f} s), with {times['staff'][-1]:.2f} s "
            f"(CPU {cpu['staff'][-1]:.2f} s)"
        )
    for label, table in (("wall", times), ("CPU", cpu)):
        ratios = [s / p for s, p in zip(table["staff"], table["plain"], strict=True)]
        for name, values in table.items():
            print(
                f"{label:<4} {name:<6} median {statistics.median(values):.2f} s "
                f"({min(values):.2f}-{max(values):.2f})"
            )
        print(
            f"{label:<4} ratio  median {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    same = all(len(found) == 1 for found in outputs.values())
    print("every round printed the same figures:", "yes" if same else "NO")


if __name__ == "__main__":
    main()
