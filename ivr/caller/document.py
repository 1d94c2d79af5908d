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

from ivr.caller.twiml_spec import (
    BOOLEANS,
    CHOICES,
    ELEMENTS,
    NOT_VOICE,
    SIMULATED,
    SKIPPED,
    SSML_ATTRIBUTES,
    VALUE_CHECKED,
    WAIT_VERBS,
)

__all__ = ["SIMULATED", "SKIPPED", "WAIT_VERBS", "TwimlError", "Verb", "parse_twiml"]


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


DIAL_NOUNS = frozenset(ELEMENTS["Dial"].children)
# Where each element may nest (to say where a misplaced noun belongs).
_PARENTS: dict[str, set[str]] = {}
for _key, _element in ELEMENTS.items():
    for _tag in _element.children:
        _PARENTS.setdefault(_tag, set()).add(_key)

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
    _check_attributes(root, "Response")
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


def _check_attributes(element: ET.Element, key: str) -> None:
    name = _tag(element)
    allowed = ELEMENTS[key].attributes
    for attr in element.attrib:
        if attr not in allowed:
            hint = _closest(attr, allowed)
            if allowed:
                raise TwimlError(
                    f"<{name}> has unknown attribute '{attr}'{hint}; "
                    "Twilio would ignore it silently"
                )
            raise TwimlError(f"<{name}> takes no attributes, got '{attr}'")


def _misplaced(name: str, parent: str) -> TwimlError:
    """The error for ``<name>`` where ``parent`` does not take it."""
    if name in NOT_VOICE:
        return TwimlError(NOT_VOICE[name])
    homes = sorted(_PARENTS.get(name, set()) - {"Response"})
    if parent == "Response":
        if homes and name not in ELEMENTS["Response"].children:
            where = " or ".join(f"<{h.split('.')[0]}>" for h in homes)
            return TwimlError(f"<{name}> is not a verb: it belongs inside {where}")
        return TwimlError(
            f"unknown verb <{name}>{_closest(name, ELEMENTS['Response'].children)}"
        )
    if parent == "Gather":
        return TwimlError(
            f"<{name}> inside <Gather>: only <Say>, <Play> and <Pause> may be "
            "nested in <Gather>"
        )
    allowed = ELEMENTS[parent].children
    shown = parent.split(".")[-1]  # "Refer.Sip" is <Sip> inside <Refer>
    if not allowed:
        return TwimlError(
            f"<{name}> inside <{shown}>: <{shown}> takes no nested elements"
        )
    names = ", ".join(f"<{n}>" for n in sorted(allowed))
    return TwimlError(f"<{name}> inside <{shown}>: only {names} may be nested")


def _parse_verb(element: ET.Element, *, wait: bool) -> Verb:
    name = _tag(element)
    if name not in ELEMENTS["Response"].children:
        raise _misplaced(name, "Response")
    if wait and name not in WAIT_VERBS:
        allowed = ", ".join(f"<{v}>" for v in sorted(WAIT_VERBS))
        raise TwimlError(
            f"<{name}> is not allowed in a waitUrl document (only {allowed})"
        )
    if name == "Leave" and not wait:
        raise TwimlError(
            "<Leave> outside a waitUrl document: there is no queue to leave"
        )
    verb = _parse_element(element, name)
    if name == "Dial" and not verb.children and not verb.text:
        raise TwimlError("<Dial> has no number, client, sip, conference or queue")
    if name == "Enqueue":
        if not verb.text and "workflowSid" not in verb.attrs:
            raise TwimlError("<Enqueue> names no queue and has no workflowSid")
        if len(verb.text) > 64:
            raise TwimlError("<Enqueue> queue name is longer than 64 characters")
    if name == "Redirect" and not verb.text:
        raise TwimlError("<Redirect> has no URL")
    if name == "Play" and not verb.text and "digits" not in verb.attrs:
        raise TwimlError("<Play> has no URL and no digits")
    if name == "Say" and not verb.text:
        raise TwimlError("<Say> has no text to speak")
    return verb


def _parse_element(element: ET.Element, key: str) -> Verb:
    """Check ``element`` (known as ``key`` in ``ELEMENTS``) and what nests in it."""
    name = _tag(element)
    spec = ELEMENTS[key]
    _check_attributes(element, key)
    if key in VALUE_CHECKED:
        _check_values(key, element.attrib)
    children: list[Verb] = []
    if key == "Say":
        _check_ssml(element)
        text = "".join(element.itertext())
    else:
        for child in element:
            child_name = _tag(child)
            child_key = spec.children.get(child_name)
            if child_key is None:
                raise _misplaced(child_name, key)
            children.append(_parse_element(child, child_key))
            _check_stray_text(child.tail, f"<{name}>")
        text = element.text or ""
        if children:
            _check_stray_text(text, f"<{name}> next to nested elements")
        elif not spec.text:
            _check_stray_text(text, f"<{name}>")
    verb = Verb(name, dict(element.attrib), text.strip(), tuple(children))
    if key in ELEMENTS["Dial"].children and not verb.text and not children:
        raise TwimlError(f"<{name}> inside <Dial> is empty")
    return verb


def _check_ssml(element: ET.Element) -> None:
    for child in element.iter():
        if child is element:
            continue
        tag = _tag(child)
        if tag in ELEMENTS["Response"].children or tag in DIAL_NOUNS:
            raise TwimlError(f"<{tag}> inside <Say>: verbs cannot be nested in <Say>")
        if tag not in SSML_ATTRIBUTES:
            raise TwimlError(
                f"<{tag}> inside <Say> is neither a verb nor an SSML tag"
                f"{_closest(tag, set(SSML_ATTRIBUTES))}"
            )
        allowed = SSML_ATTRIBUTES[tag]
        if allowed is None:
            continue
        for attr in child.attrib:
            shown = attr.replace(_XML_NS, "xml:")
            if shown not in allowed:
                raise TwimlError(
                    f"<{tag}> inside <Say> has unknown attribute '{shown}'"
                    f"{_closest(shown, allowed)}"
                )


_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


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
        elif attr in BOOLEANS.get(name, ()):
            if value not in ("true", "false"):
                raise TwimlError(
                    f'<{name} {attr}="{value}">: {attr} must be true or false'
                )
        elif (name, attr) in CHOICES:
            choices = sorted(CHOICES[(name, attr)])
            if value not in choices:
                raise TwimlError(
                    f'<{name} {attr}="{value}">: {attr} must be one of '
                    + ", ".join(choices)
                )
        elif attr == "digits" and not re.fullmatch(r"[0-9#*wW]+", value):
            raise TwimlError(
                f'<Play digits="{value}">: digits takes 0-9, #, * and w (pause)'
            )
