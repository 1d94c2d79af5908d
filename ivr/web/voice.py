"""Twilio's voice webhooks for callers: open the call state, ask the engine, answer.

Each route is one moment of a call (it comes in, the caller answers a gather,
a queue round, leaving the queue, a transfer or a voicemail ending, the status
callback). ``ivr.web.hooks`` reads the request, checks the signature and turns
any fault into an apology and the human path.
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, Response
from twilio.twiml.voice_response import VoiceResponse

from ivr import agentline, engine, humanpath
from ivr.agentline import usable_number
from ivr.engine import Reply
from ivr.menu import MASK, AskNode, VoicemailNode
from ivr.phrases import phrase
from ivr.twiml import render_leave, render_say
from ivr.web.hooks import Hook, empty, hold, webhook, xml, xml_text

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger(__name__)


@bp.route("", methods=["GET", "POST"], strict_slashes=False)
@webhook
def incoming(hook: Hook) -> Response:
    """A call comes in: the agent line by its number, else the menu by it."""
    if hook.runtime.is_agent_line(hook.get("To")):
        from ivr.web.agent import answer_agent_line

        return answer_agent_line(hook)
    menu = hook.runtime.menu_for(hook.get("To"), hook.menu_id)
    step = engine.start(menu, hook.context())
    return hook.answer(
        menu, step, "start", {"from": hook.get("From"), "to": hook.get("To")}
    )


@bp.route("/input", methods=["GET", "POST"])
@webhook
def input(hook: Hook) -> Response:
    """The caller pressed keys, spoke, or stayed silent at a menu or an ask."""
    menu, state = hook.state()
    values = hook.values
    reply = Reply(values.get("Digits", ""), values.get("SpeechResult", ""))
    node = menu.nodes.get(state.node)
    shown = {"digits": reply.digits, "speech": reply.speech}
    if isinstance(node, AskNode) and node.sensitive:  # keys or words alike
        shown = {k: MASK if v else v for k, v in shown.items()}
    step = engine.resume(menu, state, reply, hook.context())
    return hook.answer(menu, step, "input", shown)


@bp.route("/wait", methods=["GET", "POST"])
@webhook(fallback=hold)
def wait(hook: Hook) -> Response:
    """One round of holding in a queue (Enqueue's waitUrl)."""
    menu, state = hook.state()
    runtime = hook.runtime
    row = hook.waiter(menu, state)
    # Twilio's position counts the caller's own priority level; callers of a
    # higher level in the same queue are ahead too.
    position = int(hook.number("QueuePosition", 1)) + runtime.store.ahead_of(
        row["menu"], row["queue"], row["priority"]
    )
    waited = hook.number("QueueTime", 0)
    ctx = hook.context()
    runtime.store.waited(row, position=position, now=ctx.now.timestamp())
    step = humanpath.queue_wait(
        menu,
        state,
        position,
        waited,
        ctx,
        on_shift=runtime.on_shift(menu, row["queue"]),
        ready=runtime.ready(menu, row["queue"]),
        higher_per_s=runtime.overtaking(menu, row["queue"], row["priority"]),
    )
    hook.callback_query = {"p": str(position)}
    hook.record(
        "wait",
        menu=menu.id,
        node=state.node,
        detail={"position": position, "waited_s": waited,
                "estimate_s": step.estimated_wait_s, "offer": step.offer_callback,
                "said_s": _said_s(step.said_s),
                "said": " ".join(p.text or "" for p in step.prompts) or None},
    )  # fmt: skip
    return xml_text(runtime.twiml.wait(step, state, menu, hook))


def _said_s(said: tuple[float, float] | None) -> list[float | None] | None:
    """The waits the words covered, as JSON keeps them (no top: ``None``)."""
    if said is None:
        return None
    low, high = said
    return [low, high if math.isfinite(high) else None]


@bp.route("/callback", methods=["GET", "POST"])
@webhook(fallback=hold)
def callback(hook: Hook) -> Response:
    """The caller's answer to the callback offer while holding.

    Accepting stores the callback request (its place in line is when the caller
    first queued) before the caller leaves the queue, so the Enqueue action can
    confirm it; an agent will be given it in turn (``ivr.web.agent``).
    """
    menu, state = hook.state()
    accept = humanpath.wants_callback(hook.get("Digits"))
    number = hook.get("From")
    if accept and usable_number(number):
        row = hook.waiter(menu, state)
        queue = menu.queues[row["queue"]]
        ctx = hook.context()
        now = ctx.now.timestamp()
        position = max(int(hook.number("p", 1)), 1)
        estimate = humanpath.estimated_wait_s(
            menu,
            queue.id,
            position - hook.runtime.ready(menu, queue.id),
            ctx.now,
            on_shift=hook.runtime.on_shift(menu, queue.id),
        )
        hook.runtime.store.ask_callback(
            {
                "call_sid": row["call_sid"],
                "menu": menu.id,
                "queue": queue.id,
                "priority": row["priority"],
                "number": number,
                "topic": row["topic"],
                "facts": row["facts"],
                "since": row["enqueued_at"],  # they keep their place in line
                "expected_at": None if estimate is None else now + estimate,
                "max_attempts": queue.callback_attempts,
                "retry_after_s": queue.callback_retry_s,
            }
        )
        hook.record("callback", menu=menu.id, node=state.node)
    return xml(render_leave(accept and usable_number(number), hook.wait(state)))


@bp.route("/queue", methods=["GET", "POST"])
@webhook
def queue_done(hook: Hook) -> Response:
    """The caller left the queue: answered, gave up, timed out or took a callback."""
    menu, state = hook.state()
    runtime = hook.runtime
    result = hook.get("QueueResult", "error")
    waited = hook.number("QueueTime", 0)
    ctx = hook.context()
    asked: bool | None = None
    expected_s: float | None = None
    row = None
    if result == "leave":
        # No row is not proof of no callback: under load the request may still
        # wait in a worker's writer (``Store.ask_callback``). Then, as when the
        # store cannot be read, humanpath tells by the cause of the leave.
        try:
            row = runtime.store.callback_for(hook.get("CallSid"))
        except Exception:
            log.warning("store: could not read the callback of a leaving caller")
        if row is not None:
            asked = True
            if row["expected_at"] is not None:
                expected_s = max(row["expected_at"] - ctx.now.timestamp(), 0.0)
    step = humanpath.after_queue(
        menu, state, result, waited, ctx,
        callback_asked=asked, callback_expected_s=expected_s,
    )  # fmt: skip
    if step.callback:
        # In line now; a request not written yet comes due on its own shortly
        # after it is (``ivr.store.lines.ASKED_TIMEOUT_S``).
        runtime.store.callback_left_queue(hook.get("CallSid"))
    status = {
        "bridged": "answered",
        "hangup": "abandoned",
    }.get(result, "callback" if step.callback else "left")
    if status == "left" and not menu.is_open(ctx.now):
        status = "closed"
    elif status == "left":
        status = "overflow"
    runtime.store.left(
        hook.waiter(menu, state), status=status, wait_s=waited, now=ctx.now.timestamp()
    )
    detail = {"result": result, "waited_s": waited, "left": status}
    return hook.answer(menu, step, "queue", detail)


@bp.route("/bridge", methods=["GET", "POST"])
@webhook(fallback=empty)  # the <Queue url> document allows no apology's verbs
def bridge(hook: Hook) -> Response:
    """The ``<Queue url>`` document: a caller is taken by an agent (caller's end).

    Twilio posts the dequeued caller's CallSid, the agent's (DequeingCallSid)
    and the time waited. This, not the offer, says who answered whom (see
    ``ivr.store.lines.bridge``). Only Play, Say, Pause and Redirect are allowed.
    """
    fields = hook.fields("bridge")
    menu = hook.runtime.menus.get(str(fields.get("m")), hook.runtime.default)
    waited = hook.number("QueueTime", 0)
    hook.runtime.store.bridge(  # never raises: queued if it cannot be written now
        call_sid=hook.get("CallSid"),
        agent=str(fields["a"]),
        wait_s=waited,
        row={
            "menu": menu.id,
            "queue": str(fields.get("q", "")),
            "twilio_queue": str(fields.get("t", "")),
            "priority": int(fields.get("p", 0)),
            "caller": hook.get("From"),
        },
    )
    hook.record(
        "bridge", menu=menu.id, detail={"agent": fields["a"], "waited_s": waited}
    )
    return hook.traced(
        xml(render_say(phrase(menu.language, "connecting"), menu)), "bridge"
    )


@bp.route("/whisper", methods=["GET", "POST"])
@webhook(fallback=empty)  # on a fault the customer is connected all the same
def whisper(hook: Hook) -> Response:
    """The ``<Number url>`` document: what a customer called back hears first."""
    fields = hook.fields("whisper")
    menu = hook.runtime.menus.get(str(fields.get("m")), hook.runtime.default)
    said = render_say(agentline.whisper(menu, str(fields.get("t", ""))), menu)
    return hook.traced(xml(said), "whisper")


@bp.route("/dial", methods=["GET", "POST"])
@webhook
def dial_done(hook: Hook) -> Response:
    """A transfer ended (answered, busy, no answer, failed)."""
    menu, state = hook.state()
    status = hook.get("DialCallStatus", "failed")
    step = engine.after_dial(menu, state, status, hook.context())
    return hook.answer(menu, step, "dial", {"status": status})


@bp.route("/recorded", methods=["GET", "POST"])
@webhook
def recorded(hook: Hook) -> Response:
    """A voicemail or feedback was recorded (or the caller said nothing).

    A feedback node's step carries the ``feedback`` event (topic, facts, the
    recording), which ``Hook.answer`` writes; this webhook's own event is
    ``voicemail`` for a voicemail and ``recorded`` for feedback.
    """
    menu, state = hook.state()
    detail = {
        "url": hook.get("RecordingUrl"),
        "duration_s": hook.get("RecordingDuration"),
    }
    duration = hook.number("RecordingDuration", -1.0)
    step = engine.after_record(
        menu,
        state,
        hook.context(),
        recording_url=detail["url"] or None,
        duration_s=duration if duration >= 0 else None,
    )
    node = menu.nodes.get(state.node)
    event = "voicemail" if isinstance(node, VoicemailNode) else "recorded"
    return hook.answer(menu, step, event, detail)


@bp.route("/status", methods=["GET", "POST"])
@webhook(fallback=empty)
def status(hook: Hook) -> Response:
    """Twilio's call status callback: how the call ended, for the log."""
    hook.record(
        "status",
        detail={
            "status": hook.get("CallStatus"),
            "duration_s": hook.get("CallDuration"),
        },
    )
    ended = hook.get("CallStatus") in ("completed", "busy", "no-answer", "failed",
                                       "canceled")  # fmt: skip
    if ended and hook.runtime.is_agent_line(hook.get("To")):
        try:  # an agent hung up without pressing 9: off shift all the same
            hook.runtime.store.agent_off(call_sid=hook.get("CallSid"))
        except Exception:
            log.warning("store: could not mark agent %s off", hook.get("From"))
    return xml(VoiceResponse())
