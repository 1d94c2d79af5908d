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
    assert root.find("Play").text.endswith("/recordings/welcome.wav")
    assert trace(post("/voice"))["nodes"] == ["welcome", "main"]


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
    assert said(root)[0].startswith("现在是人工服务时间以外。")
    assert root.find("Record") is not None


def test_silence_replays_the_menu_then_goes_to_on_fail(post):
    response = walk(post, "", "")
    assert said(twiml(response))[0] == "抱歉，没有听到您的选择。"
    root = twiml(post(action_of(twiml(response)), Digits=""))
    assert root.find("Enqueue").text == "shop.general.p0"


def test_account_details_only_after_the_identity_check(post):
    caller = {"From": "+8613900139001"}  # a locked account, phone ends 9001
    wrong = twiml(walk(post, "3", "1234", **caller))
    assert said(wrong)[0].startswith("抱歉，身份核验未通过。")
    assert not any("锁定" in text for text in said(wrong))
    right = twiml(walk(post, "3", "9001", **caller))
    assert said(right)[0].startswith("身份核验通过。您的账号因多次输错密码已被临时锁定")


def test_english_menu_answers_its_own_number(post):
    root = twiml(walk(post, "1", "202611250001", To="+861000000002"))
    assert "has not shipped yet" in said(root)[0]
