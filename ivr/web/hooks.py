"""What every webhook shares: one read of the request, its URLs, and fault handling.

Every handler runs inside ``webhook``, which checks the signature, gathers what the
request says into one ``Hook``, and turns any fault (a forged state URL, a bug, a
dead data source) into an apology and the human path: Twilio never sees a 500 and
no caller is left in silence.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from flask import Response, abort, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from ivr import engine
from ivr.engine import CallContext, CallState, Enqueue, Step
from ivr.menu import MASK, Menu, QueueNode
from ivr.twiml import render_apology, render_step
from ivr.web import Runtime
from ivr.web.sealing import BadState
from ivr.web.security import signed_url, valid_signature

__all__ = ["Hook", "webhook", "xml"]

log = logging.getLogger(__name__)


class Hook:
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
        self.root = base + request.script_root
        self.prefix = self.root + "/voice"
        self._recordings = ""
        self._sealed: dict[int, str] = {}
        self.callback_query: dict[str, str] = {}

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

    def fields(self, kind: str) -> dict[str, Any]:
        """The agent line's fields sealed in the URL (``Sealer.seal_fields``)."""
        return self.runtime.sealer.open_fields(self.token, kind)

    def link(self, path: str, kind: str, **fields: object) -> str:
        """An absolute URL of this app (``/agent/next``...) carrying sealed fields."""
        token = quote(self.runtime.sealer.seal_fields(kind, fields), safe="")
        return f"{self.root}{path}?s={token}"

    def record(self, event: str, **fields: object) -> None:
        self.runtime.store.record(self.get("CallSid"), event, **fields)  # type: ignore[arg-type]

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
        # The hold round says where the caller stands, for the callback's promise.
        extra = "".join(f"&{k}={quote(v)}" for k, v in self.callback_query.items())
        return self._url("callback", state) + extra

    def queue_done(self, state: CallState) -> str:
        return self._url("queue", state)

    def dial_done(self, state: CallState) -> str:
        return self._url("dial", state)

    def recorded(self, state: CallState) -> str:
        return self._url("recorded", state)

    def enter(self, menu: str) -> str:
        """The call goes on in another menu, at its start (``goto_menu``)."""
        return f"{self.prefix}?menu={quote(menu, safe='')}"

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
        for event in step.events:  # complaints, requests: for ``ivr report``
            self.record(
                event.name,
                menu=menu.id,
                node=event.node,
                detail=dict(event.detail),
            )
        if isinstance(step.action, Enqueue):
            self.runtime.store.enqueued(self.waiter(menu, step.state, step.action))
        response = xml(render_step(step, menu, self))
        if self.runtime.expose_trace:
            trace = {
                "menu": menu.id,
                "nodes": list(step.nodes),
                "choice": {"node": choice[0], "key": choice[1]} if choice else None,
                "variables": _masked(menu, dict(step.state.variables)),
            }
            if step.events:  # complaints and requests, for scenario tests
                trace["events"] = [
                    {"event": e.name, "node": e.node, **e.detail} for e in step.events
                ]
            response.headers["X-IVR-Trace"] = json.dumps(trace, ensure_ascii=True)
        return response

    def waiter(
        self, menu: Menu, state: CallState, enqueue: Enqueue | None = None
    ) -> dict[str, Any]:
        """The store's record of this caller in the queue of node ``state.node``.

        Built from the Enqueue step when the caller joins, and from the node again
        on later rounds (each write carries the whole row: writes from several
        workers may land in any order).
        """
        node = menu.nodes[state.node]
        if enqueue is None:
            if not isinstance(node, QueueNode):
                raise BadState(f"node '{state.node}' is not a queue node")
            enqueue = engine.enqueue_for(menu, node, state.variables)
        queue = menu.queues[enqueue.queue]
        now = self.runtime.clock().timestamp()
        # The moment they joined, sealed in the URL: every write of this wait
        # names the same one (a re-enqueue later is a new wait).
        since = state.since if state.since is not None else now
        if state.since is None:
            since -= self.number("QueueTime", 0.0)
        return {
            "call_sid": self.get("CallSid"),
            "menu": menu.id,
            "queue": enqueue.queue,
            "node": state.node,
            "priority": enqueue.priority,
            "twilio_queue": enqueue.name,
            "topic": enqueue.topic,
            "facts": [list(fact) for fact in enqueue.facts],
            "caller": self.get("From"),
            "enqueued_at": since,
            # A caller whose hold rounds stopped coming has gone.
            "stale_after_s": 3 * queue.announce_every_s + 60,
        }

    def traced(self, response: Response, move: str) -> Response:
        """Name the agent line's ``move`` in the trace header (tests, ``ivr test``)."""
        if self.runtime.expose_trace:
            response.headers["X-IVR-Trace"] = json.dumps({"agent_line": move})
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
            return xml(
                render_step(
                    engine.fallback(menu, variables, self.context()), menu, self
                )
            )
        except Exception:
            log.exception("fallback failed too")
            return xml(render_apology(menu.language))


def xml(twiml: VoiceResponse) -> Response:
    return Response(str(twiml), mimetype="text/xml")


def _masked(menu: Menu, variables: dict[str, str]) -> dict[str, str]:
    hidden = menu.sensitive_variables
    return {k: (MASK if k in hidden else v) for k, v in variables.items()}


def webhook(
    handler: Callable[[Hook], Response],
    fault: Callable[[Hook], Response] | None = None,
) -> Callable[[], Response]:
    """Check the signature, then run ``handler``; on any fault, apologise.

    ``fault`` answers instead of the caller's apology and human path (the agent
    line says the dispatch is unavailable instead).
    """
    on_fault = fault or Hook.fallback

    @functools.wraps(handler)
    def wrapped() -> Response:
        runtime: Runtime = current_app.extensions["ivr"]
        hook = Hook(runtime)
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
            return on_fault(hook)
        except Exception:
            log.exception("webhook %s failed; answering with the fallback", hook.path)
            return on_fault(hook)

    return wrapped
