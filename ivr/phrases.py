"""What the line itself says, in the menu's language: apologies, waits, callbacks.

Designers write their own prompts; these few sentences belong to the engine (the
hold announcement, the callback offer, the apology after a fault). Chinese and
English are built in; other languages fall back to English.

A wait is said the way a person would say it (``spoken_wait``): "less than a
minute", then the nearest minute, coarser steps as the wait grows (5 minutes
past 10, 10 past 30, half hours past an hour), and "more than N minutes" once
the estimate passes the queue's ``max_wait``. Nothing is rounded up by habit.

One figure is said only when the forecast makes it likely to be right: within
``TOLERANCE`` (25%) or ``TOLERANCE_S`` (60 s) of the wait, whichever is looser,
at least ``SURE`` (9 times in 10) of the time. A wait too spread for that (a few
long calls ahead, callers of a higher priority joining ahead) is said as the
range it likely falls in (``spoken_forecast``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.estimate import WaitForecast

__all__ = [
    "SURE",
    "TOLERANCE",
    "TOLERANCE_S",
    "SpokenWait",
    "dates_phrase",
    "duration_phrase",
    "phrase",
    "position_phrase",
    "service_start_phrase",
    "spoken_forecast",
    "spoken_range",
    "spoken_wait",
    "tolerated",
    "wait_phrase",
    "when_phrase",
]

TOLERANCE = 0.25  # a wait said is right within 25% of the actual wait ...
TOLERANCE_S = 60.0  # ... or within 60 s, whichever is looser
SURE = 0.9  # one figure is said when it is right at least this often

_PHRASES = {
    "zh": {
        "apology": "抱歉，系统出现问题，正在为您转接人工服务。",
        "apology_bye": "抱歉，系统出现问题，请稍后再拨。再见。",
        "position_next": "您是下一位，",
        "position": "您前面还有{ahead}位客户在等待，",
        "wait_under_minute": "预计等待不到1分钟。",
        "wait_minutes": "预计等待约{minutes}分钟。",
        "wait_hours": "预计等待约{hours}小时。",
        "wait_half_hours": "预计等待约{hours}个半小时。",
        "wait_over": "预计等待超过{minutes}分钟。",
        "wait_range_overtaken": "优先处理的客户可能先于您接通，{range}",
        "wait_range": "预计等待{low}到{high}。",
        "wait_range_minutes": "预计等待{low}到{high}分钟。",
        "wait_range_under": "预计等待{high}以内。",
        "wait_range_open": "预计等待{low}以上，可能超过{over}分钟。",
        "wait_range_unknown": "等待时间可能不到1分钟，也可能超过{over}分钟。",
        "wait_range_or_more": "预计等待{low}以上。",
        "wait_range_none": "等待时间暂时无法估计。",
        "amount_minutes": "{minutes}分钟",
        "amount_hours": "{hours}小时",
        "amount_half_hours": "{hours}个半小时",
        "no_estimate": "请耐心等待，客服人员将尽快为您服务。",
        "nobody_on_duty": "目前没有客服人员值班，请耐心等待。",
        "service_starts": "目前没有客服人员值班，人工服务将于{when}开始。",
        "callback_offer": "如需我们稍后回电，请按1。",
        "callback_confirm": (
            "好的，客服人员将尽快回电至您的来电号码。感谢您的耐心，再见。"
        ),
        "overflow": "抱歉，目前等待时间较长。",
        "transfer_failed": "抱歉，转接未能接通。",
        "goodbye": "感谢您的来电，再见。",
        "line_closed": "抱歉，人工服务时间已结束。",
        "callback_promise": (
            "好的，客服人员将{when}回电至您尾号{last4}的来电号码。感谢您的耐心，再见。"
        ),
        "callback_soon": "尽快",
        "callback_within": "在约{minutes}内",
        "callback_after_open": "于{when}后",
        "connecting": "正在为您接通客服人员。",
        "whisper": (
            "您好，这里是{line}，回电处理您申请的{topic}。正在为您接通客服人员。"
        ),
        "agent_not_staff": "您好，此号码仅供客服人员使用，请拨打客服热线。再见。",
        "agent_hello": "{agent}，您好。",
        "agent_waiting": (
            "您负责的队列中有{callers}位客户在等待，{callbacks}个回电待拨打。"
        ),
        "agent_nobody": "您负责的队列中目前没有客户在等待。",
        "agent_choices": "接听下一位请按1，结束工作请按9。",
        "agent_caller": "来电客户，{topic}，已等待{waited}。",
        "agent_callback": "回电，{topic}，客户{asked}前申请回电，第{attempt}次拨打。",
        "agent_fact": "{label}：{value}",
        "agent_facts_join": "，",
        "agent_facts_end": "。",
        "agent_connect": "正在接通客户。",
        "agent_dialing": "正在拨打客户电话。",
        "agent_bye": "已结束工作，辛苦了，再见。",
        "agent_fault": "抱歉，派单系统暂时不可用，请稍后再试。",
        "duration_under_minute": "不到1分钟",
        "duration_minutes": "{minutes}分钟",
    },
    "en": {
        "apology": "Sorry, something went wrong. Connecting you to an agent.",
        "apology_bye": "Sorry, something went wrong. Please call again later. Goodbye.",
        "position_next": "You are next in line. ",
        "position_one": "There is 1 caller ahead of you. ",
        "position": "There are {ahead} callers ahead of you. ",
        "wait_under_minute": "Your estimated wait is less than a minute.",
        "wait_minute": "Your estimated wait is about 1 minute.",
        "wait_minutes": "Your estimated wait is about {minutes} minutes.",
        "wait_hour": "Your estimated wait is about an hour.",
        "wait_hour_half": "Your estimated wait is about an hour and a half.",
        "wait_hours": "Your estimated wait is about {hours} hours.",
        "wait_half_hours": "Your estimated wait is about {hours} and a half hours.",
        "wait_over": "Your estimated wait is more than {minutes} minutes.",
        "wait_range_overtaken": (
            "Callers with priority may be answered before you, so {range}"
        ),
        "wait_range": "your wait is likely to be {low} to {high}.",
        "wait_range_minutes": "your wait is likely to be {low} to {high} minutes.",
        "wait_range_under": "your wait is likely to be under {high}.",
        "wait_range_open": (
            "your wait is likely to be {low} or more, possibly more than {over} "
            "minutes."
        ),
        "wait_range_unknown": (
            "your wait could be anything from less than a minute to more than "
            "{over} minutes."
        ),
        "wait_range_or_more": "your wait is likely to be {low} or more.",
        "wait_range_none": "we cannot tell how long your wait will be.",
        "amount_minute": "1 minute",
        "amount_minutes": "{minutes} minutes",
        "amount_hour": "an hour",
        "amount_hour_half": "an hour and a half",
        "amount_hours": "{hours} hours",
        "amount_half_hours": "{hours} and a half hours",
        "no_estimate": "Please hold, an agent will be with you as soon as possible.",
        "nobody_on_duty": "No agents are on duty right now. Please hold.",
        "service_starts": "No agents are on duty right now. Service starts {when}.",
        "callback_offer": "To have us call you back instead, press 1.",
        "callback_confirm": (
            "Thank you. An agent will call you back at the number you are calling "
            "from. Goodbye."
        ),
        "overflow": "Sorry, the wait is longer than usual.",
        "transfer_failed": "Sorry, we could not connect that call.",
        "goodbye": "Thank you for calling. Goodbye.",
        "line_closed": "Sorry, the line has now closed for the day.",
        "callback_promise": (
            "Thank you. An agent will call you back {when} at the number ending "
            "{last4} you are calling from. Goodbye."
        ),
        "callback_soon": "as soon as possible",
        "callback_within": "within about {minutes}",
        "callback_after_open": "after the line opens {when}",
        "connecting": "Connecting you to an agent now.",
        "whisper": (
            "Hello, this is {line}, calling you back about your {topic} request. "
            "Connecting you to an agent now."
        ),
        "agent_not_staff": (
            "Hello. This number is for staff only. Please call the customer "
            "service line. Goodbye."
        ),
        "agent_hello": "Hello {agent}. ",
        "agent_waiting": "Waiting in your queues: {callers} and {callbacks}. ",
        "n_caller": "1 caller",
        "n_callers": "{n} callers",
        "n_callback": "1 callback",
        "n_callbacks": "{n} callbacks",
        "agent_nobody": "Nobody is waiting in your queues. ",
        "agent_choices": "Press 1 to take the next one, 9 to stop working.",
        "agent_caller": "Caller, {topic}, waited {waited}. ",
        "agent_callback": "Callback, {topic}, asked {asked} ago, attempt {attempt}. ",
        "agent_fact": "{label}: {value}",
        "agent_facts_join": ". ",
        "agent_facts_end": ". ",
        "agent_connect": "Connecting.",
        "agent_dialing": "Dialling the customer.",
        "agent_bye": "You have stopped working. Goodbye.",
        "agent_fault": "Sorry, the line cannot hand out calls right now. Try again.",
        "duration_under_minute": "less than a minute",
        "duration_minute": "1 minute",
        "duration_minutes": "{minutes} minutes",
    },
}


def _table(language: str) -> dict[str, str]:
    return _PHRASES.get(language.split("-")[0].lower(), _PHRASES["en"])


def phrase(language: str, name: str, **values: object) -> str:
    """The built-in sentence ``name`` in ``language`` (e.g. ``zh-CN``)."""
    return _table(language)[name].format(**values)


@dataclass(frozen=True)
class SpokenWait:
    """An estimated wait as it is said, and the range of waits the words cover.

    ``kind`` is ``under_minute`` ("less than a minute": 0 to 60 s), ``about``
    ("about N minutes": exactly ``minutes``), ``over`` ("more than N
    minutes": from ``minutes`` on) or ``range`` ("likely to be N to M
    minutes": from ``minutes``, 0 meaning less than a minute, to
    ``top_minutes``, or on for ever past the queue's ``max_wait``, which
    ``top_minutes`` then is, 0 without one). ``low_s``/``high_s`` bound what
    was said, so a score can tell whether the caller was told the truth.
    ``overtaken``: a range said because callers of a higher priority may be
    answered first, which the caller is told.
    """

    kind: str
    minutes: int
    low_s: float
    high_s: float
    top_minutes: int = 0
    overtaken: bool = False

    def tolerated(self) -> tuple[float, float]:
        """The actual waits these words are right about (``tolerated``)."""
        return tolerated(self.low_s, self.high_s)


def tolerated(low_s: float, high_s: float) -> tuple[float, float]:
    """The actual waits for which words covering ``low_s``–``high_s`` are right.

    A wait said is right when it is within ``TOLERANCE`` of the actual wait or
    ``TOLERANCE_S``, whichever is looser (a range: its nearer end, or inside
    it). So a wait ``w`` below ``low_s`` is allowed from the lower of
    ``low_s − 60`` and ``0.8 low_s`` (``low_s − w <= 0.25 w``), and one above
    ``high_s`` up to the higher of ``high_s + 60`` and ``high_s / 0.75``.
    """
    low = min(low_s - TOLERANCE_S, low_s / (1.0 + TOLERANCE))
    high = max(high_s + TOLERANCE_S, high_s / (1.0 - TOLERANCE))
    return max(low, 0.0), high


def spoken_wait(seconds: float, max_wait_s: float | None = None) -> SpokenWait:
    """How an estimate of ``seconds`` is said: people's steps, never rounded up.

    Under a minute: "less than a minute". Up to ten minutes: the nearest minute;
    then the nearest 5 minutes up to half an hour, the nearest 10 up to an
    hour, the nearest half hour beyond. Past the queue's ``max_wait_s`` (where
    the caller will be sent on anyway): "more than" that many minutes.
    """
    if max_wait_s is not None and seconds > max_wait_s:
        minutes = max(1, int(max_wait_s // 60))
        return SpokenWait("over", minutes, minutes * 60.0, math.inf)
    if seconds < 60:
        return SpokenWait("under_minute", 0, 0.0, 60.0)
    exact = seconds / 60
    for below, step in ((10.5, 1), (32.5, 5), (65.0, 10), (math.inf, 30)):
        if exact < below:
            minutes = max(step, math.floor(exact / step + 0.5) * step)
            return SpokenWait("about", minutes, minutes * 60.0, minutes * 60.0)
    raise AssertionError("unreachable")  # pragma: no cover


def wait_phrase(language: str, wait: SpokenWait) -> str:
    """The sentence that tells the caller ``wait``, with the right plural."""
    table = _table(language)
    if wait.kind == "range":
        return _range_phrase(table, wait)
    if wait.kind == "under_minute":
        return table["wait_under_minute"]
    if wait.kind == "over":
        return table["wait_over"].format(minutes=wait.minutes)
    if wait.minutes < 60:
        if wait.minutes == 1 and "wait_minute" in table:
            return table["wait_minute"]
        return table["wait_minutes"].format(minutes=wait.minutes)
    hours, half = divmod(wait.minutes, 60)
    if hours == 1 and "wait_hour" in table:
        return table["wait_hour_half" if half else "wait_hour"]
    return table["wait_half_hours" if half else "wait_hours"].format(hours=hours)


def spoken_range(
    low_s: float,
    high_s: float,
    max_wait_s: float | None = None,
    *,
    overtaken: bool = False,
) -> SpokenWait:
    """How a range of waits is said: each end in people's steps (``spoken_wait``).

    For a wait too spread for one figure, that figure would be a promise the
    line cannot keep: the caller hears the range their wait likely falls in
    ("2 to 9 minutes", "under 4 minutes", "5 minutes or more, possibly more
    than 20 minutes" past the queue's ``max_wait_s``), prefaced, when
    ``overtaken``, by why (callers with priority may go first). When both ends
    come out the same, that one figure is said as ``spoken_wait`` says it.
    """
    if max_wait_s is not None and low_s > max_wait_s:
        return spoken_wait(low_s, max_wait_s)
    if math.isinf(low_s):  # no max_wait, and no telling: the wait is open
        return SpokenWait("range", 0, 0.0, math.inf, 0, overtaken)
    low = spoken_wait(low_s)
    bottom = 0 if low.kind == "under_minute" else low.minutes
    if math.isinf(high_s) and max_wait_s is None:
        return SpokenWait("range", bottom, bottom * 60.0, math.inf, 0, overtaken)
    high = spoken_wait(high_s, max_wait_s)
    if high.kind == "over":
        return SpokenWait(
            "range", bottom, bottom * 60.0, math.inf, high.minutes, overtaken
        )
    if high.kind == "under_minute":
        return high
    if bottom >= high.minutes:
        return spoken_wait(high.minutes * 60.0, max_wait_s)
    return SpokenWait(
        "range", bottom, bottom * 60.0, high.minutes * 60.0, high.minutes, overtaken
    )


def spoken_forecast(
    forecast: WaitForecast, max_wait_s: float | None = None
) -> SpokenWait:
    """What the line says of a wait forecast, on the live line and in the
    simulator alike.

    A caller whom callers of a higher priority may overtake hears the range
    their wait likely falls in (``forecast.low_s`` to ``high_s``), and why.
    Anyone else hears one figure, the mean as ``spoken_wait`` says it, when
    the forecast gives it at least ``SURE`` chances of being right (within
    the ``tolerated`` waits); a wait too spread for that (a few long calls
    ahead: the next one may end in seconds or in ten minutes) is said as the
    likely range instead.
    """
    if forecast.overtaken:
        return spoken_range(forecast.low_s, forecast.high_s, max_wait_s, overtaken=True)
    figure = spoken_wait(forecast.mean_s, max_wait_s)
    if forecast.chance(*figure.tolerated()) >= SURE:
        return figure
    return spoken_range(forecast.low_s, forecast.high_s, max_wait_s)


def _amount(table: dict[str, str], minutes: int) -> str:
    """A length of time as the end of a range: "9 minutes", "an hour and a half"."""
    if minutes < 60:
        if minutes == 1 and "amount_minute" in table:
            return table["amount_minute"]
        return table["amount_minutes"].format(minutes=minutes)
    hours, half = divmod(minutes, 60)
    if hours == 1 and "amount_hour" in table:
        return table["amount_hour_half" if half else "amount_hour"]
    return table["amount_half_hours" if half else "amount_hours"].format(hours=hours)


def _range_phrase(table: dict[str, str], wait: SpokenWait) -> str:
    body = _range_body(table, wait)
    if wait.overtaken:
        return table["wait_range_overtaken"].format(range=body)
    return body[:1].upper() + body[1:]


def _range_body(table: dict[str, str], wait: SpokenWait) -> str:
    if math.isinf(wait.high_s):
        low = _amount(table, wait.minutes)
        if not wait.top_minutes:  # no max_wait to name
            if wait.minutes == 0:
                return table["wait_range_none"]
            return table["wait_range_or_more"].format(low=low)
        if wait.minutes == 0:
            return table["wait_range_unknown"].format(over=wait.top_minutes)
        return table["wait_range_open"].format(low=low, over=wait.top_minutes)
    high = _amount(table, wait.top_minutes)
    if wait.minutes == 0:
        return table["wait_range_under"].format(high=high)
    if wait.top_minutes < 60:
        return table["wait_range_minutes"].format(
            low=wait.minutes, high=wait.top_minutes
        )
    return table["wait_range"].format(low=_amount(table, wait.minutes), high=high)


def position_phrase(language: str, position: int) -> str:
    """Where the caller is: next in line, or how many callers are ahead."""
    table = _table(language)
    ahead = max(position - 1, 0)
    if ahead == 0:
        return table["position_next"]
    if ahead == 1 and "position_one" in table:
        return table["position_one"]
    return table["position"].format(ahead=ahead)


_ZH_PERIODS = ((6, "凌晨"), (12, "上午"), (13, "中午"), (18, "下午"), (24, "晚上"))
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                "Saturday", "Sunday")  # fmt: skip


def when_phrase(language: str, start: dt.datetime, now: dt.datetime) -> str:
    """A time to come as people say it: "明天上午8点", "at 8:00 AM tomorrow".

    ``start`` and ``now`` are local times in the menu's time zone; the day is
    said as today, tomorrow, or the weekday / date when it is further off.
    """
    days = (start.date() - now.date()).days
    if language.split("-")[0].lower() == "zh":
        day = {0: "今天", 1: "明天", 2: "后天"}.get(
            days, f"{start.month}月{start.day}日"
        )
        period = next(name for end, name in _ZH_PERIODS if start.hour < end)
        hour = start.hour if start.hour <= 12 else start.hour - 12
        clock = f"{hour}点" + (f"{start.minute}分" if start.minute else "")
        return f"{day}{period}{clock}"
    hour = start.hour % 12 or 12
    clock = f"{hour}:{start.minute:02d} {'AM' if start.hour < 12 else 'PM'}"
    if days == 0:
        return f"at {clock} today"
    if days == 1:
        return f"at {clock} tomorrow"
    if days < 7:
        return f"at {clock} on {_EN_WEEKDAYS[start.weekday()]}"
    return f"at {clock} on {start:%B} {start.day}"


def service_start_phrase(language: str, start: dt.datetime, now: dt.datetime) -> str:
    """Nobody is on duty: when service starts, on the menu's clock."""
    return phrase(language, "service_starts", when=when_phrase(language, start, now))


def duration_phrase(language: str, seconds: float) -> str:
    """How long something took, to the nearest minute: "3分钟", "less than a minute"."""
    table = _table(language)
    if seconds < 60:
        return table["duration_under_minute"]
    minutes = int(seconds / 60 + 0.5)
    if minutes == 1 and "duration_minute" in table:
        return table["duration_minute"]
    return table["duration_minutes"].format(minutes=minutes)


def dates_phrase(language: str, first: dt.date, last: dt.date) -> str:
    """A day or a run of days as people say it: "2月5日至11日", "February 5 to 11".

    Chinese and English as spoken; other languages get ISO dates.
    """
    lang = language.split("-")[0].lower()
    if lang == "zh":
        start = f"{first.month}月{first.day}日"
        if last == first:
            return start
        end = (
            f"{last.day}日"
            if last.month == first.month
            else f"{last.month}月{last.day}日"
        )
        return f"{start}至{end}"
    if lang == "en":
        start = f"{first:%B} {first.day}"
        if last == first:
            return start
        end = str(last.day) if last.month == first.month else f"{last:%B} {last.day}"
        return f"{start} to {end}"
    if last == first:
        return first.isoformat()
    return f"{first.isoformat()} – {last.isoformat()}"
