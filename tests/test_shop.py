"""The shipped hotline (menus/shop.yaml), driven by signed posts as Twilio sends them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import TwilioPost, action_of, make_app, said, trace, twiml

ROOT = Path(__file__).resolve().parent.parent
# Wednesday 2026-11-25, 10:00 and 23:30 in Shanghai.
OPEN = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
CLOSED = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC)


def shop(tmp_path, now=OPEN):
    app = make_app(
        tmp_path,
        MENUS=str(ROOT / "menus"),
        RECORDINGS=str(ROOT / "recordings"),
        CLOCK=lambda: now,
    )
    return TwilioPost(app.test_client())


def walk(post, *inputs, **fields):
    response = post("/voice", **fields)
    for digits in inputs:
        response = post(action_of(twiml(response)), Digits=digits, **fields)
    return response


@pytest.fixture
def post(tmp_path):
    return shop(tmp_path)


def test_welcome_warns_about_the_official_number_and_sms_codes(post):
    root = twiml(post("/voice"))
    says = [(s.text, s.get("voice")) for s in root.iter("Say")]
    assert says[:2] == [
        (
            "您好，欢迎致电商城客服热线。请认准官方客服号码；我们绝不会向您索要短信"
            "验证码或密码，请勿将验证码告诉任何人。",
            "Polly.Zhiyu",
        ),
        ("For English service, press 9.", "Polly.Joanna"),
    ]
    # One voice per language: no recording mixed with the synthetic voice.
    assert root.find(".//Play") is None
    assert trace(post("/voice"))["nodes"] == ["welcome", "english_hint", "main"]


def test_known_order_reads_its_status_from_the_csv(post):
    root = twiml(walk(post, "1", "202611250001"))
    assert said(root)[0] == "您查询的订单尚未发货，商家将在11月26日前发货。"


def test_unknown_order_is_not_found(post):
    root = twiml(walk(post, "1", "123456789012"))
    assert said(root)[0].startswith("抱歉，没有找到这个订单号。")


def test_refund_progress(post):
    root = twiml(walk(post, "2", "202611190009"))
    assert said(root)[0].startswith("您查询的退款129元已于11月20日原路退回")


def test_zero_reaches_a_person(post):
    root = twiml(walk(post, "0"))
    assert root.find("Enqueue").text == "shop.general.p0"


def test_outside_opening_hours_a_person_means_voicemail(tmp_path):
    root = twiml(walk(shop(tmp_path, CLOSED), "0"))
    assert said(root)[0].startswith("当前为非人工服务时间。")
    assert root.find("Record") is not None


def test_silence_replays_the_menu_then_goes_to_on_fail(post):
    response = walk(post, "", "")
    assert said(twiml(response))[0] == "抱歉，没有听到您的选择。"
    root = twiml(post(action_of(twiml(response)), Digits=""))
    assert root.find("Enqueue").text == "shop.general.p0"


def test_account_details_only_after_the_identity_check(post):
    caller = {"From": "+8613900139001"}  # a locked account, ID card ends 0036
    # The caller ID's own last digits prove nothing: anyone holding the phone
    # (or spoofing its number) knows them.
    for guess in ("9001", "1234"):
        wrong = twiml(walk(post, "3", guess, **caller))
        assert said(wrong)[0].startswith("抱歉，身份核验未通过。")
        assert not any("锁定" in text for text in said(wrong))
    right = twiml(walk(post, "3", "0036", **caller))
    assert said(right)[0].startswith("身份核验通过。您的账号因多次输错密码已被临时锁定")


def test_the_id_digits_never_reach_the_log_the_trace_or_the_agent(post):
    response = walk(post, "3", "2417", From="+8613800138000")
    store = post.client.application.extensions["ivr"].store
    events = store.events(post.fields["CallSid"])
    assert "2417" not in str(events)
    assert "2417" not in response.headers["X-IVR-Trace"]
    root = twiml(post(action_of(twiml(response)), Digits="0"))
    assert root.find("Enqueue").text == "shop.accounts.p1"
    waiting = store.events(post.fields["CallSid"])
    assert "2417" not in str(waiting)


def test_a_complaint_and_an_urge_land_in_the_store(post):
    root = twiml(walk(post, "6", "202611240002", "1"))
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE9"
    post(action_of(root, "Record"), RecordingUrl=url, RecordingDuration="31")
    post.fields["CallSid"] = "CA" + "2" * 32
    twiml(walk(post, "1", "202611250001", "1"))
    store = post.client.application.extensions["ivr"].store
    (feedback,) = [e for e in store.events("CA" + "0" * 32) if e["event"] == "feedback"]
    assert feedback["node"] == "complaint_quality"
    assert feedback["detail"] == {
        "topic": "商品质量",
        "facts": [{"name": "order_id", "label": "订单号", "value": "202611240002"}],
        "recording_url": url,
        "duration_s": 31.0,
    }
    (urge,) = [e for e in store.events("CA" + "2" * 32) if e["event"] == "request"]
    assert urge["detail"]["request"] == "urge_shipment"
    assert urge["detail"]["facts"][0]["value"] == "202611250001"


def test_a_holiday_is_heard_by_name(tmp_path):
    festival = dt.datetime(2027, 2, 7, 2, 0, tzinfo=dt.UTC)  # 10:00, a Sunday
    root = twiml(walk(shop(tmp_path, festival), "0"))
    assert (
        said(root)[0]
        == "春节假期（2月5日至11日）人工客服暂停服务，电话自助查询照常可用。"
    )
    assert root.find("Record") is not None


def test_english_menu_answers_its_own_number(post):
    root = twiml(walk(post, "1", "202611250001", To="+861000000002"))
    assert "has not shipped yet" in said(root)[0]
