"""``ivr graph MENU``: the menu as a diagram (SVG, PNG, Graphviz DOT or Mermaid).

SVG and PNG are laid out by Graphviz's ``dot`` program; DOT and Mermaid are text
and need nothing else. The format comes from ``--format``, else from the suffix
of ``-o``; without either, DOT goes to standard output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.graph import HUMAN, GraphvizMissing, describe_menu, render, to_dot, to_mermaid
from ivr.loader import MenuError, load_menu

FORMATS = ("svg", "png", "dot", "mermaid")
SUFFIXES = {
    ".svg": "svg",
    ".png": "png",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
}


@click.command("graph")
@click.argument("menu", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="File to write (- for standard output) [default: standard output].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Diagram format [default: from the suffix of -o, else dot].",
)
@click.option(
    "--recordings",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of audio prompts [default: recordings/ beside the menus folder].",
)
def command(
    menu: str, output: str | None, fmt: str | None, recordings: str | None
) -> None:
    """Draw MENU: a box per node, the self-service path in blue, the human path
    in orange, ways out on failure dashed. See docs/graph.md for the legend.

    \b
      ivr graph menus/shop.yaml -o shop.svg
      ivr graph menus/shop.yaml --format mermaid > shop.mmd
      ivr graph menus/shop.yaml | dot -Tpdf -o shop.pdf
    """
    fmt = fmt or _format_of(output)
    if fmt in ("svg", "png") and output is None:
        raise click.UsageError(
            f"{fmt} is a picture: give -o FILE (or -o - to write it to standard output)"
        )
    try:
        loaded = load_menu(menu, recordings)
    except MenuError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        count = len(error.problems)
        noun = "problem" if count == 1 else "problems"
        click.echo(f"{count} {noun} in 1 menu file(s): nothing drawn", err=True)
        raise SystemExit(1) from None
    diagram = describe_menu(loaded)
    if fmt in ("svg", "png"):
        try:
            data = render(diagram, fmt)
        except GraphvizMissing as error:
            click.echo(f"Error: {error}", err=True)
            raise SystemExit(1) from None
    else:
        text = to_dot(diagram) if fmt == "dot" else to_mermaid(diagram)
        data = text.encode("utf-8")
    if output is None or output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    Path(output).write_bytes(data)
    human = sum(box.path == HUMAN for box in diagram.boxes)
    click.echo(
        f"wrote {output}: {len(diagram.boxes)} nodes ({human} on the human path), "
        f"{len(diagram.arrows)} arrows",
        err=True,
    )


def _format_of(output: str | None) -> str:
    if output is None or output == "-":
        return "dot"
    suffix = Path(output).suffix.lower()
    if suffix not in SUFFIXES:
        raise click.UsageError(
            f"cannot tell the format from '{output}': name it .svg, .png, .dot or "
            ".mmd, or give --format"
        )
    return SUFFIXES[suffix]
