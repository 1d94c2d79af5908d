"""A menu as a graph of numbered nodes: what the whole-menu checks walk.

``ivr.loader`` reads a menu file into a ``Draft``: the nodes that could be read,
and what the checks need to go on past a mistake, like a compiler that keeps
going after the first error. ``MenuGraph`` numbers its nodes in file order and
turns every door into a list of numbers, so that each check is a linear pass: a
node that could not be read stands in as an ``Opaque`` node (its doors read from
the raw YAML; it may end the call and set any variable), and a door to a
misspelt node counts as going to the node it resembles.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ivr.menu import (
    TERMINAL_KINDS,
    AskNode,
    LookupNode,
    Menu,
    MenuNode,
    Node,
    QueueNode,
    RouteNode,
    UrlSource,
)

__all__ = [
    "ALL",
    "HOLIDAY_VARIABLES",
    "Draft",
    "MenuGraph",
    "Opaque",
    "close_match",
    "components",
    "reverse_postorder",
    "suggest",
]

Report = Callable[[int, str], None]

MAX_GUESSES = 200  # did-you-mean searches per menu (each reads every node id)
ALL = "all"  # what a door sets when any variable may be set (its fields are unknown)
# What a route's ``when: holiday`` door sets: the holiday's name and its days.
HOLIDAY_VARIABLES = ("holiday", "holiday_dates")


def close_match(name: object, choices: Iterable[str]) -> str | None:
    """The choice ``name`` most likely misspells, or None."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return close[0] if close else None


def suggest(name: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, else ``''``."""
    close = close_match(name, choices)
    return f" (did you mean '{close}'?)" if close else ""


@dataclass(frozen=True)
class Opaque:
    """A node that could not be read (two kinds, no kind, not a map).

    It exists, so doors to it are not broken; ``doors`` are the node ids its raw
    YAML names, so what it leads to is not "never reached"; ``queue`` is whether
    it was meant as a queue node (the human path may be it).
    """

    id: str
    line: int
    doors: tuple[str, ...] = ()
    queue: bool = False


@dataclass
class Draft:
    """What could be built of one menu: the input of the whole-menu checks.

    ``menu`` holds the nodes that read (``start`` may name no node); ``order`` is
    every node id in file order, opaque ones included. ``door_lines`` maps (node,
    door) to the line of the door's target, ``field_lines`` (node, key) to the
    line of a key; ``csv_fields`` are the columns of each CSV source (the
    variables its lookups set); ``unsure`` are nodes whose doors may set any
    variable (a lookup of an unknown source, an ask without a valid ``save_as``);
    ``ghost_doors`` are doors of options that could not be read.
    """

    menu: Menu
    order: list[str]
    opaque: dict[str, Opaque] = field(default_factory=dict)
    door_lines: dict[tuple[str, str], int] = field(default_factory=dict)
    field_lines: dict[tuple[str, str], int] = field(default_factory=dict)
    csv_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    unsure: set[str] = field(default_factory=set)
    ghost_doors: dict[str, list[str]] = field(default_factory=dict)
    nodes_line: int = 1


class MenuGraph:
    """The menu as numbered nodes and doors, built once and shared by the checks.

    ``succ[i]`` lists the nodes door by door (the engine's implicit doors to the
    human path included) and ``gens[i]`` what each door sets: ``None``, a tuple of
    variable names, or ``ALL``. ``open[i]`` marks a node that may end the call
    for all the checks can tell (it could not be read, or a door of it leads
    nowhere known).
    """

    def __init__(self, draft: Draft, report: Report) -> None:
        menu = draft.menu
        self.draft = draft
        self.menu = menu
        self.ids = list(draft.order)
        self.index = {node_id: i for i, node_id in enumerate(self.ids)}
        count = len(self.ids)
        self.nodes: list[Node | Opaque] = [
            menu.nodes.get(node_id) or draft.opaque[node_id] for node_id in self.ids
        ]
        self.succ: list[list[int]] = [[] for _ in range(count)]
        self.gens: list[list[object]] = [[] for _ in range(count)]
        self.open = [False] * count
        self._resolved: dict[str, int | None] = {}
        self.human = self._human_path()
        for i, node in enumerate(self.nodes):
            if isinstance(node, Opaque):
                self.open[i] = True
                for target in node.doors:
                    self._door(i, target, ALL)
                continue
            self._doors(i, node, report)
            for target in draft.ghost_doors.get(node.id, ()):
                self._door(i, target, None)
            if not self.succ[i] and node.kind not in TERMINAL_KINDS:
                self.open[i] = True  # its doors failed to read, already reported
        start = self.resolve(menu.start)
        self.start = start
        self.reachable = self._reach(start)

    # -- building ------------------------------------------------------------

    def resolve(self, target: str) -> int | None:
        """The node a door names, or the one it most likely misspells."""
        found = self.index.get(target)
        if found is not None or not target:
            return found
        if target not in self._resolved:
            # Guessing costs a pass over every id: enough guesses for a menu's
            # typos, not one per door of a file whose doors all lead nowhere.
            guess = len(self._resolved) < MAX_GUESSES
            close = close_match(target, self.ids) if guess else None
            self._resolved[target] = self.index[close] if close else None
        return self._resolved[target]

    def suggest(self, target: str) -> str:
        """`` (did you mean 'x'?)`` for a door to an unknown node."""
        j = self.resolve(target)
        return f" (did you mean '{self.ids[j]}'?)" if j is not None else ""

    def _human_path(self) -> int | None:
        for i, node in enumerate(self.nodes):
            if isinstance(node, QueueNode) or (isinstance(node, Opaque) and node.queue):
                return i
        return None

    def _door(self, i: int, target: str, sets: object) -> bool:
        j = self.resolve(target)
        if j is None:
            return False
        self.succ[i].append(j)
        self.gens[i].append(sets)
        return True

    def _doors(self, i: int, node: Node, report: Report) -> None:
        draft = self.draft
        for door, target in node.targets():
            if not target:  # a missing target: reported where it was read
                self.open[i] = True
                continue
            if target not in self.index:
                line = draft.door_lines.get((node.id, door), node.line)
                hint = self.suggest(target)
                report(line, f"{door} goes to unknown node '{target}'{hint}")
            if not self._door(i, target, self._sets(node, door)):
                self.open[i] = True
        if self.human is not None and (
            (isinstance(node, MenuNode | AskNode) and node.on_fail is None)
            or (isinstance(node, LookupNode) and node.error is None)
        ):
            self.succ[i].append(self.human)
            self.gens[i].append(None)

    def _sets(self, node: Node, door: str) -> object:
        """What taking ``door`` out of ``node`` sets: None, names, or ALL."""
        if isinstance(node, AskNode) and door == "next":
            return ALL if node.id in self.draft.unsure else (node.save_as,)
        if isinstance(node, RouteNode) and door.startswith("route rule "):
            rule = node.rules[int(door.rsplit(" ", 1)[1]) - 1]
            return HOLIDAY_VARIABLES if rule.when == "holiday" else None
        if isinstance(node, LookupNode) and door == "found":
            source = self.menu.data.get(node.data)
            fields = self.draft.csv_fields.get(node.data)
            if node.id in self.draft.unsure or isinstance(source, UrlSource):
                return ALL
            return tuple(fields) if fields is not None else ALL
        return None

    def _reach(self, start: int | None) -> list[bool]:
        seen = [False] * len(self.ids)
        if start is None:
            return seen
        seen[start] = True
        todo = [start]
        while todo:
            for j in self.succ[todo.pop()]:
                if not seen[j]:
                    seen[j] = True
                    todo.append(j)
        return seen

    # -- helpers for the checks ----------------------------------------------

    def ends(self, i: int) -> bool:
        """Whether the call may end at node ``i`` itself."""
        node = self.nodes[i]
        if self.open[i] or isinstance(node, Opaque):
            return True
        if node.kind in TERMINAL_KINDS:
            return True
        # A menu or ask with no on_fail and no queue node hangs up after retries.
        return isinstance(node, MenuNode | AskNode) and (
            node.on_fail is None and self.human is None
        )

    def names(self, members: list[int]) -> str:
        """``'a'``, ``'a' and 'b'``, ``'a', 'b', 'c' and 4 more``."""
        quoted = [f"'{self.ids[i]}'" for i in members[:3]]
        rest = len(members) - len(quoted)
        if rest:
            return ", ".join(quoted) + f" and {rest} more"
        if len(quoted) == 1:
            return quoted[0]
        return ", ".join(quoted[:-1]) + f" and {quoted[-1]}"

    def line(self, i: int) -> int:
        return self.nodes[i].line


def components(
    members: list[int], inside: list[bool], succ: list[list[int]]
) -> list[list[int]]:
    """Strongly connected components of the nodes ``inside`` (Tarjan, no recursion).

    Components come out in reverse topological order: a component's doors lead
    only to components listed before it.
    """
    count = len(inside)
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in members:
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]
        while work:
            v, pos = work[-1]
            doors = succ[v]
            descended = False
            while pos < len(doors):
                w = doors[pos]
                pos += 1
                if not inside[w]:
                    continue
                if index[w] == -1:
                    work[-1] = (v, pos)
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                    descended = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            work.pop()
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                component.sort()
                found.append(component)
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
    return found


def reverse_postorder(graph: MenuGraph) -> list[int]:
    """Reachable nodes, each before the nodes it leads to (but for loops)."""
    start = graph.start
    if start is None:
        return []
    seen = [False] * len(graph.ids)
    seen[start] = True
    order: list[int] = []
    work = [(start, 0)]
    while work:
        v, pos = work[-1]
        doors = graph.succ[v]
        if pos < len(doors):
            work[-1] = (v, pos + 1)
            w = doors[pos]
            if not seen[w]:
                seen[w] = True
                work.append((w, 0))
        else:
            work.pop()
            order.append(v)
    order.reverse()
    return order
