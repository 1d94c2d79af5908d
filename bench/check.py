"""`ivr check` of a generated 5,000-node menu against PyYAML parsing the same file.

The loader does more than parse (line numbers, duplicate keys, every rule, the
graph checks), so the question is what that costs on top of reading the YAML.
Prints the best of several runs for: PyYAML's `safe_load` (pure Python), PyYAML's
libyaml `CSafeLoader`, and `ivr check` (in process, no start-up), with the ratios.
Not a test: `python bench/check.py [--nodes 5000]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from ivr.loader import load_menus


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


def best_of(runs: int, action) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "menus" / "big.yaml"
        path.parent.mkdir()
        text = generate(args.nodes)
        path.write_text(text)
        _, problems = load_menus([path], folder)
        assert len(problems) == 1 and "never reached" in problems[0], problems
        pure = best_of(args.runs, lambda: yaml.safe_load(path.read_text()))
        c_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        fast = best_of(args.runs, lambda: yaml.load(path.read_text(), Loader=c_loader))
        check = best_of(args.runs, lambda: load_menus([path], folder))
    size_kib = len(text.encode()) / 1024
    print(f"{args.nodes} nodes, {size_kib:.0f} KiB, best of {args.runs} runs")
    print(f"  yaml.safe_load (pure Python)  {pure * 1000:8.1f} ms")
    print(f"  yaml CSafeLoader (libyaml)     {fast * 1000:8.1f} ms")
    print(f"  ivr check (load_menus)        {check * 1000:8.1f} ms")
    print(f"  ratio ivr check / safe_load:   {check / pure:.2f}")
    print(f"  ratio ivr check / CSafeLoader: {check / fast:.2f}")


if __name__ == "__main__":
    main()
