"""TwiML documents as Twilio reads them: parse, then refuse what Twilio would.

A webhook answers each request with a TwiML document, a little program of verbs
(``<Say>``, ``<Gather>``, ``<Enqueue>``...) that Twilio runs top to bottom. Twilio
is strict about some mistakes (it drops the call with an "application error") and
silently forgiving about others (a misspelt attribute is ignored, so a menu that
should take one key waits for ``#``). The caller refuses both kinds here, before
running a single verb, and names the element and attribute at fault, like a
compiler that stops on the first line it cannot read.
"""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["VERBS", "WAIT_VERBS", "TwimlError", "Verb", "parse_twiml"]


class TwimlError(Exception):
    """A TwiML answer Twilio would refuse or silently mishandle.

    ``str(error)`` names the element (and attribute) and says what is allowed.
    """


@dataclass(frozen=True)
class Verb:
    """One verb of a document: its name, attributes, text and nested verbs/nouns."""

    name: str
    attrs: dict[str, str]
    text: str
    children: tuple[Verb, ...] = ()

    def get(self, attr: str, default: str | None = None) -> str | None:
        return self.attrs.get(attr, default)


# Attributes Twilio documents for each verb (and nouns inside <Dial>).
_COMMON_CALLBACK = {"statusCallback", "statusCallbackMethod", "statusCallbackEvent"}
ATTRIBUTES: dict[str, set[str]] = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "action",
        "actionOnEmptyResult",
        "enhanced",
        "finishOnKey",
        "hints",
        "input",
        "language",
        "method",
        "numDigits",
        "partialResultCallback",
        "partialResultCallbackMethod",
        "profanityFilter",
        "speechModel",
        "speechTimeout",
        "timeout",
        "debug",
        "dtmfDetection",
    },
    "Redirect": {"method"},
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid"},
    "Leave": set(),
    "Dial": {
        "action",
        "answerOnBridge",
        "callerId",
        "callReason",
        "hangupOnStar",
        "method",
        "record",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "recordingTrack",
        "referUrl",
        "referMethod",
        "ringTone",
        "timeLimit",
        "timeout",
        "trim",
        "sequential",
        "events",
    },
    "Record": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "recordingChannels",
        "storageUrl",
        "storageUrlMethod",
        "transcribe",
        "transcribeCallback",
    },
    "Hangup": set(),
    "Reject": {"reason"},
    # Nouns of <Dial>.
    "Number": {"sendDigits", "url", "method", "byoc"} | _COMMON_CALLBACK,
    "Client": {"url", "method"} | _COMMON_CALLBACK,
    "Sip": {"username", "password", "url", "method"} | _COMMON_CALLBACK,
    "Conference": {
        "muted",
        "beep",
        "startConferenceOnEnter",
        "endConferenceOnExit",
        "waitUrl",
        "waitMethod",
        "maxParticipants",
        "record",
        "region",
        "trim",
        "coach",
        "participantLabel",
        "jitterBufferSize",
        "eventCallbackUrl",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
    }
    | _COMMON_CALLBACK,
    "Queue": {"url", "method", "reservationSid", "postWorkActivitySid"},
    "Sim": set(),
    "Task": {"priority", "timeout"},
}

VERBS = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Enqueue", "Leave", "Dial"}
    | {"Record", "Hangup", "Reject"}
)
# Real TwiML verbs outside what a phone menu needs (media streams, payments...).
UNSUPPORTED_VERBS = frozenset(
    {"Connect", "Echo", "Pay", "Prompt", "Refer", "Sms", "Start", "Stop", "Stream"}
)
# Verbs Twilio runs in the document of an <Enqueue waitUrl>.
WAIT_VERBS = frozenset(
    {"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}
)
GATHER_CHILDREN = frozenset({"Say", "Play", "Pause"})
DIAL_NOUNS = frozenset({"Number", "Client", "Sip", "Conference", "Queue", "Sim"})
# SSML tags Twilio reads inside <Say> (Amazon Polly / Google voices).
SSML_TAGS = frozenset(
    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub"}
    | {"w", "amazon:domain", "amazon:effect"}
)

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_KEYS = set("0123456789#*")


def _closest(word: str, choices: set[str] | frozenset[str]) -> str:
    near = difflib.get_close_matches(word, sorted(choices), n=1)
    if not near:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            near = [lowered[word.lower()]]
    return f" (did you mean '{near[0]}'?)" if near else ""


def _tag(element: ET.Element) -> str:
    # ElementTree spells namespaced tags {uri}local; SSML's amazon: prefix is the
    # only namespace TwiML meets, so keep its readable form.
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        return "amazon:" + tag.split("}", 1)[1]
    return str(tag)


def parse_twiml(body: str | bytes, *, wait: bool = False) -> list[Verb]:
    """Parse and check a TwiML answer; return its verbs in order.

    ``wait`` marks the document of an ``<Enqueue waitUrl>``, where Twilio runs
    only Play, Say, Pause, Hangup, Redirect, Leave and Gather. Raises
    :class:`TwimlError` naming the first element or attribute Twilio would refuse.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    # amazon: SSML tags come without a namespace declaration in real TwiML.
    if "amazon:" in text and "xmlns:amazon" not in text:
        text = re.sub(
            r"<Response(\s|>|/)",
            r'<Response xmlns:amazon="urn:amazon"\1',
            text,
            count=1,
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        snippet = text.strip()[:60].replace("\n", " ")
        raise TwimlError(f"answer is not XML ({error}): {snippet!r}") from None
    if root.tag != "Response":
        raise TwimlError(f"root element is <{_tag(root)}>, TwiML needs <Response>")
    _check_attributes(root)
    _check_stray_text(root.text, "<Response>")
    verbs = []
    for element in root:
        verbs.append(_parse_verb(element, wait=wait))
        _check_stray_text(element.tail, "<Response>")
    return verbs


def _check_stray_text(text: str | None, where: str) -> None:
    if text and text.strip():
        raise TwimlError(
            f"text {text.strip()[:40]!r} directly inside {where} is not a verb; "
            "put it in a <Say>"
        )


def _check_attributes(element: ET.Element) -> None:
    name = _tag(element)
    allowed = ATTRIBUTES.get(name, set())
    for attr in element.attrib:
        if attr not in allowed:
            hint = _closest(attr, allowed)
            if allowed:
                raise TwimlError(
                    f"<{name}> has unknown attribute '{attr}'{hint}; "
                    "Twilio would ignore it silently"
                )
            raise TwimlError(f"<{name}> takes no attributes, got '{attr}'")


def _parse_verb(element: ET.Element, *, wait: bool, parent: str = "") -> Verb:
    name = _tag(element)
    if name in UNSUPPORTED_VERBS:
        raise TwimlError(
            f"<{name}> is a Twilio verb this caller does not simulate; a menu "
            "call uses only " + ", ".join(f"<{v}>" for v in sorted(VERBS))
        )
    if name not in VERBS:
        choices = VERBS | DIAL_NOUNS if not parent else VERBS
        raise TwimlError(f"unknown verb <{name}>{_closest(name, choices)}")
    if wait and not parent and name not in WAIT_VERBS:
        allowed = ", ".join(f"<{v}>" for v in sorted(WAIT_VERBS))
        raise TwimlError(
            f"<{name}> is not allowed in a waitUrl document (only {allowed})"
        )
    if name == "Leave" and not wait:
        raise TwimlError(
            "<Leave> outside a waitUrl document: there is no queue to leave"
        )
    _check_attributes(element)
    _check_values(name, element.attrib)
    children: list[Verb] = []
    if name == "Gather":
        for child in element:
            child_name = _tag(child)
            if child_name not in GATHER_CHILDREN:
                raise TwimlError(
                    f"<{child_name}> inside <Gather>: only <Say>, <Play> and <Pause> "
                    "may be nested in <Gather>"
                )
            children.append(_parse_verb(child, wait=wait, parent="Gather"))
            _check_stray_text(child.tail, "<Gather>")
        _check_stray_text(element.text, "<Gather>")
    elif name == "Say":
        _check_ssml(element)
    elif name == "Dial":
        for child in element:
            children.append(_parse_noun(child))
        if not children and not (element.text or "").strip():
            raise TwimlError("<Dial> has no number, client, sip, conference or queue")
        if children:
            _check_stray_text(element.text, "<Dial> next to nouns")
    elif name == "Enqueue":
        for child in element:
            if _tag(child) != "Task":
                raise TwimlError(
                    f"<{_tag(child)}> inside <Enqueue>: only <Task> may be nested"
                )
            _check_attributes(child)
            children.append(
                Verb("Task", dict(child.attrib), (child.text or "").strip())
            )
        if not (element.text or "").strip() and "workflowSid" not in element.attrib:
            raise TwimlError("<Enqueue> names no queue and has no workflowSid")
        if len((element.text or "").strip()) > 64:
            raise TwimlError("<Enqueue> queue name is longer than 64 characters")
    else:
        for child in element:
            raise TwimlError(
                f"<{_tag(child)}> inside <{name}>: <{name}> takes no nested elements"
            )
    text = "".join(element.itertext()) if name == "Say" else (element.text or "")
    verb = Verb(name, dict(element.attrib), text.strip(), tuple(children))
    if name == "Redirect" and not verb.text:
        raise TwimlError("<Redirect> has no URL")
    if name == "Play" and not verb.text and "digits" not in verb.attrs:
        raise TwimlError("<Play> has no URL and no digits")
    if name == "Say" and not verb.text:
        raise TwimlError("<Say> has no text to speak")
    return verb


def _check_ssml(element: ET.Element) -> None:
    for child in element.iter():
        if child is element:
            continue
        tag = _tag(child)
        if tag in VERBS or tag in DIAL_NOUNS:
            raise TwimlError(f"<{tag}> inside <Say>: verbs cannot be nested in <Say>")
        if tag not in SSML_TAGS:
            raise TwimlError(
                f"<{tag}> inside <Say> is neither a verb nor an SSML tag"
                f"{_closest(tag, SSML_TAGS)}"
            )


def _parse_noun(element: ET.Element) -> Verb:
    name = _tag(element)
    if name not in DIAL_NOUNS:
        allowed = ", ".join(f"<{n}>" for n in sorted(DIAL_NOUNS))
        raise TwimlError(f"<{name}> inside <Dial>: only {allowed} may be nested")
    _check_attributes(element)
    _check_values(name, element.attrib)
    text = (element.text or "").strip()
    if not text:
        raise TwimlError(f"<{name}> inside <Dial> is empty")
    return Verb(name, dict(element.attrib), text)


def _integer(name: str, attr: str, value: str, *, minimum: int) -> None:
    if not re.fullmatch(r"\d+", value.strip()) or int(value) < minimum:
        kind = "a positive integer" if minimum >= 1 else "an integer >= 0"
        raise TwimlError(f'<{name} {attr}="{value}">: {attr} must be {kind}')


def _check_values(name: str, attrs: dict[str, str]) -> None:
    for attr, value in attrs.items():
        if attr in ("method", "waitUrlMethod", "statusCallbackMethod") or attr.endswith(
            "Method"
        ):
            if value not in ("GET", "POST"):
                raise TwimlError(
                    f'<{name} {attr}="{value}">: {attr} must be GET or POST'
                )
        elif attr == "loop":
            _integer(name, attr, value, minimum=0)
        elif attr in ("numDigits", "maxLength", "timeLimit", "length"):
            _integer(name, attr, value, minimum=1)
        elif attr == "timeout":
            _integer(name, attr, value, minimum=0 if name == "Record" else 1)
        elif attr == "speechTimeout":
            if value != "auto":
                _integer(name, attr, value, minimum=0)
        elif attr == "input":
            words = value.split()
            if not words or any(w not in ("dtmf", "speech") for w in words):
                raise TwimlError(
                    f"<{name} input=\"{value}\">: input must be 'dtmf', 'speech' "
                    "or 'dtmf speech'"
                )
        elif attr == "finishOnKey":
            if name == "Gather":
                if value and (len(value) != 1 or value not in _KEYS):
                    raise TwimlError(
                        f'<Gather finishOnKey="{value}">: finishOnKey must be one '
                        "of 0-9, #, * or empty"
                    )
            elif any(ch not in _KEYS for ch in value):
                raise TwimlError(
                    f'<{name} finishOnKey="{value}">: finishOnKey takes only '
                    "0-9, # and *"
                )
        elif attr == "language":
            if not _LANGUAGE.match(value):
                raise TwimlError(
                    f'<{name} language="{value}">: language must be a BCP-47 tag '
                    "such as 'en-US' or 'zh-CN'"
                )
        elif attr in ("actionOnEmptyResult", "playBeep", "hangupOnStar", "enhanced"):
            if value not in ("true", "false"):
                raise TwimlError(
                    f'<{name} {attr}="{value}">: {attr} must be true or false'
                )
        elif attr == "reason" and value not in ("rejected", "busy"):
            raise TwimlError(
                f'<Reject reason="{value}">: reason must be rejected or busy'
            )
        elif attr == "digits" and not re.fullmatch(r"[0-9#*wW]+", value):
            raise TwimlError(
                f'<Play digits="{value}">: digits takes 0-9, #, * and w (pause)'
            )
