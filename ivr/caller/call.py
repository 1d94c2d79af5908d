"""The call loop: a stand-in for Twilio and a phone, one call at a time.

Twilio runs a call as a conversation with a webhook: it posts what happened
(the call came in, the caller pressed 1, the queue let them go), gets back a
TwiML document and plays it verb by verb until a verb hands control to another
URL. :class:`Caller` plays both parts Twilio does not put on the wire: the phone
network (it posts the very fields Twilio posts, signed like Twilio signs them)
and the person holding the phone (keys, speech, silence or a hang-up, taken from
a script or typed in a terminal). What the person hears is the *transcript*.
"""

from __future__ import annotations

import contextlib
import io
import json
import urllib.parse
import wave
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ivr.caller.clocks import Closed, Party, Stalled
from ivr.caller.document import TwimlError, Verb, parse_twiml
from ivr.caller.flow import LEAVE, Ended, LoopError, WebhookError, new_sid
from ivr.caller.handover import Handover
from ivr.caller.inputs import (
    CallResult,
    Gathering,
    HangUp,
    Input,
    InputSource,
    Press,
    Silence,
    Speak,
    describe_input,
)
from ivr.caller.transport import Answer, Transport, WsgiTransport

if TYPE_CHECKING:
    from ivr.caller.switchboard import Switchboard

__all__ = ["Caller", "WebhookError"]

API_VERSION = "2010-04-01"
XML_TYPES = ("text/xml", "application/xml", "text/html")
MAX_TWIML_BYTES = 64 * 1024  # Twilio's limit on a TwiML document
# What a live source is asked between hold rounds: nothing is gathered.
HOLDING = Gathering(
    input=(), num_digits=None, finish_on_key="", timeout_s=0, in_queue=True
)


# Where a document runs decides the verbs Twilio allows in it (a waitUrl
# document is checked by parse_twiml itself).
_CONTEXTS = {
    # <Dial><Queue url>: on the dequeued caller's end, before the bridge.
    "dequeue": (
        "a <Queue url> document",
        frozenset({"Play", "Say", "Pause", "Redirect"}),
    ),
    # <Dial><Number url>: the whisper on the called party's end. Twilio forbids
    # <Dial> there; an <Enqueue> would leave the dialling call ringing for ever.
    "whisper": (
        "a <Number url> document",
        frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject"})
        | {"Record"},
    ),
}


def _check_context(verbs: list[Verb], where: str) -> None:
    if where not in _CONTEXTS:
        return
    shown, allowed = _CONTEXTS[where]
    for verb in verbs:
        if verb.name not in allowed:
            names = ", ".join(f"<{v}>" for v in sorted(allowed))
            raise TwimlError(f"<{verb.name}> is not allowed in {shown} (only {names})")


class Caller:
    """Calls a TwiML webhook exactly as Twilio would, as a scripted or live caller.

    ``transport`` reaches the webhook (in-process WSGI or HTTP); ``url`` is the
    voice URL the call starts at. Queue behaviour is a choice of the caller: an
    agent takes the call after ``agent_after_rounds`` waitUrl rounds, unless the
    caller's patience (``patience_rounds``, or ``patience_s`` seconds of holding)
    runs out first. ``dial_status`` is how a ``<Dial>`` ends (``completed``,
    ``busy``, ``no-answer``, ``failed``).

    ``status_callback`` is the URL Twilio posts the call's final status to (a
    number's *Call status changes* webhook): ``CallStatus=completed`` and the
    ``CallDuration`` once the call has ended, whoever hung up.

    ``asks_while_holding`` lets a live input source decide, like a person on
    hold, after each hold round whether to hold on: it is asked with a
    ``Gathering`` that gathers nothing (``input == ()``, ``in_queue``);
    ``HangUp`` or ``None`` hangs up, anything else holds on. A script is never
    asked (it holds until taken or out of patience).

    Placed on a :class:`~ivr.caller.switchboard.Switchboard` instead
    (``board.place(caller, inputs)``), the call meets the other calls of the
    account: agents take it from its queue, its ``<Dial>`` reaches queues and
    scripted phones, and ``agent_after_rounds``, ``queue_ahead`` and
    ``dial_status`` no longer apply (patience still does).
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        from_number: str = "+15005550006",
        to_number: str = "+15005550001",
        auth_token: str | None = None,
        agent_after_rounds: int = 2,
        patience_rounds: int | None = None,
        patience_s: float | None = None,
        queue_ahead: int = 2,
        dial_status: str = "completed",
        fetch_audio: bool = True,
        max_requests: int = 300,
        max_requests_without_input: int = 40,
        status_callback: str | None = None,
        asks_while_holding: bool = False,
    ) -> None:
        if agent_after_rounds < 0:
            raise ValueError(
                f"agent_after_rounds must be >= 0, got {agent_after_rounds}"
            )
        if dial_status not in ("completed", "busy", "no-answer", "failed", "canceled"):
            raise ValueError(
                "dial_status must be completed, busy, no-answer, failed or "
                f"canceled, got {dial_status!r}"
            )
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"url must be http(s), got {url!r}")
        self.transport = transport
        self.url = url
        self.from_number = from_number
        self.to_number = to_number
        self.auth_token = auth_token
        self.agent_after_rounds = agent_after_rounds
        self.patience_rounds = patience_rounds
        self.patience_s = patience_s
        self.queue_ahead = queue_ahead
        self.dial_status = dial_status
        self.fetch_audio = fetch_audio
        self.max_requests = max_requests
        self.max_requests_without_input = max_requests_without_input
        self.status_callback = status_callback
        self.asks_while_holding = asks_while_holding

    def call(
        self,
        inputs: Iterable[Input] | InputSource = (),
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallResult:
        """Make one call. ``inputs`` is a script (a list) or a live source.

        A script that runs out hangs up at the next ``<Gather>`` outside a queue;
        in a queue the caller simply holds. A live source returns ``None`` to
        hang up. ``on_event`` sees each transcript entry as it happens.
        """
        self._current = _Call(self, inputs, on_event)
        return self._current.run()

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds into the call made last (the clock of a solo call:
        an in-process app can be shown ``start + elapsed_s``)."""
        current = getattr(self, "_current", None)
        return current.elapsed_s if current is not None else 0.0

    def _new_call(
        self,
        inputs: Iterable[Input] | InputSource,
        on_event: Callable[[dict[str, Any]], None] | None,
        *,
        board: Switchboard,
    ) -> _Call:
        """A call of these settings on a switchboard (``Switchboard.place``)."""
        return _Call(self, inputs, on_event, board=board)


class _Call(Handover):
    """One call's state; the Caller holds only settings so it can be reused."""

    def __init__(
        self,
        caller: Caller,
        inputs: Iterable[Input] | InputSource,
        on_event: Callable[[dict[str, Any]], None] | None,
        *,
        board: Switchboard | None = None,
        direction: str = "inbound",
        parent_sid: str | None = None,
    ) -> None:
        self.c = caller
        self.source: InputSource | None = None
        self.script: Iterator[Input] | None = None
        if callable(inputs):
            self.source = inputs
        else:
            self.script = iter(list(inputs))
        self.on_event = on_event
        self.result = CallResult()
        self.reached: list[str] = []
        self.call_sid = new_sid("CA")
        self.result.call_sid = self.call_sid
        self.account_sid = board.account_sid if board else "AC" + "0" * 32
        self.direction = direction
        self.parent_sid = parent_sid
        # A dialled leg is answered before its first request.
        self.status = "ringing" if direction == "inbound" else "in-progress"
        self.since_input = 0
        self.held_requests = 0  # waitUrl rounds: bounded by patience, not a loop
        self.elapsed_s = 0.0
        self._audio_s: dict[str, float] = {}  # length of each recording played
        self.board = board
        self.party: Party | None = None  # set by the switchboard
        self.holding = None  # the queue Member while holding on a switchboard
        self.leg = None  # the Bridge when this call is a dialled leg
        self._via: _Call | None = None  # whose transport fetches a <Queue url>
        self.start_s = 0.0
        if caller.auth_token:
            from twilio.request_validator import RequestValidator

            self.validator: Any = RequestValidator(caller.auth_token)
        else:
            self.validator = None

    # -- the conversation -------------------------------------------------

    def run(self) -> CallResult:
        result = self._conduct(self._call_in)
        if self.c.status_callback:
            self._post_status()
        return result

    def _post_status(self) -> None:
        """The number's status callback, as Twilio posts it when a call ends."""
        seconds = self.elapsed_s if self.board is None else self.board.now_s
        if self.board is not None:
            seconds -= self.start_s
        params = self._params(
            {
                "CallStatus": "completed",
                "CallDuration": str(max(int(seconds + 0.5), 1)),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "0",
            }
        )
        url = self.c.status_callback or ""
        headers: dict[str, str] = {}
        if self.validator is not None:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(
                url, params
            )
        with contextlib.suppress(OSError):  # Twilio does not retry it either
            self.c.transport("POST", url, params, headers)

    def run_leg(self) -> CallResult:
        """Run a leg the switchboard dialled: its whisper, then the talk."""
        return self._conduct(self._answer_leg)

    def _call_in(self) -> None:
        verbs, url = self._fetch("POST", self.c.url, {}, where="call")
        self._run(verbs, url, where="call")

    def _conduct(self, body: Callable[[], None]) -> CallResult:
        if self.board is not None:
            self.start_s = self.board.now_s
        ended_by = "app"
        try:
            body()
        except Ended as ended:
            ended_by = ended.by
        except Closed as closed:
            self._event({"verb": "Hangup", "by": "switchboard", "reason": str(closed)})
            ended_by = "caller"
        except Stalled as stalled:
            self.result.outcome = "error"
            self.result.error = f"the switchboard stalled: {stalled}"
            return self.result
        except (TwimlError, WebhookError, LoopError) as error:
            self.result.outcome = "error"
            self.result.error = str(error)
            return self.result
        if self.reached:
            self.result.outcome = self.reached[-1]
        elif ended_by == "caller":
            answered = any(trace.get("answer") for trace in self.result.traces)
            self.result.outcome = "self_service" if answered else "caller_hangup"
        else:
            self.result.outcome = _menu_outcome(self.result.traces)
        return self.result

    def _event(self, entry: dict[str, Any]) -> None:
        self.result.transcript.append(entry)
        if self.on_event:
            self.on_event(entry)

    def _params(self, extra: Mapping[str, str]) -> dict[str, str]:
        params = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.c.from_number,
            "To": self.c.to_number,
            "Called": self.c.to_number,
            "Caller": self.c.from_number,
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": API_VERSION,
        }
        if self.parent_sid:
            params["ParentCallSid"] = self.parent_sid
        params.update(extra)
        self.status = "in-progress"
        return params

    def _send(
        self, method: str, url: str, params: Mapping[str, str], *, hold: bool = False
    ) -> tuple[Answer, str]:
        self.result.requests += 1
        self.held_requests += hold
        self.since_input += 1
        if self.result.requests - self.held_requests > self.c.max_requests:
            raise LoopError(
                f"the call made more than {self.c.max_requests} webhook requests: "
                "a loop that never ends"
            )
        if self.since_input > self.c.max_requests_without_input:
            raise LoopError(
                f"{self.c.max_requests_without_input} webhook requests without any "
                f"input from the caller (last {url}): a loop that never ends"
            )
        headers: dict[str, str] = {}
        if method == "GET" and params:
            joiner = "&" if urllib.parse.urlsplit(url).query else "?"
            url = url + joiner + urllib.parse.urlencode(params)
            params = {}
        _check_request_line(method, url)
        # A <Queue url> is the dialling call's document: its app, its token.
        owner = self._via or self
        if owner.validator is not None:
            headers["X-Twilio-Signature"] = owner.validator.compute_signature(
                url, dict(params)
            )
        try:
            answer = owner.c.transport(method, url, params, headers)
        except OSError as error:
            raise WebhookError(f"{method} {url} failed: {error}") from None
        return answer, url

    def _fetch(
        self,
        method: str,
        url: str,
        extra: Mapping[str, str],
        *,
        where: str,
        hold: bool = False,
    ) -> tuple[list[Verb], str]:
        """Request a TwiML document and check it; return its verbs and its URL.

        ``where`` is where the document runs (``call``, ``wait`` for a waitUrl,
        ``dequeue`` for a ``<Queue url>``, ``whisper`` for a ``<Number url>``),
        which decides the verbs Twilio allows in it.
        """
        answer, sent_url = self._send(method, url, self._params(extra), hold=hold)
        shown = f"{method} {url}"
        if answer.status == 403:
            raise WebhookError(
                f"{shown} answered 403 Forbidden: the webhook refused the request "
                "(wrong auth token or X-Twilio-Signature?)"
            )
        if answer.status != 200:
            raise WebhookError(f"{shown} answered HTTP {answer.status}, not 200")
        if answer.content_type not in XML_TYPES:
            raise WebhookError(
                f"{shown} answered Content-Type '{answer.content_type}', "
                "not TwiML (text/xml or application/xml)"
            )
        if len(answer.body) > MAX_TWIML_BYTES:
            raise WebhookError(
                f"{shown} answered {len(answer.body)} bytes; Twilio refuses TwiML "
                f"over {MAX_TWIML_BYTES // 1024} KB"
            )
        trace = answer.headers.get("x-ivr-trace")
        if trace:
            try:
                traced = json.loads(trace)
            except ValueError:
                raise WebhookError(f"{shown}: X-IVR-Trace is not JSON") from None
            self.result.traces.append(traced)
            failed = traced.get("lookup_failed")
            if failed:  # say why the caller was sent down the error path
                self._event(
                    {"verb": "Lookup", "node": failed["node"], "failed": failed["why"]}
                )
        try:
            verbs = parse_twiml(answer.body, wait=where == "wait")
            _check_context(verbs, where)
        except TwimlError as error:
            raise TwimlError(f"{method} {url}: {error}") from None
        # Twilio resolves relative URLs against the document's own URL; the
        # query it added for a GET is not part of that base.
        return verbs, url if method == "GET" else sent_url

    def _holds_on(self) -> bool:
        """Between two hold rounds: whether the person on hold holds on (asked
        only of a live source, with ``asks_while_holding``)."""
        if not self.c.asks_while_holding or self.source is None:
            return True
        item = self._next_input(HOLDING)
        if item is None or isinstance(item, HangUp):
            self._event({"verb": "Hangup", "by": "caller"})
            return False
        return True

    def _next_input(self, gathering: Gathering) -> Input | None:
        if self.source is not None:
            item = self.source(gathering)
        else:
            assert self.script is not None
            item = next(self.script, None)
        if item is not None:
            self.result.inputs.append(item)
            self.since_input = 0
        return item

    # -- running documents --------------------------------------------------

    def _run(self, verbs: list[Verb], url: str, *, where: str) -> object | None:
        """Run a document and the documents it hands over to.

        Returns ``LEAVE`` when a waitUrl document says ``<Leave>``, ``None``
        when the last document ran out of verbs.
        """
        while True:
            handover = None
            for verb in verbs:
                run = getattr(self, f"_verb_{verb.name.lower()}")
                handover = run(verb, url, where)
                if handover is not None:
                    break
            if handover is None:
                return None
            if handover is LEAVE:
                return LEAVE
            verbs, url = handover

    def _resolve(self, base: str, target: str | None) -> str:
        return urllib.parse.urljoin(base, target) if target else base

    def _spend(self, seconds: float) -> None:
        """Time passes on the call: a Say, a Pause, a Gather waiting, a talk.

        On a switchboard the calls due earlier run first, and a caller holding
        in a queue can be taken from it (or give up) in the middle.
        """
        if self.board is None or self.party is None:
            self.elapsed_s += seconds
            return
        try:
            self.board.spend(self.party, seconds, self.holding)
        finally:
            self.elapsed_s = self.board.now_s - self.start_s

    def _verb_say(self, verb: Verb, url: str, where: str) -> None:
        loop = int(verb.get("loop", "1") or 1)
        entry: dict[str, Any] = {"verb": "Say", "text": verb.text}
        if verb.get("language"):
            entry["language"] = verb.get("language")
        if loop != 1:
            entry["loop"] = loop
        self._event(entry)
        self._spend(max(1.0, len(verb.text) / 8) * max(loop, 1))

    def _verb_play(self, verb: Verb, url: str, where: str) -> None:
        if not verb.text:
            self._event({"verb": "Play", "digits": verb.get("digits")})
            return
        target = self._resolve(url, verb.text)
        loop = max(int(verb.get("loop", "1") or 1), 1)  # 0 (for ever): once here
        entry: dict[str, Any] = {"verb": "Play", "url": target}
        if loop != 1:
            entry["loop"] = loop
        length = self._audio_s.get(target)
        if length is None and self.c.fetch_audio and self._reachable(target):
            length, warning = self._fetch_audio(target)
            if warning:
                # Twilio logs a failed fetch (a warning in the call's debugger)
                # and goes on with the next verb: the caller hears nothing.
                entry["warning"] = warning
                self._event(entry)
                return
        self._event(entry)
        self._spend((length or 5.0) * loop)

    def _fetch_audio(self, target: str) -> tuple[float | None, str | None]:
        """Fetch a <Play> URL as Twilio does: its length, or why it cannot play."""
        try:
            answer, _ = self._send("GET", target, {})
        except WebhookError as error:
            return None, f"cannot fetch the audio ({error}); Twilio skips it"
        if answer.status != 200:
            return None, (
                f"GET answered HTTP {answer.status}; Twilio cannot play it and goes on"
            )
        kind = answer.content_type
        if not kind.startswith("audio/"):
            return None, (
                f"answered Content-Type '{kind}', not audio; Twilio cannot play it "
                "and goes on"
            )
        length = _wav_length_s(answer.body)
        if length is not None:  # like Twilio, fetch a file once a call
            self._audio_s[target] = length
        return length, None

    def _reachable(self, url: str) -> bool:
        """Whether the transport can fetch ``url``: an in-process app serves only
        its own host; audio elsewhere (a CDN) is Twilio's to fetch, not ours."""
        owner = self._via or self
        if isinstance(owner.c.transport, WsgiTransport):
            own = urllib.parse.urlsplit(owner.c.url).netloc
            return urllib.parse.urlsplit(url).netloc == own
        return True

    def _verb_pause(self, verb: Verb, url: str, where: str) -> None:
        length = int(verb.get("length", "1") or 1)
        self._event({"verb": "Pause", "seconds": length})
        self._spend(length)

    def _verb_gather(
        self, verb: Verb, url: str, where: str
    ) -> tuple[list[Verb], str] | None:
        for child in verb.children:
            getattr(self, f"_verb_{child.name.lower()}")(child, url, where)
        modes = tuple((verb.get("input") or "dtmf").split())
        num_digits = int(verb.get("numDigits")) if verb.get("numDigits") else None
        finish = verb.get("finishOnKey", "#") or ""
        timeout_s = int(verb.get("timeout", "5") or 5)
        holding = where == "wait"
        gathering = Gathering(modes, num_digits, finish, timeout_s, holding)
        item = self._next_input(gathering)
        if item is None:
            if not holding:
                self._event({"verb": "Gather", "hangup": True})
                raise Ended("caller")
            item = Silence()  # holding in a queue: the caller just listens
        if isinstance(item, HangUp):
            self._event({"verb": "Gather", "hangup": True})
            raise Ended("caller")
        params: dict[str, str] = {}
        if isinstance(item, Press) and "dtmf" in modes:
            digits, finished_on = _collect(item.keys, num_digits, finish)
            entry: dict[str, Any] = {"verb": "Gather", "press": item.keys}
            if digits:
                params = {"Digits": digits, "FinishedOnKey": finished_on}
        elif isinstance(item, Speak) and "speech" in modes and item.text.strip():
            entry = {"verb": "Gather", "say": item.text}
            params = {"SpeechResult": item.text, "Confidence": "0.9"}
        else:
            entry = {"verb": "Gather", **describe_input(item)}
            if not isinstance(item, Silence):
                entry["ignored"] = f"input is {' '.join(modes)}"
        self._event(entry)
        self._spend(timeout_s if not params else 2.0)
        if not params and verb.get("actionOnEmptyResult") != "true":
            return None  # silence: Twilio goes on with the next verb
        method = verb.get("method", "POST") or "POST"
        target = self._resolve(url, verb.get("action"))
        return self._fetch(method, target, params, where=where)

    def _verb_redirect(
        self, verb: Verb, url: str, where: str
    ) -> tuple[list[Verb], str]:
        target = self._resolve(url, verb.text)
        self._event({"verb": "Redirect", "url": target})
        method = verb.get("method", "POST") or "POST"
        return self._fetch(method, target, {}, where=where)

    def _verb_hangup(self, verb: Verb, url: str, where: str) -> None:
        self._event({"verb": "Hangup"})
        raise Ended("app")

    def _verb_reject(self, verb: Verb, url: str, where: str) -> None:
        self._event({"verb": "Reject", "reason": verb.get("reason", "rejected")})
        raise Ended("app")

    def _verb_sms(
        self, verb: Verb, url: str, where: str
    ) -> tuple[list[Verb], str] | None:
        """<Sms> (deprecated): Twilio texts and goes on, or asks its action."""
        to = verb.get("to") or self.c.from_number
        self._event({"verb": "Sms", "to": to, "text": verb.text})
        if not verb.get("action"):
            return None
        params = {"SmsSid": new_sid("SM"), "SmsStatus": "sending"}
        method = verb.get("method", "POST") or "POST"
        return self._fetch(
            method, self._resolve(url, verb.get("action")), params, where=where
        )

    def _skip(self, verb: Verb, url: str, where: str) -> None:
        """A real TwiML verb the caller does not simulate: a note, then go on.

        ``<Start>``/``<Stop>`` run beside the call on Twilio too, so the call
        goes on at once; ``<Connect>``, ``<Pay>``, ``<Refer>`` and ``<Echo>``
        are taken as over at once, without their action.
        """
        entry: dict[str, Any] = {"verb": verb.name, "note": _SKIPPED[verb.name]}
        if verb.children:
            entry["nouns"] = [child.name for child in verb.children]
        self._event(entry)

    _verb_start = _verb_stop = _verb_connect = _skip
    _verb_pay = _verb_refer = _verb_echo = _skip

    def _verb_leave(self, verb: Verb, url: str, where: str) -> object:
        self._event({"verb": "Leave"})
        return LEAVE

    def _verb_enqueue(
        self, verb: Verb, url: str, where: str
    ) -> tuple[list[Verb], str] | None:
        if self.board is not None and verb.text:
            return self._enqueue_on_board(verb, url)
        # Alone (or TaskRouter): an agent after some rounds, as the caller says.
        name = verb.text or f"workflow:{verb.get('workflowSid')}"
        self._event({"verb": "Enqueue", "queue": name})
        self.reached.append("queue")
        self.result.queue = name
        queue_sid = new_sid("QU")
        start_s = self.elapsed_s
        result = "bridged"
        ended: Ended | None = None
        wait_url = verb.get("waitUrl")
        rounds = 0
        while True:
            if rounds >= self.c.agent_after_rounds:
                result = "bridged"
                break
            waited = self.elapsed_s - start_s
            if (
                self.c.patience_rounds is not None and rounds >= self.c.patience_rounds
            ) or (self.c.patience_s is not None and waited >= self.c.patience_s):
                result, ended = "hangup", Ended("caller")
                break
            if rounds and not self._holds_on():
                result, ended = "hangup", Ended("caller")
                break
            rounds += 1
            # Holding is bounded by the agent or the caller's patience; only a
            # loop inside one round (Redirect to itself) is a loop that never ends.
            self.since_input = 0
            if not wait_url:
                self._spend(30.0)  # Twilio's hold music
                continue
            position = max(1, self.c.queue_ahead + 2 - rounds)
            queue_time = int(self.elapsed_s - start_s)
            params = {
                "QueueSid": queue_sid,
                "QueuePosition": str(position),
                "QueueTime": str(queue_time),
                "AvgQueueTime": str(queue_time),
                "CurrentQueueSize": str(position),
                "MaxQueueSize": "100",
            }
            method = verb.get("waitUrlMethod", "POST") or "POST"
            target = self._resolve(url, wait_url)
            try:
                wait_verbs, wait_doc = self._fetch(
                    method, target, params, where="wait", hold=True
                )
                if self._run(wait_verbs, wait_doc, where="wait") is LEAVE:
                    result = "leave"
                    break
            except Ended as gone:
                result, ended = "hangup", gone
                break
        queue_time = int(self.elapsed_s - start_s)
        self._queue_result(name, result)
        if result == "bridged":
            self._spend(120.0)  # talking with the agent
        params = {
            "QueueResult": result,
            "QueueSid": queue_sid,
            "QueueTime": str(queue_time),
        }
        return self._queue_done(verb, url, params, ended)

    def _verb_dial(
        self, verb: Verb, url: str, where: str
    ) -> tuple[list[Verb], str] | None:
        if self.board is not None:
            nouns = list(verb.children) or [Verb("Number", {}, verb.text)]
            queues = [n for n in nouns if n.name == "Queue"]
            if queues:
                return self._dial_queue(verb, queues[0], url)
            numbers = [n for n in nouns if n.name == "Number"]
            if numbers:
                return self._dial_numbers(verb, numbers, url)
        # Alone (or a Client, Sip, Conference): it ends as the caller says.
        numbers_text = [n.text or n.name for n in verb.children] or [verb.text]
        status = self.c.dial_status
        self._event(
            {"verb": "Dial", "number": ", ".join(numbers_text), "status": status}
        )
        if status == "completed":
            self.reached.append("transfer")
            self._spend(120.0)
        else:
            self._spend(int(verb.get("timeout", "30") or 30))
        if not verb.get("action"):
            return None
        params = {"DialCallStatus": status, "DialCallSid": new_sid("CA")}
        params["DialCallDuration"] = "120" if status == "completed" else "0"
        method = verb.get("method", "POST") or "POST"
        return self._fetch(
            method, self._resolve(url, verb.get("action")), params, where="call"
        )

    def _verb_record(self, verb: Verb, url: str, where: str) -> tuple[list[Verb], str]:
        max_length = int(verb.get("maxLength", "3600") or 3600)
        duration = min(10, max_length)
        finish = verb.get("finishOnKey", "1234567890*#")
        key = "#" if "#" in (finish or "") else (finish or "")[:1]
        recording_sid = new_sid("RE")
        recording_url = (
            f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Recordings/{recording_sid}"
        )
        self._event({"verb": "Record", "url": recording_url, "seconds": duration})
        self.reached.append("voicemail")
        self._spend(duration)
        params = {
            "RecordingUrl": recording_url,
            "RecordingSid": recording_sid,
            "RecordingDuration": str(duration),
        }
        if key:
            params["Digits"] = key
        method = verb.get("method", "POST") or "POST"
        return self._fetch(
            method, self._resolve(url, verb.get("action")), params, where=where
        )


def _menu_outcome(traces: list[dict[str, Any]]) -> str:
    """How a call the app ended went: ``menu_hangup`` when our app traced a
    failure (retries used up, a lookup failed) on the step that hung up and no
    answer before it, else ``self_service`` (a foreign webhook traces nothing).
    The same rule as the call records (``ivr.store.records``)."""
    steps = [trace for trace in traces if "nodes" in trace]
    if not steps or not (steps[-1].get("gave_up") or steps[-1].get("lookup_failed")):
        return "self_service"
    answered = any(step.get("answer") for step in steps[:-1])
    return "self_service" if answered else "menu_hangup"


_SKIPPED = {
    "Start": "not simulated: Twilio starts it beside the call, which goes on",
    "Stop": "not simulated: Twilio stops what a <Start> began; the call goes on",
    "Connect": "not simulated: taken as ended at once; the call goes on with "
    "the next verb",
    "Pay": "not simulated: the caller pays nothing; the call goes on with the "
    "next verb",
    "Refer": "not simulated (a SIP call's transfer); the call goes on with the "
    "next verb",
    "Echo": "not simulated (Twilio's echo test); the call goes on",
}


def _collect(keys: str, num_digits: int | None, finish: str) -> tuple[str, str]:
    """The digits a Gather submits from ``keys``, and the key that finished it."""
    digits = ""
    for key in keys:
        if finish and key == finish:
            return digits, key
        digits += key
        if num_digits is not None and len(digits) >= num_digits:
            return digits, ""
    return digits, ""  # timeout after the last key: Twilio submits what it has


def _wav_length_s(body: bytes) -> float | None:
    """How long a WAV file plays; None for other audio (an MP3: no header to read)."""
    try:
        with wave.open(io.BytesIO(body)) as audio:
            return audio.getnframes() / float(audio.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError, OSError):
        return None


# gunicorn (``ivr serve``) refuses a request line longer than this with 414, and
# Twilio's own limit on a URL is in the same range: a call whose state grows
# past it breaks at the next step, so the caller refuses such a URL as Twilio's
# request would fail, and ``ivr test`` catches it.
MAX_REQUEST_LINE = 4094


def _check_request_line(method: str, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    length = len(f"{method} {target} HTTP/1.1".encode())
    if length > MAX_REQUEST_LINE:
        raise WebhookError(
            f"{method} {parts.path}: the request line is {length} bytes; a server "
            f"such as gunicorn refuses more than {MAX_REQUEST_LINE} (414), so this "
            "step of the call would fail on a real line"
        )
