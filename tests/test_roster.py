"""The agent roster (menus/agents.yaml): read, checked against the menus, and refused
with every mistake at its line."""

from __future__ import annotations

import shutil

from click.testing import CliRunner
from conftest import MENUS, RECORDINGS

from ivr.cli import main
from ivr.loader import load_line
from ivr.roster import Roster


def folder_with(tmp_path, roster: str):
    menus = tmp_path / "menus"
    shutil.copytree(MENUS, menus)
    (menus / "agents.yaml").write_text(roster, encoding="utf-8")
    return menus


GOOD = """\
numbers: ["+861000000009"]
agents:
  - id: li.na
    name: 李娜
    phones: ["+8613800000001", "client:li.na"]
    serves: [hotline/general, hotline/orders]
  - id: chen.jing
    name: 陈静
    phones: "sip:chen.jing@pbx.example.com"
    serves: hotline/general
"""


def test_a_good_roster_is_read_with_its_agents(tmp_path):
    menus, roster, problems = load_line([folder_with(tmp_path, GOOD)], RECORDINGS)
    assert problems == [] and [m.id for m in menus] == ["hotline"]
    assert isinstance(roster, Roster) and roster.numbers == ("+861000000009",)
    li = roster.agent_for("client:li.na")
    assert li is not None and li.name == "李娜"
    assert li.serves == (("hotline", "general"), ("hotline", "orders"))
    assert roster.agent_for("+8613800000009") is None
    assert [a.id for a in roster.serving("hotline", "general")] == [
        "li.na",
        "chen.jing",
    ]


BAD = """\
numbers: ["+861000000000", 861000000009]
agnets: []
agents:
  - id: li.na
    phones: ["+8613800000001", "13800000002"]
    serves: [hotline/ordrs, hotlne/orders, orders]
  - id: li.na
    phones: ["+8613800000001"]
    serves: []
  - name: 无名
    phones: ["client:x"]
    serves: [hotline/orders, hotline/orders]
    shift: morning
"""


def test_every_roster_mistake_is_reported_at_its_line(tmp_path):
    folder = folder_with(tmp_path, BAD)
    _, roster, problems = load_line([folder], RECORDINGS)
    shown = str(folder / "agents.yaml")
    assert roster is None
    assert [p.replace(shown, "agents.yaml") for p in problems] == [
        "agents.yaml:1: number '+861000000000' already reaches menu 'hotline'",
        "agents.yaml:1: number '861000000009' is not in E.164 form like '+861000000009' (quote it so YAML keeps the '+')",
        "agents.yaml:2: unknown key 'agnets' in the roster (did you mean 'agents'?)",
        "agents.yaml:5: phone '13800000002' of agent 'li.na' must be an E.164 number like '+8613800000001', 'client:IDENTITY' or 'sip:user@host'",
        "agents.yaml:6: agent 'li.na' serves unknown queue 'ordrs' of menu 'hotline' (did you mean 'orders'?)",
        "agents.yaml:6: agent 'li.na' serves unknown menu 'hotlne' (did you mean 'hotline'?)",
        "agents.yaml:6: 'orders' in serves of agent 'li.na' must be menu/queue, e.g. shop/orders",
        "agents.yaml:7: agent id 'li.na' is used twice",
        "agents.yaml:8: phone '+8613800000001' is already listed for agent 'li.na': the line could not tell who calls",
        "agents.yaml:9: agent 'li.na' serves nothing: list queues as menu/queue, e.g. shop/orders",
        "agents.yaml:10: agent needs an 'id'",
        "agents.yaml:12: agent '#3' lists hotline/orders twice",
        "agents.yaml:13: unknown key 'shift' in an agent",
    ]


def test_ivr_check_checks_the_roster_beside_the_menus(tmp_path):
    folder = folder_with(tmp_path, BAD)
    runner = CliRunner()
    result = runner.invoke(
        main, ["check", str(folder), "--recordings", str(RECORDINGS)]
    )
    assert result.exit_code == 1
    assert "agents.yaml:7: agent id 'li.na' is used twice" in result.output
    (folder / "agents.yaml").write_text(GOOD, encoding="utf-8")
    result = runner.invoke(
        main, ["check", str(folder), "--recordings", str(RECORDINGS)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "ok: 1 menu(s), 14 nodes, 2 agent(s), no problems, 3 warnings"
    )


def test_the_shop_roster_covers_every_queue_with_chinese_speakers_on_chinese_queues():
    menus, roster, problems = load_line(["menus"])
    assert problems == [] and roster is not None
    for menu in menus:
        for queue in menu.queues:
            assert roster.serving(menu.id, queue), f"{menu.id}/{queue} has no agent"
    chinese = {m.id for m in menus if m.language.startswith("zh")}
    for agent in roster.agents:
        if any(menu in chinese for menu, _ in agent.serves):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in agent.name), agent.name
