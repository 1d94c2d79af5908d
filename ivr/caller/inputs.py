"""What the person on the phone does, and how the call turned out.

A call has two sides. The inputs are the caller's: keys pressed, words said,
silence, putting the phone down. The result is what anyone reviewing the call
wants to know: where it ended (self-service, a queue, a transfer, voicemail),
what was heard on the way (the transcript), and what the app traced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OUTCOMES",
    "CallResult",
    "Gathering",
    "HangUp",
    "Input",
    "InputSource",
    "Press",
    "Silence",
    "Speak",
    "describe_input",
    "traced_variables",
]

OUTCOMES = (
    "self_service",
    "menu_hangup",
    "queue",
    "transfer",
    "voicemail",
    "caller_hangup",
    "error",
)


@dataclass(frozen=True)
class Press:
    """The caller presses keys, e.g. ``Press("1")`` or ``Press("20261125#")``."""

    keys: str

    def __post_init__(self) -> None:
        bad = [k for k in self.keys if k not in "0123456789#*"]
        if not self.keys or bad:
            raise ValueError(
                f"keys must be 0-9, # and *, got {self.keys!r}"
                if bad
                else "keys must not be empty"
            )


@dataclass(frozen=True)
class Speak:
    """The caller says something; Twilio's recogniser hears ``text`` exactly."""

    text: str


@dataclass(frozen=True)
class Silence:
    """The caller says and presses nothing until the ``<Gather>`` times out."""


@dataclass(frozen=True)
class HangUp:
    """The caller puts the phone down."""


Input = Press | Speak | Silence | HangUp


def describe_input(item: Input) -> dict[str, Any]:
    """The transcript form of one input: ``{"press": "1"}``, ``{"say": ...}``..."""
    if isinstance(item, Press):
        return {"press": item.keys}
    if isinstance(item, Speak):
        return {"say": item.text}
    if isinstance(item, HangUp):
        return {"hangup": True}
    return {"silence": True}


@dataclass(frozen=True)
class Gathering:
    """What the phone is waiting for, handed to an interactive input source."""

    input: tuple[str, ...]  # "dtmf", "speech"
    num_digits: int | None
    finish_on_key: str
    timeout_s: int
    in_queue: bool


InputSource = Callable[[Gathering], "Input | None"]


@dataclass
class CallResult:
    """How a call went: the outcome, what was heard, and what the app traced.

    ``outcome`` is one of :data:`OUTCOMES`: ``self_service`` when the app ended
    the call with no person reached, ``menu_hangup`` when it did so on a
    failure path (the app traced that the caller's retries ran out, or a lookup
    failed, on the step that hung up: see ``ivr.outcomes``),
    ``queue``/``transfer``/``voicemail`` for the last human path reached,
    ``caller_hangup`` when the caller's inputs ran out (or they hung up) first,
    ``error`` when Twilio would have failed the call. A ``<Dial>`` that reached
    a person (a number, or a caller taken from a queue on a switchboard) counts
    as ``transfer``, for the dialling call and for the leg it reached.
    """

    outcome: str = "self_service"
    queue: str | None = None
    queue_result: str | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    traces: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)  # consumed, in order
    requests: int = 0
    call_sid: str = ""

    @property
    def heard(self) -> list[str]:
        """Every text said to the caller, in order."""
        return [e["text"] for e in self.transcript if e["verb"] == "Say"]

    @property
    def warnings(self) -> list[str]:
        """What Twilio would log and go on from: audio a ``<Play>`` could not
        fetch, a lookup the app could not use (from its trace)."""
        found = [
            f"<{e['verb']}> {e.get('url', '')}: {e['warning']}".replace(" :", ":")
            for e in self.transcript
            if "warning" in e
        ]
        return found

    @property
    def dial_statuses(self) -> list[str]:
        """The DialCallStatus of every ``<Dial>`` of the call, in order."""
        dials = [e for e in self.transcript if e["verb"] == "Dial"]
        return [e["status"] for e in dials if "status" in e]

    @property
    def dial_status(self) -> str | None:
        """The DialCallStatus of the last ``<Dial>`` (``None``: no Dial)."""
        statuses = self.dial_statuses
        return statuses[-1] if statuses else None

    @property
    def bridged_with(self) -> list[str]:
        """The CallSids this call talked with on a switchboard, in order."""
        return [e["call"] for e in self.transcript if e["verb"] == "Bridge"]

    @property
    def variables(self) -> dict[str, Any]:
        """Call variables as the app last traced them (needs ``X-IVR-Trace``)."""
        return traced_variables(self.traces)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "outcome": self.outcome,
            "queue": self.queue,
            "transcript": self.transcript,
        }
        if self.queue_result:
            data["queue_result"] = self.queue_result
        if self.dial_status:
            data["dial_status"] = self.dial_status
        if self.error:
            data["error"] = self.error
        if self.warnings:
            data["warnings"] = self.warnings
        return data


def traced_variables(traces: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A call's variables as our app's ``X-IVR-Trace`` headers last said them."""
    merged: dict[str, Any] = {}
    for trace in traces:
        merged.update(trace.get("variables") or {})
    return merged
