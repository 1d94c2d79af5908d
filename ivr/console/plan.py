"""A console call as data: what the person at the phone did, in order.

Like the score of a short piece, a plan is enough to play the call again note
for note: the menu rung, the clock it is rung at (``ivr call --at``), the
caller's number and the *moves*, one per moment the phone waited for the
person (keys, words, silence, holding on, hanging up) plus the moment an agent
from the roster rang the agent line to take them. The page keeps the plan and
sends it back with each new move; ``read_plan`` checks what it is sent, since
anything can arrive in a request.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ivr.caller import HangUp, Input, Press, Silence, Speak
from ivr.menu import Menu
from ivr.testing.menuline import DEFAULT_CALLER, parse_clock

__all__ = [
    "MAX_MOVES",
    "Move",
    "Plan",
    "PlanError",
    "plan_from",
    "read_move",
    "read_plan",
]

MAX_MOVES = 200  # a replay plays every move again: keep each one cheap
MAX_TEXT = 300
MAX_NUMBER = 64
KINDS = ("press", "say", "silence", "hold", "agent", "hangup")


class PlanError(ValueError):
    """A plan or move the console cannot play; the message says what is wrong."""


@dataclass(frozen=True)
class Move:
    """One thing the person at the phone did when it waited for them.

    ``press`` keys or ``say`` words (``value``), stay silent, ``hold`` on
    between two hold rounds, or ``hangup``. ``agent`` holds on too, while the
    agent calling from phone ``value`` rings the agent line ``at_s`` simulated
    seconds into the call.
    """

    kind: str
    value: str = ""
    at_s: float = 0.0

    def as_input(self) -> Input:
        """What the caller does at that moment."""
        if self.kind == "press":
            return Press(self.value)
        if self.kind == "say":
            return Speak(self.value)
        if self.kind == "hangup":
            return HangUp()
        return Silence()  # silence, holding on, or holding while an agent rings

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.value:
            data["value"] = self.value
        if self.kind == "agent":
            data["at_s"] = self.at_s
        return data


@dataclass(frozen=True)
class Plan:
    """A console call: the menu, the clock, the caller's number, the moves."""

    menu: str
    at: dt.datetime
    caller: str
    moves: tuple[Move, ...] = ()

    def then(self, move: Move) -> Plan:
        if len(self.moves) >= MAX_MOVES:
            raise PlanError(f"a console call has at most {MAX_MOVES} moves")
        return Plan(self.menu, self.at, self.caller, (*self.moves, move))

    @property
    def agents(self) -> tuple[Move, ...]:
        return tuple(move for move in self.moves if move.kind == "agent")

    def to_json(self) -> dict[str, Any]:
        return {
            "menu": self.menu,
            "at": self.at.isoformat(),
            "caller": self.caller,
            "moves": [move.to_json() for move in self.moves],
        }


def _text(data: Mapping[str, Any], key: str, limit: int = MAX_TEXT) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise PlanError(f"{key} must be text, got {value!r}")
    if len(value) > limit:
        raise PlanError(f"{key} is longer than {limit} characters")
    if any(ord(ch) < 32 for ch in value):
        raise PlanError(f"{key} must not hold control characters")
    return value


def read_move(data: Any) -> Move:
    """A move from the page's JSON, checked."""
    if not isinstance(data, Mapping):
        raise PlanError(f"a move must be an object, got {data!r}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise PlanError(f"move kind must be one of {', '.join(KINDS)}, got {kind!r}")
    value = _text(data, "value")
    if kind == "press":
        try:
            Press(value)
        except ValueError as error:
            raise PlanError(str(error)) from None
    elif kind == "say" and not value.strip():
        raise PlanError("say needs words")
    elif kind == "agent" and not value:
        raise PlanError("agent needs the phone the agent calls from")
    elif kind in ("silence", "hold", "hangup") and value:
        raise PlanError(f"a {kind} move takes no value")
    at_s = data.get("at_s", 0.0)
    if isinstance(at_s, bool) or not isinstance(at_s, int | float):
        raise PlanError(f"at_s must be a number, got {at_s!r}")
    if not math.isfinite(at_s) or at_s < 0:
        raise PlanError(f"at_s must be >= 0, got {at_s!r}")
    return Move(kind, value, float(at_s) if kind == "agent" else 0.0)


def read_plan(data: Any) -> Plan:
    """A plan from the page's JSON, checked (the clock with its time zone)."""
    if not isinstance(data, Mapping):
        raise PlanError(f"a plan must be an object, got {data!r}")
    menu = _text(data, "menu", MAX_NUMBER)
    caller = _text(data, "caller", MAX_NUMBER).strip()
    if not caller:
        raise PlanError("the caller's number is empty")
    try:
        at = dt.datetime.fromisoformat(_text(data, "at", MAX_NUMBER))
    except ValueError:
        raise PlanError(
            f"at must be an ISO date and time, got {data.get('at')!r}"
        ) from None
    if at.tzinfo is None:
        raise PlanError("at must carry its offset (the menu's time zone)")
    moves = data.get("moves", [])
    if not isinstance(moves, list):
        raise PlanError(f"moves must be a list, got {moves!r}")
    if len(moves) > MAX_MOVES:
        raise PlanError(f"a console call has at most {MAX_MOVES} moves")
    return Plan(menu, at, caller, tuple(read_move(move) for move in moves))


def plan_from(menu: Menu, body: Mapping[str, Any]) -> Plan:
    """The plan a request from the page asks to play: a new call (``dial``: the
    clock as the page's clock field gives it, in the menu's time zone, and the
    caller's number), or the call so far (``plan``) and its next ``move``."""
    if "dial" in body:
        dial = body["dial"]
        if not isinstance(dial, Mapping):
            raise PlanError("dial needs the clock and the caller's number")
        zone = menu.hours.timezone if menu.hours else "UTC"
        try:
            at = parse_clock(str(dial.get("at") or "").replace("T", " "), zone)
        except ValueError as error:
            raise PlanError(str(error)) from None
        caller = str(dial.get("caller") or DEFAULT_CALLER)
        return read_plan({"menu": menu.id, "at": at.isoformat(), "caller": caller})
    plan = read_plan(body.get("plan"))
    if plan.menu != menu.id:
        raise PlanError(f"this call rings menu '{plan.menu}', not '{menu.id}'")
    if body.get("move") is not None:
        plan = plan.then(read_move(body["move"]))
    return plan
