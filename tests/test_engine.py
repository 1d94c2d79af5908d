"""The pure engine: menus walked without Flask, a clock and lookups passed in."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from conftest import CLOSED, OPEN

from ivr import engine, humanpath
from ivr.engine import (
    CallContext,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    LookupFailed,
    Record,
    Reply,
)
from ivr.menu import Hours


def ctx(now=OPEN, lookup=None, caller="+8613800000000"):
    if lookup is None:
        return CallContext(now=now, caller=caller)
    return CallContext(now=now, caller=caller, lookup=lookup)


def texts(step):
    return [p.text for p in step.prompts]


def test_start_passes_messages_and_stops_at_the_first_menu(hotline):
    step = engine.start(hotline, ctx())
    assert step.nodes == ("welcome", "main")
    assert step.prompts[0].audio == "welcome.wav"
    assert isinstance(step.action, Gather) and step.action.num_digits == 1
    assert step.state.node == "main" and step.state.variables == {
        "caller": "+8613800000000"
    }


@pytest.mark.parametrize(
    ("speech", "key"),
    [("我想退款", "2"), ("退钱", "2"), ("转人工", "0"), ("查一下订单", "1"),
     ("二", "2"), ("2.", "2"), ("我要找客服查订单", "0"), ("天气怎么样", None)],
)  # fmt: skip
def test_speech_matches_keywords_anywhere_in_the_utterance(hotline, speech, key):
    assert engine.match_speech(hotline.nodes["main"], speech) == key


def test_english_speech_matches_case_and_punctuation_blind():
    from ivr.menu import MenuNode, Option, Prompt

    node = MenuNode(
        id="main",
        prompt=Prompt(text="Say orders or refund."),
        line=1,
        options=(
            Option("1", "a", ("orders", "order status")),
            Option("2", "b", ("refund",)),
        ),
    )
    assert engine.match_speech(node, "I'd like a REFUND, please.") == "2"
    assert engine.match_speech(node, "Order status?") == "1"
    assert engine.match_speech(node, "Two") == "2"
    assert engine.match_speech(node, "") is None


def test_ask_refuses_too_few_digits_then_accepts(hotline):
    state = engine.start(hotline, ctx()).state
    step = engine.resume(hotline, state, Reply(digits="1"), ctx())
    step = engine.resume(hotline, step.state, Reply(digits="123"), ctx())
    assert step.prompts == ()  # the fixture gives ask nodes no 'invalid' text
    assert step.state.node == "order_ask" and step.state.attempt == 1
    step = engine.resume(hotline, step.state, Reply(digits="202611250002"), ctx())
    assert step.state.variables["order_id"] == "202611250002"


def test_lookup_fields_become_variables(hotline):
    record = {"status": "in transit", "eta": "Friday"}
    state = engine.start(hotline, ctx()).state
    state = engine.resume(hotline, state, Reply(digits="1"), ctx()).state
    step = engine.resume(
        hotline, state, Reply(digits="123456"), ctx(lookup=lambda s, k, v: record)
    )
    assert texts(step)[0] == "您的订单123456状态为in transit。"
    assert step.state.variables["eta"] == "Friday"


def test_lookup_failure_takes_the_error_path(hotline):
    def down(source, key, variables):
        raise LookupFailed("connection refused")

    state = engine.start(hotline, ctx()).state
    state = engine.resume(hotline, state, Reply(digits="1"), ctx()).state
    step = engine.resume(hotline, state, Reply(digits="123456"), ctx(lookup=down))
    # error: agent_orders, a route: open, order_id != vip -> agent_orders_queue
    assert step.nodes == ("order_lookup", "agent_orders", "agent_orders_queue")
    assert isinstance(step.action, Enqueue) and step.action.queue == "orders"
    assert step.action.priority == 1


def test_route_on_variable_equal_to_a_template(hotline):
    def down(source, key, variables):
        raise LookupFailed("down")

    state = engine.start(hotline, ctx()).state
    state = engine.resume(hotline, state, Reply(digits="1"), ctx()).state
    step = engine.resume(hotline, state, Reply(digits="202611250001"), ctx(lookup=down))
    assert step.nodes[-1] == "agent_general"


def test_closed_hours_route_and_queue_go_to_voicemail(hotline):
    state = engine.start(hotline, ctx(CLOSED)).state
    step = engine.resume(hotline, state, Reply(digits="0"), ctx(CLOSED))
    assert step.nodes == ("agent_general", "voicemail")
    assert isinstance(step.action, Record) and step.action.max_length_s == 120
    after = engine.after_record(hotline, step.state, ctx(CLOSED))
    assert texts(after) == ["感谢您的来电，再见。"] and isinstance(after.action, Hangup)


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ("2026-11-25 07:59", False),  # Wednesday before 08:00
        ("2026-11-25 08:00", True),
        ("2026-11-25 21:59", True),
        ("2026-11-25 22:00", False),
        ("2026-11-28 08:30", False),  # Saturday opens at 09:00
        ("2026-11-28 20:30", True),
        ("2027-02-06 12:00", False),  # a closed day (a Saturday)
    ],
)
def test_opening_hours_in_the_menu_time_zone(hotline, local, is_open):
    from zoneinfo import ZoneInfo

    when = dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert hotline.is_open(when.astimezone(dt.UTC)) is is_open


def test_overnight_hours_wrap_past_midnight():
    hours = Hours(timezone="UTC", weekly={4: ((dt.time(20), dt.time(2)),)})  # Fri
    friday_late = dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)
    saturday_early = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)
    saturday_late = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
    assert hours.is_open(friday_late) and hours.is_open(saturday_early)
    assert not hours.is_open(saturday_late)


def test_estimated_wait_uses_staffing_not_average_queue_time(hotline):
    # general at 12:00 Shanghai: 45 agents, 5 minutes, nobody hangs up: k*h/c.
    assert humanpath.estimated_wait_s(hotline, "general", 9, OPEN) == pytest.approx(60)
    # orders: 30 agents, 4 minutes, 3-minute patience: with j callers ahead the
    # next move comes after 1/(30/240 + j/180) s, as callers ahead may hang up.
    moves = sum(1 / (30 / 240 + j / 180) for j in range(15))
    assert humanpath.estimated_wait_s(hotline, "orders", 15, OPEN) == pytest.approx(
        moves, rel=1e-12
    )
    assert moves < 15 * 240 / 30


def test_queue_result_bridged_or_hangup_ends_the_call(hotline):
    state = engine.CallState("hotline", "agent_orders_queue", 0, {})
    for result in ("bridged", "hangup"):
        step = humanpath.after_queue(hotline, state, result, 30, ctx())
        assert isinstance(step.action, Hangup) and step.prompts == ()


def test_queue_full_goes_to_overflow(hotline):
    state = engine.CallState("hotline", "agent_orders_queue", 0, {})
    step = humanpath.after_queue(hotline, state, "queue-full", 0, ctx())
    assert step.nodes == ("voicemail",)


def test_failed_transfer_goes_to_next_or_the_human_path(tmp_path):
    from ivr.loader import load_menu

    path = tmp_path / "m.yaml"
    path.write_text(
        "start: t\nqueues: {q: {agents: 1}}\nnodes:\n"
        "  t: {transfer: '+8610000000001', next: bye}\n"
        "  bye: {hangup: Bye.}\n"
    )
    menu = load_menu(path, tmp_path)
    step = engine.start(menu, ctx())
    assert isinstance(step.action, Dial) and step.action.number == "+8610000000001"
    answered = engine.after_dial(menu, step.state, "completed", ctx())
    assert isinstance(answered.action, Hangup) and answered.prompts == ()
    busy = engine.after_dial(menu, step.state, "busy", ctx())
    assert texts(busy) == ["Sorry, we could not connect that call.", "Bye."]


def test_fallback_apologises_and_reaches_the_human_path(hotline):
    step = engine.fallback(hotline, {"caller": "x"}, ctx())
    assert texts(step)[0] == "抱歉，系统出现问题，正在为您转接人工服务。"
    assert isinstance(step.action, Enqueue)


def test_fallback_without_a_queue_apologises_and_hangs_up(tmp_path):
    from ivr.loader import load_menu

    path = tmp_path / "m.yaml"
    path.write_text("start: bye\nnodes:\n  bye: {hangup: Bye.}\n")
    step = engine.fallback(load_menu(path, tmp_path), {}, ctx())
    assert isinstance(step.action, Hangup)
    assert texts(step) == [
        "Sorry, something went wrong. Please call again later. Goodbye."
    ]


def test_route_takes_the_first_rule_that_holds():
    from ivr.menu import Prompt, RouteNode, Rule

    node = RouteNode(
        id="r",
        prompt=Prompt(),
        line=1,
        rules=(
            Rule("night", "closed"),
            Rule("vip", ("equals", "tier", "gold")),
            Rule("day", "open"),
            Rule("fallback"),
        ),
    )
    never = lambda name, value: False  # noqa: E731
    assert node.choose(lambda: False, never) == "night"
    assert node.choose(lambda: True, lambda name, value: name == "tier") == "vip"
    assert node.choose(lambda: True, never) == "day"
    assert (
        RouteNode("r", Prompt(), 1, (Rule("a", "open"),)).choose(lambda: False, never)
        is None
    )


def test_local_time_is_the_menu_clock(hotline):
    # 04:00 UTC is noon in Shanghai; a menu without hours keeps UTC.
    assert hotline.local_time(OPEN) == dt.time(12, 0)
    from dataclasses import replace

    assert replace(hotline, hours=None).local_time(OPEN) == dt.time(4, 0)


def test_each_priority_level_of_a_queue_is_its_own_twilio_queue():
    assert engine.twilio_queue_name("shop", "accounts", 1) == "shop.accounts.p1"
    assert engine.twilio_queue_name("shop-en", "orders", 0) == "shop-en.orders.p0"
    long = engine.twilio_queue_name("m" * 40, "q" * 40, 3)
    assert len(long) == 64 and long.startswith("m" * 40)
    assert long != engine.twilio_queue_name("m" * 40, "q" * 40, 4)


def test_the_agent_is_handed_the_facts_collected_never_sensitive_ones(hotline):
    from ivr.menu import QueueNode

    node = QueueNode("q", engine.Prompt(), 1, queue="orders")
    # order_id is marked sensitive in the hotline (its refund ask).
    variables = {"caller": "+8613800000000", "order_id": "202611250001",
                 "tracking": "SF123", "status": "已发货", "empty": " ",
                 "pin": "1234"}  # fmt: skip
    menu = dataclasses.replace(
        hotline,
        nodes={**hotline.nodes, "pin_ask": engine.AskNode(
            "pin_ask", engine.Prompt("PIN"), 1, save_as="pin", sensitive=True)},
    )  # fmt: skip
    assert engine.handover_facts(menu, node, variables) == (
        ("tracking", "SF123"),
        ("status", "已发货"),
    )
    marked = dataclasses.replace(
        node,
        handover=(("tracking", "运单号"), ("order_id", "订单号"), ("pin", "PIN"),
                  ("missing", "无")),
    )  # fmt: skip
    assert engine.handover_facts(menu, marked, variables) == (("运单号", "SF123"),)
