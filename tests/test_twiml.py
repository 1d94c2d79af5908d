"""TwiML of each node kind, rendered with fake URLs and read back as XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from ivr.engine import (
    CallState,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Record,
    Step,
)
from ivr.humanpath import WaitStep
from ivr.menu import Prompt
from ivr.twiml import render_leave, render_step, render_wait

STATE = CallState("hotline", "main", 0, {})


class FakeUrls:
    def input(self, state):
        return f"/in/{state.node}"

    def wait(self, state):
        return f"/wait/{state.node}"

    def callback(self, state):
        return f"/cb/{state.node}"

    def queue_done(self, state):
        return f"/queue/{state.node}"

    def dial_done(self, state):
        return f"/dial/{state.node}"

    def recorded(self, state):
        return f"/rec/{state.node}"

    def recording(self, name):
        return f"https://example.com/recordings/{name}"


def render(action, hotline, prompts=()):
    step = Step(tuple(prompts), action, STATE)
    return ET.fromstring(str(render_step(step, hotline, FakeUrls())))


def test_menu_gather_listens_for_one_key_or_speech(hotline):
    gather = Gather(Prompt(text="Press 1."), True, 6, 1, "", ("订单", "退款"))
    root = render(gather, hotline)
    g = root.find("Gather")
    assert g.attrib == {
        "action": "/in/main",
        "actionOnEmptyResult": "true",
        "finishOnKey": "",
        "hints": "订单, 退款",
        "input": "dtmf speech",
        "language": "zh-CN",
        "method": "POST",
        "numDigits": "1",
        "speechTimeout": "auto",
        "timeout": "6",
    }
    assert (
        g.find("Say").text == "Press 1." and g.find("Say").get("voice") == "Polly.Zhiyu"
    )
    assert root.find("Redirect").text == "/in/main"


def test_ask_gather_collects_digits_until_the_finish_key(hotline):
    root = render(Gather(Prompt(audio="ask.wav"), False, 8, None, "#"), hotline)
    g = root.find("Gather")
    assert g.get("input") == "dtmf" and g.get("finishOnKey") == "#"
    assert g.get("numDigits") is None and g.get("language") is None
    assert g.find("Play").text == "https://example.com/recordings/ask.wav"


def test_long_digit_runs_are_read_digit_by_digit_for_polly_voices(hotline):
    root = render(Hangup(), hotline, [Prompt(text="订单202611250001已发货")])
    say = root.find("Say")
    assert say.text == "订单" and say.find("say-as").text == "202611250001"
    assert say.find("say-as").get("interpret-as") == "digits"
    plain = replace(hotline, voice=None)
    assert render(Hangup(), plain, [Prompt(text="订单202611250001")]).find(
        "Say"
    ).text == ("订单202611250001")


def test_enqueue_names_the_queue_with_wait_and_action_urls(hotline):
    root = render(Enqueue("orders", 1), hotline)
    e = root.find("Enqueue")
    assert e.text == "orders"
    assert e.attrib == {
        "action": "/queue/main",
        "method": "POST",
        "waitUrl": "/wait/main",
        "waitUrlMethod": "POST",
    }


def test_enqueue_through_taskrouter_carries_a_task_with_the_facts(hotline):
    facts = (("订单号", "202611250001"), ("状态", "尚未发货"))
    enqueue = Enqueue(
        "orders", 5, "WW" + "0" * 32, "hotline.orders.p5", "订单问题", facts
    )
    e = render(enqueue, hotline).find("Enqueue")
    assert e.get("workflowSid") == "WW" + "0" * 32 and not (e.text or "").strip()
    assert e.find("Task").get("priority") == "5"
    assert json.loads(e.find("Task").text) == {
        "queue": "orders",
        "menu": "hotline",
        "topic": "订单问题",
        "language": "zh-CN",
        "priority": 5,
        "facts": {"订单号": "202611250001", "状态": "尚未发货"},
    }


def test_enqueue_names_the_twilio_queue_of_its_priority_level(hotline):
    root = render(Enqueue("orders", 1, name="hotline.orders.p1"), hotline)
    assert root.find("Enqueue").text == "hotline.orders.p1"


def test_transfer_dials_with_an_action(hotline):
    d = render(Dial("+861000000001", 20), hotline).find("Dial")
    assert d.text == "+861000000001" and d.get("timeout") == "20"
    assert d.get("action") == "/dial/main"


def test_voicemail_records_with_a_beep_then_carries_on(hotline):
    root = render(Record(120), hotline, [Prompt(text="请留言")])
    assert [c.tag for c in root] == ["Say", "Record", "Redirect"]
    r = root.find("Record")
    assert r.get("maxLength") == "120" and r.get("playBeep") == "true"
    assert r.get("action") == "/rec/main"


def test_hangup_says_goodbye_first(hotline):
    root = render(Hangup(), hotline, [Prompt(text="再见")])
    assert [c.tag for c in root] == ["Say", "Hangup"]


def test_wait_round_announces_offers_callback_and_holds(hotline):
    wait = WaitStep((Prompt(text="请稍候"),), 60, offer_callback=True)
    root = ET.fromstring(str(render_wait(wait, STATE, hotline, FakeUrls())))
    assert [c.tag for c in root] == ["Say", "Gather", "Pause"]
    assert root.find("Gather").get("action") == "/cb/main"
    assert root.find("Pause").get("length") == "60"
    # Only verbs a waitUrl may use.
    allowed = {"Say", "Play", "Pause", "Gather", "Redirect", "Leave", "Hangup"}
    assert {c.tag for c in root} <= allowed


def test_wait_past_max_wait_is_a_leave(hotline):
    root = ET.fromstring(
        str(render_wait(WaitStep((), 0, leave=True), STATE, hotline, FakeUrls()))
    )
    assert [c.tag for c in root] == ["Leave"]


def test_declined_callback_goes_back_to_holding():
    root = ET.fromstring(str(render_leave(False, "/wait/x")))
    assert [c.tag for c in root] == ["Redirect"] and root[0].text == "/wait/x"
    assert [c.tag for c in ET.fromstring(str(render_leave(True, "/wait/x")))] == [
        "Leave"
    ]
