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
import operator
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from flask import Request, Response, abort, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.wsgi import get_content_length

from ivr import engine
from ivr.engine import CallContext, CallState, Enqueue, Step
from ivr.menu import MASK, Menu, QueueNode
from ivr.outcomes import step_facts
from ivr.twiml import render_apology
from ivr.web import Runtime, metrics
from ivr.web.sealing import BadState, Binding
from ivr.web.security import signed_url

__all__ = [
    "MAX_BODY_BYTES", "Hook", "empty", "hold", "parse_form", "webhook", "xml",
    "xml_text",
]  # fmt: skip

log = logging.getLogger(__name__)

# A sealed state longer than this is kept in the store and the URL carries
# ``KEPT`` and its id instead: action URLs must stay well under the 4,094 bytes of
# a request line that gunicorn (and Twilio, roughly) accept.
MAX_TOKEN_CHARS = 1500
KEPT = "~"

# Twilio's forms are a few kilobytes (a long SpeechResult included); anything
# much bigger is not Twilio, and reading it whole would cost a worker its memory.
MAX_BODY_BYTES = 64 * 1024
# Holding after a fault in a waitUrl document, when the queue is not known.
HOLD_S = 30


class Hook:
    """One webhook request: what Twilio sent, and the app's URLs for the answer.

    Reads the request once, straight from its WSGI environ (Flask's request
    proxies are not free on a path that runs for every step of every call),
    and seals each call state once however many URLs of the answer carry it.
    """

    def __init__(self, runtime: Runtime, req: Request | None = None) -> None:
        self.runtime = runtime
        if req is None:
            req = request._get_current_object()  # type: ignore[attr-defined]
        self.request = req
        environ = req.environ
        # Twilio posts a flat urlencoded form: ``parse_form`` reads it at a
        # fraction of the cost of werkzeug's general form parser.
        query_string = environ.get("QUERY_STRING")
        query = dict(parse_form(query_string)) if query_string else {}
        self.pairs: list[tuple[str, str]] = []  # the POST fields, as received
        # On GET and HEAD the signature covers the URL alone: a body would let
        # anyone holding a signed URL change what it says.
        if environ.get("REQUEST_METHOD") == "POST" and (
            environ.get("CONTENT_TYPE") == _FORM_TYPE or _is_form(environ)
        ):
            self.pairs = parse_form(_body(environ))
        self.form = form = dict(self.pairs)
        self.values = {**query, **form} if query else form
        self.token = query.get("s", "")
        self.menu_id = query.get("menu")
        self.path = req.path
        base = runtime.public_url.rstrip("/") if runtime.public_url else ""
        self.root = base + req.script_root
        self.prefix = self.root + "/voice"
        self._recordings = ""
        self._sealed: dict[tuple[int, str, str], str] = {}
        # The call's own binding: what this call's next request will carry.
        self._binding = Binding("CallSid", self.values.get("CallSid", ""))
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
            caller=self.values.get("From", ""),
            lookup=self.runtime.lookups,
        )

    def state(self) -> tuple[Menu, CallState]:
        """The call state sealed in the URL, and its menu.

        ``BadState`` if forged, altered, too old or sealed for another call.
        """
        token = self.token
        if token.startswith(KEPT):  # too long for a URL: kept in the store
            try:
                token = self.runtime.store.kept_state(token[len(KEPT) :]) or ""
            except Exception as error:
                raise BadState(
                    "the call state kept in the store is unreadable"
                ) from error
        state = self.runtime.sealer.open(token, self.values)
        menu = self.runtime.menu_set.menus.get(state.menu)
        if menu is None:
            raise BadState(f"menu '{state.menu}' is not loaded")
        return menu, state

    def fields(self, kind: str) -> dict[str, Any]:
        """The agent line's fields sealed in the URL (``Sealer.seal_fields``)."""
        return self.runtime.sealer.open_fields(self.token, kind, self.values)

    def link(
        self, path: str, kind: str, binding: Binding | None = None, **fields: object
    ) -> str:
        """An absolute URL of this app (``/agent/next``...) carrying sealed fields,
        for this call's next request unless ``binding`` names another's."""
        token = self.runtime.sealer.seal_fields(kind, fields, binding or self._binding)
        return f"{self.root}{path}?s={token}"  # URL-safe base64: nothing to quote

    def record(self, event: str, **fields: object) -> None:
        call_sid = self.values.get("CallSid", "")
        self.runtime.store.record(call_sid, event, **fields)  # type: ignore[arg-type]

    # -- the Urls protocol of ivr.twiml ------------------------------------------

    def url(self, path: str, state: CallState, binding: Binding | None = None) -> str:
        """The app's URL ``/voice/<path>`` carrying ``state``, sealed for a call.

        ``binding`` defaults to this request's call; a document another call
        will request (a ``<Queue url>``, a ``<Number url>`` whisper) passes that
        call's (see ``ivr.web.sealing``).
        """
        binding = binding or self._binding
        key = (id(state), binding.field, binding.value)
        token = self._sealed.get(key)
        if token is None:
            # URL-safe base64 (``ivr.web.sealing``): nothing in it to quote.
            token = self.runtime.sealer.seal(state, binding)
            if len(token) > MAX_TOKEN_CHARS:
                token = self._kept(token)
            self._sealed[key] = token
        return f"{self.prefix}/{path}?s={token}"

    def _kept(self, token: str) -> str:
        """A state too long for a URL, kept in the store behind a short id.

        If the store cannot take it, the long URL it is: a server may refuse it
        (414), which the in-process caller reports, but a short state never
        depends on the store.
        """
        try:
            return KEPT + self.runtime.store.keep_state(token)
        except Exception:
            log.warning("store: a long call state could not be kept; sent whole")
            return token

    def input(self, state: CallState) -> str:
        return self.url("input", state)

    def wait(self, state: CallState) -> str:
        return self.url("wait", state)

    def callback(self, state: CallState) -> str:
        # The hold round says where the caller stands, for the callback's promise.
        extra = "".join(f"&{k}={quote(v)}" for k, v in self.callback_query.items())
        return self.url("callback", state) + extra

    def queue_done(self, state: CallState) -> str:
        return self.url("queue", state)

    def dial_done(self, state: CallState) -> str:
        return self.url("dial", state)

    def recorded(self, state: CallState) -> str:
        return self.url("recorded", state)

    def enter(self, menu: str) -> str:
        """The call goes on in another menu, at its start (``goto_menu``)."""
        return f"{self.prefix}?menu={quote(menu, safe='')}"

    def recording(self, name: str) -> str:
        """Absolute, as ``<Play>`` needs; the folder's URL is built once."""
        if not self._recordings:
            req = self.request
            if self.runtime.public_url:
                base = self.runtime.public_url.rstrip("/")
            else:
                base = f"{req.scheme}://{req.host}"
            self._recordings = base + req.script_root + _recordings_path()
        return self._recordings + quote(name)

    # -- answers -------------------------------------------------------------------

    def answer(self, menu: Menu, step: Step, event: str, detail: dict) -> Response:
        """Log the webhook as one event, then answer the step's TwiML."""
        choice = step.choice
        facts = step_facts(menu, step)
        self.record(
            event,
            menu=menu.id,
            node=step.state.node,
            detail={
                **detail,
                "nodes": list(step.nodes),
                "choice": list(choice) if choice else None,
                "action": type(step.action).__name__.lower(),
                **facts,  # what the call record needs
            },
        )
        for event in step.events:  # complaints, requests: for ``ivr report``
            self.record(
                event.name,
                menu=menu.id,
                node=event.node,
                detail=dict(event.detail),
            )
        if isinstance(step.action, Enqueue):
            self.runtime.store.enqueued(self.waiter(menu, step.state, step.action))
        response = xml_text(self.runtime.twiml.step(step, menu, self))
        if self.runtime.expose_trace:
            trace = {
                "menu": menu.id,
                "nodes": list(step.nodes),
                "choice": {"node": choice[0], "key": choice[1]} if choice else None,
                "variables": _masked(menu, dict(step.state.variables)),
            }
            if facts.get("answer"):  # the call's outcome, for ivr call and ivr test
                trace["answer"] = True
            if step.gave_up:
                trace["gave_up"] = step.gave_up
            if step.failed:
                trace["lookup_failed"] = {"node": step.failed[0], "why": step.failed[1]}
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
        try:
            step = engine.fallback(menu, variables, self.context())
            self.record(
                "fault",
                menu=menu.id,
                node=step.state.node,
                detail={"path": self.path, "nodes": list(step.nodes),
                        "action": type(step.action).__name__.lower(),
                        **step_facts(menu, step)},
            )  # fmt: skip
            return xml_text(runtime.twiml.step(step, menu, self))
        except Exception:
            log.exception("fallback failed too")
            self.record("fault", menu=menu.id, detail={"path": self.path})
            return xml(render_apology(menu.language))


def hold(hook: Hook) -> Response:
    """The fallback of a waitUrl document (and of its callback offer's answer).

    Twilio allows no ``<Enqueue>`` there, and the caller is still in the queue, in
    their place: keep holding for a round (silence, as between announcements),
    after which Twilio asks the waitUrl again.
    """
    hold_s = HOLD_S
    try:
        menu, state = hook.state()
        node = menu.nodes.get(state.node)
        queue = menu.queues.get(getattr(node, "queue", ""))
        if queue is not None:
            hold_s = int(queue.announce_every_s) or HOLD_S
    except Exception:  # the state itself may be what failed
        pass
    hook.record("fault", detail={"path": hook.path})
    response = VoiceResponse()
    response.pause(length=hold_s)
    return xml(response)


def empty(hook: Hook) -> Response:
    """The fallback of a request whose answer Twilio ignores (a status callback)."""
    return xml(VoiceResponse())


def xml(twiml: VoiceResponse) -> Response:
    return xml_text(str(twiml))


def xml_text(document: str | bytes) -> Response:
    """A TwiML document already rendered (``ivr.twiml_cache``: UTF-8) as the
    response."""
    return TwimlResponse(document)


class TwimlResponse(Response):
    """A TwiML document as the answer, handed to the WSGI server as it is.

    werkzeug readies every response for the server in general terms: it copies
    the headers to make a relative ``Location`` absolute and to count a length
    not known yet, and wraps the body to encode each piece and close it at the
    end. A TwiML answer has no ``Location``, its length is set with its body
    (bytes already) and nothing needs closing, so on a 200 it goes out as made
    (about 35,000 instructions of a webhook's 600,000 saved, counted with
    callgrind). Any other status (none is made today) takes werkzeug's way.
    """

    def __init__(self, document: str | bytes) -> None:
        if isinstance(document, str):
            document = document.encode()
        super().__init__(document, content_type=TWIML_TYPE)

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Any:
        if self.status_code != 200:
            return super().get_wsgi_headers(environ)
        return self.headers

    def get_app_iter(self, environ: dict[str, Any]) -> Any:
        if self.status_code != 200:
            return super().get_app_iter(environ)
        return () if environ["REQUEST_METHOD"] == "HEAD" else self.response


TWIML_TYPE = "text/xml; charset=utf-8"


def parse_form(text: str) -> list[tuple[str, str]]:
    """The fields of a urlencoded form or query, in order: what
    ``urllib.parse.parse_qsl(text, keep_blank_values=True)`` gives, at a fraction
    of its cost.

    Unless an escape stands for ``&`` or ``=`` (``%26``, ``%3D``), the whole
    text is unquoted at once and then cut into fields: no escape can then make
    a separator, and a UTF-8 sequence never spans an ``&`` (an ASCII byte ends
    any sequence, valid or not), so each field reads as if unquoted alone. The
    cutting runs in C (``map`` over the fields), not a Python loop per field.
    """
    if "%" in text or "+" in text:
        if "%26" in text or "%3D" in text or "%3d" in text:
            return [
                (_unquoted(name), _unquoted(value))
                for name, _, value in (f.partition("=") for f in text.split("&") if f)
            ]
        text = _unquoted(text)
    return list(map(_NAME_VALUE, map(_PARTITION, filter(None, text.split("&")))))


_PARTITION = operator.methodcaller("partition", "=")
_NAME_VALUE = operator.itemgetter(0, 2)


def _unquoted(text: str) -> str:
    """``urllib.parse.unquote(text.replace("+", " "))``. For ASCII text (a form
    as Twilio posts it) that is ``unquote_to_bytes`` decoded, without the pass
    of a regular expression over the whole text that ``unquote`` makes first to
    find its ASCII runs."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not text.isascii():
        return unquote(text)
    return unquote_to_bytes(text).decode("utf-8", "replace")


_FORM_TYPE = "application/x-www-form-urlencoded"


def _is_form(environ: dict[str, Any]) -> bool:
    kind = environ.get("CONTENT_TYPE", "")
    return kind.partition(";")[0].strip().lower() == _FORM_TYPE


@functools.cache
def _recordings_path() -> str:
    """The recordings' route, below the app's root: ``/recordings/``."""
    return url_for("pages.recording", name="-")[: -len("-")].removeprefix(
        request.script_root
    )


def _body(environ: dict[str, Any]) -> str:
    """The request body, refused with 413 beyond ``MAX_BODY_BYTES``.

    A declared length over the cap is refused before a byte is read; a chunked
    body is read up to the cap and no further. Read straight from the WSGI
    input as werkzeug's ``get_input_stream`` would let it be read (without its
    stream wrappers): whole when the server ends the stream itself
    (``wsgi.input_terminated``: gunicorn, a chunked body on werkzeug's server),
    else up to the declared length, and nothing without one.
    """
    length = get_content_length(environ)
    if length is not None and length > MAX_BODY_BYTES:
        abort(413)
    stream = environ["wsgi.input"]
    if "wsgi.input_terminated" in environ:
        # One byte more than allowed tells a chunked body over the cap from one at it.
        body = stream.read(MAX_BODY_BYTES + 1 if length is None else length)
        if len(body) > MAX_BODY_BYTES:
            abort(413)
    elif not length:
        return ""
    else:
        body = stream.read(length)
        while len(body) < length:  # a stream may answer in pieces
            more = stream.read(length - len(body))
            if not more:
                raise ClientDisconnected()
            body += more
    return body.decode("utf-8", "replace")


def _masked(menu: Menu, variables: dict[str, str]) -> dict[str, str]:
    hidden = menu.sensitive_variables
    return {k: (MASK if k in hidden else v) for k, v in variables.items()}


Handler = Callable[[Hook], Response]


def webhook(handler: Handler | None = None, *, fallback: Handler | None = None) -> Any:
    """Check the signature, then run ``handler``; on any fault, answer ``fallback``.

    ``fallback`` must be valid TwiML for the document the route answers: by
    default an apology and the human path (``Hook.fallback``), which a call's
    own documents allow; a waitUrl document takes ``hold``; a document whose
    answer Twilio ignores (the status callback) an empty one. Used bare
    (``@webhook``) or with the fallback (``@webhook(fallback=hold)``).
    """
    if handler is None:
        return functools.partial(webhook, fallback=fallback)
    answer_fault: Handler = fallback or Hook.fallback

    def answer(runtime: Runtime, req: Request) -> Response:
        hook = Hook(runtime, req)
        signatures = runtime.signatures
        if signatures is not None and not signatures.valid(
            signed_url(hook.request, runtime.public_url),
            hook.pairs,
            hook.request.environ.get("HTTP_X_TWILIO_SIGNATURE", ""),
            hook.form,
        ):
            abort(403)
        try:
            return handler(hook)
        except BadState as refused:
            log.warning("refused a call state on %s: %s", hook.path, refused)
            return answer_fault(hook)
        except Exception:
            log.exception("webhook %s failed; answering its fallback", hook.path)
            return answer_fault(hook)

    @functools.wraps(handler)
    def wrapped() -> Response:
        # Counted and timed here, not in app-wide request hooks: every webhook
        # passes this way, and nothing else needs to pay for it.
        started = time.perf_counter()
        # The objects behind Flask's proxies, each looked up once.
        req = request._get_current_object()  # type: ignore[attr-defined]
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        runtime: Runtime = app.extensions["ivr"]
        status = 500  # a fault the handler's fallback could not answer
        try:
            response = answer(runtime, req)
            status = response.status_code
            return response
        except HTTPException as refused:  # 403, 413: Flask answers them
            status = refused.code or 500
            raise
        finally:
            metrics.webhook_answered(
                req.endpoint or "unknown", status, time.perf_counter() - started
            )
            metrics.watch_writer(runtime.store.writer)

    return wrapped
