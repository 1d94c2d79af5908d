"""Reading a scenario file (``NAME.calls.yaml``): every mistake, with its line.

A scenario is one call and what must happen in it; it may also describe the
calls that meet it on the line: agents ringing the agent line, other callers in
the same queue, and how the phones the line calls back answer. Those make the
scenario run on a switchboard (see ``ivr.caller.switchboard``). Like a menu, a
scenario file is checked whole before any call is made, and every problem is
reported at once as ``file:line: message``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.caller import OUTCOMES, HangUp, Input, Press, Ring, Silence, Speak
from ivr.caller.switchboard import ANSWERS
from ivr.durations import parse_duration
from ivr.testing.menuline import DEFAULT_CALLER, parse_clock
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml

__all__ = [
    "CALLS_SUFFIX",
    "OtherCall",
    "PhoneScript",
    "RingScript",
    "Scenario",
    "ScenarioError",
    "load_scenarios",
    "parse_inputs",
    "scenario_path",
]

CALLS_SUFFIX = ".calls.yaml"
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed")
QUEUE_RESULTS = ("bridged", "leave", "hangup", "queue-full")
EXPECT_KEYS = (
    "hears",
    "not_hears",
    "outcome",
    "queue",
    "queue_result",
    "dial_status",
    "variables",
    "visits",
    "records",
)
RECORD_KINDS = ("feedback", "request")
CALL_KEYS = (
    "name",
    "at",
    "caller",
    "inputs",
    "expect",
    "agent_after",
    "ahead",
    "dial",
    "patience",
    "talk",
    "agents",
    "callers",
    "phones",
)
DEFAULT_KEYS = ("at", "caller", "agent_after", "ahead", "dial", "patience", "talk")
AGENT_KEYS = ("from", "to", "after", "inputs", "patience", "talk", "expect")
CALLER_KEYS = ("caller", "to", "after", "inputs", "patience", "talk", "expect")
RING_KEYS = ("answer", "after", "inputs", "talk", "expect")
# Only a call alone uses these: on a switchboard the queue is real.
ALONE_ONLY = ("agent_after", "ahead")


class ScenarioError(Exception):
    """A scenario file that cannot be run; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Expect:
    """What must happen in one call, and the line of each expectation."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OtherCall:
    """A call beside the scenario's own: an agent on the agent line (``kind``
    ``agent``) or another caller (``caller``), starting ``after_s`` in."""

    kind: str
    line: int
    from_number: str
    to_number: str | None
    after_s: float
    inputs: tuple[Input, ...]
    patience_s: float | None = None
    talk_s: float | None = None
    expect: Expect = field(default_factory=Expect)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.from_number}"


@dataclass(frozen=True)
class RingScript:
    """How a phone answers the n-th time the line calls it."""

    line: int
    ring: Ring
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class PhoneScript:
    """A phone the line may call (a callback, a transfer) and its answers."""

    number: str
    line: int
    rings: tuple[RingScript, ...]


@dataclass(frozen=True)
class Scenario:
    """One written-down call and what must happen in it (and in the calls that
    meet it, when it has agents, other callers or phones)."""

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
    patience_s: float | None = None
    talk_s: float | None = None
    agents: tuple[OtherCall, ...] = ()
    callers: tuple[OtherCall, ...] = ()
    phones: tuple[PhoneScript, ...] = ()

    @property
    def on_switchboard(self) -> bool:
        """Whether other calls meet this one (it runs on a switchboard)."""
        return bool(self.agents or self.callers or self.phones)


def scenario_path(menu_path: str | Path) -> Path:
    """``menus/shop.yaml`` -> ``menus/shop.calls.yaml``."""
    path = Path(menu_path)
    return path.with_name(path.name.rsplit(".", 1)[0] + CALLS_SUFFIX)


def parse_inputs(items: Any, where: str, line: int) -> tuple[Input, ...]:
    """Inputs as written in a scenario: ``{press: "1"}``, ``{say: 退款}``,
    ``silence`` or ``hangup``; raise ``ValueError`` naming every bad item."""
    reader = _Reader(where)
    inputs = reader.inputs(items, line)
    if reader.problems:
        raise ValueError("\n".join(reader.lines()))
    return inputs


def load_scenarios(path: str | Path, *, nodes: Iterable[str] = ()) -> list[Scenario]:
    """Read a ``.calls.yaml`` file; raise :class:`ScenarioError` with every problem.

    ``nodes`` are the menu's node ids: a ``visits`` expectation naming another
    node is a mistake (with the near name).
    """
    shown = str(path)
    try:
        data, yaml_problems = read_yaml(Path(path).read_text(encoding="utf-8"))
    except YamlProblem as problem:
        raise ScenarioError([f"{shown}:{problem.line}: {problem.message}"]) from None
    reader = _Reader(shown, frozenset(nodes))
    for yaml_problem in yaml_problems:
        reader.problem(yaml_problem.line, yaml_problem.message)
    if not isinstance(data, LineDict):
        reader.problem(1, "a scenario file needs a 'calls:' list")
        raise ScenarioError(reader.lines())
    scenarios = reader.file(data)
    if reader.problems:
        raise ScenarioError(reader.lines())
    return scenarios


class _Reader:
    """Reads one file, collecting every problem instead of stopping."""

    def __init__(self, shown: str, nodes: frozenset[str] = frozenset()) -> None:
        self.shown = shown
        self.nodes = nodes
        self.problems: list[tuple[int, str]] = []

    def problem(self, line: int, message: str) -> None:
        if (line, message) not in self.problems:
            self.problems.append((line, message))

    def lines(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: p[0])  # stable within a line
        return [f"{self.shown}:{line}: {message}" for line, message in ordered]

    # -- the file and its calls -------------------------------------------

    def file(self, data: LineDict) -> list[Scenario]:
        self.keys(data, ("defaults", "calls"), "")
        defaults = data.get("defaults")
        if defaults is None:
            defaults = LineDict()
            defaults.line, defaults.lines, defaults.raw_keys = 1, {}, {}
        elif not isinstance(defaults, LineDict):
            self.problem(data.line_of("defaults"), "defaults must be a map")
            defaults = LineDict()
            defaults.line, defaults.lines, defaults.raw_keys = 1, {}, {}
        self.keys(defaults, DEFAULT_KEYS, "in defaults")
        calls = data.get("calls")
        if not isinstance(calls, LineList):
            self.problem(
                data.line_of("calls") if "calls" in data else 1,
                "a scenario file needs a 'calls:' list",
            )
            self.settings(defaults, defaults)  # still check what is there
            return []
        scenarios: list[Scenario] = []
        names: set[str] = set()
        for index, raw in enumerate(calls):
            line = calls.line_of(index)
            if not isinstance(raw, LineDict):
                self.problem(line, "a call must be a map with a name")
                continue
            name = str(raw.get("name") or "")
            if not name:
                self.problem(line, "call has no name")
            elif name in names:
                self.problem(line, f"two calls are named '{name}'")
            names.add(name)
            scenarios.append(self.scenario(name, line, raw, defaults))
        return scenarios

    def scenario(
        self, name: str, line: int, raw: LineDict, defaults: LineDict
    ) -> Scenario:
        self.keys(raw, CALL_KEYS, "")
        settings = self.settings(raw, defaults)
        agents = tuple(self.others(raw, "agents", "agent", AGENT_KEYS))
        callers = tuple(self.others(raw, "callers", "caller", CALLER_KEYS))
        phones = tuple(self.phones(raw))
        others = bool(agents or callers or phones)
        for key in ALONE_ONLY:
            if others and key in raw:
                self.problem(
                    raw.line_of(key),
                    f"{key} has no effect in a scenario with agents, callers or "
                    "phones (the calls meet in a real queue); remove it",
                )
        if not others and "talk" in raw:
            self.problem(
                raw.line_of("talk"),
                "talk is how long the caller talks to an agent or a phone of the "
                "scenario; it needs agents, callers or phones",
            )
        expect = self.expect(raw, check_visits=True)
        return Scenario(
            name=name,
            line=line,
            inputs=self.inputs(raw.get("inputs", LineList()), raw.line_of("inputs")),
            at=settings["at"],
            caller=settings["caller"],
            agent_after=settings["agent_after"],
            ahead=settings["ahead"],
            dial=settings["dial"],
            expect=expect.values,
            expect_lines=expect.lines,
            patience_s=settings["patience"],
            talk_s=settings["talk"],
            agents=agents,
            callers=callers,
            phones=phones,
        )

    def settings(self, raw: LineDict, defaults: LineDict) -> dict[str, Any]:
        """A call's own settings, else the defaults', checked where written."""

        def pick(key: str) -> tuple[Any, LineDict] | None:
            if key in raw:
                return raw[key], raw
            if key in defaults:
                return defaults[key], defaults
            return None

        out: dict[str, Any] = {
            "at": None,
            "caller": DEFAULT_CALLER,
            "agent_after": 2,
            "ahead": 2,
            "dial": "completed",
            "patience": None,
            "talk": None,
        }
        if found := pick("at"):
            value, where = found
            try:
                parse_clock(str(value), "UTC")
                out["at"] = str(value)
            except ValueError as error:
                self.problem(where.line_of("at"), str(error))
        if found := pick("caller"):
            out["caller"] = self.number(found[1], "caller") or DEFAULT_CALLER
        for key in ("agent_after", "ahead"):
            if found := pick(key):
                value, where = found
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    self.problem(
                        where.line_of(key),
                        f"{key} must be a whole number >= 0, got {value!r}",
                    )
                else:
                    out[key] = value
        if found := pick("dial"):
            value, where = found
            if value not in DIAL_STATUSES:
                self.problem(
                    where.line_of("dial"),
                    f"dial '{value}' is not one of {', '.join(DIAL_STATUSES)}",
                )
            else:
                out["dial"] = value
        for key in ("patience", "talk"):
            if found := pick(key):
                out[key] = self.duration(found[1], key, positive=True)
        return out

    def others(
        self, raw: LineDict, key: str, kind: str, allowed: tuple[str, ...]
    ) -> list[OtherCall]:
        items = raw.get(key)
        if items is None:
            return []
        if not isinstance(items, LineList):
            self.problem(raw.line_of(key), f"{key} must be a list of calls")
            return []
        out: list[OtherCall] = []
        for index, item in enumerate(items):
            line = items.line_of(index)
            if not isinstance(item, LineDict):
                self.problem(line, f"an entry of {key} must be a map")
                continue
            self.keys(item, allowed, f"in {key}")
            number_key = "from" if kind == "agent" else "caller"
            number = self.number(item, number_key)
            to_number = self.number(item, "to")
            if kind == "agent":
                if number_key not in item:
                    self.problem(line, "an agent needs 'from': the agent's own phone")
                if "to" not in item:
                    self.problem(line, "an agent needs 'to': the agent line's number")
            after = self.duration(item, "after") or 0.0
            out.append(
                OtherCall(
                    kind=kind,
                    line=line,
                    from_number=number or DEFAULT_CALLER,
                    to_number=to_number,
                    after_s=after,
                    inputs=self.inputs(
                        item.get("inputs", LineList()), item.line_of("inputs")
                    ),
                    patience_s=self.duration(item, "patience", positive=True),
                    talk_s=self.duration(item, "talk", positive=True),
                    expect=self.expect(item, check_visits=kind == "caller"),
                )
            )
        return out

    def phones(self, raw: LineDict) -> list[PhoneScript]:
        phones = raw.get("phones")
        if phones is None:
            return []
        if not isinstance(phones, LineDict):
            self.problem(
                raw.line_of("phones"),
                "phones must be a map of numbers to how each answers, e.g. "
                '"+8613800138000": [{answer: no-answer}, {inputs: [...]}]',
            )
            return []
        out: list[PhoneScript] = []
        for number, value in phones.items():
            line = phones.line_of(number)
            if not isinstance(number, str):
                self.problem(
                    line,
                    f'phone number {number} must be quoted, e.g. "+{number}" (YAML '
                    "reads an unquoted number as a number)",
                )
                continue
            items = value if isinstance(value, LineList) else None
            if items is None:
                single = LineList([value])
                single.line, single.lines = line, [line]
                items = single
            rings = []
            for index, ring in enumerate(items):
                ring_line = items.line_of(index)
                if not isinstance(ring, LineDict):
                    self.problem(
                        ring_line,
                        "each answer of a phone must be a map (answer, after, "
                        "inputs, talk, expect)",
                    )
                    continue
                rings.append(self.ring(ring, ring_line))
            out.append(PhoneScript(number, line, tuple(rings)))
        return out

    def ring(self, raw: LineDict, line: int) -> RingScript:
        self.keys(raw, RING_KEYS, "in a phone's answer")
        answer = raw.get("answer", "picks-up")
        if answer not in ANSWERS:
            self.problem(
                raw.line_of("answer"),
                f"answer '{answer}' is not one of {', '.join(ANSWERS)}",
            )
            answer = "picks-up"
        inputs = self.inputs(raw.get("inputs", LineList()), raw.line_of("inputs"))
        expect = self.expect(raw, check_visits=False)
        if answer != "picks-up":
            for key in ("inputs", "talk", "expect"):
                if key in raw:
                    self.problem(
                        raw.line_of(key),
                        f"{key} has no use on a phone that does not pick up "
                        f"(answer: {answer})",
                    )
        after = self.duration(raw, "after")
        ring = Ring(
            answer=answer,
            inputs=inputs,
            after_s=5.0 if after is None else after,
            talk_s=self.duration(raw, "talk", positive=True),
        )
        return RingScript(line, ring, expect)

    # -- values -----------------------------------------------------------

    def keys(self, raw: LineDict, allowed: tuple[str, ...], where: str) -> None:
        for key in raw:
            if key not in allowed:
                place = f" {where}" if where else ""
                self.problem(
                    raw.line_of(key),
                    f"unknown key '{key}'{place} {_suggest(key, allowed)}",
                )

    def number(self, raw: LineDict, key: str) -> str | None:
        if key not in raw:
            return None
        value = raw[key]
        if isinstance(value, int) and not isinstance(value, bool):
            self.problem(
                raw.line_of(key),
                f'{key} {value} must be quoted, e.g. {key}: "+{value}" (YAML '
                "reads an unquoted number as a number)",
            )
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(
                raw.line_of(key), f"{key} must be a phone number, got {value!r}"
            )
            return None
        return value.strip()

    def duration(
        self, raw: LineDict, key: str, *, positive: bool = False
    ) -> float | None:
        if key not in raw:
            return None
        try:
            seconds = parse_duration(raw[key])
        except ValueError as error:
            self.problem(raw.line_of(key), f"{key}: {error}")
            return None
        if positive and seconds <= 0:
            self.problem(raw.line_of(key), f"{key} must be longer than 0s")
            return None
        return seconds

    def inputs(self, items: Any, line: int) -> tuple[Input, ...]:
        if not isinstance(items, list):
            self.problem(line, f"inputs must be a list, got {items!r}")
            return ()
        parsed: list[Input] = []
        for index, item in enumerate(items):
            at = items.line_of(index) if isinstance(items, LineList) else line
            if item in ("silence", "hangup"):
                parsed.append(Silence() if item == "silence" else HangUp())
                continue
            if not isinstance(item, dict) or len(item) != 1:
                self.problem(
                    at,
                    "input must be {press: KEYS}, {say: TEXT}, silence or hangup, "
                    f"got {item!r}",
                )
                continue
            ((kind, value),) = item.items()
            if kind == "press":
                if not isinstance(value, str):
                    self.problem(
                        at,
                        f"press {value!r} must be quoted, e.g. press: "
                        f'"{value}" (YAML reads 0-led digits as a number)',
                    )
                    continue
                try:
                    parsed.append(Press(value))
                except ValueError as error:
                    self.problem(at, str(error))
            elif kind == "say":
                if not isinstance(value, str) or not value.strip():
                    self.problem(at, f"say needs the words to say, got {value!r}")
                    continue
                parsed.append(Speak(value))
            else:
                self.problem(
                    at, f"unknown input '{kind}' (press, say, silence, hangup)"
                )
        return tuple(parsed)

    def expect(self, raw: LineDict, *, check_visits: bool) -> Expect:
        expect = raw.get("expect")
        if expect is None:
            return Expect()
        if not isinstance(expect, LineDict):
            self.problem(raw.line_of("expect"), "expect must be a map")
            return Expect()
        lines: dict[str, int] = {}
        for key in expect:
            lines[key] = expect.line_of(key)
            if key not in EXPECT_KEYS:
                self.problem(
                    expect.line_of(key),
                    f"unknown expectation '{key}' {_suggest(key, EXPECT_KEYS)}",
                )
        self.one_of(expect, "outcome", OUTCOMES)
        self.one_of(expect, "queue_result", QUEUE_RESULTS)
        if "dial_status" in expect:
            statuses = expect["dial_status"]
            for status in statuses if isinstance(statuses, list) else [statuses]:
                if status not in DIAL_STATUSES:
                    self.problem(
                        expect.line_of("dial_status"),
                        f"dial status '{status}' is not one of "
                        f"{', '.join(DIAL_STATUSES)}",
                    )
        for key in ("hears", "not_hears", "visits"):
            if key not in expect:
                continue
            items = expect[key]
            if not isinstance(items, list):
                self.problem(
                    expect.line_of(key), f"{key} must be a list, got {items!r}"
                )
                continue
            for item in items:
                if isinstance(item, dict | list) or item is None:
                    self.problem(
                        expect.line_of(key),
                        f"{key} items must be text, got {item!r}",
                    )
        if "variables" in expect and not isinstance(expect["variables"], dict):
            self.problem(expect.line_of("variables"), "variables must be a map")
        if "records" in expect:
            self.records(expect)
        if check_visits and self.nodes and isinstance(expect.get("visits"), list):
            for node in expect["visits"]:
                if str(node) not in self.nodes:
                    near = difflib.get_close_matches(str(node), self.nodes, n=1)
                    hint = f" (did you mean '{near[0]}'?)" if near else ""
                    self.problem(
                        expect.line_of("visits"),
                        f"visits names node '{node}', which the menu does not "
                        f"have{hint}",
                    )
        return Expect(dict(expect), lines)

    def records(self, expect: LineDict) -> None:
        """``records: [{feedback: TOPIC, order_id: "..."}, {request: NAME}]``."""
        items = expect["records"]
        line = expect.line_of("records")
        if not isinstance(items, list):
            self.problem(line, f"records must be a list, got {items!r}")
            return
        for item in items:
            kinds = [k for k in RECORD_KINDS if isinstance(item, dict) and k in item]
            if len(kinds) != 1:
                self.problem(
                    line,
                    "each of records is a map with 'feedback: TOPIC' or 'request: "
                    f"NAME', and the facts it holds, got {item!r}",
                )
                continue
            for name, value in item.items():
                if not isinstance(value, str):
                    self.problem(
                        line,
                        f"{name} of records must be quoted text, got {value!r}",
                    )

    def one_of(self, raw: LineDict, key: str, allowed: Sequence[str]) -> None:
        if key not in raw or raw[key] in allowed:
            return
        label = key.replace("_", " ")
        self.problem(
            raw.line_of(key), f"{label} '{raw[key]}' is not one of {', '.join(allowed)}"
        )


def _suggest(word: object, allowed: Sequence[str]) -> str:
    """``(did you mean 'x'?)`` for a near name, else the names allowed."""
    near = difflib.get_close_matches(str(word), allowed, n=1)
    if near:
        return f"(did you mean '{near[0]}'?)"
    return f"({', '.join(allowed)})"
