"""The traffic walk on the format's additions: complaints and requests counted,
a person asked for at an ask, holidays, another menu; and `ivr simulate` showing
them."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.loader import load_menu
from ivr.traffic import TrafficError, TrafficPlan, load_traffic, walk_callers

MENU = """\
language: en-US
start: main
hours:
  timezone: UTC
  weekly: {daily: "08:00-20:00"}
  holidays: [{name: Founders' Day, date: "2026-11-12"}]
person: {key: "0", speech: [agent], goto: agent}
queues:
  people: {agents: 5}
nodes:
  main:
    say: Press 1 for an order, 2 to complain, 9 for the other line.
    options:
      "1": {goto: order_ask, share: 0.5}
      "2": {goto: complaint, share: 0.3}
      "9": {goto: other, share: 0.2}
    retries: 0
    on_fail: agent
  order_ask:
    ask: Enter your order number.
    digits: {min: 6, max: 6}
    save_as: order_id
    next: urge
  urge:
    request: urge_shipment
    topic: urge to ship
    say: Passed on to the seller.
    next: bye
  complaint:
    feedback: Tell us after the tone.
    topic: quality
    next: bye
  other: {goto_menu: elsewhere}
  agent: {queue: people, say: Connecting you., closed: closed}
  closed:
    route:
      - {when: holiday, goto: bye}
      - {goto: bye}
  bye: {hangup: Goodbye.}
"""


@pytest.fixture
def menu(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MENU)
    (tmp_path / "elsewhere.yaml").write_text("start: x\nnodes:\n  x: {hangup: Bye.}\n")
    return load_menu(path, tmp_path)


def plan(**changes) -> TrafficPlan:
    values = {
        "day": dt.date(2026, 11, 11),
        "start": dt.time(9, 0),
        "interval_s": 900.0,
        "calls": (2000.0,),
        "no_input": 0.0,
    }
    values.update(changes)
    return TrafficPlan(**values)


def within(count: float, total: float, share: float) -> bool:
    """Whether ``count`` of ``total`` is within four standard deviations of
    ``share`` (a binomial count)."""
    sigma = math.sqrt(total * share * (1 - share))
    return abs(count - total * share) <= 4 * sigma


def test_complaints_requests_and_other_menus_are_counted(menu):
    journeys = walk_callers(menu, plan(), seed=3)
    total = len(journeys)
    ends = {kind: int((journeys.end == kind).sum()) for kind in set(journeys.end)}
    assert set(ends) == {"self_service", "feedback", "other_menu"}
    assert within(ends["feedback"], total, 0.3)
    assert within(ends["other_menu"], total, 0.2)
    assert journeys.recorded == {
        ("feedback", "quality"): ends["feedback"],
        ("request", "urge to ship"): ends["self_service"],
    }


def test_an_asks_branch_sends_that_share_to_its_person_door(menu):
    journeys = walk_callers(menu, plan(branches={"order_ask": {"agent": 0.4}}), seed=5)
    ordered = journeys.recorded[("request", "urge to ship")]
    queued = int((journeys.end == "queue").sum())
    assert within(queued, queued + ordered, 0.4)


def test_the_holiday_rule_holds_on_the_holidays_day(menu):
    holiday = plan(day=dt.date(2026, 11, 12), start=dt.time(21, 0))
    journeys = walk_callers(menu, holiday, seed=1)
    # Closed at 21:00 either way; on the holiday the first rule is taken, which
    # the walk shows by never queueing (both lead to bye).
    assert not (journeys.end == "queue").any()


def test_branches_of_an_ask_are_its_answer_and_its_person_door(menu, tmp_path):
    path = tmp_path / "m.traffic.yaml"
    path.write_text(
        "calls: [10]\nbranches:\n  order_ask: {agent: 0.3}\n  complaint: {bye: 1}\n"
        "  order_ask: {agnet: 0.3}\n".replace("  order_ask: {agnet", "  main: {agnet")
    )
    with pytest.raises(TrafficError) as caught:
        load_traffic(path, menu)
    assert caught.value.problems == [
        f"{path}:4: branches of 'complaint': a feedback node has no branches to "
        "share (only menus, asks, lookups and routes do)",
        f"{path}:5: branch 'agnet' of 'main' is not a way out of it (did you mean "
        "'agent'?) (its ways out: order_ask, complaint, other, agent)",
    ]
    path.write_text("calls: [10]\nbranches:\n  order_ask: {bye: 0.3}\n")
    with pytest.raises(TrafficError) as caught:
        load_traffic(path, menu)
    assert caught.value.problems == [
        f"{path}:3: branch 'bye' of 'order_ask' is not a way out of it (an ask's "
        "ways out: urge, agent, its answer and its person door)"
    ]


def test_ivr_simulate_counts_complaints_and_urges(menu, tmp_path):
    traffic = tmp_path / "m.traffic.yaml"
    traffic.write_text('day: 2026-11-11\nstart: "09:00"\ncalls: [400, 400]\n')
    runner = CliRunner()
    args = ["simulate", menu.path, "--traffic", str(traffic), "--replications", "2"]
    text = runner.invoke(main, args)
    assert text.exit_code == 0, text.output
    line = next(x for x in text.output.splitlines() if x.startswith("recorded"))
    assert line.startswith("recorded a day on average: feedback: quality ")
    assert ", request: urge to ship " in line
    data = json.loads(runner.invoke(main, [*args, "--json"]).output)
    assert set(data["recorded"]) == {"feedback: quality", "request: urge to ship"}
    assert data["ends"]["feedback"] > 0 and data["ends"]["other_menu"] > 0
