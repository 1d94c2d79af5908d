"""A day of calls through the webhooks (`ivr simulate --store`), measured by
`ivr report --traffic-out` and replayed: the replay gives back the day's shares."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from ivr.cli import main
from ivr.loader import load_menu
from ivr.measured import measure_traffic, traffic_yaml
from ivr.testing.daycalls import scaled_staff
from ivr.traffic import load_traffic

LINE = FIXTURES / "report"
MENU = LINE / "line.yaml"
DAY = """\
day: 2026-11-25
start: "10:00"
interval: 15m
calls: [30, 30, 30, 30]
no_input: 0.1
satisfied: 0.6
callback_accept: 0.5
branches:
  main: {order_ask: 0.6, hours: 0.1, agent: 0.3}
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def options(database) -> dict[tuple[str, str], dict]:
    data = json.loads(run("report", "--database", str(database), "--menus", str(LINE),
                          "--json"))  # fmt: skip
    return {(o["node"], o["key"]): o for o in data["options"]}


def test_a_measured_day_replayed_gives_back_its_option_shares(tmp_path):
    plan = tmp_path / "day.traffic.yaml"
    plan.write_text(DAY)
    first, measured, again = (
        tmp_path / n for n in ("a.sqlite3", "t.yaml", "b.sqlite3")
    )
    run("simulate", str(MENU), "--traffic", str(plan), "--store", str(first))
    run("report", "--database", str(first), "--menus", str(LINE), "--traffic-out",
        str(measured))  # fmt: skip
    traffic = load_traffic(measured, load_menu(MENU))  # what ivr check accepts
    assert traffic.start.isoformat() == "10:00:00" and traffic.interval_s == 900
    assert abs(sum(traffic.calls) - 120) < 3 * math.sqrt(120)
    assert traffic.no_input == pytest.approx(0.1, abs=0.05)
    assert traffic.branches["main"]["order_ask"] == pytest.approx(0.6, abs=0.1)
    # Each caller decides at the first offer: the file's share comes back (about
    # 60 callers are offered one; 0.25 is four standard errors).
    assert traffic.callback_accept == pytest.approx(0.5, abs=0.25)

    run("simulate", str(MENU), "--traffic", str(measured), "--store", str(again),
        "--seed", "2")  # fmt: skip
    day, replay = options(first), options(again)
    assert set(day) == {("main", "1"), ("main", "2"), ("main", "0"), ("more", "9"),
                        ("more", "0")}  # fmt: skip
    for key, measured_option in day.items():
        p, n = measured_option["share"], measured_option["of"]
        q, m = replay[key]["share"], replay[key]["of"]
        half = 1.96 * math.sqrt(p * (1 - p) / n + q * (1 - q) / m)
        assert abs(p - q) <= half, (key, p, q, half)

    # The numbers' simulator takes the measured file too: the same day's callers.
    figures = json.loads(run("simulate", str(MENU), "--traffic", str(measured),
                             "--json"))  # fmt: skip
    expected = sum(traffic.calls)
    assert abs(figures["callers"] - expected) < 4 * math.sqrt(expected / 10)


def test_the_share_of_callers_offered_a_callback_who_took_one_is_measured():
    def record(n: int, offers: list[bool], callback: str | None) -> dict:
        return {
            "menu": "line", "started_at": 1764036000.0 + n, "inputs": 1,
            "no_input": 0, "choices": [], "path": ["main"], "outcome": "answered",
            "last_node": "main", "callback": callback,
            "announcements": [{"offer": offer} for offer in offers],
        }  # fmt: skip

    records = [
        record(0, [False, True, True], "placed"),  # offered twice, took it
        record(1, [True], None),  # offered, held on
        record(2, [False, True], "asked"),
        record(3, [False, False], None),  # never offered: not counted
        record(4, [], None),
    ]
    menu = load_menu(MENU)
    traffic = measure_traffic(records, menu, tz=dt.UTC)
    assert traffic["callback_accept"] == pytest.approx(2 / 3, abs=1e-4)
    assert "callback_accept: 0.6667" in traffic_yaml(traffic)
    never = measure_traffic(records[3:], menu, tz=dt.UTC)
    assert "callback_accept" not in never  # nobody offered: the default stays
    assert "callback_accept" not in traffic_yaml(never)


def test_a_smaller_day_gets_the_fewest_agents_that_keep_the_plans_service():
    menu = load_menu(FIXTURES / "menus" / "hotline.yaml")
    plan = load_traffic(FIXTURES.parent.parent / "menus" / "shop.traffic.yaml")
    plan = type(plan)(plan.day, plan.start, plan.interval_s, plan.calls[:8])
    whole = scaled_staff(menu, plan, 1.0)
    tenth = scaled_staff(menu, plan, 0.1)
    for queue in menu.queues.values():
        planned = [queue.agents_at(plan.interval_start(i).time()) for i in range(8)]
        assert all(0 < n <= p for n, p in zip(whole[queue.id], planned, strict=True))
        assert all(0 < n <= w for n, w in zip(tenth[queue.id], whole[queue.id],
                                             strict=True))  # fmt: skip
        # A tenth of the calls needs more than a tenth of the agents.
        assert sum(tenth[queue.id]) > sum(whole[queue.id]) / 10


def test_the_report_says_where_to_find_a_store_when_there_is_none(tmp_path):
    result = CliRunner().invoke(
        main, ["report", "--database", str(tmp_path / "none.sqlite3")]
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: no store at '{tmp_path / 'none.sqlite3'}': run `ivr serve`, or fill "
        "one with `ivr simulate MENU --store FILE`, then give --database FILE"
    )
