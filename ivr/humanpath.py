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

from ivr.engine import CallContext, CallState, EngineError, Hangup, Step, Walk
from ivr.estimate import day_plan, expected_wait_s
from ivr.menu import Menu, Prompt, Queue, QueueNode
from ivr.phrases import (
    phrase,
    position_phrase,
    service_start_phrase,
    spoken_wait,
    wait_phrase,
)

__all__ = [
    "WaitStep",
    "after_queue",
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


def estimated_wait_s(
    menu: Menu,
    queue_id: str,
    position: int,
    now: dt.datetime,
    *,
    on_shift: int | None = None,
) -> float | None:
    """Expected wait for the caller at ``position`` (1 = next), from staffing.

    ``ivr.estimate`` plays the queue forward: agents the day plan puts on duty
    now and in the coming hours (``on_shift``, the agents actually on shift
    from the agent line, replaces the plan's count now), the handle time, and
    the callers ahead who may hang up (the queue's patience). Twilio's
    ``AvgQueueTime`` is how long callers *have* waited, not how long this one
    *will*, so it is not used. ``None`` when the plan brings nobody.
    """
    queue = menu.queues[queue_id]
    plan = day_plan(queue.agents, menu.local_time(now))
    wait = expected_wait_s(
        position, plan, 0.0, queue.handle_time_s, queue.patience_s, on_shift=on_shift
    )
    return None if math.isinf(wait) else wait


def _local(menu: Menu, now: dt.datetime) -> dt.datetime:
    if menu.hours is not None:
        return menu.hours.local(now)
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def _service_starts(menu: Menu, queue: Queue, now: dt.datetime) -> dt.datetime | None:
    """When the day plan next puts an agent on duty while the line is open."""
    local = _local(menu, now)
    for offset, count in day_plan(queue.agents, local.time()):
        if offset > 0 and count > 0:
            start = local + dt.timedelta(seconds=offset)
            if menu.is_open(start):
                return start.replace(second=0, microsecond=0)
    return None


def queue_wait(
    menu: Menu,
    state: CallState,
    position: int,
    waited_s: float,
    ctx: CallContext,
    *,
    on_shift: int | None = None,
) -> WaitStep:
    """One round of waiting at queue node ``state.node`` (Twilio's waitUrl).

    The caller hears their position and the estimated wait as people say it
    (``ivr.phrases.spoken_wait``); with nobody on duty, when service starts.
    A callback is offered when the same estimate passes ``callback_after``.
    ``on_shift``: agents on shift now by the agent line, if it knows.
    """
    node = menu.nodes[state.node]
    if not isinstance(node, QueueNode):
        raise EngineError(f"node '{state.node}' is not a queue node")
    queue = menu.queues[node.queue]
    if queue.max_wait_s is not None and waited_s >= queue.max_wait_s and node.overflow:
        return WaitStep(prompts=(), hold_s=0, leave=True)
    estimate = estimated_wait_s(menu, queue.id, position, ctx.now, on_shift=on_shift)
    lang = menu.language
    text = position_phrase(lang, position)
    local = menu.local_time(ctx.now)
    on_duty = queue.agents_at(local) if on_shift is None else on_shift
    if on_duty <= 0:
        start = _service_starts(menu, queue, ctx.now) if on_shift is None else None
        if start is None:
            text += phrase(lang, "nobody_on_duty")
        else:
            text += service_start_phrase(lang, start, _local(menu, ctx.now))
    elif estimate is not None:
        text += wait_phrase(lang, spoken_wait(estimate, queue.max_wait_s))
    offer = (
        queue.callback_after_s is not None
        and estimate is not None
        and estimate > queue.callback_after_s
    )
    return WaitStep(
        prompts=(Prompt(text=text),),
        hold_s=int(queue.announce_every_s),
        offer_callback=offer,
        estimated_wait_s=estimate,
    )


def wants_callback(digits: str) -> bool:
    """Whether the keys pressed during the callback offer accept it."""
    return digits[:1] == "1"


def after_queue(
    menu: Menu, state: CallState, result: str, waited_s: float, ctx: CallContext
) -> Step:
    """The step after the caller left the queue (Twilio's Enqueue action).

    ``bridged`` (talked to an agent) and ``hangup`` (gave up) end the call.
    ``leave`` is either the queue's ``max_wait`` passing (go to ``overflow``) or
    the caller accepting a callback (confirm and hang up). A full or failed
    queue also goes to ``overflow``.
    """
    node = menu.nodes[state.node]
    if not isinstance(node, QueueNode):
        raise EngineError(f"node '{state.node}' is not a queue node")
    walk = Walk(menu, ctx, state.variables)
    queue = menu.queues[node.queue]
    if result in ("bridged", "hangup"):
        return walk.step(Hangup(), node.id)
    timed_out = queue.max_wait_s is not None and waited_s >= queue.max_wait_s
    if result == "leave" and not timed_out:
        walk.say(phrase(menu.language, "callback_confirm"))
        return walk.step(Hangup(), node.id, callback=True)
    walk.say(phrase(menu.language, "overflow"))
    if node.overflow:
        return walk.enter(node.overflow)
    walk.say(phrase(menu.language, "apology_bye"))
    return walk.step(Hangup(), node.id)
