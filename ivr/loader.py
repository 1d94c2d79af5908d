"""Load menu files into the frozen model, reporting every mistake with its line.

The loader is a proof-reader, not a gatekeeper that stops at the first typo: it
reads the whole file, notes each problem as ``file:line: message`` (the line the
designer must edit) and only builds a ``Menu`` when there are none. Checks that need
the whole menu (doors to nowhere, unreachable nodes, loops with no way out,
variables used before they are set) live in ``ivr.checks``.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr import checks
from ivr.checks import suggest
from ivr.durations import parse_duration
from ivr.menu import (
    AskNode,
    CsvSource,
    DataSource,
    HangupNode,
    Hours,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Option,
    Prompt,
    Queue,
    QueueNode,
    RouteNode,
    Rule,
    TransferNode,
    UrlSource,
    VoicemailNode,
)
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml

__all__ = ["MenuError", "find_menu_files", "load_menu", "load_menus", "suggest"]

TOP_KEYS = [
    "id",
    "title",
    "numbers",
    "language",
    "voice",
    "start",
    "hours",
    "data",
    "queues",
    "nodes",
]
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "menu": ("say", "play", "options", "timeout", "retries", "no_input", "invalid",
             "on_fail"),
    "ask": ("ask", "play", "digits", "save_as", "sensitive", "next", "timeout",
            "retries", "no_input", "invalid", "on_fail"),
    "lookup": ("lookup", "say", "play", "found", "missing", "error"),
    "route": ("route",),
    "queue": ("queue", "say", "play", "priority", "closed", "overflow"),
    "transfer": ("transfer", "say", "play", "next", "timeout"),
    "voicemail": ("voicemail", "play", "max_length", "next"),
    "hangup": ("hangup", "play"),
    "message": ("say", "play", "next"),
}  # fmt: skip
MARKERS = {"options": "menu", "ask": "ask", "lookup": "lookup", "route": "route",
           "queue": "queue", "transfer": "transfer", "voicemail": "voicemail",
           "hangup": "hangup"}  # fmt: skip
QUEUE_KEYS = (
    "title",
    "agents",
    "handle_time",
    "patience",
    "callback_after",
    "announce_every",
    "max_wait",
    "workflow_sid",
)
PHONE_KEYS = frozenset("0123456789*#")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AUDIO_SUFFIXES = (".wav", ".mp3")
COMPANION_SUFFIXES = (".calls.yaml", ".traffic.yaml", ".calls.yml", ".traffic.yml")

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?")
_HHMM = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
_OPTION_HASH = re.compile(r"^\s*#\s*:")
_WORKFLOW = re.compile(r"WW[0-9a-f]{32}")


class MenuError(Exception):
    """A menu file that cannot be used; ``problems`` are ``file:line: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _Problems:
    def __init__(self, shown_path: str) -> None:
        self.path = shown_path
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))

    def lines(self) -> list[str]:
        ordered = sorted(dict.fromkeys(self.items), key=lambda item: item[0])
        return [f"{self.path}:{line}: {message}" for line, message in ordered]


def find_menu_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Menu files among ``paths``: files as given, folders' ``*.yaml`` sorted.

    Companion files (``NAME.calls.yaml``, ``NAME.traffic.yaml``) are left out.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                # By name before the first dot: shop.yaml before shop-en.yaml.
                for p in sorted(
                    path.iterdir(), key=lambda p: (p.name.split(".")[0], p.name)
                )
                if p.suffix in (".yaml", ".yml")
                and not p.name.endswith(COMPANION_SUFFIXES)
                and p.is_file()
            )
        else:
            found.append(path)
    return found


def load_menu(
    path: str | os.PathLike[str], recordings_dir: str | os.PathLike[str] | None = None
) -> Menu:
    """Read and check one menu file; raise ``MenuError`` listing every problem.

    ``recordings_dir`` defaults to ``recordings/`` beside the menu's folder.
    """
    menu, problems = _load(Path(path), recordings_dir)
    if problems or menu is None:
        raise MenuError(problems)
    return menu


def load_menus(
    paths: Iterable[str | os.PathLike[str]],
    recordings_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[Menu], list[str]]:
    """Load every menu file in ``paths`` (files or folders).

    Returns the menus that loaded cleanly and the problems of all files, so a
    caller can report everything at once. Two menus may not share an id or a
    phone number.
    """
    menus: list[Menu] = []
    problems: list[str] = []
    owners: dict[str, Menu] = {}
    for path in find_menu_files(paths):
        menu, found = _load(path, recordings_dir)
        problems.extend(found)
        if menu is None:
            continue
        clash = next((m for m in menus if m.id == menu.id), None)
        if clash is not None:
            problems.append(
                f"{_shown(path)}:1: menu id '{menu.id}' is also the id of {clash.path}"
            )
            continue
        for number in menu.numbers:
            if number in owners:
                problems.append(
                    f"{_shown(path)}:1: number '{number}' already reaches menu "
                    f"'{owners[number].id}' ({owners[number].path})"
                )
            owners.setdefault(number, menu)
        menus.append(menu)
    return menus, problems


def _shown(path: Path) -> str:
    """The path as the designer would type it: relative to here when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _load(
    path: Path, recordings_dir: str | os.PathLike[str] | None
) -> tuple[Menu | None, list[str]]:
    problems = _Problems(_shown(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(1, "no such menu file")
        return None, problems.lines()
    except (OSError, UnicodeDecodeError) as error:
        problems.add(1, f"cannot read the file: {error}")
        return None, problems.lines()
    try:
        doc, yaml_problems = read_yaml(text)
    except YamlProblem as problem:
        problems.add(problem.line, problem.message)
        return None, problems.lines()
    for problem in yaml_problems:
        problems.add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        problems.add(1, "a menu file is a map with 'start' and 'nodes'")
        return None, problems.lines()
    recordings = (
        Path(recordings_dir)
        if recordings_dir is not None
        else path.resolve().parent.parent / "recordings"
    )
    builder = _MenuBuilder(path, text, doc, recordings, problems)
    menu = builder.build()
    return (menu if not problems.items else None), problems.lines()


class _MenuBuilder:
    """Reads one parsed menu document, noting problems as it goes."""

    def __init__(
        self,
        path: Path,
        text: str,
        doc: LineDict,
        recordings: Path,
        problems: _Problems,
    ) -> None:
        self.path = path
        self.text_lines = text.splitlines()
        self.doc = doc
        self.recordings = recordings
        self.p = problems
        self.csv_fields: dict[str, frozenset[str]] = {}
        self.field_lines: dict[tuple[str, str], int] = {}
        # Keys a misspelling stood for: not reported missing a second time.
        self.near_keys: set[str] = set()

    # -- small readers -------------------------------------------------------

    def unknown_keys(self, where: LineDict, allowed: Sequence[str], what: str) -> bool:
        bad = False
        for key in where:
            if key not in allowed:
                bad = True
                self.near_keys.update(
                    difflib.get_close_matches(str(key), list(allowed), n=1)
                )
                self.p.add(
                    where.line_of(key),
                    f"unknown key '{key}' in {what}{suggest(key, allowed)}",
                )
        return bad

    def text(self, where: LineDict, key: str, what: str) -> str | None:
        value = where.get(key)
        if value is None:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        self.p.add(where.line_of(key), f"{key} of {what} must be text")
        return None

    def seconds(
        self, where: LineDict, key: str, what: str, *, whole: bool = False,
        low: float = 0.0, high: float | None = None,
    ) -> float | None:  # fmt: skip
        if key not in where or where[key] is None:
            return None
        try:
            value = parse_duration(where[key])
        except ValueError as error:
            self.p.add(where.line_of(key), f"{key} of {what}: {error}")
            return None
        if whole and value != int(value):
            self.p.add(where.line_of(key), f"{key} of {what} must be whole seconds")
        if value < low or (high is not None and value > high):
            limit = (
                f"from {low:g}s to {high:g}s" if high is not None else f">= {low:g}s"
            )
            self.p.add(where.line_of(key), f"{key} of {what} must be {limit}")
            return None
        return value

    def integer(
        self, where: LineDict, key: str, what: str, low: int, high: int
    ) -> int | None:
        if key not in where:
            return None
        value = where[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.p.add(where.line_of(key), f"{key} of {what} must be a whole number")
            return None
        if not low <= value <= high:
            self.p.add(
                where.line_of(key),
                f"{key} of {what} must be from {low} to {high}, got {value}",
            )
            return None
        return value

    def mapping(self, where: LineDict, key: str, what: str) -> LineDict | None:
        value = where.get(key)
        if value is None:
            return None
        if not isinstance(value, LineDict):
            self.p.add(where.line_of(key), f"{key} of {what} must be a map")
            return None
        return value

    def prompt(self, node: LineDict, node_id: str, text_key: str = "say") -> Prompt:
        text = self.text(node, text_key, f"node '{node_id}'")
        audio = None
        if "play" in node:
            audio = self.recording(node, node_id)
        return Prompt(text=text, audio=audio)

    def recording(self, node: LineDict, node_id: str) -> str | None:
        name = node["play"]
        line = node.line_of("play")
        if not isinstance(name, str) or not name:
            self.p.add(line, f"play of node '{node_id}' must be a file name")
            return None
        if "/" in name or "\\" in name or name.startswith("."):
            self.p.add(
                line, f"recording '{name}' must be a plain file name in recordings/"
            )
            return None
        if not name.lower().endswith(AUDIO_SUFFIXES):
            self.p.add(line, f"recording '{name}' must be a .wav or .mp3 file")
            return None
        if not (self.recordings / name).is_file():
            there = (
                [p.name for p in self.recordings.iterdir()]
                if self.recordings.is_dir()
                else []
            )
            self.p.add(
                line, f"recording '{name}' is not in recordings/{suggest(name, there)}"
            )
            return None
        return name

    # -- the whole menu ------------------------------------------------------

    def build(self) -> Menu | None:
        doc = self.doc
        self.unknown_keys(doc, TOP_KEYS, "the menu")
        menu_id = self.text(doc, "id", "the menu") or self.path.name.split(".")[0]
        title = self.text(doc, "title", "the menu") or menu_id
        language = self.text(doc, "language", "the menu") or "en-US"
        if not _LANGUAGE.fullmatch(language):
            self.p.add(
                doc.line_of("language"),
                f"language '{language}' is not a language tag like 'zh-CN' or 'en-US'",
            )
        voice = self.text(doc, "voice", "the menu")
        numbers = self.read_numbers()
        hours = self.read_hours()
        data = self.read_data()
        queues = self.read_queues()
        nodes = self.read_nodes(queues, data, hours)
        start = doc.get("start")
        if start is None:
            self.p.add(doc.line, "the menu needs 'start': the id of its first node")
        elif not isinstance(start, str) or start not in nodes:
            self.p.add(
                doc.line_of("start"),
                f"start names unknown node '{start}'{suggest(start, nodes)}",
            )
        if self.p.items:
            # Graph checks on a half-read menu would only add noise; doors to
            # nodes that exist but failed to read are not reported again.
            declared = self.doc.get("nodes")
            known = {str(k) for k in declared} if isinstance(declared, dict) else set()
            checks.check_targets(nodes, self.p.add, known)
            return None
        menu = Menu(
            id=menu_id,
            path=str(self.path),
            title=title,
            start=start,
            nodes=nodes,
            language=language,
            voice=voice,
            numbers=numbers,
            hours=hours,
            data=data,
            queues=queues,
            recordings_dir=str(self.recordings),
        )
        checks.check_menu(menu, self.csv_fields, self.p.add, self.field_lines)
        return menu

    def read_numbers(self) -> tuple[str, ...]:
        raw = self.doc.get("numbers")
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = LineList([raw])
            raw.line, raw.lines = (
                self.doc.line_of("numbers"),
                [self.doc.line_of("numbers")],
            )
        if not isinstance(raw, LineList):
            self.p.add(self.doc.line_of("numbers"), "numbers must be a list")
            return ()
        numbers = []
        for i, number in enumerate(raw):
            if not isinstance(number, str) or not _E164.fullmatch(number):
                self.p.add(
                    raw.line_of(i),
                    f"number '{number}' is not in E.164 form like '+861000000000' "
                    "(quote it so YAML keeps the '+')",
                )
            else:
                numbers.append(number)
        return tuple(numbers)

    def read_hours(self) -> Hours | None:
        hours = self.mapping(self.doc, "hours", "the menu")
        if hours is None:
            return None
        self.unknown_keys(hours, ("timezone", "weekly", "closed"), "hours")
        tz = self.text(hours, "timezone", "hours") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self.p.add(
                hours.line_of("timezone"),
                f"unknown timezone '{tz}' (use a name like 'Asia/Shanghai')",
            )
            tz = "UTC"
        weekly: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
        raw_weekly = self.mapping(hours, "weekly", "hours")
        if raw_weekly is None:
            self.p.add(hours.line, "hours needs 'weekly', e.g. {mon-fri: 08:00-22:00}")
        else:
            for days_text, ranges_text in raw_weekly.items():
                line = raw_weekly.line_of(days_text)
                days = _parse_days(str(days_text))
                if days is None:
                    self.p.add(
                        line,
                        f"'{days_text}' is not a day or day range "
                        "(use mon..sun, e.g. 'mon-fri', 'sat,sun' or 'daily')",
                    )
                    continue
                ranges = _parse_ranges(ranges_text)
                if ranges is None:
                    self.p.add(
                        line,
                        f"opening hours '{ranges_text}' of '{days_text}' must look "
                        "like '08:00-22:00' (several joined by ',') or 'closed'",
                    )
                    continue
                for day in days:
                    if day in weekly:
                        self.p.add(
                            line, f"'{DAYS[day]}' is given twice in weekly hours"
                        )
                    weekly[day] = ranges
        closed: set[dt.date] = set()
        raw_closed = hours.get("closed") or []
        if not isinstance(raw_closed, list):
            self.p.add(hours.line_of("closed"), "closed must be a list of dates")
            raw_closed = []
        for i, day in enumerate(raw_closed):
            if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
                closed.add(day)
                continue
            try:
                closed.add(dt.date.fromisoformat(str(day)))
            except ValueError:
                self.p.add(
                    raw_closed.line_of(i),
                    f"closed day '{day}' is not a date like '2027-02-06'",
                )
        return Hours(timezone=tz, weekly=weekly, closed=frozenset(closed))

    def read_data(self) -> dict[str, DataSource]:
        raw = self.mapping(self.doc, "data", "the menu")
        if raw is None:
            return {}
        sources: dict[str, DataSource] = {}
        for source_id, spec in raw.items():
            line = raw.line_of(source_id)
            what = f"data source '{source_id}'"
            if not isinstance(spec, LineDict):
                self.p.add(line, f"{what} must be a map with 'csv' or 'url'")
                continue
            if "csv" in spec:
                self.unknown_keys(spec, ("csv", "key"), what)
                source = self.read_csv_source(str(source_id), spec, what)
            elif "url" in spec:
                self.unknown_keys(spec, ("url", "timeout"), what)
                source = self.read_url_source(str(source_id), spec, what)
            else:
                self.unknown_keys(spec, ("csv", "key", "url", "timeout"), what)
                self.p.add(
                    line, f"{what} needs 'csv' (a file) or 'url' (a JSON service)"
                )
                continue
            if source is not None:
                sources[str(source_id)] = source
        return sources

    def read_csv_source(
        self, source_id: str, spec: LineDict, what: str
    ) -> CsvSource | None:
        file_name = self.text(spec, "csv", what)
        key = self.text(spec, "key", what)
        if key is None:
            self.p.add(
                spec.line, f"{what} needs 'key': the column to look records up by"
            )
        if file_name is None:
            return None
        full = (self.path.parent / file_name).resolve()
        try:
            with full.open(newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle), [])
        except OSError:
            self.p.add(
                spec.line_of("csv"),
                f"csv file '{file_name}' of {what} does not exist "
                "(the path is relative to the menu file)",
            )
            return None
        fields = [h.strip() for h in header]
        if key is not None and key not in fields:
            self.p.add(
                spec.line_of("key"),
                f"key column '{key}' is not in {file_name} (columns: "
                f"{', '.join(fields)}){suggest(key, fields)}",
            )
            return None
        self.csv_fields[source_id] = frozenset(fields)
        return CsvSource(id=source_id, path=str(full), key=key or "")

    def read_url_source(
        self, source_id: str, spec: LineDict, what: str
    ) -> UrlSource | None:
        url = self.text(spec, "url", what)
        timeout = self.seconds(spec, "timeout", what, low=0.1, high=10)
        if url is None:
            return None
        if not url.startswith(("http://", "https://")):
            self.p.add(spec.line_of("url"), f"url of {what} must start with http(s)://")
            return None
        return UrlSource(id=source_id, url=url, timeout_s=timeout or 2.0)

    def read_queues(self) -> dict[str, Queue]:
        raw = self.mapping(self.doc, "queues", "the menu")
        if raw is None:
            return {}
        queues: dict[str, Queue] = {}
        for queue_id, spec in raw.items():
            line = raw.line_of(queue_id)
            what = f"queue '{queue_id}'"
            if not isinstance(spec, LineDict):
                self.p.add(line, f"{what} must be a map with at least 'agents'")
                continue
            self.unknown_keys(spec, QUEUE_KEYS, what)
            agents = self.read_agents(spec, what)
            handle = self.seconds(spec, "handle_time", what, low=1)
            workflow = self.text(spec, "workflow_sid", what)
            if workflow is not None and not _WORKFLOW.fullmatch(workflow):
                self.p.add(
                    spec.line_of("workflow_sid"),
                    f"workflow_sid '{workflow}' of {what} is not a TaskRouter "
                    "workflow SID (WW followed by 32 hex digits)",
                )
            announce = self.seconds(spec, "announce_every", what, whole=True, low=10)
            queues[str(queue_id)] = Queue(
                id=str(queue_id),
                title=self.text(spec, "title", what) or str(queue_id),
                agents=agents,
                handle_time_s=handle or 240.0,
                patience_s=self.seconds(spec, "patience", what, low=1),
                callback_after_s=self.seconds(spec, "callback_after", what),
                announce_every_s=announce or 60.0,
                max_wait_s=self.seconds(spec, "max_wait", what, low=1),
                workflow_sid=workflow,
                line=line,
            )
        return queues

    def read_agents(self, spec: LineDict, what: str) -> tuple[tuple[dt.time, int], ...]:
        raw = spec.get("agents")
        line = spec.line_of("agents")
        if raw is None:
            self.p.add(spec.line, f"{what} needs 'agents': a number or a day plan")
            return ((dt.time(0), 1),)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 0:
                self.p.add(line, f"agents of {what} must be >= 0, got {raw}")
            return ((dt.time(0), max(raw, 0)),)
        if not isinstance(raw, LineDict) or not raw:
            self.p.add(
                line,
                f"agents of {what} must be a number or a day plan like "
                '{"08:00": 20, "12:00": 45}',
            )
            return ((dt.time(0), 1),)
        plan = []
        for start, count in raw.items():
            if isinstance(start, int):
                # YAML 1.1 reads an unquoted 12:00 as 720 (base 60).
                self.p.add(
                    raw.line_of(start),
                    f"'{raw.raw_keys.get(start, start)}' in the day plan of {what} "
                    'must be quoted, like "12:00", or YAML reads it as a number',
                )
                continue
            at = _parse_hhmm(str(start))
            if at is None or at == dt.time.max:
                self.p.add(
                    raw.line_of(start),
                    f"'{start}' in the day plan of {what} is not a time like '08:00'",
                )
                continue
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.p.add(
                    raw.line_of(start),
                    f"agents at {start} of {what} must be a whole number >= 0",
                )
                continue
            plan.append((at, count))
        return tuple(sorted(plan)) or ((dt.time(0), 1),)

    # -- nodes ---------------------------------------------------------------

    def read_nodes(
        self, queues: dict[str, Queue], data: dict[str, DataSource], hours: Hours | None
    ) -> dict[str, Node]:
        raw = self.mapping(self.doc, "nodes", "the menu")
        if raw is None:
            self.p.add(self.doc.line, "the menu needs 'nodes'")
            return {}
        nodes: dict[str, Node] = {}
        for node_id, spec in raw.items():
            line = raw.line_of(node_id)
            node_id = str(node_id)
            if not isinstance(spec, LineDict):
                self.p.add(line, f"node '{node_id}' must be a map of its keys")
                continue
            spec.line = line  # report node-level problems on its id line
            for key in spec:
                self.field_lines[(node_id, key)] = spec.line_of(key)
            node = self.read_node(node_id, spec, queues, data, hours)
            if node is not None:
                nodes[node_id] = node
        return nodes

    def read_node(
        self,
        node_id: str,
        spec: LineDict,
        queues: dict[str, Queue],
        data: dict[str, DataSource],
        hours: Hours | None,
    ) -> Node | None:
        self.near_keys = set()
        kinds = [kind for marker, kind in MARKERS.items() if marker in spec]
        if len(kinds) > 1:
            markers = [m for m in MARKERS if m in spec]
            self.p.add(
                spec.line,
                f"node '{node_id}' has both '{markers[0]}' and '{markers[1]}': "
                "a node is one kind",
            )
            return None
        kind = kinds[0] if kinds else "message"
        what = f"node '{node_id}'"
        if self.unknown_keys(spec, KIND_KEYS[kind], f"{kind} {what}"):
            # Read what is known, so doors to this node do not look broken too.
            spec = _without(spec, KIND_KEYS[kind])
        if kind == "message" and not ({"say", "play"} & spec.keys()):
            self.p.add(
                spec.line,
                f"{what} has no kind: give it options, ask, lookup, route, queue, "
                "transfer, voicemail, hangup, or say/play with next",
            )
            return None
        reader = getattr(self, f"read_{kind}")
        return reader(node_id, spec, what, queues=queues, data=data, hours=hours)

    def target(self, spec: LineDict, key: str, what: str, required: bool) -> str | None:
        value = spec.get(key)
        if value is None:
            if required and key not in self.near_keys:
                self.p.add(spec.line, f"{what} needs '{key}': the node to go to next")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.p.add(spec.line_of(key), f"{key} of {what} must be a node id")
            return None
        return str(value)

    def retry_fields(self, spec: LineDict, what: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "no_input": self.text(spec, "no_input", what),
            "invalid": self.text(spec, "invalid", what),
            "on_fail": self.target(spec, "on_fail", what, required=False),
        }
        timeout = self.seconds(spec, "timeout", what, whole=True, low=1, high=60)
        retries = self.integer(spec, "retries", what, 0, 10)
        if timeout is not None:
            fields["timeout_s"] = timeout
        if retries is not None:
            fields["retries"] = retries
        return fields

    def read_message(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        return MessageNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            next=self.target(spec, "next", what, required=True) or "",
        )

    def read_menu(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        options = []
        raw = spec["options"]
        self.check_hash_comments(spec)
        if not isinstance(raw, LineDict) or not raw:
            self.p.add(spec.line_of("options"), f"options of {what} must be a map")
            raw = LineDict()
            raw.line, raw.lines, raw.raw_keys = spec.line, {}, {}
        shares = 0.0
        keywords: dict[str, str] = {}
        for key, value in raw.items():
            line = raw.line_of(key)
            key_text = raw.raw_keys.get(key, str(key))
            if key_text not in PHONE_KEYS:
                self.p.add(
                    line,
                    f"option key '{key_text}' is not a phone key: use one of 0-9, * "
                    "or # (quoted)",
                )
                continue
            option = self.read_option(key_text, value, line, what)
            if option is None:
                continue
            for word in option.speech:
                if word in keywords:
                    self.p.add(
                        line,
                        f"speech keyword '{word}' of option '{key_text}' is also "
                        f"a keyword of option '{keywords[word]}'",
                    )
                keywords.setdefault(word, key_text)
            shares += option.share or 0.0
            options.append(option)
        if shares > 1 + 1e-9:
            self.p.add(
                spec.line_of("options"),
                f"option shares of {what} add up to {shares:g}, more than 1",
            )
        return MenuNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            options=tuple(options),
            **self.retry_fields(spec, what),
        )

    def read_option(self, key: str, value: Any, line: int, what: str) -> Option | None:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return Option(key=key, goto=str(value), line=line)
        if not isinstance(value, LineDict):
            self.p.add(line, f"option '{key}' of {what} must be a node id or a map")
            return None
        self.unknown_keys(value, ("goto", "speech", "share"), f"option '{key}'")
        goto = self.target(value, "goto", f"option '{key}'", required=True)
        speech = value.get("speech") or []
        if isinstance(speech, str):
            speech = [speech]
        if not isinstance(speech, list) or not all(
            isinstance(word, str | int) for word in speech
        ):
            self.p.add(
                value.line_of("speech"),
                f"speech of option '{key}' must be a list of words",
            )
            speech = []
        share = value.get("share")
        if share is not None and (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 <= share <= 1
        ):
            self.p.add(
                value.line_of("share"),
                f"share of option '{key}' must be a number from 0 to 1, got {share!r}",
            )
            share = None
        if goto is None:
            return None
        return Option(
            key=key,
            goto=goto,
            speech=tuple(str(word) for word in speech),
            share=float(share) if share is not None else None,
            line=line,
        )

    def check_hash_comments(self, spec: LineDict) -> None:
        """An unquoted ``#:`` key is a YAML comment: the option silently vanishes."""
        options = spec.get("options")
        first = spec.line_of("options")
        last = max(
            [first]
            + (list(options.lines.values()) if isinstance(options, LineDict) else [])
        )
        # Scan from the options key to the next line at the node's indent or less.
        indent = _indent(self.text_lines[first - 1]) if first else 0
        for number in range(first + 1, len(self.text_lines) + 1):
            text = self.text_lines[number - 1]
            if (
                text.strip()
                and not text.lstrip().startswith("#")
                and _indent(text) <= indent
                and number > last
            ):
                break
            if _OPTION_HASH.match(text):
                self.p.add(
                    number,
                    "an unquoted '#' starts a YAML comment, so this option is "
                    'ignored: write the key as "#"',
                )

    def read_ask(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        digits = self.mapping(spec, "digits", what) or LineDict()
        if not hasattr(digits, "line"):
            digits.line, digits.lines, digits.raw_keys = spec.line, {}, {}
        self.unknown_keys(digits, ("min", "max", "finish"), f"digits of {what}")
        low = self.integer(digits, "min", f"digits of {what}", 1, 64) or 1
        high = self.integer(digits, "max", f"digits of {what}", 1, 64) or max(low, 20)
        if low > high:
            self.p.add(
                digits.line_of("min"),
                f"digits of {what}: min {low} is more than max {high}",
            )
        finish = digits.get("finish", "#")
        finish = "" if finish is None else str(finish)
        if finish not in PHONE_KEYS and finish != "":
            self.p.add(
                digits.line_of("finish"),
                f"finish key of {what} must be one of 0-9, * or # (or null), got "
                f"'{finish}'",
            )
        save_as = self.text(spec, "save_as", what)
        if save_as is None:
            self.p.add(spec.line, f"{what} needs 'save_as': the variable to fill")
        elif not re.fullmatch(r"[A-Za-z_]\w*", save_as):
            self.p.add(
                spec.line_of("save_as"),
                f"save_as '{save_as}' of {what} is not a variable name",
            )
        sensitive = spec.get("sensitive", False)
        if not isinstance(sensitive, bool):
            self.p.add(
                spec.line_of("sensitive"), f"sensitive of {what} must be true or false"
            )
            sensitive = True  # when in doubt, mask
        return AskNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="ask"),
            line=spec.line,
            save_as=save_as or "",
            min_digits=low,
            max_digits=high,
            finish_on_key=finish,
            sensitive=sensitive,
            next=self.target(spec, "next", what, required=True) or "",
            **self.retry_fields(spec, what),
        )

    def read_lookup(
        self, node_id: str, spec: LineDict, what: str, *, data: dict, **_: Any
    ) -> Node:
        raw = spec["lookup"]
        source_id, key = "", ""
        if not isinstance(raw, LineDict):
            self.p.add(
                spec.line_of("lookup"), f"lookup of {what} must be {{data, key}}"
            )
        else:
            self.unknown_keys(raw, ("data", "key"), f"lookup of {what}")
            source_id = self.text(raw, "data", what) or ""
            key = self.text(raw, "key", what) or ""
            if not source_id or not key:
                self.p.add(raw.line, f"lookup of {what} needs 'data' and 'key'")
            elif source_id not in data and source_id not in self.doc.get("data", {}):
                self.p.add(
                    raw.line_of("data"),
                    f"lookup of {what} names undefined data '{source_id}'"
                    f"{suggest(source_id, data)}",
                )
        return LookupNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            data=source_id,
            key=key,
            found=self.target(spec, "found", what, required=True) or "",
            missing=self.target(spec, "missing", what, required=True) or "",
            error=self.target(spec, "error", what, required=False),
        )

    def read_route(
        self, node_id: str, spec: LineDict, what: str, *, hours: Hours | None, **_: Any
    ) -> Node:
        raw = spec["route"]
        rules: list[Rule] = []
        if not isinstance(raw, LineList) or not raw:
            self.p.add(
                spec.line_of("route"), f"route of {what} must be a list of rules"
            )
            return RouteNode(id=node_id, prompt=Prompt(), line=spec.line)
        for i, item in enumerate(raw):
            line = raw.line_of(i)
            if not isinstance(item, LineDict):
                self.p.add(line, f"rule {i + 1} of {what} must be {{when, goto}}")
                continue
            self.unknown_keys(item, ("when", "goto"), f"rule {i + 1} of {what}")
            goto = self.target(item, "goto", f"rule {i + 1} of {what}", required=True)
            when = self.read_when(item, i, what, hours)
            if goto is not None:
                rules.append(Rule(goto=goto, when=when, line=line))
            if "when" not in item and i < len(raw) - 1:
                self.p.add(
                    line,
                    f"rule {i + 1} of {what} has no 'when', so the rules after it "
                    "are never used",
                )
        if "when" in raw[-1]:
            self.p.add(
                raw.line_of(len(raw) - 1),
                f"the last rule of {what} needs no 'when': it is the default when "
                "nothing else matches",
            )
        return RouteNode(
            id=node_id, prompt=Prompt(), line=spec.line, rules=tuple(rules)
        )

    def read_when(
        self, item: LineDict, index: int, what: str, hours: Hours | None
    ) -> str | tuple[str, str, str] | None:
        when = item.get("when")
        line = item.line_of("when")
        if when is None:
            return None
        if when in ("open", "closed"):
            if hours is None:
                self.p.add(
                    line,
                    f"rule {index + 1} of {what} tests '{when}' but the menu has no "
                    "'hours'",
                )
            return str(when)
        if isinstance(when, LineDict) and set(when) == {"var", "equals"}:
            expected = when["equals"]
            if not isinstance(expected, str):
                # YAML reads yes as true and 0042 as 42: the route would never match.
                self.p.add(
                    when.line_of("equals"),
                    f"equals of rule {index + 1} of {what} must be quoted text, e.g. "
                    f'"{_raw(expected)}"',
                )
            return ("equals", str(when["var"]), str(expected))
        self.p.add(
            line,
            f"when of rule {index + 1} of {what} must be 'open', 'closed' or "
            "{var: NAME, equals: VALUE}",
        )
        return None

    def read_queue(
        self,
        node_id: str,
        spec: LineDict,
        what: str,
        *,
        queues: dict[str, Queue],
        hours: Hours | None,
        **_: Any,
    ) -> Node:
        queue_id = self.text(spec, "queue", what) or ""
        queue = queues.get(queue_id)
        if queue is None and queue_id not in (self.doc.get("queues") or {}):
            self.p.add(
                spec.line_of("queue"),
                f"{what} names undefined queue '{queue_id}'{suggest(queue_id, queues)}",
            )
        closed = self.target(spec, "closed", what, required=False)
        overflow = self.target(spec, "overflow", what, required=False)
        if hours is not None and closed is None:
            self.p.add(
                spec.line,
                f"{what} needs 'closed': the menu has opening hours, so say where "
                "callers go when the line is closed",
            )
        if queue is not None and queue.max_wait_s is not None and overflow is None:
            self.p.add(
                spec.line,
                f"{what} needs 'overflow': queue '{queue_id}' has max_wait, so say "
                "where callers go after it",
            )
        return QueueNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            queue=queue_id,
            priority=self.integer(spec, "priority", what, -100, 100) or 0,
            closed=closed,
            overflow=overflow,
        )

    def read_transfer(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        number = self.text(spec, "transfer", what) or ""
        if not _E164.fullmatch(number):
            self.p.add(
                spec.line_of("transfer"),
                f"transfer number '{number}' of {what} is not in E.164 form like "
                "'+861000000001'",
            )
        timeout = self.seconds(spec, "timeout", what, whole=True, low=5, high=600)
        return TransferNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            number=number,
            next=self.target(spec, "next", what, required=False),
            timeout_s=timeout or 30.0,
        )

    def read_voicemail(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        length = self.seconds(spec, "max_length", what, whole=True, low=1, high=14400)
        return VoicemailNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="voicemail"),
            line=spec.line,
            max_length_s=length or 120.0,
            next=self.target(spec, "next", what, required=False),
        )

    def read_hangup(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        return HangupNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="hangup"),
            line=spec.line,
        )


def _raw(value: Any) -> str:
    """How a YAML scalar was most likely written, for a quoting hint."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _without(spec: LineDict, allowed: Sequence[str]) -> LineDict:
    kept = LineDict((k, v) for k, v in spec.items() if k in allowed)
    kept.line, kept.lines, kept.raw_keys = spec.line, spec.lines, spec.raw_keys
    return kept


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _parse_days(text: str) -> list[int] | None:
    text = text.strip().lower()
    if text in ("daily", "every day", "mon-sun"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first.strip() not in DAYS or last.strip() not in DAYS:
                return None
            a, b = DAYS.index(first.strip()), DAYS.index(last.strip())
            days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            return None
    return days


def _parse_hhmm(text: str) -> dt.time | None:
    match = _HHMM.fullmatch(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        return dt.time.max if minute == 0 else None
    return dt.time(hour, minute)


def _parse_ranges(value: Any) -> tuple[tuple[dt.time, dt.time], ...] | None:
    if not isinstance(value, str):
        return None
    if value.strip().lower() == "closed":
        return ()
    ranges = []
    for part in value.split(","):
        start_text, sep, end_text = part.partition("-")
        start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
        if not sep or start is None or end is None or start == end:
            return None
        ranges.append((start, end))
    return tuple(ranges)
