"""The human path: holding in a queue, leaving it, and callbacks.

A caller who asks for a person is put in a queue (the engine's ``Enqueue`` step).
From then on Twilio holds the call and asks the app, every round, what to play
while the caller waits (``queue_wait``), and once more when the caller leaves the
queue (``after_queue``): talked to an agent, hung up, waited too long or took a
callback. Like the engine, this module is pure: the web layer passes in what
Twilio said (position, time waited) and renders the answer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from ivr.agentline import usable_number
from ivr.engine import CallContext, CallState, EngineError, Hangup, Step, Walk
from ivr.estimate import WaitForecast, day_plan, wait_forecast
from ivr.menu import Menu, Prompt, Queue, QueueNode
from ivr.phrases import (
    duration_phrase,
    phrase,
    position_phrase,
    service_start_phrase,
    spoken_forecast,
    spoken_wait,
    wait_phrase,
    when_phrase,
)

__all__ = [
    "WaitStep",
    "after_queue",
    "callback_promise",
    "estimated_wait_s",
    "queue_wait",
    "wants_callback",
]


@dataclass(frozen=True)
class WaitStep:
    """What a caller hears on one round of waiting in a queue.

    ``leave`` ends the wait (the queue's ``max_wait`` has passed); otherwise the
    ``prompts`` play, then ``offer_callback`` asks for a key, then ``hold_s`` of
    hold music or silence, after which Twilio asks again.
    """

    prompts: tuple[Prompt, ...]
    hold_s: int
    offer_callback: bool = False
    leave: bool = False
    estimated_wait_s: float | None = None
    # The waits the words said cover (``SpokenWait.low_s``/``high_s``; ``high``
    # is infinite for "more than N minutes"), for scoring what callers heard.
    said_s: tuple[float, float] | None = None


def estimated_wait_s(
    menu: Menu,
    queue_id: str,
    position: int,
    now: dt.datetime,
    *,
    on_shift: int | None = None,
    higher_per_s: float | None = None,
) -> float | None:
    """Expected wait for the caller at ``position`` (1 = next), from staffing.

    ``ivr.estimate`` plays the queue forward: agents the day plan puts on duty
    now and in the coming hours (``on_shift``, the agents actually on shift
    from the agent line, replaces the plan's count now), the handle time, and
    the callers ahead who may hang up (the queue's patience).
    ``higher_per_s``: callers of a higher priority than this caller's joining
    the queue a second, who will go ahead of them
    (``ivr.estimate.arrival_rate_per_s`` of the waiter records' enqueue
    times of the queue's higher levels over ``RATE_WINDOW_S``); ``None`` or 0
    when nobody can overtake them (the top level, a queue without levels).
    Twilio's ``AvgQueueTime`` is how long callers *have* waited, not how long
    this one *will*, so it is not used. ``None`` when the plan brings nobody.
    """
    wait = _forecast(menu, queue_id, position, now, on_shift, higher_per_s).mean_s
    return None if math.isinf(wait) else wait


def _forecast(
    menu: Menu,
    queue_id: str,
    position: int,
    now: dt.datetime,
    on_shift: int | None,
    higher_per_s: float | None,
) -> WaitForecast:
    if position <= 0:  # an agent is free for them: taken in a moment
        return WaitForecast(0.0, 0.0, 0.0, 0.0)
    queue = menu.queues[queue_id]
    plan = day_plan(queue.agents, menu.local_time(now))
    return wait_forecast(
        position,
        plan,
        0.0,
        queue.handle_time_s,
        queue.patience_s,
        on_shift=on_shift,
        higher_per_s=higher_per_s,
    )


def _local(menu: Menu, now: dt.datetime) -> dt.datetime:
    if menu.hours is not None:
        return menu.hours.local(now)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _service_starts(menu: Menu, queue: Queue, after: dt.datetime) -> dt.datetime | None:
    """The first moment from ``after`` when the line is open and the day plan puts
    an agent on duty (local time, to the minute), within a week; else None.

    Service can only start when the line opens or a shift begins, so those are
    the moments to try, day by day.
    """
    local = _local(menu, after).replace(second=0, microsecond=0)
    if menu.is_open(local) and queue.agents_at(local.time()) > 0:
        return local
    starts = {at for at, _ in queue.agents}
    for day in range(8):
        date = local.date() + dt.timedelta(days=day)
        moments = set(starts)
        if menu.hours is not None:
            moments.update(
                begin for begin, _ in menu.hours.weekly.get(date.weekday(), ())
            )
        for moment in sorted(moments):
            when = dt.datetime.combine(date, moment, tzinfo=local.tzinfo)
            if when < local:
                continue
            if menu.is_open(when) and queue.agents_at(moment) > 0:
                return when
    return None


def queue_wait(
    menu: Menu,
    state: CallState,
    position: int,
    waited_s: float,
    ctx: CallContext,
    *,
    on_shift: int | None = None,
    higher_per_s: float | None = None,
    ready: int = 0,
) -> WaitStep:
    """One round of waiting at queue node ``state.node`` (Twilio's waitUrl).

    The caller hears their position and the estimated wait as people say it
    (``ivr.phrases.spoken_forecast``: the range their wait likely falls in
    when callers of a higher priority are joining, ``higher_per_s`` a second
    as in ``estimated_wait_s``, or when one figure would too often be wrong);
    with nobody on duty, when service starts.
    A callback is offered when the same forecast passes ``callback_after``
    (``WaitForecast.callback_s``). ``on_shift``: agents on shift now by the
    agent line, if it knows; ``ready`` of them are free at its prompt, and
    will take the first callers in line at once (the estimate is for the
    callers behind those).
    """
    node = menu.nodes[state.node]
    if not isinstance(node, QueueNode):
        raise EngineError(f"node '{state.node}' is not a queue node")
    queue = menu.queues[node.queue]
    if queue.max_wait_s is not None and waited_s >= queue.max_wait_s and node.overflow:
        return WaitStep(prompts=(), hold_s=0, leave=True)
    if node.closed and not menu.is_open(ctx.now):
        # The line closed while they held: leave, and ``after_queue`` says so
        # and takes them to the node's ``closed`` target (callback, voicemail).
        return WaitStep(prompts=(), hold_s=0, leave=True)
    forecast = _forecast(
        menu, queue.id, position - ready, ctx.now, on_shift, higher_per_s
    )
    estimate = None if math.isinf(forecast.mean_s) else forecast.mean_s
    told = estimate is not None or (
        forecast.overtaken and math.isfinite(forecast.low_s)
    )
    lang = menu.language
    text = position_phrase(lang, position)
    local = menu.local_time(ctx.now)
    on_duty = queue.agents_at(local) if on_shift is None else on_shift
    said_s = None
    if on_duty <= 0:
        start = _service_starts(menu, queue, ctx.now) if on_shift is None else None
        if start is None:
            text += phrase(lang, "nobody_on_duty")
        else:
            text += service_start_phrase(lang, start, _local(menu, ctx.now))
    elif told:
        words = spoken_forecast(forecast, queue.max_wait_s)
        text += wait_phrase(lang, words)
        said_s = (words.low_s, words.high_s)
    offer = (
        queue.callback_after_s is not None
        and told
        and forecast.callback_s > queue.callback_after_s
        and usable_number(ctx.caller)  # never promise a call to nobody
    )
    return WaitStep(
        prompts=(Prompt(text=text),),
        hold_s=int(queue.announce_every_s),
        offer_callback=offer,
        estimated_wait_s=estimate,
        said_s=said_s,
    )


def wants_callback(digits: str) -> bool:
    """Whether the keys pressed during the callback offer accept it."""
    return digits[:1] == "1"


def after_queue(
    menu: Menu,
    state: CallState,
    result: str,
    waited_s: float,
    ctx: CallContext,
    *,
    callback_asked: bool | None = None,
    callback_expected_s: float | None = None,
) -> Step:
    """The step after the caller left the queue (Twilio's Enqueue action).

    ``bridged`` (talked to an agent) and ``hangup`` (gave up) end the call.
    ``leave`` has three causes: the caller took a callback (confirm honestly
    when to expect it, and hang up), the line closed (say so, go to the node's
    ``closed`` target), or ``max_wait`` passed (go to ``overflow``). The web layer
    says whether a callback was asked (``callback_asked``, from the store; None
    when the store cannot say: then a leave that is neither closing nor a
    time-out can only be the callback) and how long the caller was told it
    would take (``callback_expected_s``). A callback taken near ``max_wait`` is
    still a callback. A full or failed queue goes to ``overflow``.
    """
    node = menu.nodes[state.node]
    if not isinstance(node, QueueNode):
        raise EngineError(f"node '{state.node}' is not a queue node")
    walk = Walk(menu, ctx, state.variables)
    queue = menu.queues[node.queue]
    lang = menu.language
    if result in ("bridged", "hangup"):
        return walk.step(Hangup(), node.id)
    closed = node.closed is not None and not menu.is_open(ctx.now)
    timed_out = queue.max_wait_s is not None and waited_s >= queue.max_wait_s
    if result == "leave":
        asked = callback_asked
        if asked is None:
            asked = not closed and not timed_out
        if asked:
            walk.say(callback_promise(menu, queue, ctx, callback_expected_s))
            return walk.step(Hangup(), node.id, callback=True)
        if closed and node.closed:
            walk.say(phrase(lang, "line_closed"))
            return walk.enter(node.closed)
    walk.say(phrase(lang, "overflow"))
    if node.overflow:
        return walk.enter(node.overflow)
    walk.say(phrase(lang, "apology_bye"))
    return walk.step(Hangup(), node.id)


def callback_promise(
    menu: Menu, queue: Queue, ctx: CallContext, expected_s: float | None
) -> str:
    """The confirmation of a callback, saying honestly when to expect it.

    Within about the estimated wait while the line is open and staffed then;
    otherwise after the line next opens with agents on duty ("明天上午8点后").
    """
    lang = menu.language
    when = phrase(lang, "callback_soon")
    if expected_s is not None:
        due = ctx.now + dt.timedelta(seconds=expected_s)
        local_due = menu.local_time(due)
        if menu.is_open(due) and queue.agents_at(local_due) > 0:
            said = spoken_wait(expected_s, queue.max_wait_s)
            if said.kind != "under_minute":
                minutes = duration_phrase(lang, said.minutes * 60)
                when = phrase(lang, "callback_within", minutes=minutes)
        else:
            start = _service_starts(menu, queue, due)
            if start is not None:
                opens = when_phrase(lang, start, _local(menu, ctx.now))
                when = phrase(lang, "callback_after_open", when=opens)
    return phrase(lang, "callback_promise", when=when, last4=ctx.caller[-4:])
