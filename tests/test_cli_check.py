"""`ivr check` as a designer runs it: exit codes, stderr lines, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str):
    return CliRunner().invoke(main, ["check", *args])


def test_the_shipped_menus_are_clean():
    result = run(str(ROOT / "menus"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 menu(s), ")


def test_a_broken_menu_prints_each_problem_and_exits_1(tmp_path):
    menu = tmp_path / "bad.yaml"
    menu.write_text("start: a\nnodes:\n  a: {say: Hi, next: b}\n  c: {hangup: Bye}\n")
    result = run(str(menu), "--recordings", str(tmp_path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"{menu}:3: next goes to unknown node 'b'",
        f"{menu}:4: node 'c' is never reached from start 'a'",
        "2 problems in 1 menu file(s)",
    ]


def test_an_empty_folder_is_a_usage_error(tmp_path):
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert "no menu files" in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert (
        result.exit_code == 0 and "check" in result.output and "serve" in result.output
    )


def test_a_dozen_planted_mistakes_get_one_line_each(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("tests/fixtures/broken")
    assert result.exit_code == 1
    path = "tests/fixtures/broken/mistakes.yaml"
    assert result.stderr.splitlines() == [
        f"{path}:4: unknown key 'tittle' in the menu (did you mean 'title'?)",
        f"{path}:12: handle_time of queue 'orders': expected a duration like 45s, "
        "4m or 1h, got '4 minutes'",
        f"{path}:16: unknown key 'sya' in message node 'welcome' (did you mean 'say'?)",
        f"{path}:20: unknown key 'optoins' in menu node 'main' (did you mean "
        "'options'?)",
        f"{path}:22: option '2' goes to unknown node 'refund_aks' (did you mean "
        "'refund_ask'?)",
        f"{path}:25: unknown key 'timout' in menu node 'main' (did you mean "
        "'timeout'?)",
        f"{path}:32: timeout of node 'order_ask' must be from 1s to 60s",
        f"{path}:35: lookup of node 'order_lookup' names undefined data 'ordres' "
        "(did you mean 'orders'?)",
        f"{path}:44: next goes to unknown node 'bey' (did you mean 'bye'?)",
        f"{path}:52: say of node 'refund_status' uses '{{refund_state}}', which is "
        "not set on every path that reaches it",
        f"{path}:54: nodes 'hours_info' and 'hours_more' loop with no way out: no "
        "path from them reaches a hangup, queue, transfer or voicemail",
        f"{path}:60: node 'old_promo' is never reached from start 'welcome' (nor is "
        "the node after it: 'old_promo_more')",
        f"{path}:70: node 'agent_refunds' names undefined queue 'refund' (did you "
        "mean 'refunds'?)",
        "13 problems in 1 menu file(s)",
    ]


def test_the_shipped_menus_pass_strict():
    result = run(str(ROOT / "menus"), "--strict")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 2 menu(s), ")
    assert result.stdout.rstrip().endswith("no problems")


WARNED = """\
start: main
queues:
  people: {agents: 3}
nodes:
  main:
    say: Please enter your password, or press 0 for a person.
    options:
      "0": agent
  agent: {queue: people, say: Connecting you.}
"""


def test_warnings_are_marked_and_fail_only_with_strict(tmp_path):
    menu = tmp_path / "menu.yaml"
    menu.write_text(WARNED)
    result = run(str(menu), "--recordings", str(tmp_path))
    warning = (
        f"{menu}:6: warning: say of node 'main' asks the caller for a password, "
        "which the line must never ask for (fraudsters do)"
    )
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [warning]
    assert result.stdout == "ok: 1 menu(s), 2 nodes, no problems, 1 warning\n"
    strict = run(str(menu), "--recordings", str(tmp_path), "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines() == [
        warning,
        "no problems, 1 warning in 1 menu file(s)",
    ]


def test_problems_and_warnings_come_in_line_order(tmp_path):
    menu = tmp_path / "menu.yaml"
    menu.write_text(WARNED.replace("{agents: 3}", "{agents: 3, patience: soon}"))
    result = run(str(menu), "--recordings", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{menu}:3: patience of queue 'people': expected a duration like 45s, 4m or "
        "1h, got 'soon'",
        f"{menu}:6: warning: say of node 'main' asks the caller for a password, "
        "which the line must never ask for (fraudsters do)",
        "1 problem, 1 warning in 1 menu file(s)",
    ]


TRAFFIC = """\
calls: [100, 120]
branches:
  main: {orders: 0.7, agnet: 0.5}
  lookup_order: {found: 1}
  orders: {bye: 1}
"""


def test_the_traffic_file_beside_a_menu_is_checked(tmp_path):
    folder = tmp_path / "menus"
    folder.mkdir()
    (folder / "shop.yaml").write_text(
        WARNED.replace("Please enter your password, or press", "Press 1 for orders,")
        .replace('"0": agent', '"1": orders\n      "0": agent')
        .replace("  agent:", "  orders: {say: Shipped., next: agent}\n  agent:")
    )
    (folder / "shop.traffic.yaml").write_text(TRAFFIC)
    result = run(str(folder), "--recordings", str(tmp_path))
    traffic = folder / "shop.traffic.yaml"
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{traffic}:3: branches of 'main' add up to 1.2, more than 1",
        f"{traffic}:3: branch 'agnet' of 'main' is not a way out of it (did you "
        "mean 'agent'?) (its ways out: orders, agent)",
        f"{traffic}:4: branches name unknown node 'lookup_order'",
        f"{traffic}:5: branches of 'orders': a message node has no branches to "
        "share (only menus, asks, lookups and routes do)",
        "4 problems in 1 menu file(s)",
    ]


def test_a_device_is_refused_at_once_not_read(tmp_path):
    result = run("/dev/zero")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "/dev/zero:1: cannot read the file: it is not a regular file",
        "1 problem in 1 menu file(s)",
    ]


def test_the_agent_roster_is_not_a_menu(tmp_path):
    (tmp_path / "agents.yaml").write_text("agents: []\n")
    (tmp_path / "menu.yaml").write_text(WARNED.replace("your password", "1"))
    result = run(str(tmp_path), "--recordings", str(tmp_path))
    # Read by the roster's own rules, not as a menu missing 'start' and 'nodes'.
    roster = str(tmp_path / "agents.yaml")
    assert result.output.splitlines() == [
        f"{roster}:1: the roster needs 'numbers': the agent line agents call",
        f"{roster}:1: the roster needs 'agents': a list of agents",
        "2 problems in 1 menu file(s) and the agent roster",
    ]


def test_traffic_branches_of_the_shop_are_checked_against_it(tmp_path):
    from ivr.loader import load_menu
    from ivr.traffic import TrafficError, load_traffic

    shop = load_menu(ROOT / "menus" / "shop.yaml")
    path = tmp_path / "shop.traffic.yaml"
    path.write_text(
        "calls: [100]\nbranches:\n"
        "  account_verify: {account_status: 0.85, account_retry: 0.15}\n"
        "  order_lookup: {order_status: 0.9, order_not_found: 0.1}\n"
    )
    plan = load_traffic(path, shop)
    assert plan.branches["account_verify"] == {
        "account_status": 0.85,
        "account_retry": 0.15,
    }
    path.write_text(
        "calls: [100]\nbranches:\n  acount_verify: {account_status: 1}\n"
        "  order_lookup: {order_status: 0.9, order_not_fond: 0.1}\n"
    )
    with pytest.raises(TrafficError) as caught:
        load_traffic(path, shop)
    assert caught.value.problems == [
        f"{path}:3: branches name unknown node 'acount_verify' (did you mean "
        "'account_verify'?)",
        f"{path}:4: branch 'order_not_fond' of 'order_lookup' is not a way out of it "
        "(did you mean 'order_not_found'?) (its ways out: order_status, "
        "order_not_found)",
    ]
