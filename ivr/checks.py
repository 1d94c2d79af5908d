"""Checks that need the whole menu: doors, reachability, endings and variables.

A menu is a directed graph. Every door must lead to a node; every node must be
reachable from ``start`` (else it is dead text nobody hears); from every node some
path must end the call on a hangup, queue, transfer or voicemail (else a caller can
be trapped in a loop); and every ``{variable}`` a node uses must be set on every path
that reaches it (else a caller hears an empty gap). The last is the classic
"definitely assigned" data-flow analysis: intersect what each incoming door sets.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from ivr.menu import (
    TERMINAL_KINDS,
    AskNode,
    LookupNode,
    Menu,
    MenuNode,
    Node,
    RouteNode,
    UrlSource,
)

__all__ = [
    "BUILTIN_VARIABLES",
    "check_menu",
    "check_targets",
    "suggest",
    "template_variables",
]

Report = Callable[[int, str], None]

BUILTIN_VARIABLES = frozenset({"caller"})
_VARIABLE = re.compile(r"\{([A-Za-z_]\w*)\}")


def suggest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, else ``''``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def template_variables(text: str | None) -> list[str]:
    """The ``{variable}`` names in ``text``, in order."""
    return _VARIABLE.findall(text) if text else []


def check_targets(
    nodes: Mapping[str, Node], report: Report, known: Iterable[str] = ()
) -> bool:
    """Report doors to unknown nodes; return whether all doors lead somewhere.

    ``known`` adds ids of nodes that exist but could not be read.
    """
    ids = set(nodes) | set(known)
    ok = True
    for node in nodes.values():
        for door, target in node.targets():
            if target and target not in ids:  # a missing one is reported already
                ok = False
                line = _door_line(node, door)
                report(
                    line,
                    f"{door} goes to unknown node '{target}'{suggest(target, nodes)}",
                )
    return ok


def _door_line(node: Node, door: str) -> int:
    if isinstance(node, MenuNode) and door.startswith("option '"):
        key = door[len("option '") : -1]
        option = node.option(key)
        return option.line if option else node.line
    if isinstance(node, RouteNode) and door.startswith("route rule "):
        index = int(door.rsplit(" ", 1)[1]) - 1
        return node.rules[index].line
    return node.line


def check_menu(
    menu: Menu,
    csv_fields: Mapping[str, frozenset[str]],
    report: Report,
    field_lines: Mapping[tuple[str, str], int] | None = None,
) -> None:
    """Run the whole-menu checks on a menu whose parts each read cleanly.

    ``csv_fields`` are the columns of each CSV source (the variables a lookup
    sets); ``field_lines`` maps (node id, key) to the line of that key, so a
    problem in a prompt points at the prompt rather than the node.
    """
    if not check_targets(menu.nodes, report):
        return
    reachable = _reachable(menu)
    for node in menu.nodes.values():
        if node.id not in reachable:
            report(
                node.line,
                f"node '{node.id}' is never reached from start '{menu.start}'",
            )
    human = menu.human_path
    for node in menu.nodes.values():
        if isinstance(node, LookupNode) and node.error is None and human is None:
            report(
                node.line,
                f"lookup node '{node.id}' needs 'error': the menu has no queue node "
                "to fall back to when the data source fails",
            )
    ending = _can_end(menu)
    for node in menu.nodes.values():
        if node.id in reachable and node.id not in ending:
            report(
                node.line,
                f"node '{node.id}' can never end the call: no path from it reaches a "
                "hangup, queue, transfer or voicemail",
            )
    _check_variables(menu, reachable, csv_fields, report, field_lines or {})


def _edges(menu: Menu, node: Node) -> list[str]:
    """Where a call can go from ``node``, with the engine's implicit doors."""
    targets = [target for _, target in node.targets()]
    human = menu.human_path
    if human is not None:
        if isinstance(node, MenuNode | AskNode) and node.on_fail is None:
            targets.append(human)
        if isinstance(node, LookupNode) and node.error is None:
            targets.append(human)
    return targets


def _reachable(menu: Menu) -> set[str]:
    seen = {menu.start}
    todo = deque([menu.start])
    while todo:
        for target in _edges(menu, menu.nodes[todo.popleft()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _can_end(menu: Menu) -> set[str]:
    """Nodes from which some path reaches a terminal node (reverse search)."""
    incoming: dict[str, list[str]] = {node_id: [] for node_id in menu.nodes}
    for node in menu.nodes.values():
        for target in _edges(menu, node):
            incoming[target].append(node.id)
    ending = {n.id for n in menu.nodes.values() if n.kind in TERMINAL_KINDS}
    # A menu or ask node with no on_fail and no queue node hangs up after retries.
    ending |= {
        n.id
        for n in menu.nodes.values()
        if isinstance(n, MenuNode | AskNode) and n.on_fail is None
    }
    todo = deque(ending)
    while todo:
        for source in incoming[todo.popleft()]:
            if source not in ending:
                ending.add(source)
                todo.append(source)
    return ending


ALL = None  # "every variable may be set": after a lookup whose fields are unknown


def _sets(
    menu: Menu, node: Node, target: str, csv_fields: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """Variables set by taking the door from ``node`` to ``target`` (None: any)."""
    if isinstance(node, AskNode) and target == node.next:
        return frozenset({node.save_as})
    if isinstance(node, LookupNode) and target == node.found:
        source = menu.data.get(node.data)
        if isinstance(source, UrlSource):
            return ALL
        return csv_fields.get(node.data, frozenset())
    return frozenset()


def _check_variables(
    menu: Menu,
    reachable: set[str],
    csv_fields: Mapping[str, frozenset[str]],
    report: Report,
    field_lines: Mapping[tuple[str, str], int],
) -> None:
    # known[n]: variables set on every path to n; missing key = not reached yet;
    # value None = anything may be set (a URL lookup's fields are unknown).
    known: dict[str, frozenset[str] | None] = {menu.start: BUILTIN_VARIABLES}
    todo = deque([menu.start])
    while todo:
        node = menu.nodes[todo.popleft()]
        here = known[node.id]
        for target in _edges(menu, node):
            added = _sets(menu, node, target, csv_fields)
            out = None if here is None or added is None else here | added
            before = known.get(target, "unset")
            if before == "unset" or before is None:
                new = out
            elif out is None:
                new = before
            else:
                new = before & out
            if before == "unset" or new != before:
                known[target] = new
                todo.append(target)
    everything = set(BUILTIN_VARIABLES) | {
        n.save_as for n in menu.nodes.values() if isinstance(n, AskNode)
    }
    for fields in csv_fields.values():
        everything |= fields
    for node in menu.nodes.values():
        if node.id not in reachable:
            continue
        have = known.get(node.id, frozenset())
        if have is None:
            continue
        for field, key, text in _templates(menu, node):
            for name in template_variables(text):
                if name not in have:
                    hint = suggest(name, everything) if name not in everything else ""
                    report(
                        field_lines.get((node.id, key), node.line),
                        f"{field} of node '{node.id}' uses '{{{name}}}', which is not "
                        f"set on every path that reaches it{hint}",
                    )


_PROMPT_KEY = {"ask": "ask", "voicemail": "voicemail", "hangup": "hangup"}


def _templates(menu: Menu, node: Node) -> list[tuple[str, str, str | None]]:
    """(what, YAML key, text) of each template a node fills in at call time."""
    key = _PROMPT_KEY.get(node.kind, "say")
    found: list[tuple[str, str, str | None]] = [(key, key, node.prompt.text)]
    if isinstance(node, MenuNode | AskNode):
        found += [
            ("no_input", "no_input", node.no_input),
            ("invalid", "invalid", node.invalid),
        ]
    if isinstance(node, LookupNode):
        found.append(("the lookup key", "lookup", node.key))
        source = menu.data.get(node.data)
        if isinstance(source, UrlSource):
            found.append(("the data url", "lookup", source.url))
    if isinstance(node, RouteNode):
        for i, rule in enumerate(node.rules):
            if isinstance(rule.when, tuple):
                found.append((f"route rule {i + 1}", "route", "{" + rule.when[1] + "}"))
                found.append((f"route rule {i + 1}", "route", rule.when[2]))
    return found
