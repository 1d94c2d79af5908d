"""What callers say at a menu, as speech recognition hands it over: real phrasings.

The options are the shop's main menu; the person words its menu-wide ones.
Each case is a sentence a caller says and what the menu must understand.
"""

from __future__ import annotations

import pytest

from ivr.engine import match_speech
from ivr.menu import MenuNode, Option, Person, Prompt
from ivr.speech import PERSON, normalise, understand, wants_person

ZH_OPTIONS = [
    ("1", ["订单", "物流", "快递", "发货"]),
    ("2", ["退款", "退钱", "退货"]),
    ("3", ["账号", "账户", "登录", "冻结"]),
    ("4", ["在线客服", "微信", "公众号"]),
    ("5", ["几点", "服务时间"]),
    ("6", ["投诉", "建议", "质量"]),
    ("9", ["英文", "英语", "English"]),
]
ZH_PERSON = ["人工", "转人工", "人工客服", "人工服务", "客服", "真人", "找人"]
EN_OPTIONS = [
    ("1", ["order", "delivery", "tracking", "parcel"]),
    ("2", ["refund", "money back", "return"]),
    ("3", ["account", "sign in", "log in", "login", "locked"]),
    ("4", ["online chat", "WeChat"]),
    ("6", ["complaint", "complain", "feedback"]),
]
EN_PERSON = ["agent", "human", "person", "representative", "operator", "someone"]


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        # asking for a person, however it is put
        ("人工", PERSON),
        ("转人工", PERSON),
        ("客服", PERSON),
        ("我要找客服", PERSON),
        ("真人", PERSON),
        ("帮我转人工服务", PERSON),
        ("人工客服。", PERSON),
        ("我想找个真人说话", PERSON),
        # a person wins over an option said in the same breath
        ("退款的事情我要找人工", PERSON),
        ("不要退款，我要人工", PERSON),
        ("不要退款我要人工", PERSON),
        ("不是查订单，转人工", PERSON),
        # ... unless the person is what is negated
        ("我不要人工，我要退款", "2"),
        ("不用转人工了，查一下订单", "1"),
        ("我不要人工", None),
        # keys named as keys
        ("按2", "2"),
        ("我按2", "2"),
        ("摁二", "2"),
        ("二号", "2"),
        ("2号键", "2"),
        ("选择3", "3"),
        ("选3吧", "3"),
        ("第二个", "2"),
        ("我要第一项", "1"),
        ("按数字5", "5"),
        ("按0", "0"),
        ("按井号键", "#"),
        # lone keys
        ("2", "2"),
        ("2.", "2"),
        ("二", "2"),
        ("两", "2"),
        ("幺", "1"),
        ("零", "0"),
        ("嗯，三", "3"),
        # keywords, anywhere; the one said first wins
        ("我想退款", "2"),
        ("退钱", "2"),
        ("我的快递到哪了", "1"),
        ("我的订单没有发货", "1"),
        ("账号被冻结了", "3"),
        ("我要在线客服", "4"),  # the option's word, not the person's 客服 inside it
        ("我想投诉商品质量", "6"),
        ("查订单，然后退款", "1"),
        ("English please", "9"),
        # negation cancels the keyword right after it
        ("不要退款", None),
        ("不想要退款", None),
        ("不要给我退款，查订单", "1"),
        ("我不是要退款，是查物流", "1"),
        ("别退款了", None),
        # a date is no key: 26号 is the 26th
        ("11月26号发货了吗", "1"),
        # nothing the menu knows
        ("天气怎么样", None),
        ("喂？", None),
        ("", None),
    ],
)
def test_chinese_phrasings(said, meant):
    assert understand(said, ZH_OPTIONS, ZH_PERSON) == meant


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("agent", PERSON),
        ("Agent!", PERSON),
        ("I want to speak to a human", PERSON),
        ("I want to talk to a real person", PERSON),
        ("Representative.", PERSON),
        ("Can I speak to someone please", PERSON),
        ("operator", PERSON),
        ("I don't want a refund, I want an agent", PERSON),
        ("i don't want a refund i want an agent", PERSON),
        ("No, I want an agent.", PERSON),
        ("I don't want to talk to an agent, I want a refund", "2"),
        ("I do not want an agent", None),
        # keys named as keys
        ("press two", "2"),
        ("Press 2.", "2"),
        ("option three", "3"),
        ("number two", "2"),
        ("I'll press one", "1"),
        ("the second one", "2"),
        ("The second option.", "2"),
        ("the first", "1"),
        ("press zero", "0"),
        ("press star", "*"),
        # lone keys
        ("two", "2"),
        ("Two.", "2"),
        ("two please", "2"),
        ("um, four", "4"),
        ("oh", "0"),
        # keywords as whole words, plurals included
        ("I'd like a refund", "2"),
        ("refunds", "2"),
        ("I want my money back", "2"),
        ("where is my parcel", "1"),
        ("I have not received my order", "1"),
        ("I can't log in", "3"),
        ("I want to make a complaint", "6"),
        ("my account is locked", "3"),
        ("recorder", None),  # "order" inside another word is no keyword
        # negation
        ("no refund, tracking", "1"),
        ("I don't want a refund", None),
        ("not the refund, the order", "1"),
        ("hello?", None),
    ],
)
def test_english_phrasings(said, meant):
    assert understand(said, EN_OPTIONS, EN_PERSON) == meant


def test_a_key_named_as_a_key_beats_a_keyword_said_with_it():
    assert understand("我要退款，按3", ZH_OPTIONS, ZH_PERSON) == "3"
    assert understand("for a refund I press two", EN_OPTIONS, EN_PERSON) == "2"


def test_without_person_words_person_words_are_plain_text():
    assert understand("我要人工", ZH_OPTIONS) is None
    assert understand("我要人工退款", ZH_OPTIONS) == "2"


def test_wants_person_is_only_for_person_words_not_negated():
    assert wants_person("我要转人工", ZH_PERSON)
    assert wants_person("I want to speak to a human", EN_PERSON)
    assert not wants_person("不要人工", ZH_PERSON)
    assert not wants_person("1234", ZH_PERSON)
    assert not wants_person("人工", ())


def test_normalise_folds_width_case_quotes_and_spaces():
    assert normalise("Ｉ  DON’T　want") == "i don't want"


def main_menu() -> MenuNode:
    options = tuple(
        Option(key=key, goto=f"to_{key}", speech=tuple(words))
        for key, words in ZH_OPTIONS
    )
    return MenuNode(id="main", prompt=Prompt(text="..."), line=1, options=options)


def test_match_speech_hears_the_menus_person_words():
    from ivr.menu import Menu

    node = main_menu()
    menu = Menu(
        id="m",
        path="m.yaml",
        title="m",
        start="main",
        nodes={"main": node},
        person=Person(goto="agent", key="0", speech=tuple(ZH_PERSON)),
    )
    assert match_speech(node, "不要退款，我要人工", menu) == PERSON
    assert match_speech(node, "不要退款，我要人工") is None  # no menu: no person
    assert match_speech(node, "按2", menu) == "2"
