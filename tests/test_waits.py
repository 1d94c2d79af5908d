"""What a holding caller hears: position, the estimated wait as people say it,
when service starts if nobody is on duty, and the callback offer."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from conftest import OPEN, TwilioPost, make_app, said, twiml, verbs

from ivr import humanpath
from ivr.engine import CallContext, CallState
from ivr.loader import load_menu
from ivr.phrases import (
    position_phrase,
    service_start_phrase,
    spoken_forecast,
    spoken_range,
    spoken_wait,
    wait_phrase,
)

# An English line with one queue: nobody before 09:00 or from 18:00 (UTC),
# 10 agents between, 4-minute calls, nobody hangs up, sent on after 10 minutes.
LINE = """\
id: line
title: Test line
language: en-US
start: agent
queues:
  people:
    agents: {"00:00": 0, "09:00": 10, "18:00": 0}
    handle_time: 4m
    callback_after: 5m
    max_wait: 10m
nodes:
  agent:
    queue: people
    overflow: bye
  bye:
    hangup: Goodbye.
"""


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def line_wait(
    tmp_path, when: dt.datetime, position: int, language: str = "en-US"
) -> list[str]:
    """Call the test line (in ``language``) at ``when`` and hear one round of
    waiting at ``position`` (Twilio's QueuePosition), through the Flask test
    client."""
    menus = tmp_path / "menus"
    menus.mkdir(exist_ok=True)
    text = LINE.replace("language: en-US", f"language: {language}")
    (menus / "line.yaml").write_text(text, encoding="utf-8")
    app = make_app(tmp_path, MENUS=str(menus), CLOCK=lambda: when)
    post = TwilioPost(app.test_client())
    enqueue = twiml(post("/voice")).find("Enqueue")
    return twiml(post(enqueue.get("waitUrl"), QueuePosition=str(position)))


def hotline_wait(client, position: int):
    post = TwilioPost(client)
    response = post("/voice")
    response = post(twiml(response).find("Gather").get("action"), Digits="0")
    wait_url = twiml(response).find("Enqueue").get("waitUrl")
    return twiml(post(wait_url, QueuePosition=str(position), QueueTime="30"))


def test_wait_under_a_minute_is_said_as_less_than_a_minute(client):
    # general at 12:00 Shanghai: 45 agents, 5-minute calls: 3 x 300/45 = 20 s.
    root = hotline_wait(client, 3)
    assert said(root) == ["您前面还有2位客户在等待，预计等待不到1分钟。"]
    assert root.find("Pause").get("length") == "60"


def test_wait_of_a_few_minutes_is_said_to_the_nearest_minute(client):
    # 10 x 300/45 = 67 s: about 1 minute, not rounded up to 2.
    assert said(hotline_wait(client, 10)) == [
        "您前面还有9位客户在等待，预计等待约1分钟。"
    ]
    # 20 x 300/45 = 133 s = 2.2 minutes: about 2.
    assert said(hotline_wait(client, 20)) == [
        "您前面还有19位客户在等待，预计等待约2分钟。"
    ]
    # 80 x 300/45 = 533 s = 8.9 minutes: about 9 (right 96 times in 100).
    assert said(hotline_wait(client, 80)) == [
        "您前面还有79位客户在等待，预计等待约9分钟。"
    ]


def test_one_caller_ahead_and_next_in_line_are_said_in_the_singular(tmp_path):
    # 10 agents, 4 minutes: position 2 waits 48 s.
    noon = utc("2026-11-25 12:00")
    assert said(line_wait(tmp_path, noon, 2)) == [
        "There is 1 caller ahead of you. Your estimated wait is less than a minute."
    ]
    assert said(line_wait(tmp_path, noon, 1)) == [
        "You are next in line. Your estimated wait is less than a minute."
    ]
    # Position 16: 16 x 24 = 384 s = 6.4 minutes on average, a callback is
    # offered (> 5m); too spread for "about 6 minutes" (see below).
    root = line_wait(tmp_path, noon, 16)
    assert said(root)[0] == (
        "There are 15 callers ahead of you. Your wait is likely to be 4 to 9 minutes."
    )
    assert root.find("Gather") is not None


def test_wait_past_max_wait_is_said_as_more_than_max_wait(tmp_path):
    # Position 40: 960 s, past the queue's 10-minute max_wait.
    root = line_wait(tmp_path, utc("2026-11-25 12:00"), 40)
    assert said(root)[0] == (
        "There are 39 callers ahead of you. "
        "Your estimated wait is more than 10 minutes."
    )


def test_nobody_on_duty_hears_when_service_starts_not_soon(tmp_path):
    root = line_wait(tmp_path, utc("2026-11-25 07:30"), 3)
    assert said(root)[0] == (
        "There are 2 callers ahead of you. No agents are on duty right now. "
        "Service starts at 9:00 AM today."
    )
    # The wait until 09:00 passes callback_after: a callback is offered.
    assert root.find("Gather") is not None
    late = line_wait(tmp_path, utc("2026-11-25 19:00"), 1)
    assert said(late)[0] == (
        "You are next in line. No agents are on duty right now. "
        "Service starts at 9:00 AM tomorrow."
    )
    assert verbs(late)[-1] == "Pause"


def test_nobody_on_duty_in_chinese_on_the_menu_clock(tmp_path):
    path = tmp_path / "lunch.yaml"
    path.write_text(
        "id: lunch\ntitle: 午休\nlanguage: zh-CN\nstart: agent\n"
        "hours: {timezone: Asia/Shanghai, weekly: {mon-sun: '08:00-22:00'}}\n"
        "queues:\n  people:\n"
        "    agents: {'08:00': 10, '12:00': 0, '13:30': 10, '22:00': 0}\n"
        "nodes:\n  agent: {queue: people, closed: bye}\n  bye: {hangup: 再见。}\n",
        encoding="utf-8",
    )
    menu = load_menu(path)
    at = dt.datetime(2026, 11, 25, 12, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    state = CallState("lunch", "agent", 0, {})
    step = humanpath.queue_wait(menu, state, 2, 30, CallContext(now=at))
    assert step.prompts[0].text == (
        "您前面还有1位客户在等待，目前没有客服人员值班，人工服务将于今天下午1点30分开始。"
    )
    # At 13:30 ten agents come on at once and answer the first ten callers.
    assert step.estimated_wait_s == pytest.approx(80 * 60)
    later = humanpath.queue_wait(menu, state, 25, 30, CallContext(now=at))
    assert later.estimated_wait_s == pytest.approx(80 * 60 + 15 * 240 / 10)


def test_agents_on_shift_from_the_agent_line_replace_the_plan(hotline):
    state = CallState("hotline", "agent_general", 0, {})
    # The plan says 45 agents at 12:00; the agent line knows 15 are on shift.
    planned = humanpath.queue_wait(hotline, state, 60, 0, CallContext(now=OPEN))
    known = humanpath.queue_wait(
        hotline, state, 60, 0, CallContext(now=OPEN), on_shift=15
    )
    assert planned.estimated_wait_s == pytest.approx(60 * 300 / 45)
    assert known.estimated_wait_s == pytest.approx(60 * 300 / 15)
    assert known.prompts[0].text == "您前面还有59位客户在等待，预计等待约20分钟。"
    nobody = humanpath.queue_wait(
        hotline, state, 1, 0, CallContext(now=OPEN), on_shift=0
    )
    assert nobody.prompts[0].text == "您是下一位，目前没有客服人员值班，请耐心等待。"


@pytest.mark.parametrize(
    ("seconds", "max_wait_s", "kind", "minutes"),
    [
        (0, None, "under_minute", 0),
        (59.9, None, "under_minute", 0),
        (60, None, "about", 1),
        (89, None, "about", 1),  # the nearest minute, never rounded up by habit
        (91, None, "about", 2),
        (10 * 60 + 29, None, "about", 10),
        (12 * 60 + 20, None, "about", 10),  # past ten minutes: steps of five
        (12 * 60 + 40, None, "about", 15),
        (41 * 60, None, "about", 40),  # past half an hour: steps of ten
        (64 * 60, None, "about", 60),
        (80 * 60, None, "about", 90),  # past an hour: half hours
        (14 * 60, 15 * 60, "about", 15),
        (16 * 60, 15 * 60, "over", 15),  # past max_wait
        (438 * 60, 20 * 60, "over", 20),
    ],
)
def test_spoken_wait_steps(seconds, max_wait_s, kind, minutes):
    wait = spoken_wait(seconds, max_wait_s)
    assert (wait.kind, wait.minutes) == (kind, minutes)


def test_spoken_wait_bounds_cover_what_the_words_claim():
    def bounds(wait):
        return wait.low_s, wait.high_s

    assert bounds(spoken_wait(30)) == (0.0, 60.0)
    assert bounds(spoken_wait(200)) == (180.0, 180.0)
    assert bounds(spoken_wait(1000, 900)) == (900.0, math.inf)


@pytest.mark.parametrize(
    ("minutes", "english", "chinese"),
    [
        (1, "about 1 minute.", "约1分钟。"),
        (2, "about 2 minutes.", "约2分钟。"),
        (60, "about an hour.", "约1小时。"),
        (90, "about an hour and a half.", "约1个半小时。"),
        (120, "about 2 hours.", "约2小时。"),
        (150, "about 2 and a half hours.", "约2个半小时。"),
    ],
)
def test_wait_phrases_read_naturally(minutes, english, chinese):
    wait = spoken_wait(minutes * 60)
    assert wait_phrase("en-US", wait) == f"Your estimated wait is {english}"
    assert wait_phrase("zh-CN", wait) == f"预计等待{chinese}"


def test_position_phrases_count_the_callers_ahead():
    assert [position_phrase("en-US", k) for k in (1, 2, 3)] == [
        "You are next in line. ",
        "There is 1 caller ahead of you. ",
        "There are 2 callers ahead of you. ",
    ]
    assert [position_phrase("zh-CN", k) for k in (1, 2, 3)] == [
        "您是下一位，",
        "您前面还有1位客户在等待，",
        "您前面还有2位客户在等待，",
    ]


def test_service_start_says_the_day_and_the_time():
    now = dt.datetime(2026, 11, 25, 23, 10)  # a Wednesday night

    def start(days, hour, minute=0):
        return dt.datetime(2026, 11, 25 + days, hour, minute)

    assert service_start_phrase("zh-CN", start(1, 8), now).endswith("明天上午8点开始。")
    assert service_start_phrase("zh-CN", start(0, 23, 30), now).endswith(
        "今天晚上11点30分开始。"
    )
    assert service_start_phrase("en-US", start(1, 8), now).endswith(
        "Service starts at 8:00 AM tomorrow."
    )
    assert service_start_phrase("en-US", start(3, 13, 30), now).endswith(
        "Service starts at 1:30 PM on Saturday."
    )


# Two levels in one queue: callers who checked their identity go first.
LEVELS = """\
id: levels
title: Test line with priority
language: en-US
start: pick
queues:
  people:
    agents: 10
    handle_time: 4m
    patience: 3m
    callback_after: 5m
    max_wait: 20m
nodes:
  pick:
    say: Press 1 if you have checked your identity.
    options:
      "1": agent_first
      "2": agent
    on_fail: agent
  agent:
    queue: people
    overflow: bye
  agent_first:
    queue: people
    priority: 1
    overflow: bye
  bye:
    hangup: Goodbye.
"""


def levels_wait(tmp_path, position, higher_per_s):
    path = tmp_path / "levels.yaml"
    path.write_text(LEVELS, encoding="utf-8")
    menu = load_menu(path)
    state = CallState("levels", "agent", 0, {})
    ctx = CallContext(now=OPEN, caller="+8613800000001")
    return humanpath.queue_wait(
        menu, state, position, 0, ctx, higher_per_s=higher_per_s
    )


def test_a_caller_who_can_be_overtaken_hears_the_likely_range(tmp_path):
    # 10 agents on 4-minute calls answer 10/240 a second; callers of priority 1
    # join at 90% of that. Position 12 waits 6.5 minutes on average (median
    # 5.8), likely (10th to 90th percentile) 2.6 to 11.2 minutes, said in
    # people's steps: "3 to 10 minutes" (past 10 minutes, steps of five).
    step = levels_wait(tmp_path, 12, 0.9 * 10 / 240)
    assert step.prompts[0].text == (
        "There are 11 callers ahead of you. Callers with priority may be "
        "answered before you, so your wait is likely to be 3 to 10 minutes."
    )
    assert step.estimated_wait_s == pytest.approx(387.9, abs=0.1)
    # More likely than not past callback_after (5 minutes): offered.
    assert step.offer_callback
    # Nobody overtaking: a mean of 3 minutes, but 12 calls of 4 minutes among
    # 10 agents end too unevenly for "about 3 minutes" (right 74 times in
    # 100): the likely range, without the priority callers.
    plain = levels_wait(tmp_path, 12, None)
    assert plain.prompts[0].text == (
        "There are 11 callers ahead of you. Your wait is likely to be 2 to 4 minutes."
    )
    assert not plain.offer_callback


def test_the_callback_offer_for_an_overtaken_caller_weighs_the_median(tmp_path):
    # Position 4 with priority callers joining at 1.2 times the agents' rate
    # (patience keeps it finite): a mean of 6.1 minutes, pulled up by a long
    # tail, a median of 4.2. More likely than not answered within
    # callback_after (5 minutes): no offer.
    step = levels_wait(tmp_path, 4, 1.2 * 10 / 240)
    assert step.estimated_wait_s == pytest.approx(364, abs=1)
    assert step.prompts[0].text.endswith("your wait is likely to be under 15 minutes.")
    assert not step.offer_callback
    # At 1.4 times, position 3: a mean of 8.0 minutes, a median of 4.7; at
    # 1.1 times, position 7: a median of 5.5 minutes, offered.
    assert not levels_wait(tmp_path, 3, 1.4 * 10 / 240).offer_callback
    assert levels_wait(tmp_path, 7, 1.1 * 10 / 240).offer_callback


@pytest.mark.parametrize(
    ("low_s", "high_s", "max_wait_s", "kind", "minutes", "top", "bounds"),
    [
        (130, 610, 1200, "range", 2, 10, (120.0, 600.0)),
        (20, 350, 1200, "range", 0, 6, (0.0, 360.0)),  # "under 6 minutes"
        (250, 1500, 1200, "range", 4, 20, (240.0, math.inf)),  # open past max_wait
        (30, 1500, 1200, "range", 0, 20, (0.0, math.inf)),
        (250, 1500, None, "range", 4, 25, (240.0, 1500.0)),
        (2400, 5600, None, "range", 40, 90, (2400.0, 5400.0)),
        (100, 130, 1200, "about", 2, 0, (120.0, 120.0)),  # both ends the same
        (10, 50, 1200, "under_minute", 0, 0, (0.0, 60.0)),
        (1300, 3000, 1200, "over", 20, 0, (1200.0, math.inf)),
    ],
)
def test_spoken_range_steps(low_s, high_s, max_wait_s, kind, minutes, top, bounds):
    wait = spoken_range(low_s, high_s, max_wait_s)
    assert (wait.kind, wait.minutes, wait.top_minutes) == (kind, minutes, top)
    assert (wait.low_s, wait.high_s) == bounds


@pytest.mark.parametrize(
    ("low_s", "high_s", "max_wait_s", "english", "chinese"),
    [
        (130, 610, 1200, "is likely to be 2 to 10 minutes.", "预计等待2到10分钟。"),
        (20, 350, 1200, "is likely to be under 6 minutes.", "预计等待6分钟以内。"),
        (
            250,
            1500,
            1200,
            "is likely to be 4 minutes or more, possibly more than 20 minutes.",
            "预计等待4分钟以上，可能超过20分钟。",
        ),
        (
            30,
            1500,
            1200,
            "could be anything from less than a minute to more than 20 minutes.",
            "等待时间可能不到1分钟，也可能超过20分钟。",
        ),
        (
            2400,
            5600,
            None,
            "is likely to be 40 minutes to an hour and a half.",
            "预计等待40分钟到1个半小时。",
        ),
        (65, 100, None, "is likely to be 1 to 2 minutes.", "预计等待1到2分钟。"),
        (
            250,
            math.inf,
            None,
            "is likely to be 4 minutes or more.",
            "预计等待4分钟以上。",
        ),
    ],
)
def test_range_phrases_read_naturally(low_s, high_s, max_wait_s, english, chinese):
    # Said to a caller whom callers of a higher priority may overtake: why.
    wait = spoken_range(low_s, high_s, max_wait_s, overtaken=True)
    assert wait_phrase("en-US", wait) == (
        "Callers with priority may be answered before you, so your wait " + english
    )
    assert wait_phrase("zh-CN", wait) == "优先处理的客户可能先于您接通，" + chinese
    # Said because the wait is too spread for one figure: the range alone.
    plain = spoken_range(low_s, high_s, max_wait_s)
    assert wait_phrase("en-US", plain) == "Your wait " + english
    assert wait_phrase("zh-CN", plain) == chinese


def test_estimated_wait_counts_the_callers_who_overtake(tmp_path):
    path = tmp_path / "levels.yaml"
    path.write_text(LEVELS, encoding="utf-8")
    menu = load_menu(path)
    plain = humanpath.estimated_wait_s(menu, "people", 12, OPEN)
    overtaken = humanpath.estimated_wait_s(
        menu, "people", 12, OPEN, higher_per_s=0.9 * 10 / 240
    )
    assert plain == pytest.approx(179.6, abs=0.1)  # 12 ahead, some hang up
    assert overtaken == pytest.approx(387.9, abs=0.1)
    assert humanpath.estimated_wait_s(
        menu, "people", 12, OPEN, higher_per_s=0.0
    ) == pytest.approx(plain, rel=1e-12)


# The test line at noon: 10 agents on 4-minute calls, nobody hangs up, so the
# wait at position k is the sum of k calls' ends among 10 agents: a gamma
# (Erlang) variable of mean k x 24 s.
@pytest.mark.parametrize(
    ("position", "english", "chinese"),
    [
        # 48 s: over 2 minutes (past the tolerance of "less than a minute")
        # 4% of the time: said.
        (
            2,
            "There is 1 caller ahead of you. Your estimated wait is less than a minute.",
            "您前面还有1位客户在等待，预计等待不到1分钟。",
        ),
        # 120 s on average, but 5 calls' ends come within a minute 11% of the
        # time and after 3 minutes 13%: "about 2 minutes" is right only 76% of
        # the time. The 10th to 90th percentile, 58 s to 192 s.
        (
            5,
            "There are 4 callers ahead of you. Your wait is likely to be under 3 minutes.",
            "您前面还有4位客户在等待，预计等待3分钟以内。",
        ),
        # 384 s on average, "about 6 minutes" right 69% of the time; the 10th
        # to 90th percentile 4.5 to 8.5 minutes.
        (
            16,
            "There are 15 callers ahead of you. Your wait is likely to be 4 to 9 minutes.",
            "您前面还有15位客户在等待，预计等待4到9分钟。",
        ),
        # 600 s on average, past the 10-minute max_wait 47% of the time:
        # "about 10 minutes" right 79% of the time; from 7.5 minutes (10th).
        (
            25,
            "There are 24 callers ahead of you. Your wait is likely to be 8 minutes "
            "or more, possibly more than 10 minutes.",
            "您前面还有24位客户在等待，预计等待8分钟以上，可能超过10分钟。",
        ),
    ],
)
def test_a_wait_too_spread_for_one_figure_is_said_as_its_likely_range(
    tmp_path, position, english, chinese
):
    noon = utc("2026-11-25 12:00")
    assert said(line_wait(tmp_path, noon, position))[0] == english
    assert said(line_wait(tmp_path, noon, position, "zh-CN"))[0] == chinese


def _erlang_within(k: int, mean_s: float, low_s: float, high_s: float) -> float:
    """P(low <= X <= high) for X the sum of ``k`` exponentials of ``mean_s``
    (P(X <= t) = P(Poisson(t/mean) >= k)), computed apart from the estimate."""

    def below(t: float) -> float:
        if math.isinf(t):
            return 1.0
        m = t / mean_s
        return 1.0 - sum(math.exp(-m + i * math.log(m) - math.lgamma(i + 1))
                         for i in range(k)) if m > 0 else 0.0  # fmt: skip

    return below(high_s) - below(low_s)


def test_one_figure_is_said_only_when_it_is_right_nine_times_in_ten():
    # Fixed staffing, nobody hanging up: the wait is exactly Erlang, so the
    # chance the one figure is right (within 25% or 60 s, the looser) is known
    # apart from the estimate. Said when at least 0.9, else the likely range.
    from ivr.estimate import wait_forecast
    from ivr.phrases import tolerated

    figures = ranges = 0
    for agents, handle_s in ((10, 240.0), (20, 420.0), (60, 240.0), (3, 300.0)):
        per_call = handle_s / agents
        for position in (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200):
            forecast = wait_forecast(position, [(0.0, agents)], 0.0, handle_s)
            figure = spoken_wait(forecast.mean_s, 1800.0)
            chance = _erlang_within(position, per_call, *tolerated(
                figure.low_s, figure.high_s))  # fmt: skip
            assert forecast.chance(*figure.tolerated()) == pytest.approx(
                chance, abs=1e-9
            )
            if abs(chance - 0.9) < 1e-6:
                continue
            words = spoken_forecast(forecast, 1800.0)
            if chance >= 0.9:
                assert words == figure
                figures += 1
            else:
                assert words.kind == "range" and not words.overtaken
                # The range's ends are the 10th and 90th percentiles, said.
                assert words == spoken_range(forecast.low_s, forecast.high_s, 1800.0)
                assert (
                    _erlang_within(position, per_call, words.low_s, words.high_s)
                    >= 0.65
                )  # ends rounded to people's steps
                ranges += 1
    assert figures >= 15 and ranges >= 10
