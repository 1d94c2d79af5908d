"""The agent line through the webhooks, posted as Twilio posts them (signed):
agents call in, take the next caller or callback, and are briefed first."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from conftest import (
    FIXTURES,
    OPEN,
    RECORDINGS,
    TwilioPost,
    action_of,
    said,
    twiml,
    verbs,
)

from ivr.web import create_app

LINE = FIXTURES / "line"
DESK = "+861000000100"
AGENT_LINE = "+861000000109"
LI_NA = "+8613800000001"
WANG_FANG = "+8613800000002"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock(OPEN)


@pytest.fixture
def client(tmp_path, clock):
    app = create_app(
        {
            "MENUS": str(LINE),
            "RECORDINGS": str(RECORDINGS),
            "SECRET_KEY": "test-secret-" + "k" * 32,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE": str(tmp_path / "store.sqlite3"),
            "TWILIO_AUTH_TOKEN": "test-auth-token",
            "CLOCK": clock,
            "STORE_SYNC": True,
        }
    )
    return app.test_client()


_calls = iter(range(10**6))


class Call:
    """One call's side of the conversation with the app, as Twilio would post it."""

    def __init__(self, client, from_number: str, to: str) -> None:
        self.post = TwilioPost(client)
        self.post.fields.update(
            {"CallSid": f"CA{next(_calls):032d}", "From": from_number, "To": to}
        )
        self.enqueue: ET.Element | None = None
        self.root = self.follow("/voice")

    @property
    def sid(self) -> str:
        return self.post.fields["CallSid"]

    def press(self, digits: str) -> ET.Element:
        return self.follow(action_of(self.root), Digits=digits)

    def follow(self, url: str, **fields: str) -> ET.Element:
        self.root = twiml(self.post(url, **fields))
        if self.root.find("Enqueue") is not None:
            self.enqueue = self.root.find("Enqueue")
        return self.root


def caller(client, *keys: str, number: str = "+8613900000001") -> Call:
    call = Call(client, number, DESK)
    for key in keys:
        call.press(key)
    assert call.root.find("Enqueue") is not None, ET.tostring(call.root, "unicode")
    return call


def hold(call: Call, position: int = 1, waited: int = 30) -> ET.Element:
    wait_url = call.root.find("Enqueue").get("waitUrl")
    return twiml(
        call.post(wait_url, QueuePosition=str(position), QueueTime=str(waited))
    )


def text(root: ET.Element) -> str:
    return " ".join(said(root))


def test_a_number_not_on_the_roster_is_told_the_line_is_for_staff(client):
    call = Call(client, "+8613912345678", AGENT_LINE)
    assert verbs(call.root) == ["Say", "Hangup"]
    assert "仅供客服人员使用" in text(call.root)


def test_an_agent_hears_who_waits_and_takes_the_caller_with_the_facts(client, clock):
    waiting = caller(client, "1", "202611250001#")
    enqueue = waiting.root.find("Enqueue")
    assert enqueue.text == "desk.orders.p0"
    clock.advance(150)
    agent = Call(client, LI_NA, AGENT_LINE)
    assert text(agent.root) == (
        "李娜，您好。您负责的队列中有1位客户在等待，0个回电待拨打。接听下一位请按1，结束工作请按9。"
    )
    taken = agent.press("1")
    assert verbs(taken) == ["Say", "Dial"]
    assert (
        text(taken)
        == "来电客户，订单问题，已等待3分钟。订单号：202611250001。正在接通客户。"
    )
    queue = taken.find("Dial/Queue")
    assert queue.text == enqueue.text  # the very Twilio queue holding the caller
    # Twilio dequeues the caller and runs the <Queue url> document on their end.
    bridge = waiting.follow(
        queue.get("url"), QueueTime="150", DequeingCallSid=agent.sid
    )
    assert said(bridge) == ["正在为您接通客服人员。"]
    assert set(verbs(bridge)) <= {"Say", "Play", "Pause", "Redirect"}
    runtime = client.application.extensions["ivr"]
    [record] = runtime.store.waiters(call_sid=waiting.sid)
    assert (record["status"], record["agent"], record["wait_s"]) == (
        "answered",
        "li.na",
        150,
    )
    # The conversation ends: the caller's Enqueue action, then the agent's Dial's.
    done = waiting.follow(enqueue.get("action"), QueueResult="bridged", QueueTime="150")
    assert verbs(done) == ["Hangup"]
    back = agent.follow(taken.find("Dial").get("action"), DialCallStatus="completed")
    assert "目前没有客户在等待" in text(back) and back.find("Gather") is not None
    [record] = runtime.store.waiters(call_sid=waiting.sid)
    assert record["status"] == "answered"


def test_a_higher_priority_caller_is_taken_before_an_earlier_one(client, clock):
    plain = caller(client, "0")
    clock.advance(60)
    vip = caller(client, "2", number="+8613900000002")
    assert vip.root.find("Enqueue").text == "desk.orders.p1"
    # The plain caller's hold round counts the priority caller as ahead, and
    # the priority callers joining lately: others may go first (a range).
    said_to_plain = text(hold(plain, position=1))
    assert "您前面还有1位客户在等待" in said_to_plain
    assert "优先处理的客户可能先于您接通" in said_to_plain
    agent = Call(client, LI_NA, AGENT_LINE)
    taken = agent.press("1")
    assert taken.find("Dial/Queue").text == "desk.orders.p1"
    assert text(taken).startswith("来电客户，会员订单问题")
    other = Call(client, WANG_FANG, AGENT_LINE).press("1")
    assert other.find("Dial/Queue").text == "desk.orders.p0"


def test_a_callback_is_confirmed_honestly_then_placed_by_the_next_agent(client, clock):
    waiting = caller(client, "1", "202611250002#", number="+8613900000003")
    enqueue = waiting.root.find("Enqueue")
    # Four callers ahead, two agents of 4 minutes: past callback_after (1m).
    round_ = hold(waiting, position=5, waited=40)
    offer = round_.find("Gather")
    assert offer is not None and "回电" in text(offer)
    assert verbs(waiting.follow(offer.get("action"), Digits="1")) == ["Leave"]
    done = waiting.follow(enqueue.get("action"), QueueResult="leave", QueueTime="45")
    assert verbs(done)[-1] == "Hangup"
    assert "将在约" in text(done) and "尾号0003" in text(done)
    clock.advance(120)
    agent = Call(client, LI_NA, AGENT_LINE)
    assert "1个回电待拨打" in text(agent.root)
    taken = agent.press("1")
    assert text(taken).startswith(
        "回电，订单问题，客户2分钟前申请回电，第1次拨打。订单号：202611250002。"
    )
    number = taken.find("Dial/Number")
    assert number.text == "+8613900000003"
    assert taken.find("Dial").get("callerId") == DESK  # the line's own number
    # Twilio runs the <Number url> document on the customer's end (their call).
    customer = TwilioPost(client)
    customer.fields.update(
        {"From": DESK, "To": "+8613900000003", "ParentCallSid": agent.sid}
    )
    said_to_customer = text(twiml(customer(number.get("url"))))
    assert said_to_customer.startswith("您好，这里是测试客服，回电处理您申请的订单问题")
    agent.follow(taken.find("Dial").get("action"), DialCallStatus="completed")
    runtime = client.application.extensions["ivr"]
    [row] = runtime.store.callbacks(call_sid=waiting.sid)
    assert (row["status"], row["attempts"], row["agent"]) == ("reached", 1, None)
    [record] = runtime.store.waiters(call_sid=waiting.sid)
    assert record["status"] == "callback"


def test_an_unanswered_callback_goes_back_in_line_and_fails_after_its_attempts(
    client, clock
):
    waiting = caller(client, "0", number="+8613900000004")
    offer = hold(waiting, position=5).find("Gather")
    waiting.follow(offer.get("action"), Digits="1")
    waiting.follow(waiting.enqueue.get("action"), QueueResult="leave", QueueTime="40")
    agent = Call(client, LI_NA, AGENT_LINE)
    first = agent.press("1")
    back = agent.follow(first.find("Dial").get("action"), DialCallStatus="no-answer")
    assert "没有客户在等待" in text(back)  # not due again for 5 minutes
    clock.advance(301)
    second = agent.follow(back.find("Gather").get("action"), Digits="1")
    assert "第2次拨打" in text(second)
    agent.follow(second.find("Dial").get("action"), DialCallStatus="busy")
    runtime = client.application.extensions["ivr"]
    [row] = runtime.store.callbacks(call_sid=waiting.sid)
    assert (row["status"], row["attempts"], row["last_result"]) == ("failed", 2, "busy")


@pytest.mark.parametrize("number", ["anonymous", "+266696687", "client:amy", ""])
def test_a_caller_with_no_usable_number_is_never_offered_a_callback(client, number):
    waiting = caller(client, "0", number=number)
    round_ = hold(waiting, position=40)
    assert round_.find("Gather") is None
    assert "回电" not in text(round_)


def test_when_the_line_closes_while_waiting_the_caller_is_told_and_taken_to_closed(
    client, clock
):
    clock.now = dt.datetime(2026, 11, 25, 13, 55, tzinfo=dt.UTC)  # 21:55 Shanghai
    waiting = caller(client, "0")
    enqueue = waiting.root.find("Enqueue")
    clock.advance(600)  # 22:05: closed
    assert verbs(hold(waiting, position=3, waited=600)) == ["Leave"]
    after = waiting.follow(enqueue.get("action"), QueueResult="leave", QueueTime="600")
    assert text(after).startswith("抱歉，人工服务时间已结束。")
    assert after.find("Record") is not None  # the node's closed target: voicemail
    runtime = client.application.extensions["ivr"]
    [record] = runtime.store.waiters(call_sid=waiting.sid)
    assert record["status"] == "closed"


def test_a_callback_asked_near_closing_is_promised_after_the_line_opens(client, clock):
    clock.now = dt.datetime(2026, 11, 25, 13, 56, tzinfo=dt.UTC)  # 21:56 Shanghai
    waiting = caller(client, "0", number="+8613900000005")
    offer = hold(waiting, position=12).find("Gather")  # about 8 minutes: past 22:00
    waiting.follow(offer.get("action"), Digits="1")
    done = waiting.follow(
        waiting.enqueue.get("action"), QueueResult="leave", QueueTime="30"
    )
    assert "明天上午8点后回电" in text(done)


def test_a_callback_taken_at_max_wait_is_still_a_callback(client):
    waiting = caller(client, "0", number="+8613900000006")
    offer = hold(waiting, position=5, waited=890).find("Gather")
    waiting.follow(offer.get("action"), Digits="1")
    done = waiting.follow(
        waiting.enqueue.get("action"), QueueResult="leave", QueueTime="905"
    )
    assert "回电" in text(done) and done.find("Record") is None  # not the overflow


def test_a_callback_not_yet_visible_in_the_store_is_still_a_callback(
    client, monkeypatch
):
    # Under load the request can still wait in a worker's writer when the
    # caller's Leave lands on another worker: no row yet is not "not asked".
    runtime = client.application.extensions["ivr"]
    waiting = caller(client, "0", number="+8613900000007")
    offer = hold(waiting, position=5, waited=40).find("Gather")
    waiting.follow(offer.get("action"), Digits="1")
    monkeypatch.setattr(runtime.store, "callback_for", lambda call_sid: None)
    done = waiting.follow(
        waiting.enqueue.get("action"), QueueResult="leave", QueueTime="45"
    )
    assert verbs(done)[-1] == "Hangup" and "回电" in text(done)
    assert done.find("Record") is None  # not the overflow's voicemail
    [record] = runtime.store.waiters(call_sid=waiting.sid)
    assert record["status"] == "callback"
    [row] = runtime.store.callbacks(call_sid=waiting.sid)
    assert row["status"] == "pending"  # in line once the caller left


def test_agent_presses_9_to_stop_and_hanging_up_ends_the_shift_too(client):
    runtime = client.application.extensions["ivr"]
    agent = Call(client, LI_NA, AGENT_LINE)
    assert runtime.store.agent("li.na")["status"] == "ready"
    bye = agent.press("9")
    assert verbs(bye) == ["Say", "Hangup"] and "再见" in text(bye)
    assert runtime.store.agent("li.na")["status"] == "off"
    other = Call(client, WANG_FANG, AGENT_LINE)
    assert runtime.store.agent("wang.fang")["status"] == "ready"
    other.follow("/voice/status", CallStatus="completed", CallDuration="300")
    assert runtime.store.agent("wang.fang")["status"] == "off"


def test_agents_on_shift_replace_the_day_plan_in_the_estimate(client):
    waiting = caller(client, "0")
    # The plan says 2 agents; nobody has been on the agent line: the plan holds.
    # (A few calls' ends among one or two agents are too spread for one
    # figure: the caller hears the range their wait likely falls in.)
    assert "预计等待1到7分钟" in text(hold(waiting, position=3))
    agent = Call(client, LI_NA, AGENT_LINE)  # one agent on shift, free
    runtime = client.application.extensions["ivr"]
    runtime.store._on_shift = None  # the cache would hold it a few seconds
    # The free agent takes the caller in front at once: the third waits for
    # two calls of that one agent (4 minutes each; those ahead may give up).
    assert "预计等待1到10分钟" in text(hold(waiting, position=3))
    # The caller in front, with the agent free, is told the truth: a moment.
    assert "预计等待不到1分钟" in text(hold(waiting, position=1))
    agent.press("1")  # now busy with that caller: nobody is free
    runtime.store._on_shift = None
    assert "预计等待2到15分钟" in text(hold(waiting, position=3))
