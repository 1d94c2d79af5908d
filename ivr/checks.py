"""Checks that need the whole menu: doors, reachability, endings and variables.

A menu is a directed graph. Every door must lead to a node; every node must be
reachable from ``start`` (else it is dead text nobody hears); from every node some
path must end the call on a hangup, queue, transfer or voicemail (else a caller can
be trapped in a loop); and every ``{variable}`` a node uses must be set on every path
that reaches it (else a caller hears an empty gap). The last is the classic
"definitely assigned" data-flow analysis: intersect what each incoming door sets.

The checks run on every load, over what could be built, like a compiler that keeps
going after the first error: a node that could not be read stands in as an
``Opaque`` node (its doors read from the raw YAML; it may end the call and set any
variable), a door to a misspelt node counts as going to the node it resembles, and
a variable reported missing counts as set after that use. So each mistake is one
line: a typo in a ``next`` does not also make its target "never reached".

Every pass is linear in the size of the menu: nodes are numbered, doors are lists
of numbers, and the variable analysis keeps one bitset per node over only the
variables the templates use.
"""

from __future__ import annotations

import difflib
import re
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
    "BUILTIN_VARIABLES",
    "Draft",
    "MenuGraph",
    "Opaque",
    "check_menu",
    "close_match",
    "suggest",
    "template_variables",
    "templates",
]

Report = Callable[[int, str], None]

BUILTIN_VARIABLES = frozenset({"caller"})
_VARIABLE = re.compile(r"\{([A-Za-z_]\w*)\}")
_ALL = "all"  # a door after which any variable may be set (its fields are unknown)


def close_match(name: object, choices: Iterable[str]) -> str | None:
    """The choice ``name`` most likely misspells, or None."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return close[0] if close else None


def suggest(name: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, else ``''``."""
    close = close_match(name, choices)
    return f" (did you mean '{close}'?)" if close else ""


def template_variables(text: str | None) -> list[str]:
    """The ``{variable}`` names in ``text``, in order."""
    return _VARIABLE.findall(text) if text else []


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
    variable names, or ``_ALL``. ``open[i]`` marks a node that may end the call
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
                    self._door(i, target, _ALL)
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
            close = close_match(target, self.ids)
            self._resolved[target] = self.index[close] if close else None
        return self._resolved[target]

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
                hint = suggest(target, self.ids)
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
        """What taking ``door`` out of ``node`` sets: None, names, or _ALL."""
        if isinstance(node, AskNode) and door == "next":
            return _ALL if node.id in self.draft.unsure else (node.save_as,)
        if isinstance(node, LookupNode) and door == "found":
            source = self.menu.data.get(node.data)
            fields = self.draft.csv_fields.get(node.data)
            if node.id in self.draft.unsure or isinstance(source, UrlSource):
                return _ALL
            return tuple(fields) if fields is not None else _ALL
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


def check_menu(draft: Draft, report: Report, warn: Report | None = None) -> MenuGraph:
    """Run the whole-menu checks on what could be built of a menu.

    Problems go to ``report(line, message)``; with ``warn``, the traps a hotline
    must not ship (``ivr.traps``) go to it as warnings. Returns the graph.
    """
    graph = MenuGraph(draft, report)
    menu = draft.menu
    if graph.human is None:
        for node in menu.nodes.values():
            if isinstance(node, LookupNode) and node.error is None:
                report(
                    node.line,
                    f"lookup node '{node.id}' needs 'error': the menu has no queue "
                    "node to fall back to when the data source fails",
                )
    if graph.start is not None:
        _check_unreachable(graph, report)
        _check_endings(graph, report)
        _check_variables(graph, report)
    if warn is not None:
        from ivr.traps import check_traps

        check_traps(graph, warn)
    return graph


def _components(
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


def _check_unreachable(graph: MenuGraph, report: Report) -> None:
    """One line per group of nodes nothing leads to, not one per node after it."""
    unreached = [i for i, seen in enumerate(graph.reachable) if not seen]
    if not unreached:
        return
    inside = [not seen for seen in graph.reachable]
    components = _components(unreached, inside, graph.succ)
    component_of = {i: c for c, members in enumerate(components) for i in members}
    entered = [False] * len(components)
    for c, members in enumerate(components):
        for i in members:
            for j in graph.succ[i]:
                if inside[j] and component_of[j] != c:
                    entered[component_of[j]] = True
    sources = sorted(
        (members for c, members in enumerate(components) if not entered[c]),
        key=lambda members: members[0],
    )
    claimed = [False] * len(graph.ids)
    for members in sources:
        for i in members:
            claimed[i] = True
    start = graph.ids[graph.start] if graph.start is not None else graph.menu.start
    for members in sources:
        after: list[int] = []
        todo = list(members)
        while todo:
            for j in graph.succ[todo.pop()]:
                if inside[j] and not claimed[j]:
                    claimed[j] = True
                    after.append(j)
                    todo.append(j)
        if len(members) == 1:
            message = f"node {graph.names(members)} is never reached"
        else:
            message = f"nodes {graph.names(members)} are never reached"
        message += f" from start '{start}'"
        if after:
            after.sort()
            noun = "node" if len(after) == 1 else "nodes"
            verb = "is" if len(after) == 1 else "are"
            message += f" (nor {verb} the {noun} after it: {graph.names(after)})"
        report(graph.line(members[0]), message)


def _check_endings(graph: MenuGraph, report: Report) -> None:
    """One line per loop with no way out, not one per node that leads into it."""
    count = len(graph.ids)
    incoming: list[list[int]] = [[] for _ in range(count)]
    for i, doors in enumerate(graph.succ):
        for j in doors:
            incoming[j].append(i)
    ending = [graph.ends(i) for i in range(count)]
    todo = [i for i in range(count) if ending[i]]
    while todo:
        for i in incoming[todo.pop()]:
            if not ending[i]:
                ending[i] = True
                todo.append(i)
    trapped = [graph.reachable[i] and not ending[i] for i in range(count)]
    members = [i for i in range(count) if trapped[i]]
    if not members:
        return
    components = _components(members, trapped, graph.succ)
    component_of = {i: c for c, group in enumerate(components) for i in group}
    for c, group in enumerate(components):
        leaves = any(
            trapped[j] and component_of[j] != c for i in group for j in graph.succ[i]
        )
        if leaves:
            continue  # it leads into a loop reported on its own
        if len(group) == 1:
            message = f"node {graph.names(group)} can never end the call: no path"
            message += " from it reaches"
        else:
            message = f"nodes {graph.names(group)} loop with no way out: no path"
            message += " from them reaches"
        report(
            graph.line(group[0]),
            message + " a hangup, queue, transfer or voicemail",
        )


_PROMPT_KEY = {"ask": "ask", "voicemail": "voicemail", "hangup": "hangup"}


def templates(graph: MenuGraph, node: Node) -> list[tuple[str, int, str | None]]:
    """(what, line, text) of each template a node fills in at call time."""
    lines = graph.draft.field_lines

    def at(key: str) -> int:
        return lines.get((node.id, key), node.line)

    key = _PROMPT_KEY.get(node.kind, "say")
    found: list[tuple[str, int, str | None]] = [(key, at(key), node.prompt.text)]
    if isinstance(node, MenuNode | AskNode):
        found += [
            ("no_input", at("no_input"), node.no_input),
            ("invalid", at("invalid"), node.invalid),
        ]
    if isinstance(node, LookupNode):
        found.append(("the lookup key", at("lookup"), node.key))
        source = graph.menu.data.get(node.data)
        if isinstance(source, UrlSource):
            found.append(("the data url", at("lookup"), source.url))
    if isinstance(node, RouteNode):
        for i, rule in enumerate(node.rules):
            if isinstance(rule.when, tuple):
                what = f"route rule {i + 1}"
                found.append((what, rule.line, "{" + rule.when[1] + "}"))
                found.append((what, rule.line, rule.when[2]))
    return found


def _check_variables(graph: MenuGraph, report: Report) -> None:
    """Report each ``{variable}`` used where some path has not set it.

    A forward "must" analysis over bitsets, one bit per variable the templates
    use: a node's bits are the AND over its incoming doors of what was set before
    the door, plus what the door sets. A use counts as a setting from then on (of
    the variable and of those always set with it), so a path that misses a lookup
    is reported where it first uses one of the lookup's fields, not again at
    every node after it.
    """
    count = len(graph.ids)
    reachable = graph.reachable
    uses: list[list[tuple[str, int, str]]] = [[] for _ in range(count)]
    bit: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        if not reachable[i] or isinstance(node, Opaque):
            continue
        for what, line, text in templates(graph, node):
            for name in template_variables(text):
                uses[i].append((what, line, name))
                if name not in bit:
                    bit[name] = 1 << len(bit)
    if not bit:
        return
    full = (1 << len(bit)) - 1
    entry = 0
    for name in BUILTIN_VARIABLES:
        entry |= bit.get(name, 0)
    csv_masks: dict[tuple[str, ...], int] = {}
    # together[name]: the variables always set along with it (a lookup sets all
    # its columns at once), so a path that misses one is reported once.
    together: dict[str, int] = {}

    def mask_of(sets: object) -> int:
        if sets is None:
            return 0
        if sets is _ALL:
            return full
        names: tuple[str, ...] = sets  # type: ignore[assignment]
        if names not in csv_masks:
            value = 0
            for name in names:
                value |= bit.get(name, 0)
            csv_masks[names] = value
            for name in names:
                together[name] = together.get(name, value) & value
        return csv_masks[names]

    incoming: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for i in range(count):
        if reachable[i]:
            for j, sets in zip(graph.succ[i], graph.gens[i], strict=True):
                incoming[j].append((i, mask_of(sets)))
    used_mask = [0] * count
    for i, found in enumerate(uses):
        for _, _, name in found:
            used_mask[i] |= together.get(name, 0) | bit[name]
    order = _reverse_postorder(graph)
    known = [full] * count
    known[graph.start] = entry  # type: ignore[index]
    changed = True
    while changed:
        changed = False
        for j in order:
            have = entry if j == graph.start else full
            for i, sets in incoming[j]:
                have &= known[i] | used_mask[i] | sets
            if have != known[j]:
                known[j] = have
                changed = True
    everything = set(BUILTIN_VARIABLES)
    for node in graph.menu.nodes.values():
        if isinstance(node, AskNode):
            everything.add(node.save_as)
    for fields in graph.draft.csv_fields.values():
        everything |= fields
    for i, found in enumerate(uses):
        seen: set[str] = set()
        for what, line, name in found:
            if known[i] & bit[name] or name in seen:
                continue
            seen.add(name)
            hint = suggest(name, everything) if name not in everything else ""
            report(
                line,
                f"{what} of node '{graph.ids[i]}' uses '{{{name}}}', which is not "
                f"set on every path that reaches it{hint}",
            )


def _reverse_postorder(graph: MenuGraph) -> list[int]:
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
