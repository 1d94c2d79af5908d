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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.caller import (
    OUTCOMES,
    CallResult,
    HangUp,
    Input,
    Press,
    Silence,
    Speak,
)
from ivr.loader import find_menu_files
from ivr.menu import Menu, MenuNode
from ivr.testing.menuline import DEFAULT_CALLER, MenuLine, parse_clock
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml

__all__ = [
    "Coverage",
    "Scenario",
    "ScenarioError",
    "ScenarioReport",
    "load_scenarios",
    "parse_inputs",
    "run_scenarios",
    "scenario_path",
]

CALLS_SUFFIX = ".calls.yaml"
_DIAL_STATUSES = ("completed", "busy", "no-answer", "failed")
_SHOWN_TEXTS = 6  # of what was heard instead, in a failure line
_EXPECT_KEYS = (
    "hears",
    "not_hears",
    "outcome",
    "queue",
    "queue_result",
    "variables",
    "visits",
)
_CALL_KEYS = (
    "name",
    "at",
    "caller",
    "inputs",
    "expect",
    "agent_after",
    "ahead",
    "dial",
)


class ScenarioError(Exception):
    """A scenario file that cannot be run; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Scenario:
    """One written-down call and what must happen in it."""

    name: str
    line: int
    inputs: tuple[Input, ...]
    at: str | None = None
    caller: str = DEFAULT_CALLER
    agent_after: int = 2
    ahead: int = 2
    dial: str = "completed"
    expect: dict[str, Any] = field(default_factory=dict)
    expect_lines: dict[str, int] = field(default_factory=dict)


def scenario_path(menu_path: str | Path) -> Path:
    """``menus/shop.yaml`` -> ``menus/shop.calls.yaml``."""
    path = Path(menu_path)
    return path.with_name(path.name.rsplit(".", 1)[0] + CALLS_SUFFIX)


def parse_inputs(items: Any, where: str, line: int) -> tuple[Input, ...]:
    """Inputs as written in a scenario: ``{press: "1"}``, ``{say: 退款}``,
    ``silence`` or ``hangup``; raise ``ValueError`` naming the bad item."""
    if not isinstance(items, list):
        raise ValueError(f"{where}:{line}: inputs must be a list, got {items!r}")
    parsed: list[Input] = []
    for index, item in enumerate(items):
        at = items.line_of(index) if isinstance(items, LineList) else line
        if item in ("silence", "hangup"):
            parsed.append(Silence() if item == "silence" else HangUp())
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(
                f"{where}:{at}: input must be {{press: KEYS}}, {{say: TEXT}}, "
                f"silence or hangup, got {item!r}"
            )
        ((kind, value),) = item.items()
        if kind == "press":
            if not isinstance(value, str):
                raise ValueError(
                    f"{where}:{at}: press {value!r} must be quoted, e.g. "
                    f'press: "{value}" (YAML reads 0-led digits as a number)'
                )
            try:
                parsed.append(Press(value))
            except ValueError as error:
                raise ValueError(f"{where}:{at}: {error}") from None
        elif kind == "say":
            parsed.append(Speak(str(value)))
        else:
            raise ValueError(
                f"{where}:{at}: unknown input '{kind}' (press, say, silence, hangup)"
            )
    return tuple(parsed)


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read a ``.calls.yaml`` file; raise :class:`ScenarioError` with every problem."""
    shown = str(path)
    try:
        data, yaml_problems = read_yaml(Path(path).read_text(encoding="utf-8"))
    except YamlProblem as problem:
        raise ScenarioError([f"{shown}:{problem.line}: {problem.message}"]) from None
    problems = [f"{shown}:{p.line}: {p.message}" for p in yaml_problems]
    if not isinstance(data, LineDict) or not isinstance(data.get("calls"), list):
        raise ScenarioError([f"{shown}:1: a scenario file needs a 'calls:' list"])
    for key in data:
        if key not in ("defaults", "calls"):
            problems.append(
                f"{shown}:{data.line_of(key)}: unknown key '{key}' (defaults, calls)"
            )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(f"{shown}:{data.line_of('defaults')}: defaults must be a map")
        defaults = {}
    scenarios: list[Scenario] = []
    names: set[str] = set()
    calls = data["calls"]
    for index, raw in enumerate(calls):
        line = calls.line_of(index)
        if not isinstance(raw, LineDict):
            problems.append(f"{shown}:{line}: a call must be a map with a name")
            continue
        merged = {**defaults, **raw}
        for key in raw:
            if key not in _CALL_KEYS:
                problems.append(
                    f"{shown}:{raw.line_of(key)}: unknown key '{key}' "
                    f"({', '.join(_CALL_KEYS)})"
                )
        name = str(raw.get("name") or "")
        if not name:
            problems.append(f"{shown}:{line}: call has no name")
        elif name in names:
            problems.append(f"{shown}:{line}: two calls are named '{name}'")
        names.add(name)
        try:
            inputs = parse_inputs(
                raw.get("inputs", LineList()), shown, raw.line_of("inputs")
            )
        except ValueError as error:
            problems.append(str(error))
            inputs = ()
        expect = raw.get("expect") or LineDict()
        expect_lines: dict[str, int] = {}
        if not isinstance(expect, LineDict):
            problems.append(f"{shown}:{raw.line_of('expect')}: expect must be a map")
            expect = LineDict()
        for key in expect:
            expect_lines[key] = expect.line_of(key)
            if key not in _EXPECT_KEYS:
                problems.append(
                    f"{shown}:{expect.line_of(key)}: unknown expectation '{key}' "
                    f"({', '.join(_EXPECT_KEYS)})"
                )
        outcome = expect.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            problems.append(
                f"{shown}:{expect.line_of('outcome')}: outcome '{outcome}' is not "
                f"one of {', '.join(OUTCOMES)}"
            )
        for key in ("hears", "not_hears", "visits"):
            if key in expect and not isinstance(expect[key], list):
                problems.append(
                    f"{shown}:{expect.line_of(key)}: {key} must be a list, got "
                    f"{expect[key]!r}"
                )
        if "variables" in expect and not isinstance(expect["variables"], dict):
            problems.append(
                f"{shown}:{expect.line_of('variables')}: variables must be a map"
            )
        at = merged.get("at")
        if at is not None:
            where = raw if "at" in raw else defaults
            try:
                parse_clock(str(at), "UTC")
            except ValueError as error:
                line_at = where.line_of("at") if isinstance(where, LineDict) else line
                message = f"{shown}:{line_at}: {error}"
                if message not in problems:
                    problems.append(message)
        numbers = {}
        for key in ("agent_after", "ahead"):
            value = merged.get(key, 2)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(
                    f"{shown}:{raw.line_of(key)}: {key} must be a whole number "
                    f">= 0, got {value!r}"
                )
                value = 2
            numbers[key] = value
        dial = str(merged.get("dial", "completed"))
        if dial not in _DIAL_STATUSES:
            problems.append(
                f"{shown}:{raw.line_of('dial')}: dial '{dial}' is not one of "
                f"{', '.join(_DIAL_STATUSES)}"
            )
        scenarios.append(
            Scenario(
                name=name,
                line=line,
                inputs=inputs,
                at=str(at) if at else None,
                caller=str(merged.get("caller") or DEFAULT_CALLER),
                agent_after=numbers["agent_after"],
                ahead=numbers["ahead"],
                dial=dial,
                expect=dict(expect),
                expect_lines=expect_lines,
            )
        )
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: int(p.split(":")[1])))
    return scenarios


@dataclass
class Coverage:
    """Which nodes and menu options of a menu the calls reached."""

    menu: Menu
    nodes: set[str] = field(default_factory=set)
    options: set[tuple[str, str]] = field(default_factory=set)

    def add(self, result: CallResult) -> None:
        for trace in result.traces:
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

    def lines(self) -> list[str]:
        """Human-readable gaps, one line each (empty when all is covered)."""
        out = [f"node '{n}' is reached by no scenario" for n in self.missed_nodes]
        out += [
            f"option '{key}' of node '{node}' is chosen by no scenario"
            for node, key in self.missed_options
        ]
        return out


@dataclass
class ScenarioReport:
    """The result of one menu's scenario file: failures and coverage."""

    menu_path: str
    calls_path: str
    scenarios: int = 0
    failures: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # names of failed scenarios
    coverage: Coverage | None = None


def _check(scenario: Scenario, result: CallResult, shown: str) -> list[str]:
    failures: list[str] = []

    def fail(key: str, message: str) -> None:
        line = scenario.expect_lines.get(key, scenario.line)
        failures.append(f"{shown}:{line}: scenario '{scenario.name}': {message}")

    expect = scenario.expect
    if result.outcome == "error" and expect.get("outcome") != "error":
        fail("outcome", f"expected a call without error, got {result.error}")
        return failures
    if "outcome" in expect and expect["outcome"] != result.outcome:
        fail(
            "outcome", f"expected outcome '{expect['outcome']}', got '{result.outcome}'"
        )
    if "queue" in expect and str(expect["queue"]) != (result.queue or ""):
        fail(
            "queue",
            f"expected queue '{expect['queue']}', got '{result.queue or 'none'}'",
        )
    if "queue_result" in expect and expect["queue_result"] != result.queue_result:
        fail(
            "queue_result",
            f"expected queue result '{expect['queue_result']}', got "
            f"'{result.queue_result or 'none'}'",
        )
    heard = result.heard
    position = 0
    for text in expect.get("hears") or ():
        found = next(
            (i for i in range(position, len(heard)) if str(text) in heard[i]), None
        )
        if found is None:
            rest = heard[position:]
            said = " | ".join(rest[:_SHOWN_TEXTS]) or "nothing more"
            if len(rest) > _SHOWN_TEXTS:
                said += f" | ... ({len(rest) - _SHOWN_TEXTS} more)"
            fail("hears", f"expected to hear '{text}', got {said}")
            break
        position = found + 1
    for text in expect.get("not_hears") or ():
        if any(str(text) in said for said in heard):
            fail("not_hears", f"expected not to hear '{text}', got it")
    variables = result.variables
    for name, value in (expect.get("variables") or {}).items():
        got = variables.get(name)
        if got is None or str(got) != str(value):
            fail(
                "variables",
                f"expected variable {name} = '{value}', got "
                f"{'unset' if got is None else repr(str(got))}",
            )
    visited = [n for trace in result.traces for n in trace.get("nodes") or ()]
    for node in expect.get("visits") or ():
        if node not in visited:
            fail(
                "visits",
                f"expected to visit node '{node}', got "
                f"{' > '.join(visited) or 'no nodes'}",
            )
    return failures


def run_scenarios(
    menu_path: str | Path, line: MenuLine | None = None
) -> ScenarioReport:
    """Replay the scenario file beside ``menu_path``; collect failures and coverage."""
    calls_path = scenario_path(menu_path)
    report = ScenarioReport(str(menu_path), str(calls_path))
    scenarios = load_scenarios(calls_path)
    line = line or MenuLine(menu_path)
    report.coverage = Coverage(line.menu)
    for scenario in scenarios:
        at = parse_clock(scenario.at, line.timezone) if scenario.at else None
        result = line.call(
            scenario.inputs,
            at=at,
            from_number=scenario.caller,
            agent_after_rounds=scenario.agent_after,
            queue_ahead=scenario.ahead,
            dial_status=scenario.dial,
        )
        report.scenarios += 1
        report.coverage.add(result)
        failures = _check(scenario, result, str(calls_path))
        if failures:
            report.failed.add(scenario.name)
            report.failures.extend(failures)
    return report


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
