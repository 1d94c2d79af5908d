"""Twilio's voice webhooks: open the call state, ask the engine, answer TwiML.

Every handler runs inside ``_webhook``, which checks the signature, gathers what the
request says into one ``_Hook``, and turns any fault (a forged state URL, a bug, a
dead data source) into an apology and the human path: Twilio never sees a 500 and
no caller is left in silence.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, quote

from flask import Blueprint, Response, abort, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from ivr import engine, humanpath
from ivr.calllog import MASK
from ivr.engine import CallContext, CallState, Reply, Step
from ivr.menu import AskNode, Menu
from ivr.twiml import render_apology, render_leave, render_step, render_wait
from ivr.web import Runtime
from ivr.web.sealing import BadState
from ivr.web.security import signed_url, valid_signature

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger(__name__)


class _Hook:
    """One webhook request: what Twilio sent, and the app's URLs for the answer.

    Reads the request once (Flask's request proxies are not free on a path that
    runs for every step of every call) and seals each call state once however
    many URLs of the answer carry it.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Twilio posts a flat urlencoded form; the standard library reads it at
        # half the cost of werkzeug's general form parser.
        query = dict(
            parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        )
        self.form: dict[str, str] = {}
        if request.mimetype == "application/x-www-form-urlencoded":
            body = request.get_data(as_text=True)
            self.form = dict(parse_qsl(body, keep_blank_values=True))
        self.values = {**query, **self.form}
        self.token = query.get("s", "")
        self.menu_id = query.get("menu")
        self.path = request.path
        base = runtime.public_url.rstrip("/") if runtime.public_url else ""
        self.prefix = base + request.script_root + bp.url_prefix
        self._recordings = ""
        self._sealed: dict[int, str] = {}

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def number(self, name: str, default: float) -> float:
        try:
            return float(self.values.get(name, default))
        except ValueError:
            return default

    def context(self) -> CallContext:
        return CallContext(
            now=self.runtime.clock(),
            caller=self.get("From"),
            lookup=self.runtime.lookups,
        )

    def state(self) -> tuple[Menu, CallState]:
        """The call state sealed in the URL, and its menu; ``BadState`` if forged."""
        state = self.runtime.sealer.open(self.token)
        menu = self.runtime.menus.get(state.menu)
        if menu is None:
            raise BadState(f"menu '{state.menu}' is not loaded")
        return menu, state

    def record(self, event: str, **fields: object) -> None:
        self.runtime.log.record(self.get("CallSid"), event, **fields)  # type: ignore[arg-type]

    # -- the Urls protocol of ivr.twiml ------------------------------------------

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
        """Absolute, as ``<Play>`` needs; the folder's URL is built once."""
        if not self._recordings:
            if self.runtime.public_url:
                folder = self.runtime.public_url.rstrip("/") + url_for(
                    "pages.recording", name="-"
                )
            else:
                folder = url_for("pages.recording", name="-", _external=True)
            self._recordings = folder[:-1]
        return self._recordings + quote(name)

    # -- answers -------------------------------------------------------------------

    def answer(self, menu: Menu, step: Step, event: str, detail: dict) -> Response:
        """Log the webhook as one event, then answer the step's TwiML."""
        choice = step.choice
        self.record(
            event,
            menu=menu.id,
            node=step.state.node,
            detail={
                **detail,
                "nodes": list(step.nodes),
                "choice": list(choice) if choice else None,
                "action": type(step.action).__name__.lower(),
            },
        )
        if step.callback:
            self.record("callback", menu=menu.id, detail={"number": self.get("From")})
        response = _xml(render_step(step, menu, self))
        if self.runtime.expose_trace:
            trace = {
                "menu": menu.id,
                "nodes": list(step.nodes),
                "choice": {"node": choice[0], "key": choice[1]} if choice else None,
                "variables": _masked(menu, dict(step.state.variables)),
            }
            response.headers["X-IVR-Trace"] = json.dumps(trace, ensure_ascii=True)
        return response

    def fallback(self) -> Response:
        """An apology and the human path, from wherever the call was."""
        runtime = self.runtime
        menu = runtime.menu_for(self.get("To"), self.menu_id)
        variables = {"caller": self.get("From")}
        try:
            menu, state = self.state()
            variables = dict(state.variables)
        except Exception:  # the state itself may be what failed
            pass
        self.record("fault", menu=menu.id, detail={"path": self.path})
        try:
            return _xml(
                render_step(
                    engine.fallback(menu, variables, self.context()), menu, self
                )
            )
        except Exception:
            log.exception("fallback failed too")
            return _xml(render_apology(menu.language))


def _xml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), mimetype="text/xml")


def _masked(menu: Menu, variables: dict[str, str]) -> dict[str, str]:
    hidden = menu.sensitive_variables
    return {k: (MASK if k in hidden else v) for k, v in variables.items()}


def _webhook(handler: Callable[[_Hook], Response]) -> Callable[[], Response]:
    """Check the signature, then run ``handler``; on any fault, apologise."""

    @functools.wraps(handler)
    def wrapped() -> Response:
        runtime: Runtime = current_app.extensions["ivr"]
        hook = _Hook(runtime)
        if runtime.token and not valid_signature(
            signed_url(request, runtime.public_url),
            hook.form if request.method == "POST" else {},
            request.headers.get("X-Twilio-Signature", ""),
            runtime.token,
        ):
            abort(403)
        try:
            return handler(hook)
        except BadState:
            log.warning("refused a forged or stale call state on %s", hook.path)
            return hook.fallback()
        except Exception:
            log.exception(
                "webhook %s failed; sending the caller to the human path", hook.path
            )
            return hook.fallback()

    return wrapped


@bp.route("", methods=["GET", "POST"], strict_slashes=False)
@_webhook
def incoming(hook: _Hook) -> Response:
    """A call comes in: pick the menu by the number called and start it."""
    menu = hook.runtime.menu_for(hook.get("To"), hook.menu_id)
    step = engine.start(menu, hook.context())
    return hook.answer(
        menu, step, "start", {"from": hook.get("From"), "to": hook.get("To")}
    )


@bp.route("/input", methods=["GET", "POST"])
@_webhook
def input(hook: _Hook) -> Response:
    """The caller pressed keys, spoke, or stayed silent at a menu or an ask."""
    menu, state = hook.state()
    reply = Reply(digits=hook.get("Digits"), speech=hook.get("SpeechResult"))
    node = menu.nodes.get(state.node)
    shown = reply.digits
    if isinstance(node, AskNode) and node.sensitive and shown:
        shown = MASK
    step = engine.resume(menu, state, reply, hook.context())
    return hook.answer(menu, step, "input", {"digits": shown, "speech": reply.speech})


@bp.route("/wait", methods=["GET", "POST"])
@_webhook
def wait(hook: _Hook) -> Response:
    """One round of holding in a queue (Enqueue's waitUrl)."""
    menu, state = hook.state()
    position = int(hook.number("QueuePosition", 1))
    waited = hook.number("QueueTime", 0)
    step = humanpath.queue_wait(menu, state, position, waited, hook.context())
    return _xml(render_wait(step, state, menu, hook))


@bp.route("/callback", methods=["GET", "POST"])
@_webhook
def callback(hook: _Hook) -> Response:
    """The caller's answer to the callback offer while holding."""
    _, state = hook.state()
    accept = humanpath.wants_callback(hook.get("Digits"))
    return _xml(render_leave(accept, hook.wait(state)))


@bp.route("/queue", methods=["GET", "POST"])
@_webhook
def queue_done(hook: _Hook) -> Response:
    """The caller left the queue: answered, gave up, timed out or took a callback."""
    menu, state = hook.state()
    result = hook.get("QueueResult", "error")
    waited = hook.number("QueueTime", 0)
    step = humanpath.after_queue(menu, state, result, waited, hook.context())
    return hook.answer(menu, step, "queue", {"result": result, "waited_s": waited})


@bp.route("/dial", methods=["GET", "POST"])
@_webhook
def dial_done(hook: _Hook) -> Response:
    """A transfer ended (answered, busy, no answer, failed)."""
    menu, state = hook.state()
    status = hook.get("DialCallStatus", "failed")
    step = engine.after_dial(menu, state, status, hook.context())
    return hook.answer(menu, step, "dial", {"status": status})


@bp.route("/recorded", methods=["GET", "POST"])
@_webhook
def recorded(hook: _Hook) -> Response:
    """A voicemail was recorded (or the caller said nothing)."""
    menu, state = hook.state()
    detail = {
        "url": hook.get("RecordingUrl"),
        "duration_s": hook.get("RecordingDuration"),
    }
    step = engine.after_record(menu, state, hook.context())
    return hook.answer(menu, step, "voicemail", detail)


@bp.route("/status", methods=["GET", "POST"])
@_webhook
def status(hook: _Hook) -> Response:
    """Twilio's call status callback: how the call ended, for the log."""
    hook.record(
        "status",
        detail={
            "status": hook.get("CallStatus"),
            "duration_s": hook.get("CallDuration"),
        },
    )
    return _xml(VoiceResponse())
