"""Which nodes are on the human path, and how the rest group into branches.

**The human path** holds the nodes that hand the caller to people (a ``queue``:
an agent now; a ``voicemail`` or a ``feedback`` recording: people later; a
``transfer``: people at another number), every node whose every way on leads
into the human path (the "connecting you" message, the route that picks a queue
by the hours, the menu whose every key reaches a person), and every node other
than ``start`` whose every way in comes from the human path (what follows a
voicemail). Ways on count every door the engine may take, failures included,
and not the replay of a prompt. A ``hangup`` leads nowhere, so it joins only by
the last rule.

**The self-service path** is every other node: there the menu itself serves the
caller (an order's status, a refund's progress) or offers the choice.

**Sections** follow the main menu (the first menu a call meets): a self-service
node belongs to option k's section when a call can reach it from option k
without passing the main menu again, and from no other option that way. Shared
nodes (the main menu, a common goodbye) and the human path belong to none.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivr.graph.doors import doors
from ivr.graph.model import SELF_SERVICE, Section, safe_name
from ivr.menu import (
    FeedbackNode,
    HangupNode,
    Menu,
    MenuNode,
    MessageNode,
    QueueNode,
    TransferNode,
    VoicemailNode,
)

__all__ = ["human_path_nodes", "lead_in", "sections"]


def human_path_nodes(menu: Menu) -> frozenset[str]:
    """The ids of the nodes on the human path (see the module's docstring)."""
    ways_on = {
        node.id: {a.target for a in doors(menu, node) if a.target != node.id}
        for node in menu.nodes.values()
    }
    ways_in: dict[str, set[str]] = {node_id: set() for node_id in menu.nodes}
    for source, targets in ways_on.items():
        for target in targets & ways_in.keys():
            ways_in[target].add(source)
    human = {
        node.id
        for node in menu.nodes.values()
        if isinstance(node, QueueNode | VoicemailNode | FeedbackNode | TransferNode)
    }
    grown = True
    while grown:  # both rules only add: stop when a round adds nothing
        grown = False
        for node_id, node in menu.nodes.items():
            if node_id in human:
                continue
            leads_there = not isinstance(node, HangupNode) and ways_on[node_id]
            comes_from_there = node_id != menu.start and ways_in[node_id]
            if (leads_there and ways_on[node_id] <= human) or (
                comes_from_there and ways_in[node_id] <= human
            ):
                human.add(node_id)
                grown = True
    return frozenset(human)


def lead_in(menu: Menu) -> list[str]:
    """The nodes from ``start`` through messages up to the first menu node."""
    path: list[str] = []
    node_id: str | None = menu.start
    while node_id is not None and node_id not in path and node_id in menu.nodes:
        path.append(node_id)
        node = menu.nodes[node_id]
        if isinstance(node, MenuNode):
            break
        node_id = node.next if isinstance(node, MessageNode) else None
    return path


def sections(
    menu: Menu, human: frozenset[str]
) -> tuple[str | None, tuple[Section, ...], dict[str, str]]:
    """The main menu's id, its branches as sections, and each node's section."""
    first = lead_in(menu)
    hub = first[-1] if first and isinstance(menu.nodes[first[-1]], MenuNode) else None
    if hub is None:
        return None, (), {}
    hub_node = menu.nodes[hub]
    assert isinstance(hub_node, MenuNode)
    reached_by: dict[str, set[str]] = {}
    labels: dict[str, str] = {}
    for option in hub_node.options:
        section_id = f"option-{safe_name(option.key)}"
        words = "".join(f" {word}" for word in option.speech[:2])
        labels[section_id] = f"{option.key}{words}"
        for node_id in _reach(menu, option.goto, stop={hub, *human}):
            reached_by.setdefault(node_id, set()).add(section_id)
    found: list[Section] = []
    section_of: dict[str, str] = {}
    for section_id, label in labels.items():
        members = [n for n, owners in reached_by.items() if owners == {section_id}]
        if members:
            found.append(Section(section_id, label, SELF_SERVICE))
            section_of.update(dict.fromkeys(members, section_id))
    return hub, tuple(found), section_of


def _reach(menu: Menu, first: str, stop: Iterable[str]) -> set[str]:
    """The nodes a call can reach from ``first`` without entering ``stop``."""
    stop = set(stop)
    if first in stop or first not in menu.nodes:
        return set()
    seen = {first}
    todo = [first]
    while todo:
        for arrow in doors(menu, menu.nodes[todo.pop()]):
            target = arrow.target
            if target not in seen and target not in stop and target in menu.nodes:
                seen.add(target)
                todo.append(target)
    return seen
