"""Scenario files: the default menus' calls pass, failures and gaps are reported."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from ivr.caller import Caller, HttpTransport, Press
from ivr.cli.call import command as call_command
from ivr.cli.test import command as ivr_test
from ivr.testing.scenarios import (
    MenuLine,
    ScenarioError,
    load_scenarios,
    parse_clock,
    run_scenarios,
)
from ivr.web import create_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def hotline(tmp_path, monkeypatch) -> Path:
    """A copy of the fixture menu (with its data and recordings) in a tmp dir."""
    shutil.copytree(FIXTURES / "menus", tmp_path / "menus")
    shutil.copytree(FIXTURES / "recordings", tmp_path / "recordings")
    monkeypatch.chdir(tmp_path)
    return Path("menus/hotline.yaml")


def write_calls(menu: Path, text: str) -> Path:
    path = menu.with_name("hotline.calls.yaml")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["shop", "shop-en"])
def test_default_menu_scenarios_pass_and_reach_every_node_and_option(name):
    report = run_scenarios(ROOT / "menus" / f"{name}.yaml")
    assert report.failures == []
    assert report.scenarios >= 20
    assert report.coverage is not None
    assert report.coverage.lines() == []


def test_ivr_call_shop_press_0_json_ends_in_queue():
    result = CliRunner().invoke(
        call_command,
        [
            str(ROOT / "menus/shop.yaml"),
            "--at",
            "2026-11-25 10:00",
            "--press",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outcome"] == "queue"
    assert data["queue"] == "shop.general.p0"  # the Twilio queue holding them


def test_failing_expectations_print_file_line_scenario_expected_got(hotline):
    write_calls(
        hotline,
        'defaults: {at: "2026-11-25 10:00"}\n'
        "calls:\n"
        "  - name: agent\n"
        '    inputs: [{press: "0"}]\n'
        "    expect:\n"
        "      outcome: voicemail\n"
        "      queue: orders\n"
        "      hears: [正在为您转接人工客服, 再见了]\n",
    )
    result = CliRunner().invoke(ivr_test, ["menus"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    calls = "menus/hotline.calls.yaml"
    assert lines[:3] == [
        f"{calls}:6: scenario 'agent': expected outcome 'voicemail', got 'queue'",
        f"{calls}:7: scenario 'agent': expected queue 'orders', got 'general'",
        f"{calls}:8: scenario 'agent': expected to hear '再见了', got 您前面还有2位"
        "客户在等待，预计等待不到1分钟。 | 您前面还有1位客户在等待，预计等待不到1分钟。",
    ]
    assert f"{calls}: 0/1 scenarios passed" in lines


def test_coverage_lists_the_nodes_and_options_no_scenario_reached(hotline):
    write_calls(
        hotline,
        'defaults: {at: "2026-11-25 10:00"}\n'
        "calls:\n"
        "  - name: agent\n"
        '    inputs: [{press: "0"}]\n'
        "    expect: {outcome: queue, queue: general}\n",
    )
    result = CliRunner().invoke(ivr_test, ["menus/hotline.yaml"])
    assert result.exit_code == 0, result.output
    assert "menus/hotline.calls.yaml: 1/1 scenarios passed" in result.output
    assert "  node 'order_ask' is reached by no scenario" in result.output
    assert "  option '1' of node 'main' is chosen by no scenario" in result.output
    assert "option '0' of node 'main'" not in result.output
    assert "node 'agent_general'" not in result.output


def test_clock_outside_opening_hours_sends_the_agent_call_to_voicemail(hotline):
    line = MenuLine(hotline)
    night = parse_clock("2026-11-27 23:30", line.timezone)
    assert night.isoformat() == "2026-11-27T23:30:00+08:00"
    result = line.call([Press("0")], at=night)
    assert result.outcome == "voicemail"
    day = line.call([Press("0")], at=parse_clock("2026-11-27 10:00", line.timezone))
    assert day.outcome == "queue"


def test_variables_come_from_the_trace_with_sensitive_values_masked(hotline):
    write_calls(
        hotline,
        "calls:\n"
        "  - name: order\n"
        '    inputs: [{press: "1"}, {press: "202611250001#"}]\n'
        "    expect: {variables: {status: 已发货, shipped_on: '2026-11-24'}}\n"
        "  - name: refund digits are masked\n"
        '    inputs: [{press: "2"}, {press: "202611250001#"}]\n'
        "    expect: {variables: {order_id: '202611250001'}}\n",
    )
    report = run_scenarios(hotline)
    assert report.failures == [
        "menus/hotline.calls.yaml:7: scenario 'refund digits are masked': "
        "expected variable order_id = '202611250001', got '***'"
    ]


def test_scenario_file_mistakes_are_all_reported_with_their_lines(hotline):
    path = write_calls(
        hotline,
        "calls:\n"
        "  - name: one\n"
        "    inputs: [{press: 0123}]\n"
        "    expect: {outcome: queued, heard: [x]}\n"
        "  - name: one\n"
        "    inptus: []\n"
        "  - name: two\n"
        "    at: tomorrow\n"
        "    agent_after: -1\n"
        "    dial: engaged\n"
        "    expect: {hears: 你好}\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(path)
    shown = str(path)
    assert caught.value.problems == [
        f'{shown}:3: press 123 must be quoted, e.g. press: "123" (YAML reads '
        "0-led digits as a number)",
        f"{shown}:4: unknown expectation 'heard' (did you mean 'hears'?)",
        f"{shown}:4: outcome 'queued' is not one of self_service, menu_hangup, "
        "queue, transfer, voicemail, caller_hangup, error",
        f"{shown}:5: two calls are named 'one'",
        f"{shown}:6: unknown key 'inptus' (did you mean 'inputs'?)",
        f"{shown}:8: clock must look like '2026-11-27 23:30', got 'tomorrow'",
        f"{shown}:9: agent_after must be a whole number >= 0, got -1",
        f"{shown}:10: dial 'engaged' is not one of completed, busy, no-answer, failed",
        f"{shown}:11: hears must be a list, got '你好'",
    ]


def test_a_fault_the_app_hides_behind_an_apology_is_an_error(hotline, monkeypatch):
    import ivr.engine

    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(ivr.engine, "resume", broken)
    result = MenuLine(hotline).call([Press("1")])
    assert result.outcome == "error"
    assert result.error.startswith("the app hit an internal fault and apologised")
    assert "RuntimeError: engine bug" in result.error


def test_wrong_auth_token_is_refused_by_the_server_with_403_reported(hotline):
    app = create_app(
        {
            "MENUS": [str(hotline)],
            "TWILIO_AUTH_TOKEN": "right-token",
            "SECRET_KEY": "k" * 32,
            "DATABASE": ":memory:",
        }
    )
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/voice"
        good = Caller(HttpTransport(5), url, auth_token="right-token").call(
            [Press("0")]
        )
        assert good.error is None
        bad = Caller(HttpTransport(5), url, auth_token="wrong-token").call([Press("0")])
        assert bad.outcome == "error"
        assert bad.error == (
            f"POST {url} answered 403 Forbidden: the webhook refused the request "
            "(wrong auth token or X-Twilio-Signature?)"
        )
    finally:
        server.shutdown()
        thread.join()


def test_json_output_lists_failures_and_gaps_per_menu(hotline):
    write_calls(
        hotline,
        'defaults: {at: "2026-11-25 10:00"}\n'
        "calls:\n"
        "  - name: agent\n"
        '    inputs: [{press: "0"}]\n'
        "    expect: {outcome: transfer}\n",
    )
    result = CliRunner().invoke(ivr_test, ["menus", "--json"])
    assert result.exit_code == 1
    (menu,) = json.loads(result.output)
    assert menu["menu"] == "menus/hotline.yaml"
    assert menu["scenarios"] == 1
    assert menu["failures"] == [
        "menus/hotline.calls.yaml:5: scenario 'agent': expected outcome "
        "'transfer', got 'queue'"
    ]
    assert "node 'order_ask' is reached by no scenario" in menu["not_covered"]


def test_a_broken_menu_is_reported_and_fails_the_run(hotline):
    text = hotline.read_text(encoding="utf-8").replace("next: main", "next: mian", 1)
    hotline.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(ivr_test, ["menus"])
    assert result.exit_code == 1
    assert "'mian'" in result.output


def test_a_menu_without_scenario_file_is_named(hotline):
    result = CliRunner().invoke(ivr_test, ["menus"])
    assert result.exit_code == 0
    assert result.output == (
        "menus/hotline.yaml: no scenario file (menus/hotline.calls.yaml)\n"
    )


def test_a_scenario_file_given_as_path_runs_its_menu(hotline):
    calls = write_calls(
        hotline,
        "calls:\n  - name: hang up at once\n    expect: {outcome: caller_hangup}\n",
    )
    result = CliRunner().invoke(ivr_test, [str(calls)])
    assert result.exit_code == 0, result.output
    assert "menus/hotline.calls.yaml: 1/1 scenarios passed" in result.output


def test_a_missing_path_is_a_usage_error(hotline):
    result = CliRunner().invoke(ivr_test, ["menus/nope.yaml"])
    assert result.exit_code == 2
    assert "no such file or folder: 'menus/nope.yaml'" in result.output
