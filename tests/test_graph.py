"""The diagram of a menu, checked by its structure: boxes, arrows, paths, labels."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from conftest import MENUS, RECORDINGS

from ivr.checks import check_menu
from ivr.graph import HUMAN, SELF_SERVICE, describe_menu, mermaid_id, to_mermaid
from ivr.loader import MenuError, load_menu
from ivr.menu import MessageNode, Prompt
from ivr.menugraph import Draft

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "menus" / "shop.yaml"


def arrows_of(diagram):
    return [(a.source, a.door, a.target, a.label, a.style) for a in diagram.arrows]


def test_every_door_of_the_hotline_is_an_arrow_with_its_label_and_style(hotline):
    diagram = describe_menu(hotline)
    assert [box.id for box in diagram.boxes] == list(hotline.nodes)
    # Written from the menu file by hand; "(default)" doors are the engine's:
    # no on_fail / error given, so the first queue node (agent_general).
    assert arrows_of(diagram) == [
        ("welcome", "next", "main", "", "normal"),
        ("main", "option '1'", "order_ask", "1", "normal"),
        ("main", "option '2'", "refund_ask", "2", "normal"),
        ("main", "option '0'", "agent_general", "0", "normal"),
        ("main", "retry", "main", "retry ×2", "retry"),
        ("main", "on_fail", "agent_general", "on_fail", "failure"),
        ("order_ask", "next", "order_lookup", "", "normal"),
        ("order_ask", "retry", "order_ask", "retry ×2", "retry"),
        ("order_ask", "on_fail", "agent_general", "on_fail", "failure"),
        ("order_lookup", "found", "order_status", "found", "normal"),
        ("order_lookup", "missing", "order_not_found", "missing", "normal"),
        ("order_lookup", "error", "agent_orders", "error", "failure"),
        ("order_status", "next", "bye", "", "normal"),
        ("order_not_found", "next", "main", "", "normal"),
        ("refund_ask", "next", "refund_lookup", "", "normal"),
        ("refund_ask", "retry", "refund_ask", "retry ×2", "retry"),
        ("refund_ask", "on_fail", "agent_general", "on_fail", "failure"),
        ("refund_lookup", "found", "refund_status", "found", "normal"),
        ("refund_lookup", "missing", "main", "missing", "normal"),
        ("refund_lookup", "error", "agent_general", "error", "failure"),
        ("refund_status", "next", "bye", "", "normal"),
        ("agent_general", "closed", "voicemail", "closed", "queue"),
        ("agent_orders", "route rule 1", "voicemail", "closed", "normal"),
        (
            "agent_orders",
            "route rule 2",
            "agent_general",
            "order_id = 202611250001",
            "normal",
        ),
        ("agent_orders", "route rule 3", "agent_orders_queue", "otherwise", "normal"),
        ("agent_orders_queue", "closed", "voicemail", "closed", "queue"),
        ("agent_orders_queue", "overflow", "voicemail", "overflow > 15m", "queue"),
        ("voicemail", "next", "bye", "", "normal"),
    ]
    implied = [(a.source, a.door) for a in diagram.arrows if a.implied]
    assert implied == [
        ("order_ask", "on_fail"),
        ("refund_ask", "on_fail"),
        ("refund_lookup", "error"),
    ]
    returns = [a.source for a in diagram.arrows if a.returns]
    assert returns == ["order_not_found", "refund_lookup"]


def test_options_carry_key_words_and_share_and_unset_shares_split_the_rest(hotline):
    options = [a for a in describe_menu(hotline).arrows if a.key is not None]
    assert [(a.key, a.words, a.share, a.share_implied) for a in options] == [
        ("1", ("订单",), 0.5, False),
        ("2", ("退款", "退钱"), 0.3, False),
        ("0", ("人工", "客服"), pytest.approx(0.2), True),
    ]


def test_the_hotline_paths_sections_and_details(hotline):
    diagram = describe_menu(hotline)
    human = {box.id for box in diagram.boxes if box.path == HUMAN}
    # A route whose every rule reaches a queue or voicemail is on the human path;
    # bye is reached from self-service answers too, so it is not.
    assert human == {"agent_general", "agent_orders", "agent_orders_queue", "voicemail"}
    assert {box.path for box in diagram.boxes} == {HUMAN, SELF_SERVICE}
    assert diagram.hub == "main"
    assert [(s.id, s.label) for s in diagram.sections] == [
        ("option-1", "1 订单"),
        ("option-2", "2 退款 退钱"),
    ]
    members = {
        s.id: {b.id for b in diagram.boxes if b.section == s.id}
        for s in diagram.sections
    }
    assert members == {
        "option-1": {"order_ask", "order_lookup", "order_status", "order_not_found"},
        "option-2": {"refund_ask", "refund_lookup", "refund_status"},
    }
    details = {box.id: (box.kind, box.detail) for box in diagram.boxes}
    assert details["welcome"] == ("message", "play welcome.wav")
    assert details["main"] == ("menu", "menu 1 2 0 + speech")
    assert details["refund_ask"] == ("ask", "ask 6–20 digits → order_id, sensitive")
    assert details["order_lookup"] == ("lookup", "lookup orders by {order_id}")
    assert details["agent_orders_queue"] == (
        "queue",
        "queue 订单问题 (orders), priority 1",
    )
    assert details["voicemail"] == ("voicemail", "voicemail up to 2m")
    assert details["bye"] == ("hangup", "hang up")
    assert diagram.box("welcome").start
    assert diagram.box("order_status").text == "您的订单{order_id}状态为{status}。"


def test_the_shop_menu_every_node_and_door_drawn_and_paths_classified():
    menu = load_menu(SHOP)
    diagram = describe_menu(menu)
    assert len(diagram.boxes) == len(menu.nodes) == 54
    assert {box.id for box in diagram.boxes} == set(menu.nodes)
    drawn = {(a.source, a.door, a.target) for a in diagram.arrows}
    written = {
        (node.id, door, target)
        for node in menu.nodes.values()
        for door, target in node.targets()
    }
    assert written <= drawn
    # Besides the designer's doors: one replay loop per menu and ask with retries;
    # the shop names every on_fail and error, so the engine adds none.
    extra = {(s, d, t) for s, d, t in drawn - written}
    loops = {
        (n.id, "retry", n.id)
        for n in menu.nodes.values()
        if n.kind in ("menu", "ask") and n.retries
    }
    assert extra == loops
    assert not any(a.implied for a in diagram.arrows)
    human = {box.id for box in diagram.boxes if box.path == HUMAN}
    assert human == {
        "agent_general",
        "agent_orders",
        "agent_refunds",
        "agent_complaints",
        "agent_accounts",
        "agent_accounts_verified",
        "after_hours",  # leads only to voicemail
        "holiday_closed",
        "outside_hours",
        "voicemail",
        "transfer_logistics",  # people at the logistics line
        "account_locked",  # "a person will check your identity" -> the queue
        "complaint_quality",  # recorded for people to follow up
        "complaint_merchant",
        "complaint_delivery",
        "complaint_done",  # reached only from the recordings
    }
    sections = {
        s.label: sorted(b.id for b in diagram.boxes if b.section == s.id)
        for s in diagram.sections
    }
    assert sections == {
        "1 订单 物流": sorted(
            [
                "order_ask",
                "order_lookup",
                "order_status",
                "order_state_check",
                "order_more",
                "order_unshipped_more",
                "order_urge",
                "order_urged",
                "order_not_found",
            ]
        ),
        "2 退款 退钱": sorted(
            [
                "refund_intro",
                "refund_ask",
                "refund_lookup",
                "refund_status",
                "refund_more",
                "refund_not_found",
            ]
        ),
        "3 账号 账户": sorted(
            [
                "account_ask",
                "account_lookup",
                "account_verify",
                "account_retry",
                "account_ask_again",
                "account_lookup_again",
                "account_verify_again",
                "account_status",
                "account_state_check",
                "account_unlock_help",
                "account_more",
            ]
        ),
        "4 在线客服 微信": ["channels"],
        "5 时间 几点": ["hours_info"],
        "6 投诉 质量问题": sorted(
            [
                "complaint_ask",
                "complaint_lookup",
                "complaint_not_found",
                "complaint_topic",
            ]
        ),
        "9 English 英文": ["english"],
    }
    unsectioned = {b.id for b in diagram.boxes if b.section is None} - human
    assert unsectioned == {"welcome", "english_hint", "main", "info_more", "bye"}
    # The person doors of the asks: labelled with the key and the first words.
    (person,) = [
        a for a in diagram.arrows if a.source == "order_ask" and a.door == "person"
    ]
    assert (person.target, person.key, person.words) == (
        "agent_orders",
        "0",
        ("人工", "转人工"),
    )
    returns = sorted(a.source for a in diagram.arrows if a.returns)
    assert returns == sorted(
        [
            "order_more",
            "order_unshipped_more",
            "order_urged",
            "order_not_found",
            "refund_more",
            "refund_not_found",
            "account_more",
            "complaint_not_found",
            "complaint_topic",
            "info_more",
        ]
    )


def load_yaml(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_menu(path, tmp_path)


def test_what_follows_a_voicemail_only_is_on_the_human_path(tmp_path):
    menu = load_yaml(
        tmp_path,
        "start: main\n"
        "queues: {q: {agents: 1}}\n"
        "nodes:\n"
        "  main:\n"
        "    say: 1 hours, 2 person\n"
        "    options: {'1': hours, '2': connecting}\n"
        "    on_fail: bye\n"
        "  hours: {say: Nine to five., next: bye}\n"
        "  connecting: {say: Connecting you., next: people}\n"
        "  people: {queue: q, overflow: leave}\n"
        "  leave: {voicemail: After the tone., next: thanks}\n"
        "  thanks: {hangup: Thanks for your message.}\n"
        "  bye: {hangup: Goodbye.}\n",
    )
    paths = {box.id: box.path for box in describe_menu(menu).boxes}
    assert paths == {
        "main": SELF_SERVICE,
        "hours": SELF_SERVICE,
        "connecting": HUMAN,  # leads only to the queue
        "people": HUMAN,
        "leave": HUMAN,
        "thanks": HUMAN,  # reached only from the voicemail
        "bye": SELF_SERVICE,
    }


def test_a_menu_whose_every_key_reaches_a_person_is_on_the_human_path(tmp_path):
    menu = load_yaml(
        tmp_path,
        "start: main\n"
        "queues: {a: {agents: 1}, b: {agents: 1}}\n"
        "nodes:\n"
        "  main: {say: Pick., options: {'1': pick, '2': bye}, on_fail: bye}\n"
        "  pick: {say: Sales 1 support 2., options: {'1': qa, '2': qb}}\n"
        "  qa: {queue: a}\n"
        "  qb: {queue: b}\n"
        "  bye: {hangup: Bye.}\n",
    )
    diagram = describe_menu(menu)
    assert diagram.box("pick").path == HUMAN
    assert diagram.box("main").path == SELF_SERVICE
    # No on_fail: the engine takes the first queue node after the retries.
    fail = [a for a in diagram.arrows if a.source == "pick" and a.door == "on_fail"]
    assert [(a.target, a.implied, a.style) for a in fail] == [("qa", True, "failure")]


def test_whole_menu_check_problems_are_marked_on_their_nodes(hotline):
    nodes = dict(hotline.nodes)
    nodes["orphan"] = MessageNode("orphan", Prompt("没人听到"), line=200, next="bye")
    menu = dataclasses.replace(hotline, nodes=nodes)
    problems: list[tuple[int, str]] = []
    draft = Draft(menu, list(nodes), csv_fields={"orders": frozenset({"status"})})
    check_menu(draft, lambda *p: problems.append(p))
    assert problems == [(200, "node 'orphan' is never reached from start 'welcome'")]
    diagram = describe_menu(menu, problems)
    marked = {box.id: box.problems for box in diagram.boxes if box.problems}
    assert marked == {
        "orphan": ("node 'orphan' is never reached from start 'welcome'",)
    }
    assert diagram.problems == ()


def test_a_door_to_no_node_is_drawn_to_a_missing_box(hotline):
    nodes = dict(hotline.nodes)
    typo = dataclasses.replace(nodes["order_status"], next="order_stauts")
    nodes["order_status"] = typo
    menu = dataclasses.replace(hotline, nodes=nodes)
    problems: list[tuple[int, str]] = []
    check_menu(Draft(menu, list(nodes)), lambda *p: problems.append(p))
    diagram = describe_menu(menu, problems)
    # (Built by hand, not by the loader, so the checks see no near-miss target
    # and add that the node cannot end the call: only the first is drawn here.)
    assert diagram.box("order_status").problems[0] == (
        "next goes to unknown node 'order_stauts' (did you mean 'order_status'?)"
    )
    ghost = diagram.box("order_stauts")
    assert (ghost.kind, ghost.problems) == (
        "missing",
        ("no node 'order_stauts' in this menu",),
    )
    assert ("order_status", "order_stauts") in {
        (a.source, a.target) for a in diagram.arrows
    }


def test_a_broken_edit_shows_its_problems_on_the_last_good_menu(tmp_path):
    """The console's case: the file changed and no longer loads; the last menu
    that did is drawn with the new problems on the nodes whose lines hold them."""
    shutil.copytree(MENUS, tmp_path / "menus")
    path = tmp_path / "menus" / "hotline.yaml"
    good = load_menu(path, RECORDINGS)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("next: bye\n", "next: by\n", 1), encoding="utf-8")
    with pytest.raises(MenuError) as error:
        load_menu(path, RECORDINGS)
    other = f"{tmp_path / 'agents.yaml'}:4: unknown menu 'shopp'"
    diagram = describe_menu(good, [*error.value.problems, other])
    marked = {box.id: box.problems for box in diagram.boxes if box.problems}
    assert marked == {
        "order_status": ("next goes to unknown node 'by' (did you mean 'bye'?)",)
    }
    assert diagram.problems == (other,)


# Mermaid: what a flowchart line may be, as ``to_mermaid`` writes them.
MERMAID_ID = r"(?:n_\w+|x_[0-9a-f]+|call)"
LABEL = r'"[^"]*"'
SHAPE = (
    r"(?:\("
    + LABEL
    + r"\)|\["
    + LABEL
    + r"\]|\[/"
    + LABEL
    + r"/\]|\[\("
    + LABEL
    + r"\)\]|\{"
    + LABEL
    + r"\}|\[\["
    + LABEL
    + r"\]\]|>"
    + LABEL
    + r"\]|\{\{"
    + LABEL
    + r"\}\}|\(\["
    + LABEL
    + r"\]\)|\(\("
    + LABEL
    + r"\)\)|\[\\"
    + LABEL
    + r"\\\]|\[/"
    + LABEL
    + r"\\\]|\[\\"
    + LABEL
    + r"/\])"
)
NODE = re.compile(rf"^ *(?P<id>{MERMAID_ID}){SHAPE}$")
EDGE = re.compile(
    rf"^ *(?P<a>{MERMAID_ID})(?:{SHAPE})? (?:-->|-\.->)(?:\|{LABEL}\|)? (?P<b>{MERMAID_ID})$"
)
OTHER = re.compile(
    r"^(%%.*|flowchart TB| *subgraph s\d+\[" + LABEL + r"\]| *end"
    r"| *classDef \w+ [\w:#,\-]+| *class [\w,]+ \w+| *linkStyle [\d,]+ stroke:#\w+)$"
)


def check_mermaid(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Every line a node, an edge or a known statement; every edge between
    declared nodes; subgraphs closed. Returns the nodes and edges."""
    nodes: list[str] = []
    edges: list[tuple[str, str]] = []
    depth = 0
    for line in text.splitlines():
        if match := NODE.match(line):
            nodes.append(match["id"])
        elif match := EDGE.match(line):
            edges.append((match["a"], match["b"]))
        else:
            assert OTHER.match(line), f"not a flowchart line: {line!r}"
            depth += line.strip().startswith("subgraph") - (line.strip() == "end")
            assert depth in (0, 1)
    assert depth == 0
    assert len(nodes) == len(set(nodes))
    declared = {*nodes, "call"}
    assert all(a in declared and b in declared for a, b in edges)
    return set(nodes), edges


def test_mermaid_has_every_node_and_arrow_with_safe_ids_and_quoted_labels():
    menu = load_menu(SHOP)
    diagram = describe_menu(menu)
    nodes, edges = check_mermaid(to_mermaid(diagram))
    assert nodes == {mermaid_id(node_id) for node_id in menu.nodes}
    assert edges[1:] == [
        (mermaid_id(a.source), mermaid_id(a.target)) for a in diagram.arrows
    ]
    assert edges[0] == ("call", "n_welcome")


def test_mermaid_escapes_odd_ids_and_labels(tmp_path):
    menu = load_yaml(
        tmp_path,
        "start: end\n"
        "queues: {q: {agents: 1}}\n"
        "nodes:\n"
        "  end:\n"
        "    say: 'Press 1 <now> & \"quick\" # then'\n"
        "    options:\n"
        "      '1': {goto: a-b, speech: ['say \"yes\"']}\n"
        "      '2': 订单\n"
        "    on_fail: 'a b'\n"
        "  a-b: {say: x, next: 'a b'}\n"
        "  订单: {say: y, next: 'a b'}\n"
        "  'a b': {queue: q}\n",
    )
    text = to_mermaid(describe_menu(menu))
    nodes, _ = check_mermaid(text)
    # "end" is a Mermaid keyword: every id is prefixed, odd ones hex-coded.
    assert nodes == {"n_end", "x_612d62", "x_e8aea2e58d95", "x_612062"}
    assert (
        '"<b>end</b><br/>menu 1 2 + speech<br/>Press 1 #lt;now#gt; #amp; '
        '#quot;quick#quot; #35; then"' in text
    )
    assert '|"1 say #quot;yes#quot;"|' in text
