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


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - start, done.stdout


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
    outputs: dict[str, set[str]] = {"plain": set(), "staff": set()}
    print(f"{os.cpu_count()} cores; {' '.join(plain[1:])} [--staff]")
    for round_ in range(args.rounds):
        for name, command in (("plain", plain), ("staff", staff)):
            seconds, out = timed(command)
            times[name].append(seconds)
            outputs[name].add(out)
        ratio = times["staff"][-1] / times["plain"][-1]
        print(
            f"round {round_ + 1}: without --staff {times['plain'][-1]:.2f} s, "
            f"with {times['staff'][-1]:.2f} s ({ratio:.2f}x)"
        )
    ratios = [s / p for s, p in zip(times["staff"], times["plain"], strict=True)]
    for name, values in times.items():
        print(
            f"{name:<6} median {statistics.median(values):.2f} s "
            f"({min(values):.2f}-{max(values):.2f})"
        )
    print(
        f"ratio  median {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f})"
    )
    same = all(len(found) == 1 for found in outputs.values())
    print("every round printed the same figures:", "yes" if same else "NO")


if __name__ == "__main__":
    main()
