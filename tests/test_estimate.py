"""The live wait estimate against an exact computation of the M/M/c+M wait by
position (``wait_reference``: the caller's Markov chain, solved numerically)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from wait_reference import busy_after_drop, exact_wait_s

from ivr.estimate import Estimator, day_plan, expected_wait_s, wait_by_position_s


def agents_on_duty(plan, now_s: float) -> int:
    return [count for start, count in plan if start <= now_s][-1]


@pytest.mark.parametrize("patience_s", [None, 60.0, 180.0, 1800.0])
@pytest.mark.parametrize("agents", [1, 7, 60])
def test_fixed_staffing_is_the_exact_erlang_a_wait_by_position(agents, patience_s):
    for position in (1, 2, 5, 16, 17, 40, 120):
        exact = exact_wait_s(position, [(0.0, agents)], 240.0, patience_s)
        got = expected_wait_s(position, [(0.0, agents)], 0.0, 240.0, patience_s)
        assert got == pytest.approx(exact, rel=1e-10)


def test_without_patience_it_is_position_times_handle_time_over_agents():
    for position in (1, 3, 50, 1000):
        assert expected_wait_s(position, [(0.0, 45)], 0.0, 300.0) == pytest.approx(
            position * 300 / 45, rel=1e-12
        )
    assert wait_by_position_s(7.5, 30, 240.0) == pytest.approx(7.5 * 8)


def test_callers_ahead_who_hang_up_shorten_the_wait():
    plain = expected_wait_s(60, [(0.0, 30)], 0.0, 240.0)
    impatient = expected_wait_s(60, [(0.0, 30)], 0.0, 240.0, 180.0)
    assert plain == pytest.approx(480.0)
    assert impatient < 0.6 * plain


def test_large_pools_and_long_patience_stay_accurate():
    # 50,000 agents, patience a day: x = (c/h)/θ is huge, ψ differences must
    # not cancel.
    got = expected_wait_s(2000, [(0.0, 50_000)], 0.0, 300.0, 86400.0)
    exact = sum(1 / (50_000 / 300 + j / 86400) for j in range(2000))
    assert got == pytest.approx(exact, rel=1e-9)


# (position, plan, handle, patience): drops, rises, a gap with nobody on duty,
# several changes; the changes fall inside the caller's likely wait.
CHANGES = [
    (5, [(0, 30), (60, 20)], 240, 180),
    (20, [(0, 30), (60, 20)], 240, 180),
    (80, [(0, 30), (60, 20)], 240, 180),
    (5, [(0, 30), (60, 40)], 240, 180),
    (20, [(0, 30), (60, 40)], 240, 180),
    (40, [(0, 30), (60, 40)], 240, 180),
    (5, [(0, 30), (30, 0), (300, 30)], 240, 180),
    (40, [(0, 30), (30, 0), (300, 30)], 240, 180),
    (20, [(0, 30), (120, 20), (400, 35)], 240, 180),
    (60, [(0, 60), (90, 40)], 240, 180),
    (30, [(0, 12), (200, 20), (500, 8)], 420, 300),
    (25, [(0, 10), (100, 10), (250, 25)], 300, None),
    (10, [(0, 15), (45, 5)], 300, None),
]


@pytest.mark.parametrize(("position", "plan", "handle_s", "patience_s"), CHANGES)
def test_staffing_changes_in_the_coming_minutes_match_the_exact_chain(
    position, plan, handle_s, patience_s
):
    exact = exact_wait_s(position, plan, handle_s, patience_s)
    got = expected_wait_s(position, plan, 0.0, handle_s, patience_s)
    assert got == pytest.approx(exact, rel=0.01)


def test_after_a_drop_nobody_is_answered_until_busy_agents_have_left():
    # 30 agents on calls, the plan drops to 20 right now: the caller next in
    # line waits for ten calls to end (those agents leave) and then one more.
    got = expected_wait_s(1, [(-100.0, 30), (0.0, 20)], 0.0, 240.0)
    leaving = sum(240 / busy for busy in range(21, 31))
    assert got == pytest.approx(leaving + 240 / 20, rel=1e-9)
    exact = exact_wait_s(1, [(0.0, 20)], 240.0, busy={30: 1.0})
    assert got == pytest.approx(exact, rel=1e-9)


def test_after_a_rise_several_callers_go_at_once():
    # Ten agents come on at 100 s: positions up to ten are answered then.
    plan = [(0, 0), (100, 10)]
    assert expected_wait_s(10, plan, 0.0, 240.0, 180.0) == pytest.approx(100.0)
    assert expected_wait_s(11, plan, 0.0, 240.0) == pytest.approx(100 + 24.0)


@pytest.mark.parametrize("ago_s", [5.0, 30.0, 60.0, 300.0])
@pytest.mark.parametrize("position", [10, 40, 100])
def test_a_drop_just_before_now_still_holds_agents_back(ago_s, position):
    plan = [(-3600.0, 60), (-ago_s, 40)]
    exact = exact_wait_s(
        position, [(0.0, 40)], 240.0, 180.0, busy=busy_after_drop(60, 40, ago_s, 240)
    )
    assert expected_wait_s(position, plan, 0.0, 240.0, 180.0) == pytest.approx(
        exact, rel=0.03
    )


def test_agents_on_shift_replace_the_plan_count_now():
    plan = [(0.0, 45), (600.0, 20)]
    assert expected_wait_s(9, plan, 0.0, 300.0, on_shift=15) == pytest.approx(180.0)
    # Later plan changes still apply: 15 on shift now, the plan says 20 from 600 s.
    exact = exact_wait_s(60, [(0.0, 15), (600.0, 20)], 300.0)
    got = expected_wait_s(60, plan, 0.0, 300.0, on_shift=15)
    assert got == pytest.approx(exact, rel=0.01)


def test_nobody_ever_on_duty_gives_no_figure():
    assert math.isinf(expected_wait_s(3, [(0.0, 0)], 0.0, 240.0, 180.0))
    assert math.isinf(expected_wait_s(3, [(0.0, 5), (10.0, 0)], 20.0, 240.0))


def test_the_table_path_of_the_simulator_gives_the_same_answers():
    plan = ((0.0, 40), (7200.0, 60), (18000.0, 40), (21600.0, 0), (79200.0, 20))
    estimator = Estimator(plan, 240.0, 180.0)
    rng = np.random.default_rng(1)
    positions = rng.integers(1, 300, 400)
    times = rng.uniform(0, 30000, 400)
    many = estimator.waits_s(positions, times)
    one = [
        expected_wait_s(int(k), plan, float(t), 240.0, 180.0)
        for k, t in zip(positions, times, strict=True)
    ]
    np.testing.assert_allclose(many, one, rtol=1e-12)


def test_day_plan_repeats_the_day_around_now():
    agents = ((dt.time(8), 20), (dt.time(12), 45), (dt.time(22), 0))
    plan = day_plan(agents, dt.time(21, 30))  # now is second 0
    assert agents_on_duty(plan, 0.0) == 45
    assert agents_on_duty(plan, 1800.0) == 0  # 22:00
    assert agents_on_duty(plan, 10.5 * 3600 - 1) == 0
    assert agents_on_duty(plan, 10.5 * 3600) == 20  # 08:00 tomorrow
    assert agents_on_duty(plan, -86400.0 + 3600) == 0  # yesterday 22:30
    assert agents_on_duty(plan, -86400.0 - 5400) == 45  # yesterday 20:00
    early = day_plan(agents, dt.time(2, 0))
    assert agents_on_duty(early, 0.0) == 0  # before 08:00: the day before's last
