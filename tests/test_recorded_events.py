"""Complaints and urges reach the store, where ``ivr report`` reads them; another
menu is reached by a redirect; what a caller says at a sensitive ask stays out
of the log. Posted as Twilio posts, on tests/fixtures/desk."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import FIXTURES, TwilioPost, action_of, make_app, said, trace, twiml

OPEN = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def post(tmp_path):
    app = make_app(
        tmp_path,
        MENUS=str(FIXTURES / "desk"),
        CLOCK=lambda: OPEN,
    )
    caller = TwilioPost(app.test_client())
    caller.fields.update({"To": "+861000000100", "From": "+8613800138000"})
    return caller


def events(post, name=None):
    store = post.client.application.extensions["ivr"].store
    found = store.events(post.fields["CallSid"])
    return [e for e in found if name is None or e["event"] == name]


def walk(post, *inputs):
    response = post("/voice")
    for digits in inputs:
        response = post(action_of(twiml(response)), Digits=digits)
    return response


def test_a_recorded_complaint_lands_in_the_store_with_topic_and_recording(post):
    root = twiml(walk(post, "2"))
    record = root.find("Record")
    assert record is not None and record.get("maxLength") == "60"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    after = twiml(
        post(action_of(root, "Record"), RecordingUrl=url, RecordingDuration="14")
    )
    assert said(after) == ["您的投诉已记录。", "再见。"]
    (feedback,) = events(post, "feedback")
    assert feedback["menu"] == "desk" and feedback["node"] == "complaint"
    assert feedback["detail"] == {
        "topic": "商品质量",
        "facts": [],
        "recording_url": url,
        "duration_s": 14.0,
    }
    (webhook,) = events(post, "recorded")  # the webhook's own log line
    assert webhook["detail"]["url"] == url
    assert events(post, "voicemail") == []


def test_a_complaint_with_nothing_said_is_still_recorded(post):
    root = twiml(walk(post, "2"))
    # Twilio skips the Record action when nothing was recorded: the Redirect.
    redirect = root.find("Redirect").text
    twiml(post(redirect))
    (feedback,) = events(post, "feedback")
    assert feedback["detail"]["recording_url"] is None
    assert feedback["detail"]["duration_s"] is None


def test_an_urge_lands_in_the_store_against_the_order(post):
    root = twiml(walk(post, "1", "202611250001", "1"))
    assert said(root)[0] == "已为您登记催发货请求。"
    (request,) = events(post, "request")
    assert request["node"] == "urge"
    assert request["detail"] == {
        "request": "urge_shipment",
        "topic": "催发货",
        "facts": [{"name": "order_id", "label": "订单号", "value": "202611250001"}],
    }


def test_pressing_9_goes_on_in_the_english_menu(post):
    root = twiml(walk(post, "9"))
    assert [el.tag for el in root] == ["Redirect"]
    response = post(root.find("Redirect").text)
    assert said(twiml(response))[:2] == ["Welcome.", "For a complaint, press 2."]
    assert trace(response)["menu"] == "desk-en"
    assert [e["menu"] for e in events(post, "start")] == ["desk", "desk-en"]


def test_speech_at_a_sensitive_ask_stays_out_of_the_log(post):
    root = twiml(walk(post, "3"))
    twiml(post(action_of(root), SpeechResult="四三二一", Confidence="0.9"))
    spoken = [e["detail"]["speech"] for e in events(post, "input")]
    assert spoken == ["", "***"]
    assert "四三二一" not in str(events(post))


def test_asking_for_a_person_at_an_ask_by_voice(post):
    root = twiml(walk(post, "1"))
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("hints") == "人工, 转人工, 客服, 真人"
    response = post(action_of(root), SpeechResult="转人工", Confidence="0.8")
    assert twiml(response).find("Enqueue").text == "desk.general.p0"
    assert trace(response)["choice"] == {"node": "order_ask", "key": "person"}
