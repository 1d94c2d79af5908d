"""Scenario tests: calls written down beside a menu, replayed on every change.

A scenario is what a designer would otherwise check by ringing the line: "at
23:30 on a Friday, pressing 0 ends in voicemail". ``NAME.calls.yaml`` beside
``NAME.yaml`` lists such calls (a clock, a caller number, the inputs) and what
must happen (texts heard, outcome, queue, variables). ``run_scenarios`` replays
them through the menu's own web app, in process, with the Twilio-faithful
caller, and also says which nodes and options no scenario reached (coverage).

A scenario file::

    defaults: {at: "2026-11-25 10:00", caller: "+8613800138000"}
    calls:
      - name: order status by keypad
        inputs: [{press: "1"}, {press: "202611240002#"}]
        expect:
          hears: [已于11月24日发货]
          outcome: caller_hangup
          variables: {order_id: "202611240002"}
      - name: an agent takes the caller
        inputs: [{press: "0"}]
        expect: {queue_result: bridged}
        agents:
          - {from: "+8613800000001", to: "+861000000009", after: 90s,
             inputs: [{press: "1"}], expect: {dial_status: completed}}

A scenario with ``agents``, ``callers`` or ``phones`` runs on a lock-step
switchboard (``ivr.caller.switchboard``): the calls meet in real queues, the
line's callbacks ring the scripted phones, and the app's clock follows the
simulated time. Reading and checking the file is ``ivr.testing.scenario_file``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.agentline import MOVES
from ivr.caller import CallResult, Ring
from ivr.loader import find_menu_files
from ivr.menu import AskNode, Menu, MenuNode
from ivr.speech import PERSON
from ivr.testing.menuline import MenuLine, parse_clock
from ivr.testing.scenario_file import (
    CALLS_SUFFIX,
    Expect,
    Scenario,
    ScenarioError,
    load_scenarios,
    parse_inputs,
    scenario_path,
)

__all__ = [
    "Coverage",
    "MenuLine",
    "Scenario",
    "ScenarioError",
    "ScenarioReport",
    "load_scenarios",
    "menus_with_scenarios",
    "parse_clock",
    "parse_inputs",
    "run_scenarios",
    "scenario_path",
]

_SHOWN_TEXTS = 6  # of what was heard instead, in a failure line


@dataclass
class Coverage:
    """Which nodes, menu options and person doors of a menu the calls reached.

    A person door (the menu's ``person`` key and words, at a menu or ask without
    an option on that key) counts as taken when a call asked for a person there.
    What a call did in another menu it went on in (``goto_menu``) counts for
    that menu, not this one.
    """

    menu: Menu
    nodes: set[str] = field(default_factory=set)
    options: set[tuple[str, str]] = field(default_factory=set)
    # The agent line's moves to cover (``ivr.agentline.MOVES``): all of them when
    # the roster beside the menu serves its queues, else none.
    agent_moves: tuple[str, ...] = ()
    moves: set[str] = field(default_factory=set)

    def add(self, result: CallResult) -> None:
        for trace in result.traces:
            if "agent_line" in trace:
                self.moves.add(str(trace["agent_line"]))
            if trace.get("menu", self.menu.id) != self.menu.id:
                continue
            self.nodes.update(trace.get("nodes") or ())
            choice = trace.get("choice")
            if choice:
                self.options.add((choice["node"], str(choice["key"])))

    @property
    def missed_nodes(self) -> list[str]:
        return [n for n in self.menu.nodes if n not in self.nodes]

    @property
    def missed_options(self) -> list[tuple[str, str]]:
        return [
            (node.id, option.key)
            for node in self.menu.nodes.values()
            if isinstance(node, MenuNode)
            for option in node.options
            if (node.id, option.key) not in self.options
        ]

    @property
    def missed_person_doors(self) -> list[str]:
        """Menus and asks where no call asked for a person (by key or words)."""
        return [
            node.id
            for node in self.menu.nodes.values()
            if isinstance(node, MenuNode | AskNode)
            and node.person
            and (node.id, PERSON) not in self.options
        ]

    def lines(self) -> list[str]:
        """Human-readable gaps, one line each (empty when all is covered)."""
        out = [f"node '{n}' is reached by no scenario" for n in self.missed_nodes]
        out += [
            f"option '{key}' of node '{node}' is chosen by no scenario"
            for node, key in self.missed_options
        ]
        out += [
            f"no scenario asks for a person at node '{node}'"
            for node in self.missed_person_doors
        ]
        out += [
            f"agent line: {MOVES[move]} ('{move}') happens in no scenario"
            for move in self.missed_moves
        ]
        return out

    @property
    def missed_moves(self) -> list[str]:
        return [move for move in self.agent_moves if move not in self.moves]


@dataclass
class ScenarioReport:
    """The result of one menu's scenario file: failures and coverage."""

    menu_path: str
    calls_path: str
    scenarios: int = 0
    failures: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # names of failed scenarios
    coverage: Coverage | None = None


def _check(
    label: str, expect: Expect, line: int, result: CallResult, shown: str
) -> list[str]:
    """Every expectation of one call that ``result`` does not meet."""
    failures: list[str] = []

    def fail(key: str, message: str) -> None:
        at = expect.lines.get(key, line)
        failures.append(f"{shown}:{at}: {label}: {message}")

    wanted = expect.values
    if result.outcome == "error" and wanted.get("outcome") != "error":
        fail("outcome", f"expected a call without error, got {result.error}")
        return failures
    for warning in result.warnings:  # Twilio goes on; the menu is still broken
        fail("outcome", f"expected a call without warnings, got {warning}")
    if "outcome" in wanted and wanted["outcome"] != result.outcome:
        fail(
            "outcome", f"expected outcome '{wanted['outcome']}', got '{result.outcome}'"
        )
    if "queue" in wanted and not _same_queue(str(wanted["queue"]), result.queue):
        fail(
            "queue",
            f"expected queue '{wanted['queue']}', got '{_queue_id(result.queue)}'",
        )
    if "queue_result" in wanted and wanted["queue_result"] != result.queue_result:
        fail(
            "queue_result",
            f"expected queue result '{wanted['queue_result']}', got "
            f"'{result.queue_result or 'none'}'",
        )
    if "dial_status" in wanted:
        _check_dials(wanted["dial_status"], result, fail)
    _check_hears(wanted.get("hears") or (), result.heard, fail)
    for text in wanted.get("not_hears") or ():
        if any(str(text) in said for said in result.heard):
            fail("not_hears", f"expected not to hear '{text}', got it")
    variables = result.variables
    for name, value in (wanted.get("variables") or {}).items():
        got = variables.get(name)
        if got is None or str(got) != str(value):
            fail(
                "variables",
                f"expected variable {name} = '{value}', got "
                f"{'unset' if got is None else repr(str(got))}",
            )
    recorded = [e for trace in result.traces for e in trace.get("events") or ()]
    for wanted_record in wanted.get("records") or ():
        if not any(_matches(wanted_record, event) for event in recorded):
            made = "; ".join(_shown_event(e) for e in recorded) or "nothing"
            fail(
                "records",
                f"expected a record {_shown_event(_as_event(wanted_record))}, "
                f"got {made}",
            )
    visited = [n for trace in result.traces for n in trace.get("nodes") or ()]
    for node in wanted.get("visits") or ():
        if node not in visited:
            fail(
                "visits",
                f"expected to visit node '{node}', got "
                f"{' > '.join(visited) or 'no nodes'}",
            )
    return failures


def _as_event(wanted: dict[str, Any]) -> dict[str, Any]:
    """A ``records`` item (``{feedback: TOPIC, fact: value}``) as an event."""
    kind = "feedback" if "feedback" in wanted else "request"
    facts = [{"name": k, "value": str(v)} for k, v in wanted.items() if k != kind]
    key = "topic" if kind == "feedback" else "request"
    return {"event": kind, key: str(wanted[kind]), "facts": facts}


def _matches(wanted: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether the app recorded ``event`` as the scenario's ``records`` item says:
    a feedback of that topic (a request of that name) holding those facts."""
    expected = _as_event(wanted)
    if event.get("event") != expected["event"]:
        return False
    key = "topic" if expected["event"] == "feedback" else "request"
    if event.get(key) != expected[key]:
        return False
    facts = {f.get("name"): f.get("value") for f in event.get("facts") or ()}
    return all(facts.get(f["name"]) == f["value"] for f in expected["facts"])


def _shown_event(event: dict[str, Any]) -> str:
    key = "topic" if event.get("event") == "feedback" else "request"
    facts = "".join(
        f", {f.get('name')}={f.get('value')}" for f in event.get("facts") or ()
    )
    return f"{event.get('event')} '{event.get(key)}'{facts}"


def _check_hears(texts: Iterable[Any], heard: list[str], fail: Any) -> None:
    """Each piece must be heard after the one before: later in the same sentence
    or in a later one."""
    sentence, offset = 0, 0
    for text in texts:
        piece = str(text)
        found = None
        for index in range(sentence, len(heard)):
            start = heard[index].find(piece, offset if index == sentence else 0)
            if start >= 0:
                found = (index, start + len(piece))
                break
        if found is None:
            rest = heard[sentence:]
            if rest and offset:
                tail = rest[0][offset:]
                # What is left of a sentence after a match, if it says anything.
                rest = ([tail] if any(ch.isalnum() for ch in tail) else []) + rest[1:]
            said = " | ".join(rest[:_SHOWN_TEXTS]) or "nothing more"
            if len(rest) > _SHOWN_TEXTS:
                said += f" | ... ({len(rest) - _SHOWN_TEXTS} more)"
            fail("hears", f"expected to hear '{piece}', got {said}")
            return
        sentence, offset = found


def _check_dials(wanted: Any, result: CallResult, fail: Any) -> None:
    notes = [
        e["error"] for e in result.transcript if e["verb"] == "Dial" and "error" in e
    ]
    because = f" ({notes[-1]})" if notes else ""
    if isinstance(wanted, list):
        got = result.dial_statuses
        if [str(w) for w in wanted] != got:
            fail(
                "dial_status",
                f"expected dial statuses {', '.join(map(str, wanted))}, got "
                f"{', '.join(got) or 'no dial'}{because}",
            )
    elif wanted != result.dial_status:
        fail(
            "dial_status",
            f"expected dial status '{wanted}', got "
            f"'{result.dial_status or 'no dial'}'{because}",
        )


def run_scenarios(
    menu_path: str | Path, line: MenuLine | None = None
) -> ScenarioReport:
    """Replay the scenario file beside ``menu_path``; collect failures and coverage."""
    calls_path = scenario_path(menu_path)
    report = ScenarioReport(str(menu_path), str(calls_path))
    line = line or MenuLine(menu_path)
    scenarios = load_scenarios(calls_path, nodes=line.menu.nodes)
    # A foreign app (not ours) has no roster: no agent line to cover.
    roster = getattr(line.app.extensions.get("ivr"), "roster", None)
    served = roster is not None and any(
        roster.serving(line.menu.id, queue) for queue in line.menu.queues
    )
    report.coverage = Coverage(line.menu, agent_moves=tuple(MOVES) if served else ())
    shown = str(calls_path)
    for scenario in scenarios:
        at = parse_clock(scenario.at, line.timezone) if scenario.at else None
        if scenario.on_switchboard:
            checked = _run_together(line, scenario, at)
        else:
            result = line.call(
                scenario.inputs,
                at=at,
                from_number=scenario.caller,
                agent_after_rounds=scenario.agent_after,
                queue_ahead=scenario.ahead,
                dial_status=scenario.dial,
                patience_s=scenario.patience_s,
            )
            expect = Expect(scenario.expect, scenario.expect_lines)
            checked = [_Checked(None, expect, scenario.line, result)]
        report.scenarios += 1
        failures: list[str] = []
        for call in checked:
            label = f"scenario '{scenario.name}'"
            if call.who:
                label += f", {call.who}"
            if isinstance(call.got, str):
                failures.append(f"{shown}:{call.line}: {label}: {call.got}")
                continue
            report.coverage.add(call.got)
            failures += _check(label, call.expect, call.line, call.got, shown)
        if failures:
            report.failed.add(scenario.name)
            report.failures.extend(failures)
    return report


@dataclass(frozen=True)
class _Checked:
    """One call of a scenario to check: who, what must happen, where it is
    written, and how it went (or why it could not be checked)."""

    who: str | None
    expect: Expect
    line: int
    got: CallResult | str


# What a number the scenario does not list answers, by the scenario's `dial`.
_STAND_INS = {
    "completed": Ring(),
    "busy": Ring(answer="busy"),
    "no-answer": Ring(answer="no-answer"),
    "failed": Ring(answer="failed"),
}


def _run_together(
    line: MenuLine, scenario: Scenario, at: dt.datetime | None
) -> list[_Checked]:
    """Run a scenario's calls on one switchboard; pair each with its expectations.

    Each scenario gets a fresh app, so nothing one stored (a caller waiting, a
    callback asked for) leaks into the next.
    """
    line = line.fresh()
    board = line.switchboard(at=at, unknown_number=_STAND_INS[scenario.dial])
    main = board.place(
        line.caller(from_number=scenario.caller, patience_s=scenario.patience_s),
        scenario.inputs,
        talk_s=scenario.talk_s,
    )
    others = []
    for other in (*scenario.agents, *scenario.callers):
        caller = line.caller(
            from_number=other.from_number,
            to_number=other.to_number,
            patience_s=other.patience_s,
        )
        handle = board.place(
            caller, other.inputs, at_s=other.after_s, talk_s=other.talk_s
        )
        others.append((other, handle))
    phones = [
        (script, board.phone(script.number, *(r.ring for r in script.rings)))
        for script in scenario.phones
    ]
    line.run(board)
    assert main.result is not None
    expect = Expect(scenario.expect, scenario.expect_lines)
    checked = [_Checked(None, expect, scenario.line, main.result)]
    for other, handle in others:
        assert handle.result is not None
        checked.append(_Checked(other.label, other.expect, other.line, handle.result))
    for script, phone in phones:
        for index, ring in enumerate(script.rings, start=1):
            if not ring.expect.values:
                continue
            who = f"phone {script.number}, call {index}"
            got: CallResult | str
            if index > len(phone.calls):
                times = len(phone.calls)
                got = f"expected call {index}, the line rang this phone " + (
                    f"only {times} time{'s' if times > 1 else ''}" if times else "never"
                )
            else:
                handle = phone.calls[index - 1]
                if handle is None or handle.result is None:
                    got = "expected the phone to pick up, the line hung up first"
                else:
                    got = handle.result
            checked.append(_Checked(who, ring.expect, ring.line, got))
    return checked


def menus_with_scenarios(paths: Iterable[str | Path]) -> list[Path]:
    """Menu files among ``paths`` (a ``.calls.yaml`` stands for its menu)."""
    menus: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.name.endswith(CALLS_SUFFIX):
            path = path.with_name(path.name[: -len(CALLS_SUFFIX)] + ".yaml")
        for found in find_menu_files([path]):
            if found not in menus:
                menus.append(found)
    return menus


def _queue_id(twilio_queue: str | None) -> str:
    """The menu's queue (``orders``) from the Twilio queue holding the caller
    (``shop.orders.p0``, see ``engine.twilio_queue_name``); others as they are."""
    if not twilio_queue:
        return "none"
    head, _, level = twilio_queue.rpartition(".")
    if re.fullmatch(r"p-?\d+", level) and "." in head:
        return head.partition(".")[2]
    return twilio_queue


def _same_queue(expected: str, got: str | None) -> bool:
    """A scenario names the menu's queue or the Twilio queue: either matches."""
    return got is not None and expected in (got, _queue_id(got))
