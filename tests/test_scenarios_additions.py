"""Scenario files on the format's additions (tests/fixtures/desk): what a call
recorded (`records`), the person doors no scenario took, and calls that go on
in another menu."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.testing.scenarios import ScenarioError, load_scenarios, run_scenarios

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def desk(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "desk", tmp_path / "menus")
    return tmp_path / "menus" / "desk.yaml"


def write_calls(menu: Path, text: str) -> Path:
    path = menu.with_name("desk.calls.yaml")
    path.write_text('defaults: {at: "2026-11-25 10:00"}\ncalls:\n' + text)
    return path


def test_records_expect_what_the_call_recorded(desk):
    calls = write_calls(
        desk,
        "  - name: urge\n"  # line 3
        '    inputs: [{press: "1"}, {press: "202611250001#"}, {press: "1"}]\n'
        "    expect:\n"
        '      records: [{request: urge_shipment, order_id: "202611250001"}]\n'
        "  - name: complaint\n"  # line 7
        '    inputs: [{press: "2"}]\n'
        "    expect:\n"
        "      records: [{feedback: 商家服务}, {request: urge_shipment}]\n",
    )
    report = run_scenarios(desk)
    assert report.failures == [
        f"{calls}:10: scenario 'complaint': expected a record feedback '商家服务', "
        "got feedback '商品质量'",
        f"{calls}:10: scenario 'complaint': expected a record request "
        "'urge_shipment', got feedback '商品质量'",
    ]


def test_a_record_with_the_wrong_fact_fails_and_shows_the_facts(desk):
    calls = write_calls(
        desk,
        "  - name: urge\n"
        '    inputs: [{press: "1"}, {press: "202611250001#"}, {press: "1"}]\n'
        '    expect: {records: [{request: urge_shipment, order_id: "202611240002"}]}\n',
    )
    assert run_scenarios(desk).failures == [
        f"{calls}:5: scenario 'urge': expected a record request 'urge_shipment', "
        "order_id=202611240002, got request 'urge_shipment', order_id=202611250001"
    ]


def test_records_are_checked_when_the_file_is_read(desk):
    calls = write_calls(
        desk,
        "  - name: bad\n"
        '    inputs: [{press: "2"}]\n'
        "    expect:\n"
        "      records: [{feedback: a, request: b}, {order_id: 202611250001}]\n"
        "  - name: worse\n"
        '    inputs: [{press: "2"}]\n'
        "    expect: {records: {feedback: a}}\n"
        "  - name: unquoted\n"
        '    inputs: [{press: "2"}]\n'
        "    expect: {records: [{request: urge, order_id: 202611250001}]}\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(calls)
    assert caught.value.problems == [
        f"{calls}:6: each of records is a map with 'feedback: TOPIC' or 'request: "
        "NAME', and the facts it holds, got {'feedback': 'a', 'request': 'b'}",
        f"{calls}:6: each of records is a map with 'feedback: TOPIC' or 'request: "
        "NAME', and the facts it holds, got {'order_id': 202611250001}",
        f"{calls}:9: records must be a list, got {{'feedback': 'a'}}",
        f"{calls}:12: order_id of records must be quoted text, got 202611250001",
    ]


def test_coverage_names_the_menus_and_asks_where_nobody_asked_for_a_person(desk):
    write_calls(
        desk,
        "  - name: a person by key at the main menu\n"
        '    inputs: [{press: "0"}]\n'
        "  - name: an order, by voice a person\n"
        '    inputs: [{press: "1"}, {press: "202611250001#"}, {say: 转人工}]\n',
    )
    coverage = run_scenarios(desk).coverage
    assert coverage is not None
    lines = coverage.lines()
    assert "no scenario asks for a person at node 'order_ask'" in lines
    assert "no scenario asks for a person at node 'account_ask'" in lines
    assert not any("node 'main'" in line and "person" in line for line in lines)
    # order_unshipped_more has an option on the person key: that option is its door
    assert not any("'order_unshipped_more'" in line for line in lines)


def test_what_a_call_does_in_another_menu_counts_there_not_here(desk):
    write_calls(
        desk,
        "  - name: English, then a person there\n"
        '    inputs: [{press: "9"}, {press: "0"}]\n'
        "    expect: {queue: general, hears: [Connecting you to an agent]}\n",
    )
    report = run_scenarios(desk)
    assert report.failures == []
    assert report.coverage is not None
    # desk-en has nodes of the same names: its agent and main are not desk's.
    assert "agent" not in report.coverage.nodes
    assert report.coverage.nodes == {"welcome", "english_hint", "main", "english"}


def test_a_menu_line_serves_the_menus_it_goes_on_in_and_theirs(tmp_path):
    from ivr.caller import Press
    from ivr.testing.menuline import MenuLine

    hop = "start: m\nnodes:\n  m:\n    say: Press 1.\n    options: {{'1': go}}\n"
    hop += "    on_fail: go\n  go: {{goto_menu: {to}}}\n"
    (tmp_path / "a.yaml").write_text(hop.format(to="b"))
    (tmp_path / "b.yaml").write_text(hop.format(to="c"))
    (tmp_path / "c.yaml").write_text("start: end\nnodes:\n  end: {hangup: Here.}\n")
    result = MenuLine(tmp_path / "a.yaml").call([Press("1"), Press("1")])
    assert result.outcome == "self_service", result.error
    assert result.heard == ["Press 1.", "Press 1.", "Here."]
    assert [trace["menu"] for trace in result.traces] == ["a", "a", "b", "b", "c"]
