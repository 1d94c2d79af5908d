from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from ivr import queueing

sys.path.insert(0, str(Path(__file__).parent))
import erlang_reference as reference

KEYS = ("p_wait", "asa_s", "mean_wait_served_s", "service_level", "p_abandon")


def assert_close(result: queueing.QueueFigures, expected: dict, keys=KEYS) -> None:
    for key in keys:
        if key not in expected:
            continue
        want = float(expected[key])
        got = getattr(result, key)
        if want < 1e-30:  # below any figure an operator reads; only check tiny
            assert got < 1e-29, (key, got, want)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=0), key


@pytest.mark.parametrize("agents", [1, 2, 7, 50, 300, 2_000, 50_000])
@pytest.mark.parametrize("load_share", [0.3, 0.8, 0.95, 0.99])
def test_erlang_c_matches_high_precision_reference(agents, load_share):
    handle_s = 300.0
    calls_per_hour = load_share * agents * 3600 / handle_s
    result = queueing.erlang_c(calls_per_hour, handle_s, agents, target_s=20)
    assert_close(result, reference.erlang_c(calls_per_hour, handle_s, agents, 20))
    assert result.occupancy == pytest.approx(load_share, rel=1e-12)


# The mpmath reference is slow for heavy overload of huge pools: 1.8 stops at 1,000.
A_CASES = [
    (agents, load_share)
    for agents in (1, 3, 20, 100, 1_000, 50_000)
    for load_share in (0.5, 0.95, 1.0, 1.3, 1.8)
    if agents <= 1_000 or load_share <= 1.3
]


@pytest.mark.parametrize(("agents", "load_share"), A_CASES)
@pytest.mark.parametrize("patience_s", [45.0, 300.0])
def test_erlang_a_matches_high_precision_reference(agents, load_share, patience_s):
    handle_s = 240.0
    calls_per_hour = load_share * agents * 3600 / handle_s
    result = queueing.erlang_a(calls_per_hour, handle_s, agents, patience_s, 20)
    expected = reference.erlang_a(
        calls_per_hour,
        handle_s,
        agents,
        patience_s,
        20,
        waits=agents <= 1_000 and (agents <= 100 or load_share <= 1),
    )
    assert_close(result, expected, (*KEYS, "occupancy"))


def test_erlang_b_matches_reference_for_large_pools():
    for agents, load in [(1, 0.5), (10, 8.0), (1000, 990.0), (100_000, 99_000.0)]:
        want = float(reference.erlang_b(agents, load))
        assert queueing.erlang_b(agents, load) == pytest.approx(want, rel=1e-9)


def test_erlang_c_at_or_above_full_load_reports_unbounded_wait():
    result = queueing.erlang_c(1200, 300, 100)  # exactly 100 erlangs on 100 agents
    assert not result.stable
    assert result.asa_s == math.inf and result.p_wait == 1.0
    assert result.service_level == 0.0
    assert result.as_dict()["asa_s"] is None  # valid JSON, not a crash or -1


def test_erlang_a_has_a_steady_state_above_full_load():
    result = queueing.erlang_a(2400, 300, 100, patience_s=120)  # 200% load
    assert result.stable
    assert 0.45 < result.p_abandon < 0.55  # about half the callers must give up
    assert result.occupancy < 1.0
    assert result.asa_s == pytest.approx(result.p_abandon * 120, rel=1e-12)


def test_erlang_a_with_long_patience_approaches_erlang_c():
    c = queueing.erlang_c(1140, 300, 100)
    a = queueing.erlang_a(1140, 300, 100, patience_s=1e9)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-4)


def test_figures_picks_erlang_c_without_patience_and_a_with_it():
    assert queueing.figures(1140, 300, 100).p_abandon == 0.0
    assert queueing.figures(1140, 300, 100, patience_s=120).p_abandon > 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: queueing.erlang_c(100, 300, 0),
            "agents must be an integer >= 1, got 0",
        ),
        (lambda: queueing.erlang_c(-5, 300, 3), "calls_per_hour must be a positive"),
        (lambda: queueing.erlang_a(100, 300, 3, 0), "patience_s must be a positive"),
        (lambda: queueing.erlang_c(100, 300, 2.5), "got 2.5"),
        (lambda: queueing.staff(100, 300), "give at least one target"),
        (lambda: queueing.staff(100, 300, service_level=80), "got 80"),
    ],
)
def test_bad_input_names_the_bad_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("patience_s", [None, 120.0])
@pytest.mark.parametrize("calls_per_hour", [30.0, 1140.0, 36_000.0])
def test_staff_returns_exact_minimum_meeting_every_target(patience_s, calls_per_hour):
    kwargs = dict(service_level=0.8, target_s=20.0, max_abandon=0.05)
    if patience_s is None:
        kwargs.pop("max_abandon")
    result = queueing.staff(calls_per_hour, 300, patience_s=patience_s, **kwargs)
    assert result.service_level >= 0.8
    assert result.p_abandon <= 0.05
    fewer = queueing.figures(calls_per_hour, 300, result.agents - 1, patience_s, 20)
    if result.agents > 1:
        assert not fewer.stable or fewer.service_level < 0.8 or fewer.p_abandon > 0.05


def test_staff_meets_a_mean_wait_target():
    result = queueing.staff(1140, 300, max_asa_s=30)
    assert result.asa_s <= 30
    assert queueing.erlang_c(1140, 300, result.agents - 1).asa_s > 30


def run_cli(*args: str):
    from click.testing import CliRunner

    from ivr.cli import main

    return CliRunner().invoke(main, list(args))


def test_erlang_command_prints_json_keys_matching_the_library():
    out = run_cli(
        "erlang", "--calls-per-hour", "1140", "--handle-time", "5m",
        "--agents", "100", "--patience", "2m", "--target", "20s", "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    import json

    data = json.loads(out.output)
    expected = queueing.erlang_a(1140, 300, 100, 120, 20)
    for key in (*KEYS, "occupancy"):
        assert data[key] == getattr(expected, key)


def test_erlang_command_says_unbounded_when_load_reaches_agents():
    out = run_cli("erlang", "--calls-per-hour", "1200", "--handle-time", "5m",
                  "--agents", "100")  # fmt: skip
    assert out.exit_code == 0
    assert "unbounded" in out.output


def test_erlang_command_rejects_bad_duration_with_usage_error():
    out = run_cli("erlang", "--calls-per-hour", "10", "--handle-time", "5x",
                  "--agents", "3")  # fmt: skip
    assert out.exit_code == 2
    assert "got '5x'" in out.output


def test_staff_command_prints_exact_minimum():
    out = run_cli(
        "staff", "--calls-per-hour", "1140", "--handle-time", "5m", "--patience",
        "2m", "--service-level", "0.8", "--target", "20s", "--max-abandon", "0.05",
        "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    import json

    agents = json.loads(out.output)["agents"]
    assert (
        agents
        == queueing.staff(
            1140, 300, patience_s=120, service_level=0.8, target_s=20, max_abandon=0.05
        ).agents
    )
    assert queueing.erlang_a(1140, 300, agents - 1, 120, 20).service_level < 0.8 or (
        queueing.erlang_a(1140, 300, agents - 1, 120, 20).p_abandon > 0.05
    )


def test_staff_command_without_target_is_a_usage_error():
    out = run_cli("staff", "--calls-per-hour", "10", "--handle-time", "5m")
    assert out.exit_code == 2
    assert "--service-level" in out.output
