"""Scenarios with agents, other callers and phones: the calls meet on a switchboard.

The agent line itself is the app's business; here it is the Twilio-style test app
(tests/twilio_style_app.py) answering the agent line's number, so the scenario
runner is checked against Twilio's semantics rather than against our own app.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.testing.scenarios import (
    MenuLine,
    ScenarioError,
    load_scenarios,
    run_scenarios,
)
from tests.twilio_style_app import AGENT_LINE, CUSTOMER, SHOP_NUMBER, create_app

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def hotline(tmp_path, monkeypatch) -> Path:
    shutil.copytree(FIXTURES / "menus", tmp_path / "menus")
    shutil.copytree(FIXTURES / "recordings", tmp_path / "recordings")
    monkeypatch.chdir(tmp_path)
    return Path("menus/hotline.yaml")


def write_calls(menu: Path, text: str) -> Path:
    path = menu.with_name("hotline.calls.yaml")
    path.write_text(text, encoding="utf-8")
    return path


class TwilioStyleLine(MenuLine):
    """The hotline's scenario file, run against the Twilio-style app."""

    def _build_app(self, config):
        return create_app()

    def fresh(self):
        return TwilioStyleLine(self.menu_path)

    @property
    def account_numbers(self):
        return (SHOP_NUMBER, AGENT_LINE)


AGENT = f"""
      - from: "+15005552001"
        to: "{AGENT_LINE}"
        after: 60s
"""


def test_an_agent_in_a_scenario_takes_the_caller_and_each_call_is_checked(hotline):
    write_calls(
        hotline,
        "calls:\n"
        "  - name: an agent takes the caller\n"
        '    inputs: [{press: "2"}]\n'
        "    expect:\n"
        "      queue_result: bridged\n"
        "      hears: [Please hold, You waited, Connecting you to an agent]\n"
        "    agents:" + AGENT + '        inputs: [{press: "1"}, {press: "9"}]\n'
        "        expect:\n"
        "          dial_status: completed\n"
        '          hears: ["Call ended: completed", Goodbye]\n'
        "          outcome: transfer\n",
    )
    report = run_scenarios(hotline, TwilioStyleLine(hotline))
    assert report.failures == []
    assert report.scenarios == 1


def test_a_failing_agent_expectation_names_the_agent_and_its_line(hotline):
    path = write_calls(
        hotline,
        "calls:\n"
        "  - name: nobody waits\n"
        "    agents:" + AGENT + '        inputs: [{press: "1"}, {press: "9"}]\n'
        "        expect:\n"
        "          dial_status: completed\n"
        "          not_hears: [no-answer]\n",
    )
    report = run_scenarios(hotline, TwilioStyleLine(hotline))
    assert report.failures == [
        f"{path}:9: scenario 'nobody waits', agent +15005552001: expected dial "
        "status 'completed', got 'no-answer'",
        f"{path}:10: scenario 'nobody waits', agent +15005552001: expected not to "
        "hear 'no-answer', got it",
    ]


def test_a_callback_scenario_scripts_how_the_customer_answers_each_call(hotline):
    path = write_calls(
        hotline,
        "calls:\n"
        "  - name: busy, then picks up\n"
        "    agents:" + AGENT + "        inputs: [{press: '2'}, {press: '2'}, "
        "{press: '9'}]\n"
        "        expect: {dial_status: [busy, completed]}\n"
        "    phones:\n"
        f'      "{CUSTOMER}":\n'
        "        - answer: busy\n"
        "        - after: 8s\n"
        "          inputs: [{press: '1'}]\n"
        "          expect: {hears: [calling you back, Connecting], outcome: transfer}\n"
        "        - expect: {hears: [never]}\n",
    )
    report = run_scenarios(hotline, TwilioStyleLine(hotline))
    assert report.failures == [
        f"{path}:15: scenario 'busy, then picks up', phone {CUSTOMER}, call 3: "
        "expected call 3, the line rang this phone only 2 times"
    ]


def test_other_callers_share_the_menus_real_queue(hotline):
    write_calls(
        hotline,
        'defaults: {at: "2026-11-25 10:00"}\n'
        "calls:\n"
        "  - name: the second caller hears one caller ahead\n"
        '    inputs: [{press: "0"}]\n'
        "    patience: 2m\n"
        "    expect: {queue: general, queue_result: hangup}\n"
        "    callers:\n"
        '      - caller: "+8613800138001"\n'
        "        after: 5s\n"
        '        inputs: [{press: "0"}]\n'
        "        patience: 1m\n"
        "        expect:\n"
        "          hears: [您前面还有1位客户在等待]\n"
        "          queue_result: hangup\n",
    )
    report = run_scenarios(hotline)
    assert report.failures == []


def test_hears_pieces_may_come_from_one_sentence_in_order(hotline):
    path = write_calls(
        hotline,
        'defaults: {at: "2026-11-25 10:00"}\n'
        "calls:\n"
        "  - name: in one sentence\n"
        "    expect: {hears: [查询订单请按1, 退款请按2, 人工服务请按0]}\n"
        "  - name: out of order\n"
        "    expect: {hears: [退款请按2, 查询订单请按1]}\n",
    )
    report = run_scenarios(hotline)
    assert report.failures == [
        f"{path}:6: scenario 'out of order': expected to hear '查询订单请按1', got "
        "，人工服务请按0。"
    ]


def test_every_mistake_of_the_new_keys_is_reported_at_once(hotline):
    path = write_calls(
        hotline,
        "defaults:\n"
        "  att: 10:00\n"
        "  patience: soon\n"
        "calls:\n"
        "  - name: agents\n"
        "    agent_after: 3\n"
        "    inputs: [{press: 1}, {say: ''}, {shout: hi}]\n"
        "    expect: {visits: [agent_genral], dial_status: engaged}\n"
        "    agents:\n"
        "      - from: +8613800000001\n"
        "        after: 1 minute\n"
        "        talks: 2m\n"
        "    phones:\n"
        "      +8613800138000: {answer: engaged}\n"
        '      "+8613800138001":\n'
        "        - {answer: busy, expect: {hears: [x]}}\n"
        "  - name: alone\n"
        "    caller: +8613800138000\n"
        "    talk: 2m\n"
        "    expect: {queue_result: bridgd}\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(path, nodes=["agent_general", "main"])
    assert caught.value.problems == [
        f"{path}:2: unknown key 'att' in defaults (did you mean 'at'?)",
        f"{path}:3: patience: expected a duration like 45s, 4m or 1h, got 'soon'",
        f"{path}:6: agent_after has no effect in a scenario with agents, callers or "
        "phones (the calls meet in a real queue); remove it",
        f'{path}:7: press 1 must be quoted, e.g. press: "1" (YAML reads 0-led '
        "digits as a number)",
        f"{path}:7: say needs the words to say, got ''",
        f"{path}:7: unknown input 'shout' (press, say, silence, hangup)",
        f"{path}:8: dial status 'engaged' is not one of completed, busy, no-answer, "
        "failed",
        f"{path}:8: visits names node 'agent_genral', which the menu does not have "
        "(did you mean 'agent_general'?)",
        f'{path}:10: from 8613800000001 must be quoted, e.g. from: "+8613800000001" '
        "(YAML reads an unquoted number as a number)",
        f"{path}:10: an agent needs 'to': the agent line's number",
        f"{path}:11: after: expected a duration like 45s, 4m or 1h, got '1 minute'",
        f"{path}:12: unknown key 'talks' in agents (did you mean 'talk'?)",
        f"{path}:14: phone number 8613800138000 must be quoted, e.g. "
        '"+8613800138000" (YAML reads an unquoted number as a number)',
        f"{path}:16: expect has no use on a phone that does not pick up (answer: busy)",
        f"{path}:18: caller 8613800138000 must be quoted, e.g. caller: "
        '"+8613800138000" (YAML reads an unquoted number as a number)',
        f"{path}:19: talk is how long the caller talks to an agent or a phone of "
        "the scenario; it needs agents, callers or phones",
        f"{path}:20: queue result 'bridgd' is not one of bridged, leave, hangup, "
        "queue-full",
    ]


def test_a_file_without_calls_still_reports_its_other_mistakes(hotline):
    path = write_calls(hotline, "defaults: {dial: engaged}\ncals: []\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(path)
    assert caught.value.problems == [
        f"{path}:1: a scenario file needs a 'calls:' list",
        f"{path}:1: dial 'engaged' is not one of completed, busy, no-answer, failed",
        f"{path}:2: unknown key 'cals' (did you mean 'calls'?)",
    ]
