"""The traps a hotline must not ship, reported as ``file:line: warning: ...``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.loader import check_menus
from ivr.traps import asks_for_secret

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
  agent: {queue: people, say: Connecting you.}
  bye: {hangup: Goodbye.}
"""


def warnings(tmp_path: Path, text: str) -> list[str]:
    """The warnings of a menu (which must have no problems), as the CLI prints them."""
    folder = tmp_path / "menus"
    folder.mkdir(exist_ok=True)
    path = folder / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    report = check_menus([path], tmp_path)
    assert report.problems == []
    return [line.replace(f"{path}:", "menu.yaml:", 1) for line in report.warnings]


def test_the_base_menu_has_no_warnings(tmp_path):
    assert warnings(tmp_path, BASE) == []


@pytest.mark.parametrize(
    ("prompt", "secret"),
    [
        ("请输入您收到的短信验证码，以井号键结束。", "an SMS verification code"),
        ("请将短信验证码告诉客服人员。", "an SMS verification code"),
        ("请输入短信验证码，不要告诉他人。", "an SMS verification code"),
        ("为了核实身份，请告诉我们您的登录密码。", "a password"),
        ("请输入您的支付密码，以井号键结束。", "a password"),
        ("请输入您的银行卡号。", "a full card number"),
        ("请输入您的18位身份证号码。", "a full ID number"),
        (
            "Please enter the verification code we sent to your phone, then press "
            "pound.",
            "an SMS verification code",
        ),
        (
            "Please read out the code from the text message we just sent you.",
            "an SMS verification code",
        ),
        ("For security, please say your password.", "a password"),
        ("Please enter your PIN, then press hash.", "a password"),
        ("Please enter your 16-digit card number.", "a full card number"),
    ],
)
def test_a_prompt_asking_for_a_secret_is_caught(prompt, secret):
    assert asks_for_secret(prompt) == secret


@pytest.mark.parametrize(
    "prompt",
    [
        "我们绝不会索要短信验证码，请勿告诉任何人。",
        "您好，欢迎致电商城客服热线。请认准官方号码，我们绝不会向您索要短信验证码，"
        "请勿告诉任何人。",
        "短信验证码只能由您本人在App中填写，任何人向您索要都是诈骗。",
        "如需立即解锁，请在商城App登录页点击忘记密码，按提示重新设置密码。",
        "如果您忘记了密码，请按2。",
        "请输入身份证号后四位，以井号键结束。",
        "请输入银行卡号末四位。",
        "请输入12位订单号，以井号键结束。",
        "Never share your code with anyone.",
        "We will never ask for your password or SMS code.",
        "Only you should ever type an SMS code, in the app: anyone who asks you for "
        "one is a scammer.",
        "If anyone asks for your verification code, hang up: it is a scam.",
        "Do not tell anyone your PIN.",
        "To reset your password, tap Forgot password in the app.",
        "Please enter the last 4 digits of your card number, then press pound.",
    ],
)
def test_a_prompt_warning_about_a_secret_is_not_caught(prompt):
    assert asks_for_secret(prompt) is None


def test_a_prompt_asking_for_a_code_is_a_warning_on_its_line(tmp_path):
    text = BASE.replace(
        "  orders: {say: Your order has shipped., next: bye}",
        "  orders:\n    say: Please enter the code we texted you.\n    next: bye",
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:11: warning: say of node 'orders' asks the caller for an SMS "
        "verification code, which the line must never ask for (fraudsters do)"
    ]


def test_a_menu_with_no_way_to_a_person(tmp_path):
    # A person two choices away (2, then 0) is not a way out of 'main'.
    text = BASE.replace('"0": agent', '"2": more').replace(
        "    options:", "    on_fail: bye\n    options:", 1
    ) + (
        "  more:\n    say: Press 0 for a person.\n    options: {'0': agent}\n"
        "    on_fail: bye\n"
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:7: warning: menu node 'main' offers no way to a person: no "
        "option and no on_fail leads to a queue or transfer"
    ]


def test_a_person_through_a_route_or_by_waiting_counts(tmp_path):
    # No "0", but on_fail is left out, so failing the menu reaches the queue.
    assert warnings(tmp_path, BASE.replace('      "0": agent\n', "")) == []
    text = BASE.replace('"0": agent', '"0": check') + (
        "  check:\n    route:\n      - {when: {var: caller, equals: '1'}, goto: bye}"
        "\n      - {goto: agent}\n"
    )
    assert (
        warnings(
            tmp_path, text.replace("    options:", "    on_fail: bye\n    options:")
        )
        == []
    )


def test_an_ask_with_no_way_to_a_person(tmp_path):
    text = BASE.replace('"1": orders', '"1": ask') + (
        "  ask:\n    ask: Your order number?\n    save_as: order\n"
        "    next: orders\n    on_fail: bye\n"
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:17: warning: ask node 'ask' offers no way to a person: neither "
        "next nor on_fail leads to a queue or transfer"
    ]


def test_a_menu_with_no_person_at_all_is_one_warning(tmp_path):
    text = (
        "start: main\nnodes:\n"
        "  main:\n    say: Press 1 or 2.\n    options: {'1': more, '2': bye}\n"
        "  more:\n    say: Press 1.\n    options: {'1': bye}\n"
        "  bye: {hangup: Bye.}\n"
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:3: warning: node 'main' offers no way to a person, nor does any "
        "other: the menu has no queue or transfer node"
    ]


def test_an_ask_for_phone_digits_must_be_sensitive(tmp_path):
    text = BASE.replace('"1": orders', '"1": ask') + (
        "  ask:\n    ask: Please enter the last 4 digits of your phone number.\n"
        "    save_as: last4\n    next: orders\n    on_fail: agent\n"
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:13: warning: ask node 'ask' collects phone digits but is not "
        "marked 'sensitive: true', so they would be logged in clear"
    ]
    assert warnings(tmp_path, text + "    sensitive: true\n") == []
    marked_false = text + "    sensitive: false\n"
    assert warnings(tmp_path, marked_false) == [
        "menu.yaml:18: warning: ask node 'ask' collects phone digits but is not "
        "marked 'sensitive: true', so they would be logged in clear"
    ]


def test_an_ask_for_id_or_card_digits_must_be_sensitive(tmp_path):
    for prompt, what in [
        ("请输入身份证号后四位。", "ID digits"),
        ("Enter the last 4 digits of your bank card.", "card digits"),
    ]:
        text = BASE.replace('"1": orders', '"1": ask') + (
            f"  ask:\n    ask: {prompt}\n    save_as: last4\n    next: orders\n"
        )
        assert warnings(tmp_path, text) == [
            f"menu.yaml:13: warning: ask node 'ask' collects {what} but is not "
            "marked 'sensitive: true', so they would be logged in clear"
        ]


def test_a_node_reached_with_nothing_said(tmp_path):
    text = BASE.replace("    say: Press 1 for orders, 0 for a person.\n", "").replace(
        "start: main", "start: check"
    ) + (
        "  check:\n    route:\n      - {when: {var: caller, equals: '1'}, goto: bye}"
        "\n      - {goto: main}\n"
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:5: warning: the caller reaches menu node 'main' with nothing "
        "said: give it a say or play, or say something before it"
    ]


def test_a_silent_node_after_something_said_is_fine(tmp_path):
    text = BASE.replace(
        "  agent: {queue: people, say: Connecting you.}", "  agent: {queue: people}"
    )
    assert warnings(tmp_path, text) == []


def test_a_priority_that_puts_nobody_ahead(tmp_path):
    text = BASE.replace(
        "{queue: people, say: Connecting you.}",
        "{queue: people, say: Connecting you., priority: 5}",
    )
    assert warnings(tmp_path, text) == [
        "menu.yaml:11: warning: priority 5 of node 'agent' puts nobody ahead: every "
        "queue node of queue 'people' has priority 5"
    ]
    two_levels = text.replace('"0": agent', '"0": agent\n      "2": vip') + (
        "  vip: {queue: people, say: Connecting you.}\n"
    )
    assert warnings(tmp_path, two_levels) == []


def test_an_ask_that_only_mentions_identity_need_not_be_sensitive(tmp_path):
    text = BASE.replace('"1": orders', '"1": ask') + (
        "  ask:\n    ask: To protect your identity, enter your order number.\n"
        "    save_as: order\n    next: orders\n"
    )
    assert warnings(tmp_path, text) == []
