"""The menu as a diagram: a box per node, an arrow per door, two paths told apart.

A designer reads a phone menu the way a traveller reads a metro map: where can I
go from here, and which line takes me to a person? ``describe_menu`` turns the
frozen menu into a small description of that map (``Diagram``): boxes (a node's
kind, path, summary, prompt and problems), arrows (a door's label and style) and
sections (the branches of the main menu). ``to_dot`` and ``to_mermaid`` write it
as text; ``render`` has Graphviz's ``dot`` lay it out as SVG or PNG. Only
``render`` runs anything; the rest is pure.

How nodes are put on the self-service or the human path is told in
``ivr.graph.paths``; the legend is in ``docs/graph.md``.
"""

from ivr.graph.describe import Problem, describe_menu
from ivr.graph.dot import to_dot
from ivr.graph.look import EDGE_LOOK, PALETTE
from ivr.graph.mermaid import mermaid_id, to_mermaid
from ivr.graph.model import (
    HUMAN,
    KINDS,
    SELF_SERVICE,
    STYLES,
    Arrow,
    Box,
    Diagram,
    Section,
    safe_name,
)
from ivr.graph.paths import human_path_nodes
from ivr.graph.render import INSTALL_HINT, GraphvizMissing, render

__all__ = [
    "EDGE_LOOK",
    "HUMAN",
    "INSTALL_HINT",
    "KINDS",
    "PALETTE",
    "SELF_SERVICE",
    "STYLES",
    "Arrow",
    "Box",
    "Diagram",
    "GraphvizMissing",
    "Problem",
    "Section",
    "describe_menu",
    "human_path_nodes",
    "mermaid_id",
    "render",
    "safe_name",
    "to_dot",
    "to_mermaid",
]
