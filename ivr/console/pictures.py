"""A menu's graph for the console: the SVG of ``ivr graph``, problems marked.

Graphviz takes a moment to lay out a large menu, and the page asks for the
picture again after every edit of any menu file; the SVG is kept by the digest
of the DOT text it is drawn from, so an unchanged menu is never laid out twice
in a worker. For a broken edit the picture is the last good menu with the new
file's problems placed on the nodes whose lines hold them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from ivr.graph import describe_menu, render, to_dot
from ivr.menu import Menu

__all__ = ["file_of", "menu_svg", "problems_of"]

_KEEP = 32  # pictures kept per worker
_cache: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()
_FILE = re.compile(r"^(?P<file>.+?):(?:\d+:| )")


def file_of(problem: str) -> Path | None:
    """The file a ``file:line: message`` (or ``file: message``) problem is about."""
    match = _FILE.match(problem)
    return Path(match["file"]).resolve() if match else None


def problems_of(path: str | Path, problems: Iterable[str]) -> list[str]:
    """The problems about the file at ``path``, in the order given."""
    here = Path(path).resolve()
    return [problem for problem in problems if file_of(problem) == here]


def menu_svg(menu: Menu, problems: Iterable[str] = ()) -> str:
    """The menu's diagram as inline SVG (``GraphvizMissing`` without ``dot``)."""
    diagram = describe_menu(menu, problems)
    key = hashlib.sha256(to_dot(diagram).encode()).hexdigest()
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    svg = render(diagram, "svg").decode("utf-8")
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)  # inline in HTML: no declaration
    with _lock:
        _cache[key] = svg
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
    return svg
