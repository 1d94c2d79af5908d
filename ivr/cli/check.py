"""``ivr check``: proof-read menu files and name every mistake with its line."""

from __future__ import annotations

import click

from ivr.cli import recordings_option
from ivr.loader import check_menus, find_menu_files, find_roster, load_line


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@recordings_option
@click.option(
    "--strict", is_flag=True, help="Fail on warnings too, not only on problems."
)
def command(paths: tuple[str, ...], recordings: str | None, strict: bool) -> None:
    """Check menu files (default: menus/) and report each problem as file:line.

    Traps a hotline must not ship (no way to a person, a prompt asking for an SMS
    code or a password...) are reported as `file:line: warning: message`. Exits 0
    with a one-line summary when no menu has a problem, 1 when any has (or, with
    --strict, any has a warning).
    """
    paths = paths or ("menus",)
    files = find_menu_files(paths)
    roster_path = find_roster(paths)
    if not files and roster_path is None:
        raise click.UsageError(f"no menu files in {', '.join(paths)}")
    report = check_menus(files, recordings)
    # The agent roster beside the menus (menus/agents.yaml), checked against them.
    _, roster, roster_problems = load_line(paths, recordings, menus=report.menus)
    report.add(roster_problems)
    for line in report.lines:
        click.echo(line, err=True)
    problems, warnings = len(report.problems), len(report.warnings)
    found = _count(problems, "problem") + (
        f", {_count(warnings, 'warning')}" if warnings else ""
    )
    if problems or (strict and warnings):
        roster_note = " and the agent roster" if roster_path is not None else ""
        click.echo(f"{found} in {len(files)} menu file(s){roster_note}", err=True)
        raise SystemExit(1)
    nodes = sum(len(menu.nodes) for menu in report.menus)
    agents = f", {len(roster.agents)} agent(s)" if roster else ""
    click.echo(f"ok: {len(report.menus)} menu(s), {nodes} nodes{agents}, {found}")


def _count(number: int, noun: str) -> str:
    if number == 0:
        return f"no {noun}s"
    return f"{number} {noun}" + ("" if number == 1 else "s")
