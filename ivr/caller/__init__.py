"""A Twilio-faithful caller: the one interpreter of TwiML in the project.

``Caller`` calls any TwiML webhook the way Twilio does (same fields, same
signature, same URL resolution, same verb semantics) and acts the person on the
phone from a script or a terminal. ``ivr call``, ``ivr test`` (scenarios and
fuzzing) and the browser console are all built on it. A ``Switchboard`` is the
account several calls share: its queues, the phones it can ring, its clock.
"""

from __future__ import annotations

from ivr.caller.call import Caller, WebhookError
from ivr.caller.document import TwimlError, Verb, parse_twiml
from ivr.caller.inputs import (
    OUTCOMES,
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
from ivr.caller.session import CallSession, Turn
from ivr.caller.switchboard import CallHandle, Phone, Ring, Switchboard
from ivr.caller.transport import (
    Answer,
    HttpTransport,
    Transport,
    WsgiTransport,
    request_fields,
)

__all__ = [
    "OUTCOMES",
    "Answer",
    "CallHandle",
    "CallResult",
    "CallSession",
    "Caller",
    "Gathering",
    "HangUp",
    "HttpTransport",
    "Input",
    "InputSource",
    "Phone",
    "Press",
    "Ring",
    "Silence",
    "Speak",
    "Switchboard",
    "Transport",
    "Turn",
    "TwimlError",
    "Verb",
    "WebhookError",
    "WsgiTransport",
    "describe_input",
    "parse_twiml",
    "request_fields",
]
