"""``ivr check``: proof-read menu files and name every mistake with its line."""

from __future__ import annotations

import click

from ivr.loader import find_menu_files, load_line


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--recordings",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of audio prompts [default: recordings/ beside the menus folder].",
)
def command(paths: tuple[str, ...], recordings: str | None) -> None:
    """Check menu files (default: menus/) and report each problem as file:line.

    Exits 0 with a one-line summary when every menu is clean, 1 when any is not.
    """
    paths = paths or ("menus",)
    files = find_menu_files(paths)
    if not files:
        raise click.UsageError(f"no menu files in {', '.join(paths)}")
    menus, roster, problems = load_line(paths, recordings)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        click.echo(f"{len(problems)} {noun} in {len(files)} menu file(s)", err=True)
        raise SystemExit(1)
    nodes = sum(len(menu.nodes) for menu in menus)
    agents = f", {len(roster.agents)} agent(s)" if roster else ""
    click.echo(f"ok: {len(menus)} menu(s), {nodes} nodes{agents}, no problems")
