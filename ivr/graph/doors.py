"""The doors out of a node as arrows: the designer's, and those the engine adds."""

from __future__ import annotations

from ivr.durations import format_duration
from ivr.graph.model import Arrow
from ivr.menu import (
    AskNode,
    FeedbackNode,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    QueueNode,
    RequestNode,
    RouteNode,
    TransferNode,
    VoicemailNode,
)

__all__ = ["doors"]


def doors(menu: Menu, node: Node) -> list[Arrow]:
    """Every way a call can leave ``node``, in file order, as the engine walks it.

    Besides ``Node.targets``: the replay of a menu or ask prompt (``retry``) and
    the doors the engine takes when the designer named none: a menu or ask whose
    retries are used up, a lookup whose source fails and a transfer nobody answers
    all go to the menu's first queue node (``Menu.human_path``). A menu or ask's
    person door (the menu's ``person`` key and words) is labelled with the key.
    """
    arrows: list[Arrow] = []
    if isinstance(node, MenuNode):
        for option, share in zip(node.options, _shares(node), strict=True):
            arrows.append(
                Arrow(
                    node.id,
                    option.goto,
                    f"option '{option.key}'",
                    option.key,
                    "normal",
                    key=option.key,
                    words=option.speech,
                    share=share,
                    share_implied=share is not None and option.share is None,
                )
            )
    elif isinstance(node, LookupNode):
        arrows += [
            Arrow(node.id, node.found, "found", "found", "normal"),
            Arrow(node.id, node.missing, "missing", "missing", "normal"),
        ]
        arrows += _fallback(menu, node.id, node.error, "error", "error")
    elif isinstance(node, RouteNode):
        for i, rule in enumerate(node.rules):
            condition = _condition(rule.when)
            arrows.append(
                Arrow(node.id, rule.goto, f"route rule {i + 1}", condition, "normal")
            )
    elif isinstance(node, QueueNode):
        if node.closed:
            arrows.append(Arrow(node.id, node.closed, "closed", "closed", "queue"))
        if node.overflow:
            queue = menu.queues.get(node.queue)
            waited = "overflow"
            if queue is not None and queue.max_wait_s is not None:
                waited += f" > {format_duration(queue.max_wait_s)}"
            arrows.append(Arrow(node.id, node.overflow, "overflow", waited, "queue"))
    elif isinstance(node, TransferNode):
        arrows += _fallback(menu, node.id, node.next, "next", "no answer")
    elif (
        isinstance(node, MessageNode | AskNode | VoicemailNode | FeedbackNode)
        and node.next
    ) or isinstance(node, RequestNode):
        arrows.append(Arrow(node.id, node.next, "next", "", "normal"))
    if isinstance(node, MenuNode | AskNode) and node.person and menu.person:
        person = menu.person
        arrows.append(
            Arrow(
                node.id,
                node.person,
                "person",
                "person",
                "normal",
                key=person.key or "person",
                words=person.speech[:2],
            )
        )
    if isinstance(node, MenuNode | AskNode):
        if node.retries:
            times = "retry" if node.retries == 1 else f"retry ×{node.retries}"
            arrows.append(Arrow(node.id, node.id, "retry", times, "retry"))
        arrows += _fallback(menu, node.id, node.on_fail, "on_fail", "on_fail")
    return arrows


def _fallback(
    menu: Menu, source: str, given: str | None, door: str, label: str
) -> list[Arrow]:
    """The way out when something failed: as given, else to the human path."""
    target = given or menu.human_path
    if not target or target == source:
        return []  # nowhere to go: the engine says goodbye and hangs up
    return [Arrow(source, target, door, label, "failure", implied=given is None)]


def _shares(node: MenuNode) -> list[float | None]:
    """Each option's share of callers: as given, or, when any option has one, its
    part of what the given shares leave (the traffic simulator's split)."""
    given = [option.share for option in node.options]
    if all(share is None for share in given):
        return given
    unset = sum(share is None for share in given)
    rest = max(0.0, 1.0 - sum(s for s in given if s is not None)) / max(1, unset)
    return [rest if share is None else share for share in given]


def _condition(when: object) -> str:
    if when is None:
        return "otherwise"
    if isinstance(when, tuple):
        _, var, value = when
        return f"{var} = {value}"
    return str(when)
