"""A day's traffic through a menu's queues: simulation beside hour-by-hour Erlang."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr import queueing
from ivr.cli import main
from ivr.day import _queue_setup, propose_staffing, simulate_day
from ivr.loader import load_menu
from ivr.traffic import TrafficError, TrafficPlan, load_traffic

ROOT = Path(__file__).resolve().parent.parent
MENU = """\
language: en-US
start: main
queues:
  sales: {agents: {"09:00": 12, "10:00": 20}, handle_time: 4m, patience: 2m}
  support: {agents: 6, handle_time: 5m}
nodes:
  main:
    say: Press 1 for sales, 2 for support.
    options:
      "1": {goto: sales, share: 0.8}
      "2": {goto: support, share: 0.2}
    retries: 1
    on_fail: bye
  sales: {queue: sales}
  support: {queue: support}
  bye: {hangup: Goodbye.}
"""
TRAFFIC = """\
day: 2026-11-11
start: "09:00"
interval: 15m
calls: [40, 60, 150, 250, 120, 60, 40, 30]
no_input: 0.0
"""


@pytest.fixture
def menu_file(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MENU)
    (tmp_path / "m.traffic.yaml").write_text(TRAFFIC)
    return path


def plan(calls=(40.0, 60.0, 150.0, 250.0, 120.0, 60.0, 40.0, 30.0)):
    return TrafficPlan(
        day=dt.date(2026, 11, 11),
        start=dt.time(9, 0),
        interval_s=900.0,
        calls=tuple(calls),
        no_input=0.0,
    )


def test_queue_day_plan_becomes_seconds_from_the_traffic_start(menu_file):
    menu = load_menu(menu_file)
    setup = _queue_setup(menu.queues["sales"], plan())
    assert setup.agents == ((0.0, 12), (3600.0, 20))
    late = TrafficPlan(dt.date(2026, 11, 11), dt.time(9, 30), 900.0, (1.0,))
    shifts = _queue_setup(menu.queues["sales"], late).agents
    assert shifts[:2] == ((0.0, 12), (1800.0, 20))  # then 09:00 the next day


def test_day_simulation_is_repeatable_and_feeds_each_queue_its_share(menu_file):
    menu = load_menu(menu_file)
    first = simulate_day(menu, plan(), seed=4, replications=3)
    again = simulate_day(menu, plan(), seed=4, replications=3)
    assert first.as_dict() == again.as_dict()
    sales = sum(m["offered"] for m in first.mean["sales"])
    support = sum(m["offered"] for m in first.mean["support"])
    assert sales / (sales + support) == pytest.approx(0.8, abs=0.03)
    assert first.ends["queue"] == pytest.approx(sales + support)


def test_callers_who_turn_a_callback_down_hold_instead(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MENU.replace("patience: 2m}", "patience: 2m, callback_after: 1m}"))
    menu = load_menu(path)
    (tmp_path / "m.traffic.yaml").write_text(TRAFFIC + "callback_accept: 0.3\n")
    some = load_traffic(tmp_path / "m.traffic.yaml", menu)
    assert some.callback_accept == 0.3 and plan().callback_accept == 1.0

    def taken(day_plan: TrafficPlan) -> float:
        day = simulate_day(menu, day_plan, seed=4, replications=3)
        return sum(m["p_callback"] * m["offered"] for m in day.mean["sales"])

    every, few = taken(plan()), taken(some)
    assert every > 20  # the peak makes the estimate pass a minute
    assert 0 < few < 0.5 * every


def test_a_callback_share_outside_0_to_1_is_refused_with_its_line(tmp_path):
    path = tmp_path / "m.traffic.yaml"
    path.write_text(TRAFFIC + "callback_accept: 1.5\n")
    with pytest.raises(TrafficError) as refused:
        load_traffic(path)
    assert refused.value.problems == [
        f"{path}:6: callback_accept must be a share from 0 to 1, got 1.5"
    ]


def test_erlang_column_is_the_clock_hour_rate_in_steady_state(menu_file):
    menu = load_menu(menu_file)
    result = simulate_day(menu, plan(), seed=2, replications=3)
    hour = [result.mean["sales"][i]["offered"] for i in range(4)]  # 09:00-10:00
    exact = queueing.erlang_a(sum(hour), 240, 12, 120, 20)
    for i in range(4):
        assert result.erlang["sales"][i]["asa_s"] == pytest.approx(exact.asa_s)
    assert result.agents["sales"][:5] == [12, 12, 12, 12, 20]


def test_a_peak_inside_the_hour_shows_where_erlang_and_simulation_disagree(
    menu_file,
):
    # 40 then 250 calls a quarter: the hour's average hides the 09:45 surge.
    menu = load_menu(menu_file)
    result = simulate_day(menu, plan(), seed=1, replications=6)
    early, surge = result.mean["sales"][0], result.mean["sales"][3]
    assert early["asa_s"] < result.erlang["sales"][0]["asa_s"]
    assert surge["asa_s"] > result.erlang["sales"][3]["asa_s"]
    assert "asa_s" in result.disagree["sales"][3]


def test_proposed_staffing_meets_the_target_in_simulation(menu_file):
    menu = load_menu(menu_file)
    staffing, result = propose_staffing(
        menu, plan(), service_level=0.8, target_s=20, seed=3, replications=3
    )
    for qid in staffing:
        for m in result.mean[qid]:
            if m["offered"]:
                assert m["service_level"] >= 0.8
    assert max(staffing["sales"]) > 20  # the surge needs more than the plan


def test_simulate_command_on_a_menu_prints_json_per_queue_and_interval(
    menu_file, tmp_path
):
    png = tmp_path / "day.png"
    out = CliRunner().invoke(
        main,
        ["simulate", str(menu_file), "--replications", "3", "--json",
         "--plot", str(png)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    rows = data["queues"]["sales"]
    assert [row["start"] for row in rows[:2]] == ["09:00", "09:15"]
    assert {"simulated", "ci95", "erlang", "disagree", "agents"} <= set(rows[0])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_simulate_command_without_traffic_file_says_what_to_do(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MENU)
    out = CliRunner().invoke(main, ["simulate", str(path)])
    assert out.exit_code == 2
    assert "m.traffic.yaml" in out.output and "--traffic" in out.output


def test_shop_sale_day_shows_a_peak_interval_where_erlang_is_wrong():
    out = CliRunner().invoke(
        main,
        ["simulate", str(ROOT / "menus/shop.yaml"), "--traffic",
         str(ROOT / "menus/shop.traffic.yaml"), "--replications", "4", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    peak = [
        row
        for rows in data["queues"].values()
        for row in rows
        if "20:00" <= row["start"] < "21:30" and row["disagree"]
    ]
    assert peak
