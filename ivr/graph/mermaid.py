"""A menu's diagram as a Mermaid flowchart, for pasting into Markdown docs.

Mermaid lays the chart out itself (GitHub and most doc sites render a
```` ```mermaid ```` block), so this is plain text: no Graphviz needed. The
shapes follow the DOT drawing's, the colours ``ivr.graph.look``; node ids become
``n_ID`` (or ``x_`` and the id's hex when it is not plain letters, digits and
``_``), so no id can clash with a Mermaid keyword such as ``end``; every label is
quoted, with Mermaid's entity codes for ``"``, ``#``, ``&``, ``<`` and ``>``.
"""

from __future__ import annotations

from ivr.graph.look import (
    EDGE_LOOK,
    PALETTE,
    PROBLEM,
    TEXT_COLUMNS,
    WORDS_COLUMNS,
    percent,
    wrap,
)
from ivr.graph.model import HUMAN, Arrow, Box, Diagram, safe_name

__all__ = ["mermaid_id", "to_mermaid"]

SHAPES = {
    "message": ('("', '")'),
    "menu": ('["', '"]'),
    "ask": ('[/"', '"/]'),
    "lookup": ('[("', '")]'),
    "route": ('{"', '"}'),
    "queue": ('[["', '"]]'),
    "transfer": ('>"', '"]'),
    "voicemail": ('{{"', '"}}'),
    "feedback": ('[\\"', '"\\]'),
    "request": ('[/"', '"\\]'),
    "goto_menu": ('[\\"', '"/]'),
    "hangup": ('(["', '"])'),
    "missing": ('["', '"]'),
}


def to_mermaid(diagram: Diagram) -> str:
    """The diagram as a Mermaid ``flowchart`` (top to bottom)."""
    ids = {box.id: mermaid_id(box.id) for box in diagram.boxes}
    out = [
        f"%% {_comment(diagram.title)} ({_comment(diagram.menu_id)})",
        "flowchart TB",
        f'  call(("call")) --> {ids[diagram.start]}',
    ]
    by_section: dict[str | None, list[Box]] = {}
    for box in diagram.boxes:
        by_section.setdefault(box.section, []).append(box)
    out += ["  " + _node(ids[box.id], box) for box in by_section.get(None, [])]
    for index, section in enumerate(diagram.sections):
        out.append(f'  subgraph s{index}["{_text(section.label)}"]')
        out += [
            "    " + _node(ids[box.id], box) for box in by_section.get(section.id, [])
        ]
        out.append("  end")
    dashed: dict[str, list[int]] = {}
    for index, arrow in enumerate(diagram.arrows, start=1):  # link 0 is the call's
        label = _edge_label(arrow)
        link = "-->" if arrow.style == "normal" else "-.->"
        text = f'|"{label}"|' if label else ""
        out.append(f"  {ids[arrow.source]} {link}{text} {ids[arrow.target]}")
        if arrow.style != "normal":
            dashed.setdefault(arrow.style, []).append(index)
    for path, (fill, border, ink) in PALETTE.items():
        name = "human" if path == HUMAN else "selfservice"
        out.append(f"  classDef {name} fill:{fill},stroke:{border},color:{ink}")
        members = [ids[box.id] for box in diagram.boxes if box.path == path]
        if members:
            out.append(f"  class {','.join(members)} {name}")
    with_problems = [ids[box.id] for box in diagram.boxes if box.problems]
    if with_problems:
        out.append(f"  classDef problem stroke:{PROBLEM},stroke-width:3px")
        out.append(f"  class {','.join(with_problems)} problem")
    for style, indexes in dashed.items():
        color, _ = EDGE_LOOK[style]
        out.append(f"  linkStyle {','.join(map(str, indexes))} stroke:{color}")
    return "\n".join(out) + "\n"


def mermaid_id(node_id: str) -> str:
    """``n_`` and the id when it is plain, else ``x_`` and its UTF-8 hex."""
    if safe_name(node_id) == node_id:
        return "n_" + node_id
    return "x_" + node_id.encode("utf-8").hex()


def _node(mermaid_name: str, box: Box) -> str:
    opening, closing = SHAPES[box.kind]
    parts = [f"<b>{_text(box.id)}</b>", _text(box.detail)]
    parts += [_text(line) for line in wrap(box.text, TEXT_COLUMNS, 2)]
    parts += [_text("⚠ " + problem) for problem in box.problems]
    return f"{mermaid_name}{opening}{'<br/>'.join(parts)}{closing}"


def _edge_label(arrow: Arrow) -> str:
    if arrow.key is None:
        return _text(arrow.label + (" (default)" if arrow.implied else ""))
    head = arrow.key + (f" {percent(arrow)}" if arrow.share is not None else "")
    words = wrap(" ".join(arrow.words), WORDS_COLUMNS, 1)
    return _text(" ".join([head, *words]))


def _text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: Mermaid's entity codes, one line."""
    text = text.replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("&", "#amp;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return " ".join(text.split())


def _comment(text: str) -> str:
    return " ".join(text.split())
