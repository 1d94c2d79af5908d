"""How a diagram looks, whatever draws it: colours, line styles, short labels.

The self-service path is drawn in a blue family and the human path in an orange
one; ways out on failure are dashed red, a queue's exits (closed, waited too long)
dashed purple, the replay of a prompt dotted grey; problems are red.
"""

from __future__ import annotations

import unicodedata

from ivr.graph.model import HUMAN, SELF_SERVICE, Arrow

__all__ = [
    "EDGE_LOOK",
    "PALETTE",
    "PROBLEM",
    "TEXT_COLUMNS",
    "WORDS_COLUMNS",
    "percent",
    "wrap",
]

# (fill, border, text) per path.
PALETTE = {
    HUMAN: ("#fde8d7", "#c2571a", "#5a2a0c"),
    SELF_SERVICE: ("#e2edfa", "#2c6bb3", "#14365e"),
}
PROBLEM = "#d62728"
# (colour, line style) per arrow style.
EDGE_LOOK = {
    "normal": ("#4d4d4d", "solid"),
    "retry": ("#9a9a9a", "dotted"),
    "failure": ("#c0392b", "dashed"),
    "queue": ("#8e44ad", "dashed"),
}
TEXT_COLUMNS = 30  # a prompt is shown on at most two lines this wide
WORDS_COLUMNS = 18  # an option's spoken words, per line


def percent(arrow: Arrow) -> str:
    """An option's share as a designer reads it: ``38%``, or ``≈6%`` when it is
    the option's part of what the given shares leave."""
    approx = "≈" if arrow.share_implied else ""
    return f"{approx}{(arrow.share or 0) * 100:.0f}%"


def wrap(text: str, columns: int, max_lines: int) -> list[str]:
    """``text`` on lines at most ``columns`` wide (a CJK character is two wide),
    ending in ``…`` when cut after ``max_lines``; breaks at spaces where it can."""
    text = " ".join(text.split())
    lines: list[str] = []
    while text and len(lines) < max_lines:
        width = 0
        cut = len(text)
        space = -1
        for index, char in enumerate(text):
            width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
            if char == " ":
                space = index
            if width > columns:
                cut = space if space > 0 else index
                break
        lines.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text and lines:
        lines[-1] = lines[-1][:-1] + "…"
    return lines
