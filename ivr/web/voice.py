"""Twilio's voice webhooks: open the call state, ask the engine, answer TwiML.

Every handler runs inside ``_webhook``, which checks the signature and turns any
fault (a forged state URL, a bug, a dead data source) into an apology and the human
path: Twilio never sees a 500 and no caller is left in silence.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from ivr import engine
from ivr.calllog import MASK
from ivr.engine import CallContext, CallState, Reply, Step
from ivr.menu import AskNode, Menu
from ivr.twiml import render_apology, render_leave, render_step, render_wait
from ivr.web import Runtime
from ivr.web.sealing import BadState
from ivr.web.security import valid_signature

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger(__name__)


def _runtime() -> Runtime:
    return current_app.extensions["ivr"]


class _Urls:
    """The app's own webhook URLs, each carrying the sealed call state.

    Relative to the host unless ``PUBLIC_URL`` is set; the state of one step is
    sealed once however many URLs carry it.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        base = runtime.public_url.rstrip("/") if runtime.public_url else ""
        self.prefix = base + request.script_root + bp.url_prefix
        self._sealed: dict[int, str] = {}

    def _url(self, path: str, state: CallState) -> str:
        token = self._sealed.get(id(state))
        if token is None:
            token = quote(self.runtime.sealer.seal(state), safe="")
            self._sealed[id(state)] = token
        return f"{self.prefix}/{path}?s={token}"

    def input(self, state: CallState) -> str:
        return self._url("input", state)

    def wait(self, state: CallState) -> str:
        return self._url("wait", state)

    def callback(self, state: CallState) -> str:
        return self._url("callback", state)

    def queue_done(self, state: CallState) -> str:
        return self._url("queue", state)

    def dial_done(self, state: CallState) -> str:
        return self._url("dial", state)

    def recorded(self, state: CallState) -> str:
        return self._url("recorded", state)

    def recording(self, name: str) -> str:
        if self.runtime.public_url:
            base = self.runtime.public_url.rstrip("/")
            return base + url_for("pages.recording", name=name)
        return url_for("pages.recording", name=name, _external=True)


def _xml(twiml: VoiceResponse, trace: dict | None = None) -> Response:
    response = Response(str(twiml), mimetype="text/xml")
    if trace is not None:
        response.headers["X-IVR-Trace"] = json.dumps(trace, ensure_ascii=True)
    return response


def _masked(menu: Menu, variables: dict[str, str]) -> dict[str, str]:
    hidden = menu.sensitive_variables
    return {k: (MASK if k in hidden else v) for k, v in variables.items()}


def _answer(menu: Menu, step: Step, event: str, detail: dict | None = None) -> Response:
    """Log the webhook as one event, then answer the step's TwiML."""
    runtime = _runtime()
    call_sid = request.values.get("CallSid", "")
    runtime.log.record(
        call_sid,
        event,
        menu=menu.id,
        node=step.state.node,
        detail={
            **(detail or {}),
            "nodes": list(step.nodes),
            "choice": list(step.choice) if step.choice else None,
            "action": type(step.action).__name__.lower(),
        },
    )
    if step.callback:
        caller = request.values.get("From", "")
        runtime.log.record(
            call_sid, "callback", menu=menu.id, detail={"number": caller}
        )
    trace = None
    if runtime.expose_trace:
        choice = step.choice
        trace = {
            "menu": menu.id,
            "nodes": list(step.nodes),
            "choice": {"node": choice[0], "key": choice[1]} if choice else None,
            "variables": _masked(menu, dict(step.state.variables)),
        }
    return _xml(render_step(step, menu, _Urls(runtime)), trace)


def _context(runtime: Runtime) -> CallContext:
    return CallContext(
        now=runtime.clock(),
        caller=request.values.get("From", ""),
        lookup=runtime.lookups,
    )


def _state() -> CallState:
    state = _runtime().sealer.open(request.args.get("s", ""))
    if state.menu not in _runtime().menus:
        raise KeyError(f"menu '{state.menu}' is not loaded")
    return state


def _webhook(handler: Callable[[], Response]) -> Callable[[], Response]:
    """Check the signature, then run ``handler``; on any fault, apologise."""

    @functools.wraps(handler)
    def wrapped() -> Response:
        runtime = _runtime()
        if runtime.token and not valid_signature(
            request, runtime.token, runtime.public_url
        ):
            abort(403)
        try:
            return handler()
        except BadState:
            log.warning("refused a forged or stale call state on %s", request.path)
            return _fallback(runtime)
        except Exception:
            log.exception(
                "webhook %s failed; sending the caller to the human path", request.path
            )
            return _fallback(runtime)

    return wrapped


def _fallback(runtime: Runtime) -> Response:
    call_sid = request.values.get("CallSid", "")
    menu = runtime.menu_for(request.values.get("To"), request.args.get("menu"))
    variables = {"caller": request.values.get("From", "")}
    try:
        state = _state()
        menu, variables = runtime.menus[state.menu], dict(state.variables)
    except Exception:
        pass
    runtime.log.record(call_sid, "fault", menu=menu.id, detail={"path": request.path})
    try:
        step = engine.fallback(menu, variables, _context(runtime))
        return _xml(render_step(step, menu, _Urls(runtime)))
    except Exception:
        log.exception("fallback failed too")
        return _xml(render_apology(menu.language))


@bp.route("", methods=["GET", "POST"], strict_slashes=False)
@_webhook
def incoming() -> Response:
    """A call comes in: pick the menu by the number called and start it."""
    runtime = _runtime()
    values = request.values
    menu = runtime.menu_for(values.get("To"), request.args.get("menu"))
    step = engine.start(menu, _context(runtime))
    return _answer(
        menu,
        step,
        "start",
        {"from": values.get("From", ""), "to": values.get("To", "")},
    )


@bp.route("/input", methods=["GET", "POST"])
@_webhook
def input() -> Response:
    """The caller pressed keys, spoke, or stayed silent at a menu or an ask."""
    runtime = _runtime()
    state = _state()
    menu = runtime.menus[state.menu]
    values = request.values
    reply = Reply(
        digits=values.get("Digits", ""), speech=values.get("SpeechResult", "")
    )
    node = menu.nodes.get(state.node)
    shown = reply.digits
    if isinstance(node, AskNode) and node.sensitive and shown:
        shown = MASK
    step = engine.resume(menu, state, reply, _context(runtime))
    return _answer(menu, step, "input", {"digits": shown, "speech": reply.speech})


def _number(name: str, default: float) -> float:
    try:
        return float(request.values.get(name, default))
    except ValueError:
        return default


@bp.route("/wait", methods=["GET", "POST"])
@_webhook
def wait() -> Response:
    """One round of holding in a queue (Enqueue's waitUrl)."""
    runtime = _runtime()
    state = _state()
    menu = runtime.menus[state.menu]
    position = int(_number("QueuePosition", 1))
    waited = _number("QueueTime", 0)
    step = engine.queue_wait(menu, state, position, waited, _context(runtime))
    return _xml(render_wait(step, state, menu, _Urls(runtime)))


@bp.route("/callback", methods=["GET", "POST"])
@_webhook
def callback() -> Response:
    """The caller's answer to the callback offer while holding."""
    state = _state()
    accept = engine.wants_callback(request.values.get("Digits", ""))
    return _xml(render_leave(accept, _Urls(_runtime()).wait(state)))


@bp.route("/queue", methods=["GET", "POST"])
@_webhook
def queue_done() -> Response:
    """The caller left the queue: answered, gave up, timed out or took a callback."""
    runtime = _runtime()
    state = _state()
    menu = runtime.menus[state.menu]
    result = request.values.get("QueueResult", "error")
    waited = _number("QueueTime", 0)
    step = engine.after_queue(menu, state, result, waited, _context(runtime))
    return _answer(menu, step, "queue", {"result": result, "waited_s": waited})


@bp.route("/dial", methods=["GET", "POST"])
@_webhook
def dial_done() -> Response:
    """A transfer ended (answered, busy, no answer, failed)."""
    runtime = _runtime()
    state = _state()
    menu = runtime.menus[state.menu]
    status = request.values.get("DialCallStatus", "failed")
    step = engine.after_dial(menu, state, status, _context(runtime))
    return _answer(menu, step, "dial", {"status": status})


@bp.route("/recorded", methods=["GET", "POST"])
@_webhook
def recorded() -> Response:
    """A voicemail was recorded (or the caller said nothing)."""
    runtime = _runtime()
    state = _state()
    menu = runtime.menus[state.menu]
    values = request.values
    detail = {
        "url": values.get("RecordingUrl", ""),
        "duration_s": values.get("RecordingDuration", ""),
    }
    return _answer(
        menu, engine.after_record(menu, state, _context(runtime)), "voicemail", detail
    )


@bp.route("/status", methods=["GET", "POST"])
@_webhook
def status() -> Response:
    """Twilio's call status callback: how the call ended, for the log."""
    values = request.values
    _runtime().log.record(
        values.get("CallSid", ""),
        "status",
        detail={
            "status": values.get("CallStatus", ""),
            "duration_s": values.get("CallDuration", ""),
        },
    )
    return _xml(VoiceResponse())
