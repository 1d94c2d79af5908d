"""Checks that need the whole menu: doors, reachability, endings and variables.

A menu is a directed graph. Every door must lead to a node; every node must be
reachable from ``start`` (else it is dead text nobody hears); from every node some
path must end the call on a hangup, queue, transfer or voicemail (else a caller can
be trapped in a loop); and every ``{variable}`` a node uses must be set on every path
that reaches it (else a caller hears an empty gap). The last is the classic
"definitely assigned" data-flow analysis: intersect what each incoming door sets.

The checks run on every load, over what could be read (``ivr.menugraph``), like a
compiler that keeps going after the first error, and say each mistake once: a
typo in a ``next`` does not also make its target "never reached", a loop is one
line however many nodes it holds, and a variable reported missing counts as set
after that use.

Every pass is linear in the size of the menu: nodes are numbered, doors are lists
of numbers, and the variable analysis keeps one bitset per node over only the
variables the templates use.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ivr.menu import AskNode, LookupNode, MenuNode, Node, RouteNode, UrlSource
from ivr.menugraph import (
    ALL,
    HOLIDAY_VARIABLES,
    MAX_GUESSES,
    Draft,
    MenuGraph,
    Opaque,
    close_match,
    components,
    reverse_postorder,
    suggest,
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


def template_variables(text: str | None) -> list[str]:
    """The ``{variable}`` names in ``text``, in order."""
    return _VARIABLE.findall(text) if text else []


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


def _check_unreachable(graph: MenuGraph, report: Report) -> None:
    """One line per group of nodes nothing leads to, not one per node after it."""
    unreached = [i for i, seen in enumerate(graph.reachable) if not seen]
    if not unreached:
        return
    inside = [not seen for seen in graph.reachable]
    groups = components(unreached, inside, graph.succ)
    component_of = {i: c for c, members in enumerate(groups) for i in members}
    entered = [False] * len(groups)
    for c, members in enumerate(groups):
        for i in members:
            for j in graph.succ[i]:
                if inside[j] and component_of[j] != c:
                    entered[component_of[j]] = True
    sources = sorted(
        (members for c, members in enumerate(groups) if not entered[c]),
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
    groups = components(members, trapped, graph.succ)
    component_of = {i: c for c, group in enumerate(groups) for i in group}
    for c, group in enumerate(groups):
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


_PROMPT_KEY = {"ask": "ask", "voicemail": "voicemail", "feedback": "feedback",
               "hangup": "hangup"}  # fmt: skip


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
        if sets is ALL:
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
    order = reverse_postorder(graph)
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
    everything = set(BUILTIN_VARIABLES) | set(HOLIDAY_VARIABLES)
    for node in graph.menu.nodes.values():
        if isinstance(node, AskNode):
            everything.add(node.save_as)
    for fields in graph.draft.csv_fields.values():
        everything |= fields
    guesses = 0
    for i, found in enumerate(uses):
        seen = 0  # what is reported here, with what is always set along with it
        for what, line, name in found:
            if known[i] & bit[name] or seen & bit[name]:
                continue
            seen |= together.get(name, 0) | bit[name]
            guess = name not in everything and guesses < MAX_GUESSES
            hint = suggest(name, everything) if guess else ""
            guesses += 1
            report(
                line,
                f"{what} of node '{graph.ids[i]}' uses '{{{name}}}', which is not "
                f"set on every path that reaches it{hint}",
            )
