"""Callers walking a menu by option shares: arrivals, branches, hours, silence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ivr.journeys import arrival_times, speaking_time_s, walk_callers
from ivr.loader import load_menu
from ivr.menu import Prompt
from ivr.traffic import TrafficError, TrafficPlan, load_traffic

ROOT = Path(__file__).resolve().parent.parent
MENU = """\
language: en-US
start: main
hours: {timezone: UTC, weekly: {daily: "08:00-20:00"}}
queues:
  sales: {agents: 5}
  support: {agents: 5}
nodes:
  main:
    say: Press 1 for sales, 2 for support.
    options:
      "1": {goto: sales, share: 0.7}
      "2": {goto: support, share: 0.3}
    retries: 1
    on_fail: bye
  sales: {queue: sales, closed: bye}
  support: {queue: support, closed: bye}
  bye: {hangup: Goodbye.}
"""


def menu(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MENU)
    return load_menu(path, tmp_path)


def plan(**changes):
    values = {
        "day": __import__("datetime").date(2026, 11, 11),
        "start": __import__("datetime").time(9, 0),
        "interval_s": 900.0,
        "calls": (1000.0, 2000.0),
        "no_input": 0.0,
    }
    values.update(changes)
    return TrafficPlan(**values)


def test_arrivals_follow_each_interval_rate():
    times = arrival_times(plan(calls=(4000.0, 1000.0)), np.random.default_rng(3))
    first = np.count_nonzero(times < 900)
    second = np.count_nonzero(times >= 900)
    # Poisson counts: within 4 standard deviations of their means.
    assert abs(first - 4000) < 4 * math.sqrt(4000)
    assert abs(second - 1000) < 4 * math.sqrt(1000)
    assert np.all(np.diff(times) >= 0) and times.max() < 1800


def test_options_are_chosen_by_their_shares(tmp_path):
    journeys = walk_callers(menu(tmp_path), plan(), seed=5)
    queued = journeys.queue[journeys.end == "queue"]
    n = len(queued)
    p = np.count_nonzero(queued == "sales") / n
    assert abs(p - 0.7) < 4 * math.sqrt(0.7 * 0.3 / n)


def test_the_same_seed_walks_the_same_callers(tmp_path):
    a = walk_callers(menu(tmp_path), plan(), seed=9)
    b = walk_callers(menu(tmp_path), plan(), seed=9)
    assert np.array_equal(a.ready_s, b.ready_s) and np.array_equal(a.queue, b.queue)


def test_callers_after_closing_time_take_the_closed_door(tmp_path):
    late = plan(start=__import__("datetime").time(20, 0))
    journeys = walk_callers(menu(tmp_path), late, seed=1)
    assert set(journeys.end) == {"self_service"}  # closed: bye


def test_silent_callers_replay_then_take_on_fail(tmp_path):
    journeys = walk_callers(menu(tmp_path), plan(no_input=1.0), seed=1)
    assert set(journeys.end) == {"self_service"}
    spent = journeys.ready_s - journeys.arrival_s
    # Two prompts' worth of silence (retries: 1) with the 6 s timeout each.
    assert spent.min() > 2 * 6


def test_time_in_the_menu_counts_the_prompts(tmp_path):
    journeys = walk_callers(menu(tmp_path), plan(), seed=1)
    spent = journeys.ready_s - journeys.arrival_s
    prompt = len("Press 1 for sales, 2 for support.") / 14.0
    assert spent.min() == pytest.approx(prompt + 2.0)


def test_speaking_time_of_text_and_recordings():
    assert speaking_time_s(Prompt(text="欢迎" * 9), "zh-CN") == pytest.approx(4.0)
    music = Prompt(text="x", audio="hold.wav")
    seconds = speaking_time_s(music, "zh-CN", str(ROOT / "recordings"))
    assert seconds == pytest.approx(30.0)  # the real recording, not the text


def test_shop_menu_sends_a_share_of_callers_to_self_service():
    shop = load_menu(ROOT / "menus" / "shop.yaml")
    journeys = walk_callers(
        shop, plan(start=__import__("datetime").time(10, 0)), seed=2
    )
    ends = set(journeys.end)
    assert {"self_service", "queue"} <= ends
    assert set(journeys.queue[journeys.end == "queue"]) == {
        "orders", "refunds", "accounts", "general"
    }  # fmt: skip


def test_traffic_file_problems_are_named_with_their_lines(tmp_path):
    path = tmp_path / "m.traffic.yaml"
    path.write_text(
        "day: 2026-13-40\nstart: 8:00\ninterval: 30s\ncalls: [10, -1]\nspeed: 2\n"
    )
    with pytest.raises(TrafficError) as caught:
        load_traffic(path)
    assert caught.value.problems == [
        f"{path}:5: unknown key 'speed' (allowed: day, start, interval, calls, no_input, found, satisfied, callback_accept, branches)",
        f"{path}:1: day '2026-13-40' is not a date like '2026-11-11'",
        f'{path}:2: start must be quoted, like "08:00"',
        f"{path}:3: interval: intervals must be at least 1m, got '30s'",
        f"{path}:4: calls must be numbers >= 0, got -1",
    ]


def test_opening_hours_looked_up_by_stretch_match_the_menus_hours(tmp_path):
    from ivr.journeys import _OpenHours

    path = tmp_path / "late.yaml"
    path.write_text(
        MENU.replace(
            'weekly: {daily: "08:00-20:00"}',
            'weekly: {mon-tue: "08:00-12:30", wed: "22:00-02:00", sat: "09:15-10:00,23:30-23:45"}, '
            'closed: ["2026-11-13"]',
        )
    )
    hours = _OpenHours(
        load_menu(path, tmp_path), plan(calls=(1.0,) * 96, interval_s=3600.0)
    )
    rng = np.random.default_rng(1)
    times = np.concatenate(
        [
            rng.uniform(-3600, 5 * 86400, 20_000),
            np.repeat(hours.cuts, 4)
            + np.tile([-1e-6, -4e-7, 0.0, 5e-7], len(hours.cuts)),
        ]
    )
    looked_up = [hours(float(t)) for t in times]
    assert looked_up == [hours.work_out(float(t)) for t in times]
    assert 0.02 < np.mean(looked_up) < 0.5  # both open and closed stretches met
