"""Traffic files: how many calls a day brings, interval by interval.

The traffic file (``NAME.traffic.yaml`` beside ``NAME.yaml``) says how many calls
arrive in each interval of the day and how callers behave in the menu;
``ivr.journeys`` walks them through it. Reading a file needs no NumPy, so
``ivr check`` checks traffic files beside the menus without loading it.

A traffic file::

    day: 2026-11-11            # the date simulated (opening hours, day plans)
    start: "08:00"             # the first interval's start, local menu time
    interval: 15m
    calls: [120, 180, 260, ...] # calls arriving in each interval, in order
    no_input: 0.04             # share of callers silent at each menu (default 0.03)
    found: 0.9                 # share of lookups that find a record (default 0.85)
    satisfied: 0.7             # after an answer, share who hang up at the next menu
    callback_accept: 0.6       # share of callers offered a callback who take it
                               # (default 1: every one)
    branches:                  # optional: shares of a node's ways out
      account_verify: {account_status: 0.85, account_retry: 0.15}
      order_ask: {agent_orders: 0.3}   # at an ask: who ask for a person instead

At an ``ask`` the caller types the digits (``next``), unless ``branches`` give
the share who take its person door (the ``person`` key or words) instead; a
menu's person door (when no option is on the person key) is taken only as
``branches`` say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.checks import suggest
from ivr.durations import parse_duration
from ivr.menu import AskNode, LookupNode, Menu, MenuNode, RouteNode
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml_file

__all__ = [
    "TrafficError",
    "TrafficPlan",
    "load_traffic",
    "traffic_path",
]

TRAFFIC_SUFFIX = ".traffic.yaml"
# The callers' behaviour as shares, with their defaults (``TrafficPlan``'s).
_RATES = {"no_input": 0.03, "found": 0.85, "satisfied": 0.7, "callback_accept": 1.0}
# The walk through the menu lives in ivr.journeys (NumPy); this module only
# reads traffic files, so `ivr check` reads them without importing NumPy.
_MOVED = ("Journeys", "arrival_times", "speaking_time_s", "walk_callers")


def __getattr__(name: str):
    """``ivr.traffic.walk_callers`` and friends, from ``ivr.journeys``."""
    if name in _MOVED:
        from ivr import journeys

        return getattr(journeys, name)
    raise AttributeError(f"module 'ivr.traffic' has no attribute {name!r}")


class TrafficError(Exception):
    """A traffic file that cannot be used; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TrafficPlan:
    """Calls arriving per interval over a day, and how callers behave."""

    day: dt.date
    start: dt.time
    interval_s: float
    calls: tuple[float, ...]
    no_input: float = 0.03
    found: float = 0.85
    satisfied: float = 0.7
    branches: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    callback_accept: float = 1.0

    def interval_start(self, index: int) -> dt.datetime:
        """The local wall-clock start of interval ``index`` (naive)."""
        first = dt.datetime.combine(self.day, self.start)
        return first + dt.timedelta(seconds=index * self.interval_s)


def traffic_path(menu_path: str | Path) -> Path:
    """``NAME.traffic.yaml`` beside ``NAME.yaml``."""
    path = Path(menu_path)
    return path.with_name(path.name.split(".")[0] + TRAFFIC_SUFFIX)


def load_traffic(
    path: str | Path, menu: Menu | None = None, *, unread: Collection[str] = ()
) -> TrafficPlan:
    """Read a traffic file; raise ``TrafficError`` listing every problem.

    With the ``menu`` it belongs to, ``branches`` are checked against it: each
    must name a node that branches (a menu, lookup or route) and ways out of that
    node, with shares adding up to at most 1. ``unread`` are ids of nodes that
    exist but could not be read (their branches are not checked).
    """
    path = Path(path)
    problems: list[str] = []

    def add(line: int, message: str) -> None:
        problems.append(f"{path}:{line}: {message}")

    try:
        doc, yaml_problems = read_yaml_file(path)
    except OSError as error:
        raise TrafficError([f"{path}:1: cannot read the file: {error}"]) from None
    except YamlProblem as problem:
        raise TrafficError([f"{path}:{problem.line}: {problem.message}"]) from None
    for problem in yaml_problems:
        add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        raise TrafficError([f"{path}:1: a traffic file is a map with 'calls'"])
    allowed = ("day", "start", "interval", "calls", *_RATES, "branches")
    for key in doc:
        if key not in allowed:
            add(
                doc.line_of(key), f"unknown key '{key}' (allowed: {', '.join(allowed)})"
            )

    day = doc.get("day", dt.date(2026, 11, 11))
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            add(doc.line_of("day"), f"day '{day}' is not a date like '2026-11-11'")
            day = dt.date(2026, 11, 11)
    elif not isinstance(day, dt.date):
        add(doc.line_of("day"), f"day '{day}' is not a date like '2026-11-11'")
        day = dt.date(2026, 11, 11)

    start_text = str(doc.get("start", "00:00"))
    if isinstance(doc.get("start"), int):
        add(doc.line_of("start"), 'start must be quoted, like "08:00"')
        start_text = "00:00"
    try:
        start = dt.time.fromisoformat(start_text)
    except ValueError:
        add(doc.line_of("start"), f"start '{start_text}' is not a time like '08:00'")
        start = dt.time(0)

    try:
        interval_s = parse_duration(doc.get("interval", "15m"))
        if interval_s < 60:
            raise ValueError(
                f"intervals must be at least 1m, got {doc.get('interval')!r}"
            )
    except ValueError as error:
        add(doc.line_of("interval"), f"interval: {error}")
        interval_s = 900.0

    raw_calls = doc.get("calls")
    calls: list[float] = []
    if not isinstance(raw_calls, LineList) or not raw_calls:
        add(doc.line_of("calls"), "calls must be a list of calls per interval")
    else:
        for i, value in enumerate(raw_calls):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
            ):
                add(raw_calls.line_of(i), f"calls must be numbers >= 0, got {value!r}")
            else:
                calls.append(float(value))
    if interval_s * len(calls) > 86400 + 1e-9:
        add(doc.line_of("calls"), "the intervals run past one day")

    rates = {}
    for key, default in _RATES.items():
        value = doc.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= 1
        ):
            add(doc.line_of(key), f"{key} must be a share from 0 to 1, got {value!r}")
            value = default
        rates[key] = float(value)

    branches: dict[str, dict[str, float]] = {}
    raw_branches = doc.get("branches") or {}
    if not isinstance(raw_branches, dict):
        add(doc.line_of("branches"), "branches must map node ids to {target: share}")
        raw_branches = {}
    for node_id, shares in raw_branches.items():
        line = raw_branches.line_of(node_id)
        if not isinstance(shares, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for v in shares.values()
        ):
            add(line, f"branches of '{node_id}' must map node ids to shares >= 0")
            continue
        branches[str(node_id)] = {str(k): float(v) for k, v in shares.items()}
        total = sum(branches[str(node_id)].values())
        if total > 1 + 1e-9:
            add(line, f"branches of '{node_id}' add up to {total:g}, more than 1")
        if menu is not None:
            _check_branches(str(node_id), shares, line, menu, unread, add)

    if problems:
        raise TrafficError(problems)
    return TrafficPlan(
        day=day,
        start=start,
        interval_s=interval_s,
        calls=tuple(calls),
        branches=branches,
        **rates,
    )


def _check_branches(
    node_id: str,
    shares: LineDict,
    line: int,
    menu: Menu,
    unread: Collection[str],
    add: Callable[[int, str], None],
) -> None:
    """Each branch must be a way out of a node that branches."""
    node = menu.nodes.get(node_id)
    if node is None:
        if node_id not in unread:
            hint = suggest(node_id, [*menu.nodes, *unread])
            add(line, f"branches name unknown node '{node_id}'{hint}")
        return
    if isinstance(node, AskNode):
        ways = [node.next, *([node.person] if node.person else [])]
        said = "an ask's ways out: {}, its answer and its person door"
    elif isinstance(node, MenuNode):
        ways = [option.goto for option in node.options]
        ways += [node.person] if node.person else []
        said = "its ways out: {}"
    elif isinstance(node, LookupNode):
        ways, said = [node.found, node.missing], "its ways out: {}"
    elif isinstance(node, RouteNode):
        ways, said = [rule.goto for rule in node.rules], "its ways out: {}"
    else:
        add(
            line,
            f"branches of '{node_id}': a {node.kind} node has no branches to share "
            "(only menus, asks, lookups and routes do)",
        )
        return
    for target in shares:
        if str(target) not in ways:
            hint = suggest(target, ways)
            add(
                shares.line_of(target),
                f"branch '{target}' of '{node_id}' is not a way out of it{hint} "
                f"({said.format(', '.join(dict.fromkeys(ways)))})",
            )
