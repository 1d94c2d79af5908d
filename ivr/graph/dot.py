"""A menu's diagram as Graphviz DOT text.

``describe_menu`` says *what* to draw; this module says *how* for Graphviz: a
shape per kind, the colours of ``ivr.graph.look``, top to bottom. Graphviz's
``dot`` does the layout (``ivr.graph.render``).

Three devices keep a 40-node menu readable: the branches of the main menu are
boxed groups; a way back to the main menu is a small "↩ main" sign beside its node
rather than a line back up the whole map; and the ways from one branch to the same
person (key 0, retries used up, a data source down) meet at a dot in the branch and
go on as one orange line.

Every node's SVG element has ``id="node-NAME"`` and the classes ``ivr-node``,
``kind-KIND``, ``path-PATH`` (plus ``has-problem``), ``NAME`` being
``ivr.graph.safe_name`` of the node id, so a page can light up the node a call is
at. The SVG links to nothing outside itself.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

from ivr.graph.look import (
    EDGE_LOOK,
    PALETTE,
    PROBLEM,
    TEXT_COLUMNS,
    WORDS_COLUMNS,
    percent,
    wrap,
)
from ivr.graph.model import HUMAN, SELF_SERVICE, Arrow, Box, Diagram, safe_name

__all__ = ["FONT", "edge_ids", "to_dot"]

# Noto CJK covers Chinese and Latin; the generic family is the browser's fallback.
FONT = "Noto Sans CJK SC,sans-serif"
SHAPES = {
    "message": "note",
    "menu": "box",
    "ask": "box",
    "lookup": "cylinder",
    "route": "diamond",
    "queue": "box",
    "transfer": "cds",
    "voicemail": "folder",
    "feedback": "tab",
    "request": "component",
    "goto_menu": "rarrow",
    "hangup": "octagon",
    "missing": "box",
}


def to_dot(diagram: Diagram, dpi: int | None = None) -> str:
    """The diagram as Graphviz DOT text (``dot -Tsvg`` lays it out)."""
    return _DotWriter(diagram).write(dpi)


class _DotWriter:
    """Writes one diagram: statements are gathered per section, then joined."""

    def __init__(self, diagram: Diagram) -> None:
        self.d = diagram
        self.boxes = {box.id: box for box in diagram.boxes}
        self.in_section: dict[str | None, list[str]] = {}
        self.edges: list[str] = []
        # (section, target node) -> the name of the junction in that section
        self.junctions: dict[tuple[str, str], str] = {}
        self.taken = set(self.boxes)
        self.call = self.fresh("call")

    def fresh(self, name: str) -> str:
        """A DOT name for a drawing's own node (the call, a sign, a junction)
        that no menu node has, whatever ids the designer chose."""
        while name in self.taken:
            name += "'"
        self.taken.add(name)
        return name

    def write(self, dpi: int | None) -> str:
        for box in self.d.boxes:
            self.add(box.section, _node(box))
        loops = _loops_back(self.d)
        fan_in: dict[tuple[str | None, str], int] = {}
        for arrow in self.d.arrows:
            key = (self.boxes[arrow.source].section, arrow.target)
            fan_in[key] = fan_in.get(key, 0) + 1
        for index, (arrow, edge_id) in enumerate(edge_ids(self.d.arrows)):
            self.arrow(arrow, edge_id, loops_back=index in loops, fan_in=fan_in)
        lines = [f"digraph {_q(self.d.menu_id)} {{", *self.head(dpi)]
        lines += ["  " + statement for statement in self.in_section.get(None, [])]
        for section in self.d.sections:
            _, border, _ = PALETTE[section.path]
            look = _attrs(
                label=section.label,
                style="rounded,dashed",
                color=border,
                fontcolor=border,
                fontsize="13",
                id=f"section-{section.id}",
            )
            lines += [
                f"  subgraph {_q('cluster_' + section.id)} {{",
                f"    graph [{look}];",
            ]
            lines += ["    " + s for s in self.in_section.get(section.id, [])]
            lines.append("  }")
        call = _attrs(color="#333333", penwidth="1.5", id="edge-call")
        lines.append(f"  {_q(self.call)} -> {_q(self.d.start)} [{call}];")
        lines += ["  " + edge for edge in self.edges]
        _, border, _ = PALETTE[HUMAN]
        for (section, target), junction in self.junctions.items():
            bus = f"{section}-to-{safe_name(target)}"
            attrs = _attrs(color=border, penwidth="2", id=bus, weight="0")
            lines.append(f"  {_q(junction)} -> {_q(target)} [{attrs}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def head(self, dpi: int | None) -> list[str]:
        caption = [f"<B>{_h(self.d.title)} ({_h(self.d.menu_id)})</B>"]
        caption += [
            f'<FONT COLOR="{PROBLEM}">⚠ {_h(problem)}</FONT>'
            for problem in self.d.problems
        ]
        graph = _attrs(
            rankdir="TB",
            newrank="true",
            nodesep="0.18",
            ranksep="0.45",
            fontname=FONT,
            fontsize="16",
            labelloc="t",
            label=_Html("<BR/>".join(caption)),
            bgcolor="white",
            pad="0.3",
            **({"dpi": str(dpi)} if dpi else {}),
        )
        node = _attrs(fontname=FONT, fontsize="11", style="filled", margin="0.12,0.05")
        call = _attrs(
            shape="circle",
            label="",
            width="0.22",
            style="filled",
            fillcolor="#333333",
            color="#333333",
            id="call",
            tooltip="a call comes in",
        )
        return [
            f"  graph [{graph}];",
            f"  node [{node}];",
            f"  edge [{_attrs(fontname=FONT, fontsize='9', arrowsize='0.7')}];",
            f"  {_q(self.call)} [{call}];",
        ]

    def add(self, section: str | None, statement: str) -> None:
        self.in_section.setdefault(section, []).append(statement)

    def arrow(
        self,
        arrow: Arrow,
        edge_id: str,
        loops_back: bool,
        fan_in: dict[tuple[str | None, str], int],
    ) -> None:
        source, target = self.boxes[arrow.source], self.boxes[arrow.target]
        drawn_to = target.id
        attrs = _edge_look(arrow, edge_id)
        if arrow.returns:
            drawn_to = self.fresh(f"{edge_id}-sign")
            self.add(
                source.section, _return_sign(drawn_to, f"{edge_id}-sign", target.id)
            )
        elif (
            source.section is not None
            and target.path == HUMAN
            and source.path != HUMAN
            and fan_in[(source.section, target.id)] > 1
        ):
            key = (source.section, target.id)
            if key not in self.junctions:
                name = self.fresh(f"{source.section}-to-{target.id}")
                self.junctions[key] = name
                svg_id = f"{source.section}-to-{safe_name(target.id)}-dot"
                self.add(source.section, _junction(name, svg_id, target.id))
            drawn_to = self.junctions[key]
            attrs["arrowhead"] = "none"
        # Ways into the human path and to a goodbye come from all over the menu:
        # let them hang down rather than drag their sources along.
        hangs = target.path != source.path or target.kind == "hangup"
        attrs["weight"] = "0" if hangs and drawn_to == target.id else "1"
        if loops_back and target.path != HUMAN and not arrow.returns:
            # A way back up ("try again", "another order") must not rank its
            # target below its source: written target -> source, drawn backwards.
            # (``constraint=false`` would do, but trips dot in clusters.)
            attrs["dir"] = "back"
            self.edges.append(f"{_q(drawn_to)} -> {_q(source.id)} [{_attrs(**attrs)}];")
        else:
            self.edges.append(f"{_q(source.id)} -> {_q(drawn_to)} [{_attrs(**attrs)}];")


def _node(box: Box) -> str:
    fill, border, ink = PALETTE[box.path]
    parts = [f"<B>{_h(box.id)}</B>", f'<FONT POINT-SIZE="9">{_h(box.detail)}</FONT>']
    parts += [
        f'<FONT POINT-SIZE="9" COLOR="#555555">{_h(line)}</FONT>'
        for line in wrap(box.text, TEXT_COLUMNS, 2)
    ]
    for problem in box.problems:
        parts += [
            f'<FONT POINT-SIZE="9" COLOR="{PROBLEM}">{_h(line)}</FONT>'
            for line in wrap("⚠ " + problem, TEXT_COLUMNS + 6, 4)
        ]
    style = ["filled"]
    if box.kind in ("menu", "message", "queue"):
        style.append("rounded")
    if box.kind == "ask":
        style.append("diagonals")
    if box.kind == "missing":
        style.append("dashed")
    if box.kind == "menu" or box.start:
        style.append("bold")
    classes = ["ivr-node", f"kind-{box.kind}", f"path-{box.path}"]
    if box.problems:
        classes.append("has-problem")
    tooltip = f"{box.id} ({box.kind}, line {box.line})"
    if box.text:
        tooltip += f"\n{box.text}"
    tooltip += "".join(f"\n⚠ {problem}" for problem in box.problems)
    attrs = {
        "shape": SHAPES[box.kind],
        "label": _Html("<BR/>".join(parts)),
        "style": ",".join(style),
        "fillcolor": fill,
        "color": PROBLEM if box.problems else border,
        "fontcolor": ink,
        "penwidth": "3" if box.problems else ("2" if box.kind == "menu" else "1.2"),
        "id": f"node-{safe_name(box.id)}",
        "class": " ".join(classes),
        "tooltip": tooltip,
    }
    if box.kind in ("queue", "voicemail", "transfer", "feedback", "goto_menu",
                    "hangup"):  # fmt: skip
        attrs["peripheries"] = "2"  # a double border: the call leaves the menu here
    return f"{_q(box.id)} [{_attrs(**attrs)}];"


def _edge_look(arrow: Arrow, edge_id: str) -> dict[str, str]:
    color, style = EDGE_LOOK[arrow.style]
    classes = f"ivr-edge edge-{arrow.style}" + (" implied" if arrow.implied else "")
    attrs = {
        "color": color,
        "fontcolor": color,
        "style": style,
        "id": edge_id,
        "class": classes,
        "tooltip": f"{arrow.source} → {arrow.target} ({arrow.door})",
    }
    if arrow.key is not None:
        head = f"<B>{_h(arrow.key)}</B>"
        if arrow.share is not None:
            head += f" {percent(arrow)}"
        words = wrap(" ".join(arrow.words), WORDS_COLUMNS, 2)
        attrs["label"] = _Html("<BR/>".join([head, *(_h(w) for w in words)]))
    elif arrow.label:
        attrs["label"] = arrow.label + (" (default)" if arrow.implied else "")
    if arrow.style == "retry":
        attrs["penwidth"] = "0.8"
    return attrs


def _junction(name: str, svg_id: str, target: str) -> str:
    _, border, _ = PALETTE[HUMAN]
    attrs = _attrs(
        shape="point",
        width="0.09",
        color=border,
        fillcolor=border,
        id=svg_id,
        tooltip=f"to {target}",
    )
    return f"{_q(name)} [{attrs}];"


def _return_sign(name: str, svg_id: str, hub: str) -> str:
    _, border, ink = PALETTE[SELF_SERVICE]
    attrs = _attrs(
        shape="box",
        style="rounded,dashed",
        label=f"↩ {hub}",
        fontsize="9",
        color=border,
        fontcolor=ink,
        height="0.2",
        margin="0.05,0.02",
        id=svg_id,
        tooltip=f"back to {hub}",
    )
    return f"{_q(name)} [{attrs}];"


def _loops_back(diagram: Diagram) -> set[int]:
    """Indexes of the arrows that close a loop: the back edges of a depth-first
    walk from ``start``, doors in file order ("try again", "back to the menu")."""
    out: dict[str, list[tuple[int, str]]] = {box.id: [] for box in diagram.boxes}
    for index, arrow in enumerate(diagram.arrows):
        out[arrow.source].append((index, arrow.target))
    state: dict[str, str] = {}  # "open" while on the walk's path, then "done"
    back: set[int] = set()
    for root in [diagram.start, *out]:
        if root in state:
            continue
        state[root] = "open"
        stack = [(root, iter(out[root]))]
        while stack:
            node_id, doors = stack[-1]
            for index, target in doors:
                if state.get(target) == "open":
                    back.add(index)
                elif target not in state:
                    state[target] = "open"
                    stack.append((target, iter(out[target])))
                    break
            else:
                state[node_id] = "done"
                stack.pop()
    return back


def edge_ids(arrows: tuple[Arrow, ...]) -> Iterator[tuple[Arrow, str]]:
    """Each arrow with a stable SVG id: ``edge-SOURCE--TARGET`` (``-2``... again)."""
    seen: dict[str, int] = {}
    for arrow in arrows:
        base = f"edge-{safe_name(arrow.source)}--{safe_name(arrow.target)}"
        seen[base] = seen.get(base, 0) + 1
        yield arrow, base if seen[base] == 1 else f"{base}-{seen[base]}"


class _Html(str):
    """An HTML-like label: written between ``<`` and ``>``, not quoted."""


def _h(text: str) -> str:
    """Text inside an HTML-like label."""
    return html.escape(text, quote=True)


def _q(text: str) -> str:
    """A DOT quoted string (an escString: a backslash would start an escape)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attrs(**attrs: str) -> str:
    return ", ".join(
        f"{name}=<{value}>" if isinstance(value, _Html) else f"{name}={_q(value)}"
        for name, value in attrs.items()
    )
