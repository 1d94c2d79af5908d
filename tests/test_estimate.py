"""The live wait estimate against an exact computation of the M/M/c+M wait by
position (``wait_reference``: the caller's Markov chain, solved numerically)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from wait_reference import busy_after_drop, exact_overtaken_wait, exact_wait_s

from ivr.estimate import (
    Estimator,
    arrival_rate_per_s,
    day_plan,
    expected_wait_s,
    wait_by_position_s,
    wait_forecast,
)


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


# Callers of a higher priority joining ahead (``higher_per_s``), against the
# exact chain with arrivals ahead (``wait_reference.exact_overtaken_wait``).
# (position, agents, higher priority's share of the agents' rate, patience)
OVERTAKEN = [
    (1, 6, 0.5, 300.0),
    (5, 6, 0.86, 300.0),
    (5, 6, 1.2, 300.0),  # higher priorities alone outrun the agents
    (12, 4, 0.7, 120.0),
    (3, 4, 0.3, 200.0),
    (8, 6, 0.5, None),
]


@pytest.mark.parametrize(("position", "agents", "share", "patience_s"), OVERTAKEN)
def test_overtaken_wait_is_the_exact_chains_mean_and_variance(
    position, agents, share, patience_s
):
    lam = share * agents / 420.0
    mean, second, _ = exact_overtaken_wait(
        position, [(0.0, agents)], 420.0, patience_s, lam
    )
    plan = [(0.0, agents)]
    got = expected_wait_s(position, plan, 0.0, 420.0, patience_s, higher_per_s=lam)
    assert got == pytest.approx(mean, rel=1e-9)
    table = Estimator(plan, 420.0, patience_s).overtaken(agents, lam)
    assert table.variance(position) == pytest.approx(second - mean**2, rel=1e-8)


def test_without_patience_the_agents_left_over_serve_the_queue():
    # Six agents, 7-minute calls: 6/420 a second answered, half of it taken by
    # callers of a higher priority; position k waits k / (6/420 - 3/420).
    got = expected_wait_s(8, [(0.0, 6)], 0.0, 420.0, higher_per_s=3 / 420)
    assert got == pytest.approx(8 * 420 / 3, rel=1e-12)
    # Higher priorities take every agent: no figure.
    assert math.isinf(expected_wait_s(2, [(0.0, 6)], 0.0, 420.0, higher_per_s=0.02))


def test_nobody_overtaking_is_the_plain_estimate():
    plan = [(-3600.0, 30), (120.0, 20), (900.0, 40)]
    for position in (1, 10, 60):
        plain = expected_wait_s(position, plan, 0.0, 240.0, 180.0)
        assert expected_wait_s(
            position, plan, 0.0, 240.0, 180.0, higher_per_s=0.0
        ) == pytest.approx(plain, rel=1e-12)
        forecast = wait_forecast(position, plan, 0.0, 240.0, 180.0)
        assert not forecast.overtaken
        assert forecast.callback_s == forecast.mean_s == pytest.approx(plain)


def test_positions_past_the_table_follow_the_recursion():
    # The table keeps the exact recursion for the first positions and sums
    # busy periods 1/(rate - lam + jθ) beyond: compare with the recursion run
    # from far back.
    rate, theta, lam = 20 / 420, 1 / 300, 0.06
    table = Estimator([(0.0, 20)], 420.0, 300.0).overtaken(20, lam)
    top = 5000
    tau, taus = 1 / (rate + top * theta - lam), []
    for j in range(top - 1, -1, -1):
        tau = (1 + lam * tau) / (rate + j * theta)
        taus.append(tau)
    taus.reverse()
    for position in (table.size - 1, table.size + 1, table.size + 300):
        # Past the table each term is off by about lam θ / d_j²: 2e-4 in all.
        assert table.wait(position) == pytest.approx(sum(taus[:position]), rel=3e-4)
        assert table.position_for(table.wait(position)) == pytest.approx(position)


# (position, plan, patience, higher priority's share of the first count's rate)
OVERTAKEN_CHANGES = [
    (5, [(0, 6), (300, 3)], 300.0, 0.5),
    (5, [(0, 6), (300, 3)], 300.0, 0.86),
    (12, [(0, 6), (600, 3)], 300.0, 0.86),
    (5, [(0, 3), (300, 6)], 300.0, 0.86),
    (12, [(0, 3), (300, 6)], 300.0, 0.5),
    (5, [(0, 6), (200, 0), (900, 6)], 300.0, 0.5),
    (3, [(0, 6), (300, 3)], None, 0.3),
    (8, [(0, 4), (400, 8)], None, 0.5),
    (10, [(0, 6), (120, 4), (600, 8)], 240.0, 0.7),
]


@pytest.mark.parametrize(("position", "plan", "patience_s", "share"), OVERTAKEN_CHANGES)
def test_overtaken_through_plan_changes_is_near_the_exact_chain(
    position, plan, patience_s, share
):
    lam = share * plan[0][1] / 420.0
    exact, _, _ = exact_overtaken_wait(
        position, [(float(t), n) for t, n in plan], 420.0, patience_s, lam
    )
    got = expected_wait_s(position, plan, 0.0, 420.0, patience_s, higher_per_s=lam)
    # The walk's gamma stretches: measured within 7% (a rise: -6.6%).
    assert got == pytest.approx(exact, rel=0.08)


@pytest.mark.parametrize(("position", "agents", "share", "patience_s"), OVERTAKEN)
def test_the_likely_range_holds_the_wait_eight_times_in_ten(
    position, agents, share, patience_s
):
    lam = share * agents / 420.0
    plan = [(0.0, agents)]
    f = wait_forecast(position, plan, 0.0, 420.0, patience_s, higher_per_s=lam)
    assert f.overtaken
    _, _, waiting = exact_overtaken_wait(
        position, plan, 420.0, patience_s, lam, times=(f.low_s, f.median_s, f.high_s)
    )
    low, median, high = (1.0 - w for w in waiting)
    # A gamma with the exact mean and variance: its low end a little early.
    assert 0.03 <= low <= 0.12
    assert 0.45 <= median <= 0.56
    assert 0.88 <= high <= 0.93
    assert f.callback_s == f.median_s


def test_the_likely_range_through_a_drop_and_a_rise():
    for position, plan, patience_s, share in OVERTAKEN_CHANGES:
        lam = share * plan[0][1] / 420.0
        f = wait_forecast(position, plan, 0.0, 420.0, patience_s, higher_per_s=lam)
        _, _, waiting = exact_overtaken_wait(
            position,
            [(float(t), n) for t, n in plan],
            420.0,
            patience_s,
            lam,
            times=(f.low_s - 1e-6, f.high_s),  # the low end itself is in
        )
        before_low, high = (1.0 - w for w in waiting)
        assert before_low <= 0.12
        assert high - before_low >= 0.75  # a rise (at 300 s): 0.76


CHANCES = [
    (3, [(0.0, 20)], 420.0, 300.0),
    (12, [(0.0, 20)], 420.0, 300.0),
    (1, [(0.0, 5)], 240.0, None),
    (16, [(0.0, 10)], 240.0, None),
    (40, [(0.0, 60)], 240.0, 180.0),
    (5, [(0.0, 6), (300.0, 3)], 420.0, 300.0),
    (12, [(0.0, 3), (300.0, 6)], 420.0, 300.0),
    (10, [(0.0, 6), (120.0, 4), (600.0, 8)], 240.0, 240.0),
    (8, [(0.0, 4), (400.0, 8)], 420.0, None),
]


@pytest.mark.parametrize(("position", "plan", "handle_s", "patience_s"), CHANCES)
def test_the_chance_a_figure_is_right_is_the_exact_chains(
    position, plan, handle_s, patience_s
):
    # How likely the wait is to fall within a span (what a figure said is
    # right about): against the exact chain, nobody overtaking. With fixed
    # staffing the gamma of the exact mean and variance is within 0.002;
    # through a drop or a rise the walk's stretches within 0.05 (measured).
    f = wait_forecast(position, plan, 0.0, handle_s, patience_s)
    spans = [(0.5, 1.5), (0.0, 1.0), (1.0, 3.0), (0.8, 1.25), (0.0, math.inf)]
    times = sorted({x * f.mean_s for span in spans for x in span if x < math.inf})
    _, _, waiting = exact_overtaken_wait(
        position, plan, handle_s, patience_s, 0.0, room=5, times=tuple(times)
    )
    done = dict(zip(times, (1.0 - w for w in waiting), strict=True))
    done[math.inf] = 1.0
    close = 0.002 if len(plan) == 1 else 0.05
    for low, high in spans:
        exact = done[high * f.mean_s if high < math.inf else math.inf]
        exact -= done[low * f.mean_s]
        got = f.chance(low * f.mean_s, high * f.mean_s)
        assert got == pytest.approx(exact, abs=close)


def test_nobody_on_duty_for_ever_leaves_the_top_of_the_range_open():
    f = wait_forecast(5, [(0, 6), (600, 0)], 0.0, 420.0, 300.0, higher_per_s=0.01)
    assert math.isinf(f.mean_s) and math.isinf(f.high_s)
    assert 0 < f.low_s < 600


def test_arrival_rate_counts_the_window_before_now():
    joined = [100.0, 200.0, 950.0, 1000.0, 1001.0]
    assert arrival_rate_per_s(joined, 1000.0) == pytest.approx(3 / 900)  # not 100
    assert arrival_rate_per_s(joined, 1000.0, window_s=50.0) == pytest.approx(1 / 50)
    assert arrival_rate_per_s([], 1000.0) == 0.0
    with pytest.raises(ValueError, match="window must be > 0 seconds, got 0"):
        arrival_rate_per_s(joined, 1000.0, window_s=0)


def test_a_negative_rate_is_refused():
    with pytest.raises(ValueError, match="higher_per_s must be a rate >= 0"):
        expected_wait_s(3, [(0.0, 5)], 0.0, 240.0, higher_per_s=-1.0)
