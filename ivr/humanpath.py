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
from dataclasses import dataclass

from ivr.engine import CallContext, CallState, EngineError, Hangup, Step, Walk
from ivr.menu import Menu, Prompt, QueueNode
from ivr.phrases import phrase, wait_minutes

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
    menu: Menu, queue_id: str, position: int, now: dt.datetime
) -> float | None:
    """Expected wait for the caller at ``position`` (1 = next), from staffing.

    With ``c`` agents each taking ``h`` seconds a call, an agent frees up every
    ``h / c`` seconds on average, and the caller at position ``k`` needs ``k`` of
    them. Twilio's ``AvgQueueTime`` is how long callers *have* waited, not how long
    this one *will*, so it is not used.
    """
    queue = menu.queues[queue_id]
    agents = queue.agents_at(menu.local_time(now))
    if agents <= 0:
        return None
    return max(position, 1) * queue.handle_time_s / agents


def queue_wait(
    menu: Menu, state: CallState, position: int, waited_s: float, ctx: CallContext
) -> WaitStep:
    """One round of waiting at queue node ``state.node`` (Twilio's waitUrl)."""
    node = menu.nodes[state.node]
    if not isinstance(node, QueueNode):
        raise EngineError(f"node '{state.node}' is not a queue node")
    queue = menu.queues[node.queue]
    if queue.max_wait_s is not None and waited_s >= queue.max_wait_s and node.overflow:
        return WaitStep(prompts=(), hold_s=0, leave=True)
    estimate = estimated_wait_s(menu, queue.id, position, ctx.now)
    lang = menu.language
    text = phrase(lang, "position", ahead=max(position - 1, 0)) if position > 1 else ""
    if estimate is None:
        text += phrase(lang, "no_estimate")
    else:
        text += phrase(lang, "estimate", minutes=wait_minutes(estimate))
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
