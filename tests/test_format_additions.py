"""The format's additions: person, holidays, feedback, request, goto_menu, sensitive
data fields, a message in another language. Each loader rule with the whole
``file:line: message`` line, and the traps they bring."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr.loader import check_menus, load_menu
from ivr.menu import AskNode, FeedbackNode, GotoMenuNode, MenuNode, RequestNode

BASE = """\
start: main
hours:
  timezone: Asia/Shanghai
  weekly: {daily: "08:00-22:00"}
  holidays:
    - {name: 春节, from: "2027-02-05", to: "2027-02-11"}
    - {name: 国庆节, date: "2026-10-01", hours: "09:00-18:00"}
person:
  key: "0"
  speech: [人工, 客服]
  goto: agent
data:
  orders: {csv: orders.csv, key: order_id, sensitive: [secret]}
queues:
  people: {agents: 3}
nodes:
  main:
    say: 订单请按1，投诉请按2，English press 9。
    options:
      "1": order_ask
      "2": complaint
      "9": {goto: english, speech: [English]}
    on_fail: agent
  order_ask:
    ask: 请输入订单号。
    digits: {min: 4, max: 12}
    save_as: order_id
    next: urge
    on_fail: agent
  urge:
    request: urge_shipment
    topic: 催发货
    facts: {order_id: 订单号}
    say: 已为您登记催发货。
    next: complaint
  complaint:
    feedback: 请在提示音后说明问题。
    topic: 商品质量
    facts: [order_id]
    max_length: 1m
    next: bye
  english: {goto_menu: other}
  agent: {queue: people, say: 正在转接。, closed: closed_route}
  closed_route:
    route:
      - {when: holiday, goto: holiday_message}
      - {goto: bye}
  holiday_message: {say: "{holiday}（{holiday_dates}）暂停服务。", next: bye}
  bye: {hangup: 再见。}
"""
OTHER = """\
start: hello
language: en-US
nodes:
  hello: {hangup: Hello and goodbye.}
"""


def write(tmp_path: Path, text: str, name: str = "menu.yaml") -> Path:
    folder = tmp_path / "menus"
    folder.mkdir(exist_ok=True)
    (folder / "orders.csv").write_text(
        "order_id,secret,status\n202611250001,4321,not shipped\n", encoding="utf-8"
    )
    (folder / "other.yaml").write_text(OTHER, encoding="utf-8")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def report(tmp_path: Path, text: str, *, with_other: bool = True):
    path = write(tmp_path, text)
    files = [path, path.with_name("other.yaml")] if with_other else [path]
    found = check_menus(files, tmp_path)
    shown = lambda lines: [line.replace(f"{path}:", "menu.yaml:", 1) for line in lines]  # noqa: E731
    return shown(found.problems), shown(found.warnings)


def problems(tmp_path: Path, text: str, **kw) -> list[str]:
    return report(tmp_path, text, **kw)[0]


def test_the_base_menu_is_clean_and_reads_every_addition(tmp_path):
    assert report(tmp_path, BASE) == ([], [])
    menu = load_menu(write(tmp_path, BASE), tmp_path)
    assert menu.person is not None
    assert (menu.person.key, menu.person.speech, menu.person.goto) == (
        "0",
        ("人工", "客服"),
        "agent",
    )
    main, ask = menu.nodes["main"], menu.nodes["order_ask"]
    assert isinstance(main, MenuNode) and main.person == "agent"
    assert isinstance(ask, AskNode) and ask.person == "agent"
    urge = menu.nodes["urge"]
    assert isinstance(urge, RequestNode)
    assert (urge.request, urge.topic, urge.facts) == (
        "urge_shipment",
        "催发货",
        (("order_id", "订单号"),),
    )
    complaint = menu.nodes["complaint"]
    assert isinstance(complaint, FeedbackNode)
    assert (complaint.topic, complaint.facts, complaint.max_length_s) == (
        "商品质量",
        (("order_id", "order_id"),),
        60.0,
    )
    assert isinstance(menu.nodes["english"], GotoMenuNode)
    assert menu.sensitive_variables == {"secret"}
    spring, national = menu.hours.holidays
    assert (spring.name, spring.first, spring.last, spring.ranges) == (
        "春节",
        dt.date(2027, 2, 5),
        dt.date(2027, 2, 11),
        (),
    )
    assert national.ranges == ((dt.time(9), dt.time(18)),)


def test_holidays_close_the_line_or_shorten_its_hours(tmp_path):
    hours = load_menu(write(tmp_path, BASE), tmp_path).hours
    shanghai = dt.timezone(dt.timedelta(hours=8))
    at = lambda *args: dt.datetime(*args, tzinfo=shanghai)  # noqa: E731
    assert hours.is_open(at(2027, 2, 4, 12))
    assert not hours.is_open(at(2027, 2, 5, 12))
    assert not hours.is_open(at(2027, 2, 11, 21))
    assert hours.is_open(at(2027, 2, 12, 8))
    assert hours.is_open(at(2026, 10, 1, 17, 59))
    assert not hours.is_open(at(2026, 10, 1, 18, 0))
    assert hours.holiday(at(2027, 2, 8, 3)).name == "春节"
    assert hours.holiday(at(2027, 2, 12, 3)) is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  goto: agent\n",
            "  goto: agnet\n",
            "menu.yaml:11: person goes to unknown node 'agnet' (did you mean 'agent'?)",
        ),
        (
            "  goto: agent\n",
            "",
            "menu.yaml:8: person needs 'goto': the node that reaches a person",
        ),
        (
            '  key: "0"\n',
            '  key: "00"\n',
            "menu.yaml:9: key of person must be one phone key: 0-9, * or # (quoted), "
            "got '00'",
        ),
        (
            '  key: "0"\n  speech: [人工, 客服]\n',
            "",
            "menu.yaml:8: person needs 'key' or 'speech': how a caller asks for one",
        ),
        (
            "  goto: agent\n",
            "  goto: agent\n  keys: 0\n",
            "menu.yaml:12: unknown key 'keys' in person (did you mean 'key'?)",
        ),
        (
            '      "9": {goto: english, speech: [English]}\n',
            '      "9": {goto: english, speech: [English, 客服]}\n',
            "menu.yaml:22: speech keyword '客服' of option '9' is also a person word "
            "of the menu: saying it asks for a person",
        ),
        (
            "    next: urge\n",
            "    next: urge\n    person: agnet\n",
            "menu.yaml:29: person goes to unknown node 'agnet' (did you mean 'agent'?)",
        ),
    ],
)
def test_person_rules(tmp_path, old, new, expected):
    assert old in BASE
    assert expected in problems(tmp_path, BASE.replace(old, new, 1))


def test_a_menu_option_on_the_person_key_is_its_person_door(tmp_path):
    text = BASE.replace(
        '      "2": complaint\n', '      "2": complaint\n      "0": agent\n'
    )
    menu = load_menu(write(tmp_path, text), tmp_path)
    assert menu.nodes["main"].person is None  # the option is the door
    assert menu.person_door(menu.nodes["main"]) == "agent"
    text = text.replace(
        "    on_fail: agent\n  order_ask:",
        "    on_fail: agent\n    person: bye\n  order_ask:",
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:25: node 'main' sets 'person' but its option '0' (the "
        "person key) already leads to a person: give one or the other"
    ]


def test_a_node_person_without_the_menus_person_is_refused(tmp_path):
    text = BASE.replace(
        'person:\n  key: "0"\n  speech: [人工, 客服]\n  goto: agent\n', ""
    ).replace("    next: urge\n", "    next: urge\n    person: agent\n")
    assert problems(tmp_path, text) == [
        "menu.yaml:25: node 'order_ask' sets 'person' but the menu has no "
        "'person' (the key and words that reach a person from every menu and ask)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '    - {name: 春节, from: "2027-02-05", to: "2027-02-11"}\n',
            '    - {from: "2027-02-05", to: "2027-02-11"}\n',
            "menu.yaml:6: holiday 1 needs 'name': what callers hear it called",
        ),
        (
            '{name: 春节, from: "2027-02-05", to: "2027-02-11"}',
            '{name: 春节, from: "2027-02-11", to: "2027-02-05"}',
            "menu.yaml:6: holiday '春节' ends (2027-02-05) before it starts (2027-02-11)",
        ),
        (
            '{name: 春节, from: "2027-02-05", to: "2027-02-11"}',
            '{name: 春节, from: "2027-02-05"}',
            "menu.yaml:6: holiday '春节' needs 'date' (one day) or 'from' and 'to' "
            "(a run of days)",
        ),
        (
            '{name: 春节, from: "2027-02-05", to: "2027-02-11"}',
            '{name: 春节, date: "2027-02-05", to: "2027-02-11"}',
            "menu.yaml:6: holiday '春节' has 'date' and 'from'/'to': give one or the "
            "other",
        ),
        (
            '{name: 春节, from: "2027-02-05", to: "2027-02-11"}',
            '{name: 春节, from: "2027-02-05", to: "2027-02-31"}',
            "menu.yaml:6: to of holiday '春节' is not a date like '2027-02-06'",
        ),
        (
            '{name: 国庆节, date: "2026-10-01", hours: "09:00-18:00"}',
            '{name: 国庆节, date: "2027-02-07"}',
            "menu.yaml:7: holiday '国庆节' (2027-02-07 to 2027-02-07) overlaps holiday "
            "'春节' (2027-02-05 to 2027-02-11)",
        ),
        (
            'hours: "09:00-18:00"',
            'hours: "9 to 6"',
            "menu.yaml:7: hours '9 to 6' of holiday '国庆节' must look like "
            "'10:00-16:00' (several joined by ',') or 'closed'",
        ),
        (
            "  holidays:\n",
            "  holiday:\n",
            "menu.yaml:5: unknown key 'holiday' in hours (did you mean 'holidays'?)",
        ),
    ],
)
def test_holiday_rules(tmp_path, old, new, expected):
    assert old in BASE
    assert expected in problems(tmp_path, BASE.replace(old, new, 1))


def test_a_holiday_rule_needs_named_holidays(tmp_path):
    text = BASE.replace(
        '  holidays:\n    - {name: 春节, from: "2027-02-05", to: "2027-02-11"}\n'
        '    - {name: 国庆节, date: "2026-10-01", hours: "09:00-18:00"}\n',
        "",
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:43: rule 1 of node 'closed_route' tests 'holiday' but the menu's "
        "hours name no holidays"
    ]


def test_the_holiday_variables_are_set_only_by_the_holiday_door(tmp_path):
    text = BASE.replace("      - {goto: bye}\n", "      - {goto: holiday_message}\n")
    assert problems(tmp_path, text) == [
        "menu.yaml:48: say of node 'holiday_message' uses '{holiday}', which is not "
        "set on every path that reaches it"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    topic: 商品质量\n",
            "",
            "menu.yaml:36: node 'complaint' needs 'topic': what the recording "
            "is about (商品质量, delivery...), for whoever handles it",
        ),
        (
            "    request: urge_shipment\n",
            "    request: Urge Shipment\n",
            "menu.yaml:31: request 'Urge Shipment' of node 'urge' is not a "
            "name like 'urge_shipment' (lower-case letters, digits and _)",
        ),
        (
            "    next: complaint\n",
            "",
            "menu.yaml:30: node 'urge' needs 'next': the node to go to next",
        ),
        (
            "    facts: [order_id]\n",
            "    facts: [secret]\n",
            "menu.yaml:39: facts of node 'complaint' names 'secret', which is "
            "sensitive: it is never recorded",
        ),
        (
            "    facts: [order_id]\n",
            "    facts: order_id\n",
            "menu.yaml:39: facts of node 'complaint' must be a list of "
            "variables, or a map of variable to the label a person reads",
        ),
        (
            "    max_length: 1m\n",
            "    max_lenght: 1m\n",
            "menu.yaml:40: unknown key 'max_lenght' in feedback node 'complaint' (did "
            "you mean 'max_length'?)",
        ),
        (
            "sensitive: [secret]",
            "sensitive: [secert]",
            "menu.yaml:13: sensitive field 'secert' of data source 'orders' is not a "
            "column of its file (did you mean 'secret'?)",
        ),
        (
            "  english: {goto_menu: other}\n",
            "  english: {goto_menu: othr}\n",
            "menu.yaml:42: goto_menu of node 'english' names menu 'othr', which is "
            "not among the menus checked (did you mean 'other'?)",
        ),
        (
            "  english: {goto_menu: other}\n",
            "  english: {goto_menu: menu}\n",
            "menu.yaml:42: goto_menu of node 'english' names its own menu: use a door "
            "to a node instead",
        ),
        (
            "  english: {goto_menu: other}\n",
            "  english: {goto_menu: other, say: For English., language: english}\n",
            "menu.yaml:42: unknown key 'language' in goto_menu node 'english'",
        ),
        (
            "  holiday_message: {",
            "  holiday_message: {language: english, ",
            "menu.yaml:48: language 'english' of node 'holiday_message' is not a "
            "language tag like 'zh-CN' or 'en-US'",
        ),
    ],
)
def test_feedback_request_goto_menu_and_data_rules(tmp_path, old, new, expected):
    assert old in BASE
    assert expected in problems(tmp_path, BASE.replace(old, new, 1))


def test_goto_menu_of_one_file_checked_alone_may_name_a_file_beside_it(tmp_path):
    assert problems(tmp_path, BASE, with_other=False) == []
    from ivr.loader import load_menus

    path = write(tmp_path, BASE)
    _, found = load_menus([path], tmp_path)  # serving it alone: other is missing
    assert found == [
        f"{path}:42: goto_menu of node 'english' names menu 'other', which is not "
        "among the menus checked"
    ]


def test_traps_of_the_additions(tmp_path):
    text = (
        BASE.replace("  goto: agent\n", "  goto: bye\n", 1)
        .replace("暂停服务。", "暂停服务，{secret}。")
        .replace("    on_fail: agent\n  urge:", "    on_fail: bye\n  urge:")
    )
    _, warned = report(tmp_path, text)
    assert warned == [
        "menu.yaml:11: warning: person goes to node 'bye', which does not lead to a "
        "queue or transfer without a further choice",
        "menu.yaml:29: warning: ask node 'order_ask' offers no way to a person: "
        "neither next nor on_fail leads to a queue or transfer",
        "menu.yaml:48: warning: say of node 'holiday_message' speaks '{secret}', "
        "which is sensitive: it must never be said aloud",
    ]


def test_an_ask_whose_person_door_reaches_a_person_needs_no_on_fail_to_one(tmp_path):
    text = BASE.replace("    on_fail: agent\n  urge:", "    on_fail: bye\n  urge:")
    assert report(tmp_path, text) == ([], [])


@pytest.mark.parametrize(
    ("language", "first", "last", "said"),
    [
        ("zh-CN", (2027, 2, 5), (2027, 2, 11), "2月5日至11日"),
        ("zh-CN", (2027, 1, 30), (2027, 2, 3), "1月30日至2月3日"),
        ("zh-CN", (2027, 1, 1), (2027, 1, 1), "1月1日"),
        ("en-US", (2027, 2, 5), (2027, 2, 11), "February 5 to 11"),
        ("en-GB", (2026, 12, 31), (2027, 1, 2), "December 31 to January 2"),
        ("en-US", (2027, 1, 1), (2027, 1, 1), "January 1"),
        ("fr-FR", (2027, 1, 1), (2027, 1, 2), "2027-01-01 – 2027-01-02"),
    ],
)
def test_holiday_dates_are_said_as_people_say_them(language, first, last, said):
    from ivr.phrases import dates_phrase

    assert dates_phrase(language, dt.date(*first), dt.date(*last)) == said


def test_the_graph_shows_the_new_kinds_and_the_person_doors():
    from conftest import FIXTURES

    from ivr.graph import describe_menu, to_dot
    from ivr.graph.model import HUMAN

    menu = load_menu(FIXTURES / "desk" / "desk.yaml", FIXTURES / "recordings")
    diagram = describe_menu(menu)
    details = {box.id: (box.kind, box.detail, box.path) for box in diagram.boxes}
    assert details["complaint"] == ("feedback", "feedback: 商品质量, up to 1m", HUMAN)
    assert details["urge"][:2] == ("request", "request urge_shipment")
    assert details["english"][:2] == ("goto_menu", "go on in menu desk-en")
    doors = {(a.source, a.target, a.key) for a in diagram.arrows if a.door == "person"}
    # main and the asks without an option on the key; order_unshipped's "0" is
    # an option, drawn as one.
    assert doors == {
        ("main", "agent", "0"),
        ("order_ask", "agent_orders", "0"),
        ("account_ask", "agent", "0"),
    }
    dot = to_dot(diagram)
    assert 'shape="tab"' in dot and 'shape="component"' in dot
    assert 'shape="rarrow"' in dot
