"""What a diagram of a menu holds: boxes, arrows and sections, as plain data."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HUMAN",
    "KINDS",
    "SELF_SERVICE",
    "STYLES",
    "Arrow",
    "Box",
    "Diagram",
    "Section",
    "safe_name",
]

HUMAN = "human"
SELF_SERVICE = "self-service"
# The node kinds of the menu format, and "missing" for a door to no node.
KINDS = (
    "message",
    "menu",
    "ask",
    "lookup",
    "route",
    "queue",
    "transfer",
    "voicemail",
    "feedback",
    "request",
    "goto_menu",
    "hangup",
    "missing",
)
# How an arrow is drawn: the way a caller is meant to go, a replay of the prompt,
# a way out when something failed (retries used up, a data source down, a transfer
# not answered), or a queue's exits (closed, waited too long).
STYLES = ("normal", "retry", "failure", "queue")

_PLAIN = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Box:
    """One node as the diagram shows it.

    ``path`` is ``HUMAN`` or ``SELF_SERVICE``; ``detail`` is a one-line summary of
    what the node does (``ask 4 digits → last4``); ``text`` is what the caller
    hears, in full (drawings shorten it); ``section`` is the id of the group it is
    drawn in; ``problems`` are the messages of the problems found on its lines.
    """

    id: str
    kind: str
    path: str
    detail: str
    text: str
    line: int
    start: bool = False
    section: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arrow:
    """One door from ``source`` to ``target``, as the caller may take it.

    ``door`` names it as ``Node.targets`` does (``option '1'``, ``found``,
    ``on_fail``...) or is ``retry`` for the replay of a prompt. ``style`` is one
    of ``STYLES``. An option carries its ``key``, spoken ``words`` and ``share``
    of callers (``share_implied``: its part of what the given shares leave, as the
    traffic simulator splits it). ``implied`` marks a door the engine adds when the
    designer named none (a failed menu, ask, lookup or transfer goes to the menu's
    first queue node); ``returns`` marks a way back to the main menu.
    """

    source: str
    target: str
    door: str
    label: str
    style: str
    key: str | None = None
    words: tuple[str, ...] = ()
    share: float | None = None
    share_implied: bool = False
    implied: bool = False
    returns: bool = False


@dataclass(frozen=True)
class Section:
    """A group of boxes drawn together: the nodes of one branch of the main menu."""

    id: str
    label: str
    path: str


@dataclass(frozen=True)
class Diagram:
    """A whole menu as boxes, arrows and sections, ready to draw.

    ``hub`` is the main menu (the first menu a call meets), whose options the
    sections follow; ``problems`` are those that belong to no node (a top-level
    setting, another file).
    """

    menu_id: str
    title: str
    file: str
    start: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    sections: tuple[Section, ...] = ()
    problems: tuple[str, ...] = ()
    hub: str | None = None

    def box(self, node_id: str) -> Box:
        """The box of ``node_id`` (``KeyError`` if there is none)."""
        for box in self.boxes:
            if box.id == node_id:
                return box
        raise KeyError(node_id)


def safe_name(node_id: str) -> str:
    """``node_id`` as a name safe in an SVG id, a CSS selector or a DOT name.

    Plain ids (ASCII letters, digits, ``_``) are kept; any other id becomes
    ``x-`` and the hex of its UTF-8 bytes, so two ids never share a name.
    """
    if _PLAIN.fullmatch(node_id):
        return node_id
    return "x-" + node_id.encode("utf-8").hex()
