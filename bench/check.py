"""`ivr check` of generated menus against libyaml parsing the same file.

The loader does more than parse (line numbers, duplicate keys, every rule, the
graph checks, the variable analysis, the traps), so the question is what that
costs on top of reading the YAML, and whether it grows with the file and no
faster. For each size it prints the best of several runs of PyYAML's libyaml
`CSafeLoader` (`yaml.load`) and of `ivr check` (in process, no start-up: the
same `check_menus` the command runs), and the peak memory each adds to a fresh
process (its peak resident memory after the work minus before it), with both
ratios.

Not a test: `python bench/check.py [--nodes 5000 20000 50000] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ivr.loader import check_menus

LIMITS = {"time": 3.0, "memory": 5.0}  # issue 14: ivr check / CSafeLoader parse


def generate(nodes: int) -> str:
    """A menu of ``nodes`` nodes: chains of menus, asks and messages into queues."""
    lines = [
        "id: big",
        "title: Generated",
        'numbers: ["+15550000000"]',
        "language: en-US",
        "start: n0",
        "hours:",
        "  timezone: Asia/Shanghai",
        '  weekly: {mon-fri: "08:00-22:00", sat-sun: "09:00-21:00"}',
        "queues:",
        "  people:",
        '    agents: {"08:00": 20, "12:00": 45}',
        "    handle_time: 4m",
        "    patience: 3m",
        "nodes:",
    ]
    count = nodes - 3
    for i in range(count):
        after = f"n{i + 1}" if i + 1 < count else "bye"
        kind = i % 3
        if kind == 0:
            lines += [
                f"  n{i}:",
                f"    say: Menu {i}. Press 1 to go on, 2 to repeat, 0 for a person.",
                "    options:",
                f'      "1": {{goto: {after}, speech: [next, go on], share: 0.6}}',
                f'      "2": n{i}',
                '      "0": {goto: agent, speech: [agent, person]}',
                "    timeout: 6s",
                "    retries: 2",
                "    no_input: Sorry, I did not hear you.",
                "    on_fail: agent",
            ]
        elif kind == 1:
            lines += [
                f"  n{i}:",
                "    ask: Enter your number, then hash.",
                "    digits: {min: 4, max: 12}",
                f"    save_as: v{i}",
                f"    next: {after}",
            ]
        else:
            lines += [
                f"  n{i}:",
                f"    say: 'You entered {{v{i - 1}}}.'",
                f"    next: {after}",
            ]
    lines += [
        "  agent:",
        "    queue: people",
        "    say: Connecting you.",
        "    closed: bye",
        "  bye: {hangup: Goodbye.}",
        "  spare: {say: Spare., next: bye}",
    ]
    # `spare` is unreachable on purpose: the check has a problem to find.
    return "\n".join(lines) + "\n"


def parse(path: Path) -> object:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def check(path: Path) -> object:
    report = check_menus([path], path.parent)
    assert len(report.problems) == 1 and "never reached" in report.problems[0]
    assert report.warnings == [], report.warnings
    return report


def best_of(runs: int, action, path: Path) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action(path)
        times.append(time.perf_counter() - began)
    return min(times)


_MEMORY = """
import json, sys
sys.path.insert(0, {bench!r})
from pathlib import Path
from check import {action} as action, peak_rss

path = Path({path!r})
before = peak_rss()
result = action(path)
print(json.dumps(peak_rss() - before))
"""


def peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM).

    Not ``ru_maxrss``: Linux carries the parent's peak into a child across fork
    and exec, and the parent here has just parsed the same big file.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status (Linux only)")


def peak_memory(action: str, path: Path) -> int:
    """Bytes ``action(path)`` adds to the peak memory of a fresh process."""
    code = _MEMORY.format(bench=str(Path(__file__).parent), action=action,
                          path=str(path))  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for nodes in args.nodes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "big.yaml"
            text = generate(nodes)
            path.write_text(text)
            parse_s = best_of(args.runs, parse, path)
            check_s = best_of(args.runs, check, path)
            parse_mb = peak_memory("parse", path) / 1e6
            check_mb = peak_memory("check", path) / 1e6
        size_kib = len(text.encode()) / 1024
        rows.append((nodes, size_kib, parse_s, check_s, parse_mb, check_mb))
        print(
            f"{nodes:>6} nodes, {size_kib:6.0f} KiB (best of {args.runs}):"
            f"  CSafeLoader {parse_s * 1000:7.0f} ms {parse_mb:6.0f} MB"
            f"  ivr check {check_s * 1000:7.0f} ms {check_mb:6.0f} MB"
            f"  time {check_s / parse_s:4.2f}x  memory {check_mb / parse_mb:4.2f}x",
            flush=True,
        )
    print()
    print("ivr check / CSafeLoader parse of the same file (limits: time 3x, memory 5x)")
    print(f"{'nodes':>6} {'ms/1k nodes':>12} {'time':>6} {'memory':>7}")
    for nodes, _, parse_s, check_s, parse_mb, check_mb in rows:
        per_k = check_s * 1000 / (nodes / 1000)
        time_ratio, memory_ratio = check_s / parse_s, check_mb / parse_mb
        ok = time_ratio <= LIMITS["time"] and memory_ratio <= LIMITS["memory"]
        print(
            f"{nodes:>6} {per_k:>12.1f} {time_ratio:>5.2f}x {memory_ratio:>6.2f}x"
            f"  {'within' if ok else 'OVER'}"
        )


if __name__ == "__main__":
    main()
