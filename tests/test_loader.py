"""Each loader rule, with the whole ``file:line: message`` line the designer sees."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import MENUS, RECORDINGS

from ivr.loader import MenuError, load_menu, load_menus

BASE = """\
start: main
queues:
  people: {agents: 3}
nodes:
  main:
    say: Press 1 for orders, 0 for a person.
    options:
      "1": orders
      "0": agent
  orders: {say: Your order has shipped., next: bye}
  agent: {queue: people}
  bye: {hangup: Goodbye.}
"""


def problems(tmp_path: Path, text: str, name: str = "menu.yaml") -> list[str]:
    folder = tmp_path / "menus"
    folder.mkdir(exist_ok=True)
    (tmp_path / "recordings").mkdir(exist_ok=True)
    (tmp_path / "recordings" / "hello.wav").write_bytes(b"RIFF")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    _, found = load_menus([path])
    prefix = f"{path}:"
    return [line.replace(prefix, f"{name}:", 1) for line in found]


def test_the_base_menu_is_clean(tmp_path):
    assert problems(tmp_path, BASE) == []


def test_the_fixture_hotline_loads_every_node_kind():
    menu = load_menu(MENUS / "hotline.yaml", RECORDINGS)
    kinds = {node.kind for node in menu.nodes.values()}
    assert kinds == {
        "message",
        "menu",
        "ask",
        "lookup",
        "route",
        "queue",
        "voicemail",
        "hangup",
    }
    assert menu.queues["orders"].max_wait_s == 900
    assert menu.queues["general"].agents_at(__import__("datetime").time(13, 0)) == 45


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = BASE.replace("  orders: {say", "  orders: {say: [unclosed\n  x: {say")
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith("menu.yaml:11: YAML syntax error")


def test_duplicate_keys_are_refused(tmp_path):
    text = BASE.replace('      "0": agent\n', '      "0": agent\n      "1": bye\n')
    assert problems(tmp_path, text) == [
        "menu.yaml:10: duplicate key '\"1\"' (first on line 8); YAML would silently "
        "keep only the last"
    ] or problems(tmp_path, text) == [
        "menu.yaml:10: duplicate key '1' (first on line 8); YAML would silently "
        "keep only the last"
    ]


def test_duplicate_node_ids_are_refused(tmp_path):
    text = BASE + "  bye: {hangup: Again.}\n"
    assert problems(tmp_path, text) == [
        "menu.yaml:13: duplicate key 'bye' (first on line 12); YAML would silently "
        "keep only the last"
    ]


def test_unknown_key_suggests_the_near_name(tmp_path):
    text = BASE.replace("  orders: {say: Your order has shipped., next: bye}",
                        "  orders: {say: Your order has shipped., nxet: bye}")  # fmt: skip
    assert problems(tmp_path, text) == [
        "menu.yaml:10: unknown key 'nxet' in message node 'orders' (did you mean 'next'?)"
    ]


def test_unknown_top_level_key(tmp_path):
    assert problems(tmp_path, "langauge: en-US\n" + BASE) == [
        "menu.yaml:1: unknown key 'langauge' in the menu (did you mean 'language'?)"
    ]


def test_node_with_two_kinds(tmp_path):
    text = BASE.replace(
        "  agent: {queue: people}", "  agent: {queue: people, hangup: Bye}"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:11: node 'agent' has both 'queue' and 'hangup': a node is one kind"
    ]


def test_node_with_no_kind(tmp_path):
    text = BASE.replace(
        "  agent: {queue: people}", "  agent: {queue: people}\n  odd: {}"
    )
    assert (
        "menu.yaml:12: node 'odd' has no kind: give it options, ask, lookup, route, "
        "queue, transfer, voicemail, feedback, request, goto_menu, hangup, or "
        "say/play with next" in problems(tmp_path, text)
    )


def test_goto_to_unknown_node_suggests_the_near_id(tmp_path):
    text = BASE.replace('"1": orders', '"1": ordres')
    assert problems(tmp_path, text) == [
        "menu.yaml:8: option '1' goes to unknown node 'ordres' (did you mean 'orders'?)"
    ]


def test_next_to_unknown_node(tmp_path):
    text = BASE.replace("next: bye}", "next: by}")
    assert problems(tmp_path, text) == [
        "menu.yaml:10: next goes to unknown node 'by' (did you mean 'bye'?)"
    ]


def test_unreachable_node(tmp_path):
    text = BASE + "  lost: {hangup: Nobody hears this.}\n"
    assert problems(tmp_path, text) == [
        "menu.yaml:13: node 'lost' is never reached from start 'main'"
    ]


def test_loop_with_no_exit_is_one_line(tmp_path):
    text = BASE.replace("next: bye}", "next: again}") + (
        "  again: {say: Still here., next: orders}\n"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:10: nodes 'orders' and 'again' loop with no way out: no path from "
        "them reaches a hangup, queue, transfer or voicemail",
        "menu.yaml:12: node 'bye' is never reached from start 'main'",
    ]


def test_nodes_leading_into_a_loop_are_not_reported_again(tmp_path):
    text = BASE.replace("next: bye}", "next: lead}") + (
        "  lead: {say: This way., next: spin}\n"
        "  spin: {say: Round., next: spin}\n"
        "  lost: {say: Nobody hears this., next: bye}\n"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:14: node 'spin' can never end the call: no path from it reaches "
        "a hangup, queue, transfer or voicemail",
        "menu.yaml:15: node 'lost' is never reached from start 'main' (nor is the "
        "node after it: 'bye')",
    ]


def test_nodes_only_an_unreached_node_leads_to_are_one_line(tmp_path):
    text = BASE + (
        "  old_promo: {say: Our old promotion., next: old_more}\n"
        "  old_more: {say: More of it., next: old_end}\n"
        "  old_end: {say: The end of it., next: bye}\n"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:13: node 'old_promo' is never reached from start 'main' (nor are "
        "the nodes after it: 'old_more' and 'old_end')"
    ]


@pytest.mark.parametrize("key", ["10", "a", "01"])
def test_option_key_must_be_a_phone_key(tmp_path, key):
    text = BASE.replace('"1": orders', f"{key}: orders")
    assert problems(tmp_path, text) == [
        f"menu.yaml:8: option key '{key}' is not a phone key: use one of 0-9, * or # "
        "(quoted)"
    ]


def test_unquoted_hash_option_is_a_comment(tmp_path):
    text = BASE.replace('      "0": agent\n', '      "0": agent\n      #: bye\n')
    assert problems(tmp_path, text) == [
        "menu.yaml:10: an unquoted '#' starts a YAML comment, so this option is "
        'ignored: write the key as "#"'
    ]


def test_unquoted_star_option_is_an_alias(tmp_path):
    text = BASE.replace('      "0": agent\n', '      "0": agent\n      *: bye\n')
    assert problems(tmp_path, text) == [
        "menu.yaml:10: an unquoted '*' starts a YAML alias: write the key as \"*\""
    ]


def test_quoted_hash_and_star_options_are_fine(tmp_path):
    text = BASE.replace(
        '      "0": agent\n', '      "0": agent\n      "#": bye\n      "*": main\n'
    )
    assert problems(tmp_path, text) == []


def test_undefined_queue(tmp_path):
    text = BASE.replace("{queue: people}", "{queue: peple}")
    assert problems(tmp_path, text) == [
        "menu.yaml:11: node 'agent' names undefined queue 'peple' (did you mean 'people'?)"
    ]


def test_lookup_of_undefined_data(tmp_path):
    text = BASE.replace(
        "  orders: {say: Your order has shipped., next: bye}",
        "  orders:\n    lookup: {data: ordres, key: x}\n    found: bye\n    missing: bye",
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:11: lookup of node 'orders' names undefined data 'ordres'"
    ]


def test_recording_not_in_recordings(tmp_path):
    text = BASE.replace("    say: Press 1", "    play: helo.wav\n    say: Press 1")
    assert problems(tmp_path, text) == [
        "menu.yaml:6: recording 'helo.wav' is not in recordings/ (did you mean 'hello.wav'?)"
    ]


def test_recording_outside_recordings_is_refused(tmp_path):
    text = BASE.replace(
        "    say: Press 1", "    play: ../menus/menu.yaml\n    say: Press 1"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:6: recording '../menus/menu.yaml' must be a plain file name in "
        "recordings/"
    ]


def test_variable_used_where_no_path_sets_it(tmp_path):
    text = BASE.replace("Your order has shipped.", "'Order {order_id} has shipped.'")
    assert problems(tmp_path, text) == [
        "menu.yaml:10: say of node 'orders' uses '{order_id}', which is not set on "
        "every path that reaches it"
    ]


def test_variable_set_on_only_some_paths(tmp_path):
    text = BASE.replace('"1": orders', '"1": ask\n      "2": orders') + (
        "  ask: {ask: Order number?, save_as: order_id, next: orders}\n"
    ).replace("", "")
    text = text.replace("Your order has shipped.", "'Order {order_id} has shipped.'")
    assert problems(tmp_path, text) == [
        "menu.yaml:11: say of node 'orders' uses '{order_id}', which is not set on "
        "every path that reaches it"
    ]


def test_variables_from_ask_and_csv_lookup_are_known(tmp_path):
    (tmp_path / "menus").mkdir()
    (tmp_path / "menus" / "orders.csv").write_text("order_id,status\n1,shipped\n")
    text = BASE.replace('"1": orders', '"1": ask') + (
        "  ask: {ask: Order number?, save_as: order_id, next: look}\n"
        "  look:\n"
        "    lookup: {data: orders, key: '{order_id}'}\n"
        "    found: orders\n"
        "    missing: bye\n"
    )
    text = text.replace(
        "queues:", "data:\n  orders: {csv: orders.csv, key: order_id}\nqueues:"
    )
    text = text.replace("Your order has shipped.", "'Order {order_id} is {status}.'")
    assert problems(tmp_path, text) == []
    text = text.replace("{status}", "{stauts}")
    assert problems(tmp_path, text) == [
        "menu.yaml:12: say of node 'orders' uses '{stauts}', which is not set on every "
        "path that reaches it (did you mean 'status'?)"
    ]


def test_csv_key_column_must_exist(tmp_path):
    (tmp_path / "menus").mkdir()
    (tmp_path / "menus" / "orders.csv").write_text("order_id,status\n")
    text = BASE.replace(
        "queues:", "data:\n  orders: {csv: orders.csv, key: order}\nqueues:"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:3: key column 'order' is not in orders.csv (columns: order_id, status) "
        "(did you mean 'order_id'?)"
    ]


@pytest.mark.parametrize(
    ("hours", "line", "message"),
    [
        ("  timezone: Asia/Shangai\n  weekly: {mon-fri: '08:00-22:00'}\n", 2,
         "unknown timezone 'Asia/Shangai' (use a name like 'Asia/Shanghai')"),
        ("  weekly: {mon-fry: '08:00-22:00'}\n", 2,
         "'mon-fry' is not a day or day range (use mon..sun, e.g. 'mon-fri', 'sat,sun' "
         "or 'daily')"),
        ("  weekly: {mon-fri: '8-22'}\n", 2,
         "opening hours '8-22' of 'mon-fri' must look like '08:00-22:00' (several "
         "joined by ',') or 'closed'"),
        ("  weekly: {mon-fri: '08:00-22:00', fri: '09:00-12:00'}\n", 2,
         "'fri' is given twice in weekly hours"),
        ("  weekly: {daily: '08:00-22:00'}\n  closed: ['2027-02-30']\n", 3,
         "closed day '2027-02-30' is not a date like '2027-02-06'"),
    ],
)  # fmt: skip
def test_bad_hours(tmp_path, hours, line, message):
    text = (
        "hours:\n"
        + hours
        + BASE.replace("{queue: people}", "{queue: people, closed: bye}")
    )
    assert problems(tmp_path, text) == [f"menu.yaml:{line}: {message}"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "soon",
            "timeout of node 'main': expected a duration like 45s, 4m or 1h, got 'soon'",
        ),
        ("0.5s", "timeout of node 'main' must be whole seconds"),
        ("2m", "timeout of node 'main' must be from 1s to 60s"),
    ],
)
def test_bad_times(tmp_path, value, message):
    text = BASE.replace(
        '      "0": agent\n', f'      "0": agent\n    timeout: {value}\n'
    )
    found = problems(tmp_path, text)
    assert f"menu.yaml:10: {message}" in found


def test_shares_adding_past_one(tmp_path):
    text = BASE.replace('"1": orders', '"1": {goto: orders, share: 0.7}').replace(
        '"0": agent', '"0": {goto: agent, share: 0.5}'
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:7: option shares of node 'main' add up to 1.2, more than 1"
    ]


def test_queue_node_needs_closed_when_the_menu_has_hours(tmp_path):
    text = "hours: {weekly: {daily: '08:00-20:00'}}\n" + BASE
    assert problems(tmp_path, text) == [
        "menu.yaml:12: node 'agent' needs 'closed': the menu has opening hours, so say "
        "where callers go when the line is closed"
    ]


def test_every_mistake_of_a_menu_in_one_run(tmp_path):
    text = """\
start: main
langauge: en-US
queues:
  people: {agents: 3, handle_time: forever}
nodes:
  main:
    play: missing.wav
    options:
      "1": ordres
      "12": agent
      "0": {goto: agent, share: 1.5}
    retries: 99
  ask: {ask: Number?, save_as: 9lives, next: main}
  agent: {queue: poeple}
  lost: {say: "Order {order}", next: main}
  bye: {hangup: Bye, next: main}
"""
    assert problems(tmp_path, text) == [
        "menu.yaml:2: unknown key 'langauge' in the menu (did you mean 'language'?)",
        "menu.yaml:4: handle_time of queue 'people': expected a duration like 45s, 4m "
        "or 1h, got 'forever'",
        "menu.yaml:7: recording 'missing.wav' is not in recordings/",
        "menu.yaml:9: option '1' goes to unknown node 'ordres'",
        "menu.yaml:10: option key '12' is not a phone key: use one of 0-9, * or # "
        "(quoted)",
        "menu.yaml:11: share of option '0' must be a number from 0 to 1, got 1.5",
        "menu.yaml:12: retries of node 'main' must be from 0 to 10, got 99",
        "menu.yaml:13: save_as '9lives' of node 'ask' is not a variable name",
        "menu.yaml:13: node 'ask' is never reached from start 'main'",
        "menu.yaml:14: node 'agent' names undefined queue 'poeple' (did you mean "
        "'people'?)",
        "menu.yaml:15: node 'lost' is never reached from start 'main'",
        "menu.yaml:16: unknown key 'next' in hangup node 'bye'",
        "menu.yaml:16: node 'bye' is never reached from start 'main'",
    ]


def test_python_tags_are_refused(tmp_path):
    text = BASE.replace(
        "say: Press 1", "say: !!python/object/apply:os.system ['true']\n    x: 1"
    )
    found = problems(tmp_path, text)
    assert found[0] == (
        "menu.yaml:6: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'"
        ": menus hold plain values only"
    )


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    text = "\n".join(lines) + "\n" + BASE
    began = time.perf_counter()
    found = problems(tmp_path, text)
    elapsed = time.perf_counter() - began
    assert found == [
        "menu.yaml:2: the file expands to more than 200000 values (aliases nested inside "
        "aliases?); refusing to read it"
    ] or (len(found) == 1 and "expands to more than" in found[0])
    assert elapsed < 5  # generous: it stops after 200,000 values, not 10 billion


def test_oversized_file_is_refused(tmp_path):
    text = BASE + "# " + "x" * (16 << 20) + "\n"
    assert problems(tmp_path, text) == [
        "menu.yaml:1: the file is larger than 16 MiB; refusing to read it"
    ]


def test_all_problems_of_all_files_in_one_pass(tmp_path):
    first = problems(tmp_path, BASE.replace('"1": orders', '"1": ordres'), "a.yaml")
    second = problems(
        tmp_path, BASE.replace("{queue: people}", "{queue: pople}"), "b.yaml"
    )
    _, found = load_menus([tmp_path / "menus"])
    assert len(found) == len(first) + len(second) == 2


def test_two_menus_cannot_share_a_number(tmp_path):
    numbered = 'numbers: ["+15550000001"]\n' + BASE
    problems(tmp_path, numbered, "a.yaml")
    problems(tmp_path, numbered, "b.yaml")
    _, found = load_menus([tmp_path / "menus"])
    folder = tmp_path / "menus"
    assert found == [
        f"{folder}/b.yaml:1: number '+15550000001' already reaches menu 'a' "
        f"({folder}/a.yaml)"
    ]


def test_companion_files_are_not_menus(tmp_path):
    problems(tmp_path, BASE, "shop.yaml")
    (tmp_path / "menus" / "shop.calls.yaml").write_text("calls: []\n")
    (tmp_path / "menus" / "shop.traffic.yaml").write_text("interval: 15m\n")
    menus, found = load_menus([tmp_path / "menus"])
    assert [m.id for m in menus] == ["shop"] and found == []


def test_load_menu_raises_with_every_problem(tmp_path):
    problems(tmp_path, BASE.replace('"1": orders', '"1": ordres'))
    with pytest.raises(MenuError) as caught:
        load_menu(tmp_path / "menus" / "menu.yaml")
    assert len(caught.value.problems) == 1


def test_unquoted_yes_in_a_route_equals_is_refused(tmp_path):
    text = (
        BASE.replace('"1": orders', '"1": check')
        + "  check:\n    route:\n      - {when: {var: caller, equals: yes}, goto: agent}\n      - {goto: orders}\n"
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:15: equals of rule 1 of node 'check' must be quoted text, e.g. \"yes\""
    ]


def test_unquoted_time_in_a_day_plan_is_read_as_a_number(tmp_path):
    text = BASE.replace("people: {agents: 3}", "people:\n    agents:\n      12:00: 40")
    assert problems(tmp_path, text) == [
        "menu.yaml:5: '12:00' in the day plan of queue 'people' must be quoted, like \"12:00\", or YAML reads it as a number"
    ]


def test_an_impossible_unquoted_date_is_reported_not_crashed_on(tmp_path):
    text = (
        "hours:\n  weekly: {daily: '08:00-22:00'}\n  closed: [2027-02-30]\n"
        + BASE.replace("{queue: people}", "{queue: people, closed: bye}")
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:3: closed day '2027-02-30' is not a date like '2027-02-06'"
    ]


def test_a_path_that_skips_a_lookup_is_reported_once(tmp_path):
    (tmp_path / "menus").mkdir()
    (tmp_path / "menus" / "orders.csv").write_text("order_id,status,eta\n1,sent,now\n")
    text = BASE.replace('"1": orders', '"1": look\n      "2": orders') + (
        "  look:\n"
        "    lookup: {data: orders, key: '{caller}'}\n"
        "    found: orders\n"
        "    missing: bye\n"
        "  more: {say: 'It arrives {eta}.', next: bye}\n"
    )
    text = text.replace(
        "queues:", "data:\n  orders: {csv: orders.csv, key: order_id}\nqueues:"
    )
    text = text.replace("Your order has shipped., next: bye", "'{status}', next: more")
    assert problems(tmp_path, text) == [
        "menu.yaml:13: say of node 'orders' uses '{status}', which is not set on "
        "every path that reaches it"
    ]


def test_a_misspelt_data_source_leaves_its_fields_alone(tmp_path):
    (tmp_path / "menus").mkdir()
    (tmp_path / "menus" / "orders.csv").write_text("order_id,status\n1,sent\n")
    text = BASE.replace('"1": orders', '"1": look') + (
        "  look:\n"
        "    lookup: {data: ordres, key: '{caller}'}\n"
        "    found: orders\n"
        "    missing: bye\n"
    )
    text = text.replace(
        "queues:", "data:\n  orders: {csv: orders.csv, key: order_id}\nqueues:"
    )
    text = text.replace("Your order has shipped.", "'It is {status}.'")
    assert problems(tmp_path, text) == [
        "menu.yaml:16: lookup of node 'look' names undefined data 'ordres' (did you "
        "mean 'orders'?)"
    ]


@pytest.mark.parametrize(
    ("before", "after", "line", "message"),
    [
        ("  orders: {say: Your order has shipped., next: bye}",
         "  orders: {sya: Your order has shipped., next: bye}",
         10, "unknown key 'sya' in message node 'orders' (did you mean 'say'?)"),
        ("    options:", "    optoins:",
         7, "unknown key 'optoins' in menu node 'main' (did you mean 'options'?)"),
        ("  bye: {hangup: Goodbye.}", "  bye: {hnagup: Goodbye.}",
         12, "unknown key 'hnagup' in hangup node 'bye' (did you mean 'hangup'?)"),
        ("  agent: {queue: people}", "  agent: {qeueu: people}",
         11, "unknown key 'qeueu' in queue node 'agent' (did you mean 'queue'?)"),
        ("start: main", "strat: main",
         1, "unknown key 'strat' in the menu (did you mean 'start'?)"),
    ],
)  # fmt: skip
def test_a_misspelt_key_is_one_problem_and_read_as_meant(
    tmp_path, before, after, line, message
):
    assert problems(tmp_path, BASE.replace(before, after)) == [
        f"menu.yaml:{line}: {message}"
    ]


def test_a_door_in_block_form_is_reported_on_its_own_line(tmp_path):
    text = BASE.replace(
        "  orders: {say: Your order has shipped., next: bye}",
        "  orders:\n    say: Your order has shipped.\n    next:\n      by",
    ).replace('"1": orders', '"1":\n        goto: ordres\n        speech: [order]')
    assert problems(tmp_path, text) == [
        "menu.yaml:9: option '1' goes to unknown node 'ordres' (did you mean 'orders'?)",
        "menu.yaml:14: next goes to unknown node 'by' (did you mean 'bye'?)",
    ]


def test_a_node_given_twice_is_one_problem(tmp_path):
    text = BASE.replace(
        "  bye: {hangup: Goodbye.}",
        "  bye: {hangup: Goodbye.}\n  main: {say: Again., next: extra}\n"
        "  extra: {say: Only the second main leads here., next: bye}",
    )
    assert problems(tmp_path, text) == [
        "menu.yaml:13: duplicate key 'main' (first on line 5); YAML would silently "
        "keep only the last"
    ]


def test_a_node_id_written_as_a_number_and_as_text_is_one_problem(tmp_path):
    text = BASE.replace('"0": agent', '"0": agent\n      "7": "7"') + (
        "  7: {say: Seven., next: bye}\n  '7': {say: Seven again., next: bye}\n"
    )
    assert problems(tmp_path, text) == ["menu.yaml:15: node id '7' is given twice"]
