"""Pictures of a diagram: Graphviz's ``dot`` lays the DOT text out as SVG or PNG.

``dot`` is a separate program (Debian's ``graphviz``, with ``fonts-noto-cjk`` for
Chinese text). Only pictures need it: DOT and Mermaid text are written without.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from ivr.graph.dot import to_dot
from ivr.graph.model import Diagram

__all__ = ["INSTALL_HINT", "GraphvizMissing", "render"]

INSTALL_HINT = (
    "Graphviz's 'dot' program is needed for SVG and PNG: install it with "
    "'apt-get install graphviz fonts-noto-cjk' (Debian, Ubuntu) or "
    "'brew install graphviz' (macOS); --format dot and --format mermaid work "
    "without it"
)


class GraphvizMissing(RuntimeError):
    """Graphviz's ``dot`` is not installed; the message says how to install it."""


def render(diagram: Diagram, fmt: str) -> bytes:
    """The diagram laid out by ``dot`` as ``svg`` or ``png`` bytes."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"render makes svg or png, got {fmt!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing(INSTALL_HINT)
    source = to_dot(diagram, dpi=110 if fmt == "png" else None)
    done = subprocess.run(
        [dot, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True
    )
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"dot failed: {error}")
    if fmt == "svg":
        # The DOCTYPE names a DTD on the web; nothing needs it, and a page that
        # embeds the SVG inline must not carry it.
        return re.sub(rb"<!DOCTYPE[^>]*>\s*", b"", done.stdout, count=1)
    return done.stdout
