"""The menu model: a phone menu as frozen data, checked once and then only read.

Think of a menu as a map of rooms (nodes) joined by doors (``next``, option keys,
``found``/``missing``...). ``ivr.loader`` builds this map from YAML and refuses any
map with a door to nowhere; the engine then walks it one caller at a time. Nothing
here does I/O, so the model can be shared by every request of every call.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from zoneinfo import ZoneInfo

__all__ = [
    "MASK",
    "TERMINAL_KINDS",
    "AskNode",
    "CsvSource",
    "DataSource",
    "FeedbackNode",
    "GotoMenuNode",
    "HangupNode",
    "Holiday",
    "Hours",
    "LookupNode",
    "Menu",
    "MenuNode",
    "MessageNode",
    "Node",
    "Option",
    "Person",
    "Prompt",
    "Queue",
    "QueueNode",
    "RequestNode",
    "RouteNode",
    "Rule",
    "TransferNode",
    "UrlSource",
    "VoicemailNode",
]


@dataclass(frozen=True)
class Prompt:
    """What the caller hears on entering a node: a recording, else spoken text.

    ``text`` may hold ``{variable}`` placeholders, filled at call time. ``audio``
    is a file name inside ``recordings/``; when both are set the recording plays
    and the text is what a log, a transcript or a text-only caller shows.
    ``language`` and ``voice``, when set, say the text in another language than
    the menu's (a message such as "For English, press 9" on a Chinese line).
    """

    text: str | None = None
    audio: str | None = None
    language: str | None = None
    voice: str | None = None

    def __bool__(self) -> bool:
        return bool(self.text or self.audio)


@dataclass(frozen=True)
class Option:
    """One choice of a menu: a key, spoken keywords, and where it leads."""

    key: str
    goto: str
    speech: tuple[str, ...] = ()
    share: float | None = None  # expected share of callers (traffic simulation)
    line: int = 0


@dataclass(frozen=True)
class Node:
    """Common part of every node: its id, the prompt and the line it starts on."""

    id: str
    prompt: Prompt
    line: int

    kind = "node"

    def targets(self) -> tuple[tuple[str, str], ...]:
        """The (field, node id) doors out of this node, in file order."""
        return ()


@dataclass(frozen=True)
class MessageNode(Node):
    """Say or play something, then go on to ``next``."""

    next: str = ""
    kind = "message"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True)
class MenuNode(Node):
    """Offer options; wait ``timeout_s`` for a key or a spoken keyword.

    No input or an unknown key replays the prompt after ``no_input``/``invalid``,
    ``retries`` times, then goes to ``on_fail``. ``*`` repeats the menu unless the
    designer gave ``*`` an option of its own.
    """

    options: tuple[Option, ...] = ()
    timeout_s: float = 6.0
    retries: int = 2
    no_input: str | None = None
    invalid: str | None = None
    on_fail: str | None = None
    person: str | None = None  # the person door (see ``Person``)
    kind = "menu"

    @property
    def uses_speech(self) -> bool:
        return any(option.speech for option in self.options)

    def option(self, key: str) -> Option | None:
        for option in self.options:
            if option.key == key:
                return option
        return None

    def targets(self) -> tuple[tuple[str, str], ...]:
        doors = tuple((f"option '{o.key}'", o.goto) for o in self.options)
        doors += (("on_fail", self.on_fail),) if self.on_fail else ()
        return doors + ((("person", self.person),) if self.person else ())


@dataclass(frozen=True)
class AskNode(Node):
    """Collect digits (an order number, the last digits of a phone) into a variable.

    ``prompt`` is the ``ask`` text. Input shorter than ``min_digits`` or longer
    than ``max_digits`` counts as invalid. ``sensitive`` values never appear in
    clear in logs or in the URLs handed to Twilio.
    """

    save_as: str = ""
    min_digits: int = 1
    max_digits: int = 20
    finish_on_key: str = "#"
    sensitive: bool = False
    next: str = ""
    timeout_s: float = 6.0
    retries: int = 2
    no_input: str | None = None
    invalid: str | None = None
    on_fail: str | None = None
    person: str | None = None  # the person door (see ``Person``)
    kind = "ask"

    def targets(self) -> tuple[tuple[str, str], ...]:
        doors: tuple[tuple[str, str], ...] = (("next", self.next),)
        doors += (("on_fail", self.on_fail),) if self.on_fail else ()
        return doors + ((("person", self.person),) if self.person else ())


@dataclass(frozen=True)
class LookupNode(Node):
    """Fetch a record from a data source; its fields become call variables."""

    data: str = ""
    key: str = ""  # template, e.g. "{order_id}"
    found: str = ""
    missing: str = ""
    error: str | None = None  # None: the engine takes the menu's human path
    kind = "lookup"

    def targets(self) -> tuple[tuple[str, str], ...]:
        doors = (("found", self.found), ("missing", self.missing))
        return doors + ((("error", self.error),) if self.error else ())


@dataclass(frozen=True)
class Rule:
    """One branch of a ``route``: a condition and a target; first match wins.

    ``when`` is ``None`` (always), ``"open"``/``"closed"`` (the human path's
    opening hours), ``"holiday"`` (a day of one of the hours' named holidays)
    or ``("equals", var, value)``.
    """

    goto: str
    when: str | tuple[str, str, str] | None = None
    line: int = 0


@dataclass(frozen=True)
class RouteNode(Node):
    """Branch without asking the caller: on opening hours or a variable."""

    rules: tuple[Rule, ...] = ()
    kind = "route"

    def choose(
        self,
        is_open: Callable[[], bool],
        holds: Callable[[str, str], bool],
        on_holiday: Callable[[], bool] = lambda: False,
    ) -> str | None:
        """The target of the first rule that holds (None if none does)."""
        rule = self.rule_for(is_open, holds, on_holiday)
        return rule.goto if rule is not None else None

    def rule_for(
        self,
        is_open: Callable[[], bool],
        holds: Callable[[str, str], bool],
        on_holiday: Callable[[], bool] = lambda: False,
    ) -> Rule | None:
        """The first rule that holds (None if none does).

        ``is_open()`` answers the ``open``/``closed`` rules, ``on_holiday()`` the
        ``holiday`` rules; ``holds(var, value)`` the variable tests: the engine
        compares the call's variables, the traffic walk (which has none) draws a
        chance.
        """
        for rule in self.rules:
            when = rule.when
            if when is None:
                return rule
            if isinstance(when, tuple):
                if holds(when[1], when[2]):
                    return rule
            elif when == "holiday":
                if on_holiday():
                    return rule
            elif (when == "open") == is_open():
                return rule
        return None

    def targets(self) -> tuple[tuple[str, str], ...]:
        return tuple((f"route rule {i + 1}", r.goto) for i, r in enumerate(self.rules))


@dataclass(frozen=True)
class QueueNode(Node):
    """The human path: hold in a queue until an agent answers.

    ``topic`` is what the agent is told the caller came for (default: the
    queue's title). ``handover`` lists the variables the agent hears before the
    bridge, as (variable, label) pairs; ``None`` hands over every variable the
    menu set that is not ``sensitive``.
    """

    queue: str = ""
    priority: int = 0
    closed: str | None = None  # outside opening hours
    overflow: str | None = None  # waited past the queue's max_wait
    topic: str | None = None
    handover: tuple[tuple[str, str], ...] | None = None
    kind = "queue"

    def targets(self) -> tuple[tuple[str, str], ...]:
        doors: tuple[tuple[str, str], ...] = ()
        if self.closed:
            doors += (("closed", self.closed),)
        if self.overflow:
            doors += (("overflow", self.overflow),)
        return doors


@dataclass(frozen=True)
class TransferNode(Node):
    """Connect the caller to another number; ``next`` if that call fails."""

    number: str = ""
    next: str | None = None
    timeout_s: float = 30.0
    kind = "transfer"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),) if self.next else ()


@dataclass(frozen=True)
class VoicemailNode(Node):
    """Record a message after the beep (the prompt says so), up to ``max_length_s``."""

    max_length_s: float = 120.0
    next: str | None = None
    kind = "voicemail"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),) if self.next else ()


@dataclass(frozen=True)
class FeedbackNode(Node):
    """Record the caller's complaint or feedback, tagged with its ``topic``.

    Like a voicemail, but what is recorded is for the platform to act on: the
    recording, the ``topic`` and the ``facts`` (variables, as ``(name, label)``
    pairs; ``None``: every variable that is not sensitive, the caller's number
    left out) land in the store as one ``feedback`` event. Then ``next``, else
    goodbye.
    """

    topic: str = ""
    facts: tuple[tuple[str, str], ...] | None = None
    max_length_s: float = 120.0
    next: str | None = None
    kind = "feedback"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),) if self.next else ()


@dataclass(frozen=True)
class RequestNode(Node):
    """Record a request the platform acts on (urge a shipment), then go on.

    ``request`` names it (``urge_shipment``), ``topic`` is what a person reads
    (default: the name), ``facts`` the variables recorded with it (as for
    ``FeedbackNode``). The prompt tells the caller what happens now.
    """

    request: str = ""
    topic: str = ""
    facts: tuple[tuple[str, str], ...] | None = None
    next: str = ""
    kind = "request"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True)
class GotoMenuNode(Node):
    """Go on in another menu of the line (another language), at its ``start``.

    The call keeps only the caller's number: the other menu starts afresh.
    """

    menu: str = ""
    kind = "goto_menu"


@dataclass(frozen=True)
class HangupNode(Node):
    """Say goodbye (optional) and end the call."""

    kind = "hangup"


TERMINAL_KINDS = frozenset(
    {"hangup", "queue", "transfer", "voicemail", "feedback", "goto_menu"}
)

# What a log, a trace or an agent is shown instead of a value marked sensitive.
MASK = "***"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")  # as the engine fills them


Ranges = tuple[tuple[dt.time, dt.time], ...]


@dataclass(frozen=True)
class Holiday:
    """A named holiday: one day or a run of days, closed or on shorter hours.

    ``ranges`` are the open (start, end) times of each of its days, as in
    ``Hours.weekly``; empty means closed all day.
    """

    name: str
    first: dt.date
    last: dt.date
    ranges: Ranges = ()
    line: int = 0

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last


@dataclass(frozen=True)
class Hours:
    """Opening hours of the human path, in the menu's time zone.

    ``weekly`` maps a weekday (0 = Monday) to its open (start, end) times; a day
    that is missing is closed. ``closed`` lists whole days closed; ``holidays``
    are named days or runs of days, each with its own hours (closed by default),
    which replace the weekly hours on those days.
    """

    timezone: str = "UTC"
    weekly: Mapping[int, Ranges] = field(default_factory=dict)
    closed: frozenset[dt.date] = frozenset()
    holidays: tuple[Holiday, ...] = ()

    def local(self, when: dt.datetime) -> dt.datetime:
        """``when`` (aware; naive means UTC) on the clock of the menu's time zone."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(ZoneInfo(self.timezone))

    def holiday_on(self, day: dt.date) -> Holiday | None:
        """The holiday ``day`` (a local date) belongs to, if any (the first listed)."""
        return next((h for h in self.holidays if day in h), None)

    def holiday(self, when: dt.datetime) -> Holiday | None:
        """The holiday of the local day of ``when`` (aware; naive means UTC)."""
        return self.holiday_on(self.local(when).date()) if self.holidays else None

    def ranges_on(self, day: dt.date) -> Ranges:
        """The open ranges of a local date: a holiday's, else the weekly ones."""
        if day in self.closed:
            return ()
        holiday = self.holiday_on(day) if self.holidays else None
        if holiday is not None:
            return holiday.ranges
        return self.weekly.get(day.weekday(), ())

    def is_open(self, when: dt.datetime) -> bool:
        """Whether the line is open at ``when`` (aware; naive means UTC)."""
        local = self.local(when)
        today = local.date()
        now = local.time().replace(tzinfo=None)
        for start, end in self.ranges_on(today):
            if end <= start:  # over midnight, e.g. 20:00-02:00
                if now >= start or now < end:
                    return True
            elif start <= now < end:
                return True
        # The part after midnight of yesterday's overnight range.
        yesterday = today - dt.timedelta(days=1)
        return any(
            end <= start and now < end for start, end in self.ranges_on(yesterday)
        )


@dataclass(frozen=True)
class Queue:
    """A queue of callers for one kind of agent, with its staffing.

    ``agents`` is a day plan: (time of day, agents from then on), sorted; a fixed
    staff is one entry at 00:00. The rest are means in seconds.
    """

    id: str
    title: str
    agents: tuple[tuple[dt.time, int], ...]
    handle_time_s: float = 240.0
    patience_s: float | None = None
    callback_after_s: float | None = None
    announce_every_s: float = 60.0
    max_wait_s: float | None = None
    workflow_sid: str | None = None
    hold: str | None = None  # hold music in recordings/ (else the menu's)
    callback_attempts: int = 3  # calls placed to reach a caller who asked
    callback_retry_s: float = 300.0  # between two of them
    line: int = 0

    def agents_at(self, when: dt.time) -> int:
        """Agents staffed at time of day ``when`` by the day plan."""
        staffed = self.agents[-1][1]  # before the first entry: last of the day before
        for start, count in self.agents:
            if when >= start:
                staffed = count
        return staffed


@dataclass(frozen=True)
class CsvSource:
    """Records in a CSV file, one per row, found by the ``key`` column."""

    id: str
    path: str  # absolute
    key: str
    sensitive: frozenset[str] = frozenset()  # columns never spoken or logged
    kind = "csv"


@dataclass(frozen=True)
class UrlSource:
    """Records from an HTTP JSON service; ``{variable}`` in the URL is filled in."""

    id: str
    url: str
    timeout_s: float = 2.0
    sensitive: frozenset[str] = frozenset()  # fields never spoken or logged
    kind = "url"


DataSource = CsvSource | UrlSource


@dataclass(frozen=True)
class Person:
    """The way to a person from anywhere: a key and words, set once for the menu.

    At every menu and ``ask`` of the menu, pressing ``key`` (at an ask: the key
    alone, e.g. ``0#``) or saying one of ``speech`` (not negated: "不要人工" is
    no request) takes the node's person door: the node's own ``person`` target,
    else ``goto``. At a menu whose option uses ``key``, that option is the door.
    """

    goto: str
    key: str | None = None
    speech: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Menu:
    """One phone menu: its nodes, queues, data sources and opening hours."""

    id: str
    path: str
    title: str
    start: str
    nodes: Mapping[str, Node]
    language: str = "en-US"
    voice: str | None = None
    numbers: tuple[str, ...] = ()
    hours: Hours | None = None
    data: Mapping[str, DataSource] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    hold: str | None = None  # the line's hold music in recordings/
    recordings_dir: str = ""
    person: Person | None = None

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def local_time(self, when: dt.datetime) -> dt.time:
        """Time of day at ``when`` in the menu's time zone (UTC without ``hours``)."""
        if self.hours is not None:
            return self.hours.local(when).time()
        return when.time() if when.tzinfo is None else when.astimezone(dt.UTC).time()

    def is_open(self, when: dt.datetime) -> bool:
        """Whether the human path is open at ``when`` (always, without ``hours``)."""
        return self.hours is None or self.hours.is_open(when)

    @cached_property
    def human_path(self) -> str | None:
        """The node a caller goes to when nothing else fits: the first queue node.

        A failed lookup without ``error``, a menu without ``on_fail`` and an
        internal fault all send the caller here, so nobody is left stranded.
        """
        for node in self.nodes.values():
            if isinstance(node, QueueNode):
                return node.id
        return None

    @cached_property
    def live_variables(self) -> dict[str, frozenset[str] | None]:
        """Per node, the variables the call may still need (see ``_live_variables``)."""
        return _live_variables(self)

    def needed(self, node_id: str, variables: Mapping[str, str]) -> dict[str, str]:
        """``variables`` less those no node from ``node_id`` on will read again.

        ``caller`` always stays (the engine's one built-in variable).
        """
        live = self.live_variables.get(node_id)
        if live is None:
            return dict(variables)
        return {k: v for k, v in variables.items() if k in live or k == "caller"}

    @cached_property
    def sensitive_variables(self) -> frozenset[str]:
        """Variables never shown in clear: what a ``sensitive`` ask saves, the
        ``sensitive`` fields of data sources, and whatever a route compares with
        one.

        The looked-up value a caller's input is checked against (the account's
        real last four digits) gives the secret away as surely as the input, so
        both sides of an ``equals`` are masked once either side is.
        """
        hidden = {
            n.save_as
            for n in self.nodes.values()
            if isinstance(n, AskNode) and n.sensitive
        }
        hidden.update(*(source.sensitive for source in self.data.values()))
        pairs = [
            (rule.when[1], set(_PLACEHOLDER.findall(rule.when[2])))
            for n in self.nodes.values()
            if isinstance(n, RouteNode)
            for rule in n.rules
            if isinstance(rule.when, tuple)
        ]
        grown = True
        while grown:  # a comparison may chain through several variables
            grown = False
            for var, names in pairs:
                side = {var} | names
                if side & hidden and not side <= hidden:
                    hidden |= side
                    grown = True
        return frozenset(hidden)

    def person_door(self, node: Node) -> str | None:
        """Where a caller asking for a person at menu or ask ``node`` goes.

        The option on the person key at a menu that has one, else the node's
        person door; None without a ``person`` setting (or at another kind).
        """
        if self.person is None or not isinstance(node, MenuNode | AskNode):
            return None
        if isinstance(node, MenuNode) and self.person.key is not None:
            option = node.option(self.person.key)
            if option is not None:
                return option.goto
        return node.person


_TEMPLATE = re.compile(r"\{([A-Za-z_]\w*)\}")


def _uses(menu: Menu, node: Node) -> frozenset[str] | None:
    """The variables ``node`` reads at call time; None for "every one" (a queue
    node handing the agent every variable the menu set)."""
    texts: list[str | None] = [node.prompt.text]
    names: set[str] = set()
    if isinstance(node, MenuNode | AskNode):
        texts += [node.no_input, node.invalid]
    if isinstance(node, LookupNode):
        texts.append(node.key)
        source = menu.data.get(node.data)
        if isinstance(source, UrlSource):
            texts.append(source.url)
    if isinstance(node, RouteNode):
        for rule in node.rules:
            if isinstance(rule.when, tuple):
                names.add(rule.when[1])
                texts.append(rule.when[2])
    if isinstance(node, QueueNode):
        if node.handover is None:
            return None
        names.update(name for name, _ in node.handover)
    if isinstance(node, FeedbackNode | RequestNode):
        if node.facts is None:  # like a hand-over: every variable set
            return None
        names.update(name for name, _ in node.facts)
    for text in texts:
        if text:
            names.update(_TEMPLATE.findall(text))
    return frozenset(names)


def _live_variables(menu: Menu) -> dict[str, frozenset[str] | None]:
    """For each node, the variables the call may still need from there on.

    A variable is *live* at a node if that node or any node after it (through
    its doors, and the human path every call may be sent to) reads it. Only
    these travel in the URLs sealed at the node: a lookup's record of twenty
    fields, or digits a check has done with, need not ride along (URLs are
    limited: gunicorn refuses request lines over 4,094 bytes). ``None`` means
    every variable (a queue node ahead hands them all to the agent).
    """
    uses = {node_id: _uses(menu, node) for node_id, node in menu.nodes.items()}
    doors: dict[str, list[str]] = {
        node_id: [t for _, t in node.targets() if t in menu.nodes]
        for node_id, node in menu.nodes.items()
    }
    if menu.human_path is not None:
        for targets in doors.values():
            targets.append(menu.human_path)
    live: dict[str, frozenset[str] | None] = dict(uses)
    changed = True
    while changed:  # a fixpoint: menus have loops
        changed = False
        for node_id, targets in doors.items():
            mine = live[node_id]
            if mine is None:
                continue
            merged: set[str] | None = set(mine)
            for target in targets:
                theirs = live[target]
                if theirs is None:
                    merged = None
                    break
                merged |= theirs
            new = None if merged is None else frozenset(merged)
            if new != mine:
                live[node_id] = new
                changed = True
    return live
