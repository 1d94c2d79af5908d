"""The engine on the format's additions (tests/fixtures/desk): a person from every
menu and ask, holidays, complaints and urges recorded, another menu, another
language."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from conftest import FIXTURES

from ivr import engine
from ivr.engine import PERSON, CallContext, Gather, Record, Reply, Switch
from ivr.loader import load_menu
from ivr.lookup import Lookups
from ivr.menu import CsvSource
from ivr.twiml import render_step

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
OPEN = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
NIGHT = dt.datetime(2026, 11, 25, 23, 0, tzinfo=SHANGHAI)
SPRING_FESTIVAL = dt.datetime(2027, 2, 7, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def desk():
    return load_menu(FIXTURES / "desk" / "desk.yaml", FIXTURES / "recordings")


def ctx(now=OPEN, caller="+8613800138000"):
    return CallContext(now=now, caller=caller, lookup=Lookups())


def at(desk, node, variables=None, now=OPEN):
    """The state of a call waiting at ``node``."""
    walk = engine.Walk(
        desk, ctx(now), {"caller": "+8613800138000", **(variables or {})}
    )
    return walk.enter(node)


def answer(desk, step, now=OPEN, digits="", speech=""):
    return engine.resume(desk, step.state, Reply(digits, speech), ctx(now))


def test_the_person_key_at_a_menu_without_an_option_on_it_takes_the_person_door(desk):
    step = engine.start(desk, ctx())
    assert step.state.node == "main"
    taken = answer(desk, step, digits="0")
    assert taken.state.node == "agent"
    assert taken.choice == ("main", PERSON)


@pytest.mark.parametrize(
    "said", ["转人工", "我要找客服", "真人", "不要投诉，我要人工", "人工服务"]
)
def test_person_words_at_a_menu_win_first_time(desk, said):
    step = answer(desk, engine.start(desk, ctx()), speech=said)
    assert step.state.node == "agent"
    assert step.choice == ("main", PERSON)


def test_negated_person_words_are_no_request(desk):
    step = answer(desk, engine.start(desk, ctx()), speech="我不要人工，我要投诉")
    assert step.state.node == "complaint"
    assert step.choice == ("main", "2")


@pytest.mark.parametrize("said", ["按2", "二号", "第二个", "2"])
def test_keys_said_as_keys(desk, said):
    step = answer(desk, engine.start(desk, ctx()), speech=said)
    assert step.choice == ("main", "2")


def test_a_menu_listens_for_the_person_words_as_hints(desk):
    gather = engine.start(desk, ctx()).action
    assert isinstance(gather, Gather) and gather.speech
    assert gather.hints[:4] == ("人工", "转人工", "客服", "真人")


def test_an_ask_listens_for_the_person_words_and_key(desk):
    step = answer(desk, engine.start(desk, ctx()), digits="1")
    gather = step.action
    assert isinstance(gather, Gather) and gather.speech
    assert gather.hints == ("人工", "转人工", "客服", "真人")
    assert gather.num_digits is None and gather.finish_on_key == "#"


@pytest.mark.parametrize(
    ("digits", "speech"), [("0#", ""), ("0", ""), ("", "转人工"), ("", "我要真人")]
)
def test_the_person_key_or_words_at_an_ask_go_to_its_own_person_door(
    desk, digits, speech
):
    ask = answer(desk, engine.start(desk, ctx()), digits="1")
    step = answer(desk, ask, digits=digits, speech=speech)
    assert step.state.node == "agent_orders"  # the ask's own person door
    assert step.choice == ("order_ask", PERSON)


def test_other_speech_at_an_ask_is_no_answer(desk):
    ask = answer(desk, engine.start(desk, ctx()), digits="1")
    step = answer(desk, ask, speech="二零二六一一二五")
    assert step.state.node == "order_ask" and step.state.attempt == 1


def test_the_person_key_inside_digits_is_an_answer(desk):
    ask = answer(desk, engine.start(desk, ctx()), digits="1")
    step = answer(desk, ask, digits="202611250001#")
    assert step.state.variables["order_id"] == "202611250001"
    assert step.state.node == "order_unshipped"


def test_at_a_menu_with_an_option_on_the_person_key_the_words_choose_it(desk):
    step = at(desk, "order_ask")
    step = answer(desk, step, digits="202611250001#")
    assert step.state.node == "order_unshipped"
    taken = answer(desk, step, speech="转人工")
    assert taken.state.node == "agent_orders"
    assert taken.choice == ("order_unshipped", "0")  # the option, for coverage


def test_an_urge_is_recorded_against_the_order(desk):
    step = answer(desk, at(desk, "order_ask"), digits="202611250001#")
    urged = answer(desk, step, digits="1")
    assert urged.prompts[0].text == "已为您登记催发货请求。"
    (event,) = urged.events
    assert event.name == "request"
    assert event.detail == {
        "request": "urge_shipment",
        "topic": "催发货",
        "facts": [{"name": "order_id", "label": "订单号", "value": "202611250001"}],
    }


def test_a_complaint_is_recorded_with_its_topic_then_the_caller_hears_what_next(
    desk,
):
    step = answer(desk, engine.start(desk, ctx()), digits="2")
    assert step.state.node == "complaint"
    assert isinstance(step.action, Record) and step.action.max_length_s == 60
    assert [p.text for p in step.prompts] == ["请在提示音后说明问题。"]
    after = engine.after_record(
        desk,
        step.state,
        ctx(),
        recording_url="https://api.twilio.com/R1",
        duration_s=12,
    )
    (event,) = after.events
    assert event.name == "feedback"
    assert event.detail == {
        "topic": "商品质量",
        "facts": [],  # no order asked on this path; the caller's number is not a fact
        "recording_url": "https://api.twilio.com/R1",
        "duration_s": 12,
    }
    assert [p.text for p in after.prompts] == ["您的投诉已记录。", "再见。"]


def test_sensitive_data_fields_are_never_facts(desk):
    assert "id_last4" in desk.sensitive_variables
    step = answer(desk, at(desk, "account_ask"), digits="4321#")
    assert step.state.node == "agent"
    assert step.prompts[0].text == "身份核验通过。账号正常"
    facts = dict(step.action.facts)
    assert "id_last4" not in facts and "id4" not in facts
    assert facts == {"phone": "+8613800138000", "note_zh": "账号正常"}


def test_on_a_holiday_the_closed_line_names_the_holiday(desk):
    start = engine.start(desk, ctx(SPRING_FESTIVAL))
    step = answer(desk, start, SPRING_FESTIVAL, digits="0")
    assert step.nodes[-2:] == ("holiday_closed", "bye")
    assert [p.text for p in step.prompts][
        -2
    ] == "春节假期（2月5日至11日）人工服务暂停。"
    assert step.state.variables["holiday"] == "春节"


def test_on_an_ordinary_night_the_closed_line_says_so(desk):
    step = answer(desk, engine.start(desk, ctx(NIGHT)), NIGHT, digits="0")
    assert "closed_today" in step.nodes and "holiday" not in step.state.variables


class _Urls:
    def input(self, state):
        return "/voice/input"

    def recorded(self, state):
        return "/voice/recorded"

    def recording(self, name):
        return f"/recordings/{name}"

    def enter(self, menu):
        return f"/voice?menu={menu}"


def test_goto_menu_redirects_to_the_other_menus_start(desk):
    step = answer(desk, engine.start(desk, ctx()), speech="English please")
    assert step.state.node == "english" and step.action == Switch("desk-en")
    root = ET.fromstring(str(render_step(step, desk, _Urls())))
    assert [(el.tag, el.text) for el in root] == [("Redirect", "/voice?menu=desk-en")]


def test_a_message_in_another_language_is_said_in_its_voice(desk):
    root = ET.fromstring(str(render_step(engine.start(desk, ctx()), desk, _Urls())))
    says = root.findall(".//Say")
    assert [(s.text, s.get("voice"), s.get("language")) for s in says] == [
        ("您好，欢迎致电。", "Polly.Zhiyu", None),
        ("For English, press 9.", "Polly.Joanna", None),
        ("查询订单请按1，投诉请按2，账号请按3，人工服务请按0。", "Polly.Zhiyu", None),
    ]


def test_the_csv_source_keeps_its_sensitive_columns(desk):
    source = desk.data["accounts"]
    assert isinstance(source, CsvSource) and source.sensitive == {"id_last4"}
