"""Benchmark: the wait estimate against other estimators, on simulated days.

Scenarios: the shop's sale day (``menus/shop.yaml`` with
``menus/shop.traffic.yaml``: four queues, a rise at 18:00, drops at 21:00 and
22:00, a priority level in ``accounts``) and a single queue whose rate climbs
past capacity while the shift drops from 60 to 40 agents mid-peak
(``bench/peak.yaml``). In each, every caller who holds hears an announcement on
joining and every ``announce_every`` (``ivr.announcements``); for callers later
answered, each estimator's figure is set against the wait they actually had.

Estimators:

- ``ivr.estimate``: the live estimate (``Estimator.forecast``): said as the
  live line says it (``ivr.phrases.spoken_forecast``), a range to callers
  whom callers of a higher priority (seen joining in the last 15 minutes) may
  overtake and to callers whose wait is too spread for one figure to be right
  9 times in 10, else one figure; also its mean said as one figure to
  everyone, and in seconds;
- ``ivr.estimate, blind``: the same, not counting callers who overtake (the
  estimate before they were counted: a window too short to see any);
- ``k*h/c``: the old formula, position × handle time / agents on duty now;
- ``AvgQueueTime``: Twilio's queue statistic, the mean time the callers in the
  queue now have waited so far;
- ``Asterisk``: app_queue's hold time, a moving average of answered callers'
  waits (each new one weighs 1/4), less the time this caller has waited.

Each is scored twice: the figure in seconds, and as it would be said
(``ivr.phrases.spoken_wait``; the old formula also as it was said, rounded up
to whole minutes). Printed: share within ±25% or ±60 s (the looser) of the
actual remaining wait, and the mean signed error (positive: told too long).
Then, for the announcements to callers who could be overtaken and to the
others, what the live words were (one figure, or a range: "N to M minutes",
"under N minutes", open-ended) and how often the wait fell inside them
(a range: without any tolerance; one figure: within it). Not part of the
test suite:

    python bench/estimate.py [--replications 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's ivr

from ivr.announcements import (  # noqa: E402
    announce,
    spoken_ranges,
    within_tolerance,
)
from ivr.day import _queue_setup  # noqa: E402
from ivr.journeys import walk_callers  # noqa: E402
from ivr.loader import load_menu  # noqa: E402
from ivr.phrases import spoken_wait  # noqa: E402
from ivr.simulation import SERVED, simulate_queue  # noqa: E402
from ivr.traffic import load_traffic  # noqa: E402

SCENARIOS = {
    "shop sale day": (ROOT / "menus/shop.yaml", ROOT / "menus/shop.traffic.yaml"),
    "peak, 60->40 agents": (
        ROOT / "bench/peak.yaml",
        ROOT / "bench/peak.traffic.yaml",
    ),
}
ESTIMATORS = (
    "ivr.estimate, live words",
    "ivr.estimate mean",
    "ivr.estimate, blind",
    "k*h/c",
    "AvgQueueTime",
    "Asterisk",
)
BLIND_WINDOW_S = 1e-9  # no arrival of a higher priority is ever in it


def avg_queue_time(records, told) -> np.ndarray:
    """Twilio's AvgQueueTime at each announcement: the mean time the callers
    in the queue have waited so far (this caller included)."""
    held = ~(records.wait_s == 0)
    arrive = np.sort(records.arrival_s[held])
    leave = records.arrival_s[held] + np.nan_to_num(records.wait_s[held], nan=np.inf)
    order = np.argsort(leave)
    leave, left_arrivals = leave[order], records.arrival_s[held][order]
    sum_in = np.r_[0, np.cumsum(arrive)]
    sum_out = np.r_[0, np.cumsum(left_arrivals)]
    joined = np.searchsorted(arrive, told.time_s, side="right")
    gone = np.searchsorted(leave, told.time_s, side="right")
    count = joined - gone
    total = sum_in[joined] - sum_out[gone]
    return np.where(count > 0, told.time_s - total / np.maximum(count, 1), 0.0)


def asterisk(records, told) -> np.ndarray:
    """app_queue's estimate: holdtime = (3 holdtime + new wait) / 4 on each
    answered call, announced as holdtime less the time already waited."""
    answered = np.nonzero(records.outcome == SERVED)[0]
    order = answered[np.argsort(records.start_s[answered], kind="stable")]
    average, averages = 0.0, []
    for wait in records.wait_s[order].tolist():
        average = (3 * average + wait) / 4
        averages.append(average)
    averages = np.r_[0.0, averages]
    seen = np.searchsorted(records.start_s[order], told.time_s, side="right")
    waited = told.time_s - records.arrival_s[told.caller]
    return np.maximum(averages[seen] - waited, 0.0)


def said(estimates: np.ndarray, max_wait_s: float | None) -> tuple:
    """The range of waits each figure covers as it would be said."""
    low, high = estimates.copy(), estimates.copy()
    for i, value in enumerate(estimates.tolist()):
        if math.isfinite(value):
            words = spoken_wait(value, max_wait_s)
            low[i], high[i] = words.low_s, words.high_s
    return low, high


def score(figure: np.ndarray, actual: np.ndarray) -> tuple[int, int, float]:
    ok = np.isfinite(figure)
    inside = within_tolerance(figure[ok], actual[ok]).sum()
    return len(actual), int(inside), float(np.sum(figure[ok] - actual[ok]))


def kind_of(low: float, high: float) -> str:
    """What the words said, from the range they covered."""
    if low == high:
        return "one figure"
    if math.isinf(high):
        return "open: from under a minute" if low == 0 else "open: N min or more"
    if low == 0:
        return "under N minutes" if high > 60 else "one figure"
    return "N to M minutes"


def run(menu_path: Path, traffic_path: Path, replications: int, seed: int):
    menu, plan = load_menu(menu_path), load_traffic(traffic_path)
    totals: dict[str, list[float]] = {}
    per_queue: dict[tuple[str, str], list[float]] = {}
    # (overtaken or not, words): [said so, wait inside the words]
    kinds: dict[tuple[str, str], list[int]] = {}
    elapsed = 0.0
    for stream in np.random.SeedSequence(seed).spawn(replications):
        rng = np.random.default_rng(stream)
        journeys = walk_callers(menu, plan, seed=int(rng.integers(2**63)))
        for qid, queue in menu.queues.items():
            setup = _queue_setup(queue, plan)
            mine = journeys.queue == qid
            order = np.argsort(journeys.ready_s[mine], kind="stable")
            ready = journeys.ready_s[mine][order]
            priority = journeys.priority[mine][order]
            records = simulate_queue(ready, setup, rng, priority)
            start = time.perf_counter()
            told = announce(records, setup, queue.announce_every_s)
            elapsed += time.perf_counter() - start
            blind = announce(
                records, setup, queue.announce_every_s, window_s=BLIND_WINDOW_S
            )
            actual = told.actual_s
            overtaken = told.higher_per_s > 0
            figure_low, figure_high = spoken_ranges(told.estimate_s, setup.max_wait_s)
            one = (told.low_s == figure_low) & (told.high_s == figure_high)
            for i in range(len(told)):
                low, high = told.low_s[i], told.high_s[i]
                if not np.isfinite(low) or low == high == told.estimate_s[i]:
                    continue  # nobody on duty: when service starts is said
                who = "overtaken" if overtaken[i] else "others"
                kind = (
                    "one figure" if one[i] and not overtaken[i] else kind_of(low, high)
                )
                cell = kinds.setdefault((who, kind), [0, 0])
                cell[0] += 1
                cell[1] += int(
                    within_tolerance(np.clip(actual[i], low, high), actual[i])
                    if kind == "one figure"
                    else low <= actual[i] <= high
                )
            agents = np.array([setup.agents_at(t) for t in told.time_s.tolist()])
            old = np.where(
                agents > 0, told.position * queue.handle_time_s / np.maximum(agents, 1),
                np.inf,
            )  # fmt: skip
            figures = {
                "ivr.estimate mean": told.estimate_s,
                "ivr.estimate, blind": blind.estimate_s,
                "k*h/c": old,
                "AvgQueueTime": avg_queue_time(records, told),
                "Asterisk": asterisk(records, told),
            }
            live = np.clip(actual, told.low_s, told.high_s)
            rows = {"ivr.estimate, live words": score(live, actual)}
            for name, figure in figures.items():
                rows[f"{name} s"] = score(figure, actual)
                low, high = said(figure, setup.max_wait_s)
                rows[f"{name} said"] = score(np.clip(actual, low, high), actual)
            rounded_up = np.maximum(1, np.ceil(old / 60)) * 60
            rows["k*h/c said as before"] = score(rounded_up, actual)
            for key, (n, inside, error) in rows.items():
                both = (
                    totals.setdefault(key, [0, 0, 0.0]),
                    per_queue.setdefault((qid, key), [0, 0, 0.0]),
                )
                for bucket in both:
                    bucket[0] += n
                    bucket[1] += inside
                    bucket[2] += error
    return menu, totals, per_queue, kinds, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for title, (menu_path, traffic_path) in SCENARIOS.items():
        menu, totals, per_queue, kinds, elapsed = run(
            menu_path, traffic_path, args.replications, args.seed
        )
        n = totals["ivr.estimate, live words"][0]
        print(
            f"\n{title}: {n:,} announcements to answered callers in "
            f"{args.replications} replications (scoring pass {elapsed:.2f} s)"
        )
        columns = [("all queues", totals)]
        if len(menu.queues) > 1:
            columns += [
                (qid, {key: per_queue[(qid, key)] for key in totals})
                for qid in menu.queues
            ]
        print(f"  {'estimator':<28}" + "".join(f"{n:>18}" for n, _ in columns))
        print(f"  {'':<28}" + f"{'within':>10}{'bias s':>8}" * len(columns))
        for key in totals:
            line = f"  {key:<28}"
            for _, cells in columns:
                count, inside, error = cells[key]
                line += f"{inside / count:>10.1%}{error / count:>+8.0f}"
            print(line)
        for who, title in (
            ("overtaken", "to callers who could be overtaken"),
            ("others", "to callers nobody overtakes"),
        ):
            mine = {kind: cell for (w, kind), cell in kinds.items() if w == who}
            total = sum(n for n, _ in mine.values())
            if not total:
                continue
            print(
                f"  {title}: {total:,} announcements; what the live words were, "
                "and how often the wait fell inside them (a range: no "
                "tolerance; one figure: within it):"
            )
            for kind, (n, inside) in sorted(mine.items(), key=lambda kv: -kv[1][0]):
                print(f"    {kind:<28}{n / total:>7.1%}{inside / n:>10.1%} inside")


if __name__ == "__main__":
    main()
