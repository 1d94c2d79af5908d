"""The compiled kernels against the pure-Python reference: same draws, same records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ivr import simulation as sim
from ivr.announcements import _positions, announce
from ivr.estimate import Estimator
from ivr.kernels import estimate as kernel_estimate


def same_records(a: sim.Records, b: sim.Records) -> None:
    """Value for value (NaN where NaN), not merely close."""
    np.testing.assert_array_equal(a.outcome, b.outcome)
    np.testing.assert_array_equal(a.wait_s, b.wait_s)
    np.testing.assert_array_equal(a.start_s, b.start_s)
    np.testing.assert_array_equal(a.service_s, b.service_s)


def both(arrivals, setup, seed, priority=None, engine="auto"):
    runs = []
    for compiled in (True, False):
        rng = np.random.default_rng(seed)
        runs.append(
            sim.simulate_queue(
                arrivals, setup, rng, priority, engine=engine, compiled=compiled
            )
        )
    return runs


SHIFTS = {
    "steady": ((0.0, 20),),
    "rising": ((0.0, 12), (900.0, 25), (1800.0, 40)),
    "dropping": ((0.0, 30), (1200.0, 14), (2400.0, 0), (2700.0, 22)),
}


@pytest.mark.parametrize("shifts", SHIFTS)
@pytest.mark.parametrize("patience", [None, 90.0])
def test_compiled_fcfs_gives_the_reference_records(shifts, patience):
    rng = np.random.default_rng(11)
    arrivals = sim.arrival_times([70, 120, 160, 60], 900.0, rng)
    setup = sim.QueueSetup(
        agents=SHIFTS[shifts],
        handle=sim.lognormal(240, 120),
        patience=sim.exponential(patience) if patience else sim.NEVER,
        max_wait_s=300 if patience else None,
    )
    fast, reference = both(arrivals, setup, 5, engine="fast")
    same_records(fast, reference)
    assert (fast.wait_s > 0).sum() > 20  # callers did hold
    if patience:
        assert (fast.outcome == sim.ABANDONED).sum() > 5


@pytest.mark.parametrize("shifts", SHIFTS)
@pytest.mark.parametrize(
    ("callback_after", "accept"), [(None, 1.0), (60.0, 1.0), (240.0, 1.0), (60.0, 0.4)]
)
def test_compiled_event_loop_gives_the_reference_records(
    shifts, callback_after, accept
):
    rng = np.random.default_rng(3)
    arrivals = sim.arrival_times([80, 150, 220, 60], 900.0, rng)
    priority = rng.choice([0, 0, 0, 1, 5], len(arrivals))
    setup = sim.QueueSetup(
        agents=SHIFTS[shifts],
        handle=sim.exponential(200),
        patience=sim.exponential(150),
        callback_after_s=callback_after,
        max_wait_s=600,
        callback_accept=accept,
    )
    fast, reference = both(arrivals, setup, 8, priority)
    same_records(fast, reference)
    if callback_after == 60.0:
        assert (fast.outcome == sim.CALLBACK).sum() > 5


def test_compiled_kernels_handle_nobody_on_shift_and_no_callers():
    setup = sim.QueueSetup(((0.0, 0),), sim.exponential(60))
    arrivals = np.array([1.0, 2.0, 3.0])
    for engine in ("fast", "events"):
        fast, reference = both(arrivals, setup, 1, engine=engine)
        same_records(fast, reference)
        assert np.all(fast.outcome == sim.UNSERVED)
        empty, _ = both(np.array([]), setup, 1, engine=engine)
        assert len(empty) == 0


def test_compiled_estimate_is_the_live_estimate_to_the_last_bit():
    rng = np.random.default_rng(4)
    checked = 0
    for trial in range(12):
        size = int(rng.integers(1, 9))
        starts = np.sort(rng.uniform(0, 20_000, size))
        starts[0] = 0.0
        counts = rng.integers(0, 50, size)
        counts[0] = max(counts[0], 1)
        plan = tuple((float(s), int(c)) for s, c in zip(starts, counts, strict=True))
        estimate = Estimator(plan, 240.0, [None, 120.0, 400.0][trial % 3])
        positions = rng.integers(1, 300, 400)
        times = rng.uniform(-1000, 24_000, 400)
        want = [
            estimate.wait_s(int(k), float(t))
            for k, t in zip(positions, times, strict=True)
        ]
        got = kernel_estimate.waits_s(
            kernel_estimate.estimator_of(estimate), positions, times
        )
        np.testing.assert_array_equal(got, want)
        checked += np.isfinite(got).sum()
    assert checked > 3000


def test_compiled_chances_are_the_forecasts_to_the_last_bit():
    # Where one stretch of fixed staffing answers the wait, the chance a
    # figure is right, as ``WaitForecast.chance`` reckons it for the live line.
    rng = np.random.default_rng(5)
    checked = 0
    for agents, patience in ((10, None), (20, 300.0), (60, 180.0), (3, 1800.0)):
        estimate = Estimator(((0.0, agents),), 240.0, patience)
        positions = rng.integers(1, 200, 300)
        times = rng.uniform(0, 1000, 300)
        mean, variance = estimate.table_moments(positions, times)
        lows = np.where(rng.random(300) < 0.3, 0.0, rng.uniform(0, 1.5, 300) * mean)
        highs = np.where(rng.random(300) < 0.2, math.inf, lows + mean)
        got = kernel_estimate.chances(mean, variance, lows, highs)
        want = [
            estimate.forecast(int(k), float(t)).chance(lo, hi)
            for k, t, lo, hi in zip(positions, times, lows, highs, strict=True)
        ]
        np.testing.assert_array_equal(got, want)
        checked += int(((got > 0.01) & (got < 0.99)).sum())
    assert checked > 300


def test_compiled_positions_are_the_reference_sweep():
    rng = np.random.default_rng(6)
    arrivals = sim.arrival_times([900, 1400], 900.0, rng)
    priority = rng.choice([0, 0, 2], len(arrivals))
    setup = sim.QueueSetup(
        ((0.0, 18), (900.0, 12)), sim.exponential(180), sim.exponential(200)
    )
    records = sim.simulate_queue(arrivals, setup, rng, priority)
    fast = announce(records, setup, 45.0)
    reference = announce(records, setup, 45.0, compiled=False)
    assert len(fast) > 1000
    for field in ("caller", "time_s", "position", "estimate_s", "low_s", "high_s"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field))
    holds = records.wait_s != 0
    leave = records.arrival_s + np.nan_to_num(records.wait_s, nan=math.inf)
    np.testing.assert_array_equal(
        fast.position, _positions(records, holds, leave, fast.caller, fast.time_s)
    )


def test_steady_state_in_chunks_counts_what_the_reference_counts(monkeypatch):
    # Chunks of 1,000 callers through the kernel against the whole run at once
    # in pure Python, from the same three streams: the same counts, sums equal
    # but for the order they were added in.
    args = (1140.0, sim.exponential(300), 100, sim.exponential(120))
    monkeypatch.setattr(sim, "CHUNK", 1000)
    chunked = sim.simulate_erlang(*args, callers=60_000, replications=3, seed=4)
    reference = sim.simulate_erlang(
        *args, callers=60_000, replications=3, seed=4, compiled=False
    )
    assert chunked.keys() == reference.keys()
    assert chunked["callers"] == reference["callers"] == 60_000
    for key in ("p_wait", "service_level", "p_abandon", "p_callback", "p_overflow"):
        assert chunked[key] == reference[key], key
    for key in ("asa_s", "mean_wait_served_s", "occupancy"):
        assert chunked[key] == pytest.approx(reference[key], rel=1e-12), key
    assert 0.01 < chunked["p_abandon"] < 0.05


@pytest.mark.parametrize("max_wait", [None, 900.0, 59.0])
def test_spoken_ranges_are_the_words_of_spoken_wait(max_wait):
    from ivr.announcements import spoken_ranges
    from ivr.phrases import spoken_wait

    rng = np.random.default_rng(2)
    edges = np.array([59.999, 60.0, 629.999, 630.0, 1950.0, 3900.0, 3899.99])
    seconds = np.concatenate([rng.exponential(600, 5000), edges, [0.0, 1e6]])
    low, high = spoken_ranges(seconds, max_wait)
    words = [spoken_wait(float(s), max_wait) for s in seconds]
    np.testing.assert_array_equal(low, [w.low_s for w in words])
    np.testing.assert_array_equal(high, [w.high_s for w in words])
