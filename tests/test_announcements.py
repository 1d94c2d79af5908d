"""Scoring the wait announcements of a simulated queue against the actual waits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ivr import simulation as sim
from ivr.announcements import (
    Announcements,
    announce,
    score,
    tolerated_ranges,
    within_tolerance,
)
from ivr.cli import main
from ivr.day import _queue_setup, simulate_day
from ivr.estimate import arrival_rate_per_s
from ivr.loader import load_menu
from ivr.phrases import tolerated
from ivr.traffic import load_traffic

ROOT = Path(__file__).resolve().parent.parent
PEAK = ROOT / "bench" / "peak.yaml"
PEAK_TRAFFIC = ROOT / "bench" / "peak.traffic.yaml"


def records(rows):
    """Records from (arrival, priority, wait, outcome) rows; served start at
    arrival + wait."""
    arrival, priority, wait, outcome = (
        np.array(col) for col in zip(*rows, strict=True)
    )
    served = outcome == sim.SERVED
    return sim.Records(
        arrival_s=arrival.astype(float),
        priority=priority.astype(np.int64),
        wait_s=wait.astype(float),
        start_s=np.where(served, arrival + wait, np.nan),
        service_s=np.where(served, 60.0, 0.0),
        outcome=outcome.astype(np.int8),
    )


def test_positions_are_what_the_app_knows_at_each_announcement():
    rows = [
        (0, 0, 100, sim.SERVED),
        (10, 0, 50, sim.ABANDONED),  # leaves at 60
        (20, 0, 150, sim.SERVED),
        (30, 1, 40, sim.SERVED),  # a higher priority: ahead of everyone holding
        (35, 0, 0, sim.SERVED),  # answered at once: never holds, hears nothing
        (36, 0, 0, sim.CALLBACK),  # took a callback on joining
    ]
    setup = sim.QueueSetup(((0.0, 1),), sim.exponential(60))
    told = announce(records(rows), setup, announce_every_s=60)
    assert told.caller.tolist() == [0, 0, 2, 2, 2, 3]
    assert told.time_s.tolist() == [0, 60, 20, 80, 140, 30]
    # At 60 the caller who hung up has gone and the priority caller is ahead.
    assert told.position.tolist() == [1, 2, 3, 2, 1, 1]
    assert told.actual_s.tolist() == [100, 40, 150, 90, 30, 40]
    assert told.hung_up.tolist() == [False, True, False, False, False, False]
    # One agent, a minute a call, nobody hangs up: position k waits k minutes,
    # or k / (1/60 − 1/900) once the priority caller (one in the last 15
    # minutes) shows callers of a higher priority are joining ahead.
    overtaken = 1 / 60 - 1 / 900
    assert told.higher_per_s.tolist() == [0, 1 / 900, 0, 1 / 900, 1 / 900, 0]
    np.testing.assert_allclose(
        told.estimate_s,
        [60, 2 / overtaken, 180, 2 / overtaken, 1 / overtaken, 60],
        rtol=1e-12,
    )


def test_score_counts_within_tolerance_signed_error_and_callback_decisions():
    told = Announcements(
        caller=np.arange(5),
        time_s=np.zeros(5),
        position=np.ones(5, dtype=np.int64),
        estimate_s=np.array([30.0, 170.0, 400.0, 700.0, 1000.0]),
        # less than a minute; about 3 minutes; about 7; about 12 (sic); over 15
        low_s=np.array([0.0, 180.0, 420.0, 720.0, 900.0]),
        high_s=np.array([60.0, 180.0, 420.0, 720.0, math.inf]),
        actual_s=np.array([75.0, 320.0, 280.0, 700.0, 1000.0]),
        hung_up=np.array([True, False, False, False, False]),
    )
    figures = score(told, records([(0, 0, 1, sim.SERVED)] * 5), callback_after_s=300)
    # Errors: -15 (75 s is 15 s past "less than a minute": within 60 s), -140
    # and +140 (past 60 s and 25%), +20, 0 (it was more than 15 minutes).
    assert figures["announcements"] == 5
    assert figures["within_tolerance"] == pytest.approx(3 / 5)
    assert figures["mean_error_s"] == pytest.approx((-15 - 140 + 140 + 20 + 0) / 5)
    assert figures["hung_up_announced"] == 1
    # Offered (estimate past 5 minutes): 400, 700, 1000 s; the first to a
    # caller answered 280 s later. Not offered: 30 and 170 s; the second
    # caller waited 320 s.
    assert figures["callback_offers"] == 3
    assert figures["callback_needless"] == 1
    assert figures["callback_missed"] == 1


def test_tolerance_is_25_percent_or_60_seconds_whichever_is_looser():
    actual = np.array([100.0, 100.0, 400.0, 400.0])
    said = np.array([160.0, 161.0, 500.0, 501.0])
    assert within_tolerance(said, actual).tolist() == [True, False, True, False]


@pytest.mark.parametrize(
    ("low_s", "high_s"),
    [(0, 60), (120, 120), (300, 300), (600, 600), (180, 540), (0, 240),
     (240, math.inf), (1200, math.inf), (45, 45), (0, 0)],
)  # fmt: skip
def test_the_waits_words_are_right_about_are_those_the_score_accepts(low_s, high_s):
    # ``spoken_forecast`` weighs the chance of the waits ``tolerated`` takes as
    # right; the score must accept exactly those.
    bottom, top = tolerated(low_s, high_s)
    actual = np.concatenate([np.linspace(0, 3000, 30001), [bottom, top]])
    actual = actual[np.isfinite(actual)]
    said = np.clip(actual, low_s, high_s)
    assert (
        within_tolerance(said, actual) == ((actual >= bottom) & (actual <= top))
    ).all()
    many = tolerated_ranges(np.array([float(low_s)]), np.array([float(high_s)]))
    assert (many[0][0], many[1][0]) == (bottom, top)


@pytest.fixture(scope="module")
def peak_day():
    menu = load_menu(PEAK)
    return menu, simulate_day(menu, load_traffic(PEAK_TRAFFIC), seed=8, replications=2)


def test_peak_with_a_staff_drop_is_announced_within_tolerance(peak_day):
    _, result = peak_day
    told = result.told["people"]
    assert told["announcements"] > 1500
    assert told["within_tolerance"] >= 0.95
    assert abs(told["mean_error_s"]) <= 15
    assert told["hung_up_announced"] > 100
    assert result.told["all"]["announcements"] == told["announcements"]


SHOP = ROOT / "menus" / "shop.yaml"
SHOP_TRAFFIC = ROOT / "menus" / "shop.traffic.yaml"


def test_the_shops_sale_day_is_announced_within_tolerance_in_every_queue(
    monkeypatch,
):
    # Issue 8's bar on the shop's own sale day, every queue (seeded). In
    # `accounts` three callers in four are verified priority callers with a
    # few 7-minute calls ahead among 20 agents: one figure said to everyone
    # nobody overtakes falls well short there; the likely range where one
    # figure is not likely right (SURE) keeps it above 95%.
    menu, plan = load_menu(SHOP), load_traffic(SHOP_TRAFFIC)
    result = simulate_day(menu, plan, seed=1, replications=3)
    for queue, told in result.told.items():
        assert told["announcements"] > 300, queue
        assert told["within_tolerance"] >= 0.95, queue  # accounts: 97.5%
        assert abs(told["mean_error_s"]) <= 15, queue
    import ivr.announcements
    import ivr.phrases

    for module in (ivr.phrases, ivr.announcements):
        monkeypatch.setattr(module, "SURE", 0.0)  # one figure, always
    always = simulate_day(menu, plan, seed=1, replications=3).told
    assert always["accounts"]["within_tolerance"] <= 0.9  # measured: 85%
    assert always["orders"]["within_tolerance"] >= 0.95


def test_the_old_formula_scores_worse_on_the_same_seeded_run():
    # Today's formula: position x handle / agents on duty, rounded up to whole
    # minutes, scored on the same announcements: too long, often out of bounds.
    menu, plan = load_menu(PEAK), load_traffic(PEAK_TRAFFIC)
    queue = menu.queues["people"]
    setup = _queue_setup(queue, plan)
    rng = np.random.default_rng(8)
    arrivals = sim.arrival_times(plan.calls, plan.interval_s, rng)
    result = sim.simulate_queue(arrivals, setup, rng)
    told = announce(result, setup, queue.announce_every_s)
    assert len(told) == int(
        np.ceil(
            result.wait_s[(result.wait_s > 0) & (result.outcome == sim.SERVED)] / 60
        ).sum()
    )
    agents = np.array([setup.agents_at(t) for t in told.time_s])
    old = np.maximum(1, np.ceil(told.position * queue.handle_time_s / agents / 60)) * 60
    new_ok = within_tolerance(
        np.clip(told.actual_s, told.low_s, told.high_s), told.actual_s
    )
    old_ok = within_tolerance(old, told.actual_s)
    assert new_ok.mean() >= 0.95 and old_ok.mean() < 0.85
    assert np.mean(old - told.actual_s) > 30 > abs(np.mean(told.error_s()))


def test_simulate_prints_and_writes_announcement_scores(tmp_path):
    runner = CliRunner()
    args = [
        "simulate",
        str(PEAK),
        "--traffic",
        str(PEAK_TRAFFIC),
        "--replications",
        "2",
    ]
    data = json.loads(runner.invoke(main, [*args, "--json"]).output)
    scores = data["announcements"]["people"]
    assert set(scores) >= {"within_tolerance", "mean_error_s", "hung_up_announced",
                           "callback_needless", "callback_missed", "ci95"}  # fmt: skip
    assert scores["callback_offers"] is None  # this queue offers no callbacks
    row = next(r for r in data["queues"]["people"] if r["start"] == "20:00")
    assert row["announcements"]["announcements"] > 0
    text = runner.invoke(main, [*args, "--plot", str(tmp_path / "day.png")]).output
    assert "queue people: " in text and "within ±25% or ±60 s" in text
    assert (tmp_path / "day.png").stat().st_size > 10_000


def two_levels(seed: int, hours: float = 4.0):
    """A queue of 10 agents on 5-minute calls, callers hanging up after 5
    minutes on average; priority-1 callers at 80% of what the agents answer,
    priority-0 callers at 40% more: the low level is often overtaken."""
    setup = sim.QueueSetup(((0.0, 10),), sim.exponential(300.0), sim.exponential(300.0))
    rng = np.random.default_rng(seed)
    end = hours * 3600
    first = np.cumsum(rng.exponential(300 / (0.8 * 10), 4000))
    rest = np.cumsum(rng.exponential(300 / (0.4 * 10), 4000))
    first, rest = first[first < end], rest[rest < end]
    arrivals = np.concatenate([first, rest])
    priority = np.r_[np.ones(len(first), int), np.zeros(len(rest), int)]
    order = np.argsort(arrivals, kind="stable")
    return setup, sim.simulate_queue(arrivals[order], setup, rng, priority[order])


def test_callers_who_can_be_overtaken_are_told_a_range_that_holds():
    # Seeded runs; announcements after the first half hour (the window has
    # filled). Counting callers of priority 1 who joined in the last 15
    # minutes, the low level's announcements are within tolerance; ignoring
    # them (a window too short to see any) they are far too short, as before
    # (less often out of tolerance than when one figure was always said: a
    # wait too spread for one is said as a range, overtaken or not).
    scores = {"counted": [], "ignored": []}
    for seed in (1, 2, 3):
        setup, records = two_levels(seed)
        for name, window_s in (("counted", 900.0), ("ignored", 1e-9)):
            told = announce(records, setup, 60.0, window_s=window_s)
            low = (records.priority[told.caller] == 0) & (told.time_s > 1800)
            error = told.error_s()[low]
            actual = told.actual_s[low]
            scores[name].append((within_tolerance(actual + error, actual), error))
    shares = {
        name: (
            np.concatenate([ok for ok, _ in runs]),
            np.concatenate([e for _, e in runs]),
        )
        for name, runs in scores.items()
    }
    counted_ok, counted_error = shares["counted"]
    ignored_ok, ignored_error = shares["ignored"]
    assert len(counted_ok) > 400
    assert counted_ok.mean() >= 0.95  # measured: 99%, -0 s
    assert abs(counted_error.mean()) <= 15
    assert ignored_ok.mean() <= 0.88
    assert ignored_error.mean() <= -25  # measured: 83%, -32 s


def test_higher_rates_are_the_live_helpers_rate_at_each_announcement():
    setup, records = two_levels(4, hours=1.0)
    told = announce(records, setup, 60.0)
    first = records.arrival_s[records.priority == 1].tolist()
    for i in range(0, len(told), 7):
        caller, when = told.caller[i], told.time_s[i]
        expected = (
            0.0 if records.priority[caller] == 1 else arrival_rate_per_s(first, when)
        )
        assert told.higher_per_s[i] == pytest.approx(expected, abs=1e-15)
