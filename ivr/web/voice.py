"""Twilio's voice webhooks for callers: open the call state, ask the engine, answer.

Each route is one moment of a call (it comes in, the caller answers a gather,
a queue round, leaving the queue, a transfer or a voicemail ending, the status
callback). ``ivr.web.hooks`` reads the request, checks the signature and turns
any fault into an apology and the human path.
"""

from __future__ import annotations

from flask import Blueprint, Response
from twilio.twiml.voice_response import VoiceResponse

from ivr import engine, humanpath
from ivr.engine import Reply
from ivr.menu import MASK, AskNode
from ivr.twiml import render_leave, render_wait
from ivr.web.hooks import Hook, empty, hold, webhook, xml

bp = Blueprint("voice", __name__, url_prefix="/voice")


@bp.route("", methods=["GET", "POST"], strict_slashes=False)
@webhook
def incoming(hook: Hook) -> Response:
    """A call comes in: pick the menu by the number called and start it."""
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
    reply = Reply(digits=hook.get("Digits"), speech=hook.get("SpeechResult"))
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
    position = int(hook.number("QueuePosition", 1))
    waited = hook.number("QueueTime", 0)
    step = humanpath.queue_wait(menu, state, position, waited, hook.context())
    return xml(render_wait(step, state, menu, hook))


@bp.route("/callback", methods=["GET", "POST"])
@webhook(fallback=hold)
def callback(hook: Hook) -> Response:
    """The caller's answer to the callback offer while holding."""
    _, state = hook.state()
    accept = humanpath.wants_callback(hook.get("Digits"))
    return xml(render_leave(accept, hook.wait(state)))


@bp.route("/queue", methods=["GET", "POST"])
@webhook
def queue_done(hook: Hook) -> Response:
    """The caller left the queue: answered, gave up, timed out or took a callback."""
    menu, state = hook.state()
    result = hook.get("QueueResult", "error")
    waited = hook.number("QueueTime", 0)
    step = humanpath.after_queue(menu, state, result, waited, hook.context())
    return hook.answer(menu, step, "queue", {"result": result, "waited_s": waited})


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
    """A voicemail was recorded (or the caller said nothing)."""
    menu, state = hook.state()
    detail = {
        "url": hook.get("RecordingUrl"),
        "duration_s": hook.get("RecordingDuration"),
    }
    step = engine.after_record(menu, state, hook.context())
    return hook.answer(menu, step, "voicemail", detail)


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
    return xml(VoiceResponse())
