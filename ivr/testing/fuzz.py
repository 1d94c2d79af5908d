"""Fuzzing a menu: many random calls, looking for the ones Twilio would drop.

A scenario checks what the designer thought of; fuzzing rings the line the way
thousands of real callers do (mashing keys, saying the wrong thing, staying
silent, hanging up, calling at 3 a.m. on a holiday) and keeps every call that
ends in an error: an invalid TwiML answer, a webhook that fails or answers 500,
or a loop that never ends. Each finding carries the exact ``ivr call`` command
that replays it. Randomness comes from the ``random.Random`` passed in, so a
seed reproduces a whole run.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.caller import Gathering, HangUp, Input, Press, Silence, Speak
from ivr.menu import CsvSource, Menu, MenuNode
from ivr.testing.menuline import DEFAULT_CALLER, MenuLine
from ivr.testing.scenarios import Coverage

__all__ = ["Finding", "FuzzReport", "fuzz_menu", "reproduce_command"]

_JUNK_SPEECH = (
    "",
    "嗯",
    "不要退款，我要人工",
    "按2",
    "第二个",
    "the second one",
    "I want to speak to a human",
    "hello?",
    "asdf qwerty",
    "<&>\"'",
    "x" * 300,
    "0",
    "人工 退款",
)


@dataclass
class Finding:
    """One random call that ended in an error, and how to make it again."""

    error: str
    command: str
    inputs: list[Input]

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error, "reproduce": self.command}


@dataclass
class FuzzReport:
    """What ``calls`` random calls through one menu found."""

    menu_path: str
    calls: int = 0
    findings: list[Finding] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    coverage: Coverage | None = None


def _press_args(inputs: list[Input]) -> list[str]:
    args: list[str] = []
    for item in inputs:
        if isinstance(item, Press):
            args += ["--press", item.keys]
        elif isinstance(item, Speak):
            args += ["--say", item.text]
        elif isinstance(item, HangUp):
            args.append("--hangup")
        else:
            args.append("--silence")
    return args


def reproduce_command(
    menu_path: str,
    inputs: list[Input],
    *,
    at: dt.datetime,
    caller: str,
    agent_after: int,
    patience: int | None,
    dial_status: str,
    ahead: int = 2,
) -> str:
    """The ``ivr call`` command line that makes the same call again."""
    args = ["ivr", "call", menu_path, "--at", at.strftime("%Y-%m-%d %H:%M")]
    args += ["--from", caller, "--agent-after", str(agent_after)]
    if ahead != 2:
        args += ["--ahead", str(ahead)]
    if patience is not None:
        args += ["--patience", str(patience)]
    if dial_status != "completed":
        args += ["--dial-status", dial_status]
    return shlex.join(args + _press_args(inputs))


def _known_values(menu: Menu) -> tuple[list[str], list[str]]:
    """Keys of the menu's CSV records: real order ids and callers' numbers."""
    digits: list[str] = []
    phones: list[str] = []
    for source in menu.data.values():
        if not isinstance(source, CsvSource):
            continue
        try:
            with open(source.path, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    value = (row.get(source.key) or "").strip()
                    if value.startswith("+"):
                        phones.append(value)
                        digits.append(value[-4:])
                    elif value.isdigit():
                        digits.append(value)
                    for column, cell in row.items():
                        if column and column.endswith("last4") and cell:
                            digits.append(cell.strip())
        except OSError:
            continue
    return digits, phones


class _RandomCaller:
    """A live input source that presses, says, waits and hangs up at random."""

    def __init__(self, menu: Menu, rng: random.Random, digits: list[str]) -> None:
        self.rng = rng
        self.budget = rng.randint(0, 14)
        keys = {
            o.key
            for n in menu.nodes.values()
            if isinstance(n, MenuNode)
            for o in n.options
        }
        self.keys = sorted(keys) or list("0123456789")
        self.words = sorted(
            {
                w
                for n in menu.nodes.values()
                if isinstance(n, MenuNode)
                for o in n.options
                for w in o.speech
            }
            | set(menu.person.speech if menu.person else ())
        )
        self.digits = digits

    def __call__(self, gathering: Gathering) -> Input | None:
        if self.budget <= 0:
            return None
        self.budget -= 1
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return HangUp()
        if roll < 0.17:
            return Silence()
        if roll < 0.32:
            if self.words and rng.random() < 0.7:
                return Speak(rng.choice(self.words))
            return Speak(rng.choice(_JUNK_SPEECH))
        return Press(self._keys(gathering))

    def _keys(self, gathering: Gathering) -> str:
        rng = self.rng
        finish = gathering.finish_on_key
        roll = rng.random()
        if gathering.num_digits == 1 or roll < 0.35:
            keys = rng.choice(self.keys + list("0123456789*#"))
        elif roll < 0.7 and self.digits:
            keys = rng.choice(self.digits)
        else:
            length = rng.randint(1, 16)
            keys = "".join(rng.choice("0123456789*#") for _ in range(length))
        if finish and rng.random() < 0.8 and not keys.endswith(finish):
            keys += finish
        return keys


def _random_clock(rng: random.Random, timezone: str) -> dt.datetime:
    day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(730))
    minute = rng.randrange(24 * 60)
    naive = dt.datetime.combine(day, dt.time(minute // 60, minute % 60))
    return naive.replace(tzinfo=ZoneInfo(timezone))


def fuzz_menu(
    menu_path: str | Path,
    calls: int,
    rng: random.Random,
    line: MenuLine | None = None,
) -> FuzzReport:
    """Make ``calls`` random calls through the menu; keep the ones that fail."""
    if calls < 0:
        raise ValueError(f"calls must be >= 0, got {calls}")
    line = line or MenuLine(menu_path)
    report = FuzzReport(str(menu_path), coverage=Coverage(line.menu))
    digits, phones = _known_values(line.menu)
    callers = [*phones, DEFAULT_CALLER, "+15005550006", "anonymous", "+1"]
    for _ in range(calls):
        at = _random_clock(rng, line.timezone)
        caller = rng.choice(callers)
        agent_after = rng.choice([0, 1, 2, 3, 4, 20])
        ahead = rng.choice([0, 2, 5, 30, 80])
        patience = rng.choice([None, None, 0, 1, 2, 3])
        dial_status = rng.choice(["completed", "completed", "busy", "no-answer"])
        source = _RandomCaller(line.menu, rng, digits)
        result = line.call(
            source,
            at=at,
            from_number=caller,
            agent_after_rounds=agent_after,
            queue_ahead=ahead,
            patience_rounds=patience,
            dial_status=dial_status,
        )
        report.calls += 1
        report.outcomes[result.outcome] += 1
        report.coverage.add(result)
        if result.outcome == "error" or result.warnings:
            command = reproduce_command(
                str(menu_path),
                result.inputs,
                at=at,
                caller=caller,
                agent_after=agent_after,
                patience=patience,
                dial_status=dial_status,
                ahead=ahead,
            )
            report.findings.append(
                Finding(
                    result.error or "; ".join(result.warnings),
                    command,
                    list(result.inputs),
                )
            )
    return report
