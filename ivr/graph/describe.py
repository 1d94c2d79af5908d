"""From the frozen menu to its diagram: ``describe_menu``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ivr.durations import format_duration
from ivr.graph.doors import doors
from ivr.graph.model import HUMAN, SELF_SERVICE, Box, Diagram
from ivr.graph.paths import human_path_nodes, lead_in, sections
from ivr.menu import (
    AskNode,
    FeedbackNode,
    GotoMenuNode,
    HangupNode,
    LookupNode,
    Menu,
    MenuNode,
    Node,
    QueueNode,
    RequestNode,
    RouteNode,
    TransferNode,
    VoicemailNode,
)

__all__ = ["Problem", "describe_menu"]

# A problem as the loader prints it ("file:line: message"), or (line, message) in
# the menu's own file, as ``ivr.checks.check_menu`` reports it.
Problem = str | tuple[int, str]

_PROBLEM = re.compile(r"^(?P<file>.*):(?P<line>\d+): (?P<message>.*)$", re.DOTALL)


def describe_menu(menu: Menu, problems: Iterable[Problem] = ()) -> Diagram:
    """The diagram of ``menu``, with ``problems`` marked on their nodes.

    A problem belongs to the node whose lines hold it: from the node's id line up
    to the next node's (every problem of ``ivr.checks`` lies there). Problems of
    other files or of the menu's top-level settings stay on the diagram itself.
    A door to a node that does not exist is drawn to a box of kind ``missing``.
    """
    human = human_path_nodes(menu)
    hub, groups, section_of = sections(menu, human)
    on_node, loose = _place_problems(menu, problems)
    boxes = [
        Box(
            id=node.id,
            kind=node.kind,
            path=HUMAN if node.id in human else SELF_SERVICE,
            detail=_detail(menu, node),
            text=node.prompt.text or node.prompt.audio or "",
            line=node.line,
            start=node.id == menu.start,
            section=section_of.get(node.id),
            problems=tuple(on_node.get(node.id, ())),
        )
        for node in menu.nodes.values()
    ]
    before_hub = set(lead_in(menu))
    arrows = []
    for node in menu.nodes.values():
        for arrow in doors(menu, node):
            if arrow.target == hub and arrow.source not in before_hub:
                arrow = replace(arrow, returns=True)
            arrows.append(arrow)
            if arrow.target not in menu.nodes and all(
                box.id != arrow.target for box in boxes
            ):
                boxes.append(_missing(arrow.target))
    return Diagram(
        menu_id=menu.id,
        title=menu.title,
        file=menu.path,
        start=menu.start,
        boxes=tuple(boxes),
        arrows=tuple(arrows),
        sections=groups,
        problems=tuple(loose),
        hub=hub,
    )


def _missing(node_id: str) -> Box:
    return Box(
        id=node_id,
        kind="missing",
        path=SELF_SERVICE,
        detail="no such node",
        text="",
        line=0,
        problems=(f"no node '{node_id}' in this menu",),
    )


def _detail(menu: Menu, node: Node) -> str:
    """What the node does, in a few words."""
    if isinstance(node, MenuNode):
        keys = " ".join(option.key for option in node.options)
        speech = " + speech" if node.uses_speech else ""
        return f"menu {keys}{speech}"
    if isinstance(node, AskNode):
        low, high = node.min_digits, node.max_digits
        digits = f"{low}" if low == high else f"{low}–{high}"
        sensitive = ", sensitive" if node.sensitive else ""
        return f"ask {digits} digits → {node.save_as}{sensitive}"
    if isinstance(node, LookupNode):
        return f"lookup {node.data} by {node.key}"
    if isinstance(node, RouteNode):
        return "route"
    if isinstance(node, QueueNode):
        queue = menu.queues.get(node.queue)
        title = f"{queue.title} ({node.queue})" if queue and queue.title else node.queue
        priority = f", priority {node.priority}" if node.priority else ""
        return f"queue {title}{priority}"
    if isinstance(node, TransferNode):
        return f"transfer to {node.number}"
    if isinstance(node, VoicemailNode):
        return f"voicemail up to {format_duration(node.max_length_s)}"
    if isinstance(node, FeedbackNode):
        return f"feedback: {node.topic}, up to {format_duration(node.max_length_s)}"
    if isinstance(node, RequestNode):
        return f"request {node.request}"
    if isinstance(node, GotoMenuNode):
        return f"go on in menu {node.menu}"
    if isinstance(node, HangupNode):
        return "hang up"
    if node.prompt.audio:
        return f"play {node.prompt.audio}"
    return "say"


def _place_problems(
    menu: Menu, problems: Iterable[Problem]
) -> tuple[dict[str, list[str]], list[str]]:
    """Each node's problem messages, and the problems that belong to none."""
    starts = sorted((node.line, node.id) for node in menu.nodes.values())
    here = Path(menu.path).resolve()
    on_node: dict[str, list[str]] = {}
    loose: list[str] = []
    for problem in problems:
        if isinstance(problem, tuple):
            line, message = problem
            shown = f"{menu.path}:{line}: {message}"
        else:
            match = _PROBLEM.match(problem)
            if match is None or Path(match["file"]).resolve() != here:
                loose.append(problem)
                continue
            line, message, shown = int(match["line"]), match["message"], problem
        owners = [node_id for start, node_id in starts if start <= line]
        if owners:
            on_node.setdefault(owners[-1], []).append(message)
        else:
            loose.append(shown)
    return on_node, loose
