"""``ivr test [PATH...]``: replay scenario files and report coverage, or fuzz.

Each menu's ``NAME.calls.yaml`` is run through the menu's own app in process.
A failure prints as ``file:line: scenario 'NAME': expected ..., got ...`` and
makes the command exit 1; nodes and options that no scenario reached are listed
after (coverage gaps are reported, not failed). ``--fuzz N`` instead makes N
random calls through each menu and lists every call that ended in an error with
the ``ivr call`` command that replays it.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import click

from ivr.cli import recordings_option
from ivr.loader import MenuError

_SHOWN_PER_ERROR = 3


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--fuzz",
    "fuzz",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Make N random calls through each menu.",
)
@click.option("--seed", type=int, default=None, help="Seed of the random calls.")
@recordings_option
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_context
def command(
    ctx: click.Context,
    paths: tuple[str, ...],
    fuzz: int | None,
    seed: int | None,
    recordings: str | None,
    as_json: bool,
) -> None:
    """Run the scenario files of menus (default: menus/) or fuzz them."""
    from ivr.testing.menuline import MenuLine
    from ivr.testing.scenarios import menus_with_scenarios

    targets = list(paths) or ["menus"]
    for target in targets:
        if not Path(target).exists():
            raise click.BadParameter(
                f"no such file or folder: '{target}'", param_hint="PATH"
            )
    menu_paths = menus_with_scenarios(targets)
    if not menu_paths:
        raise click.UsageError(f"no menu files in {', '.join(targets)}")
    failed = False
    lines: dict[Path, MenuLine] = {}
    for path in menu_paths:
        try:
            lines[path] = MenuLine(path, recordings_dir=recordings)
        except MenuError as error:
            for problem in error.problems:
                click.echo(problem, err=True)
            failed = True
    if fuzz is not None:
        failed |= _fuzz(lines, fuzz, seed, as_json)
    else:
        failed |= _scenarios(lines, as_json)
    if failed:
        ctx.exit(1)


def _scenarios(lines: dict[Path, Any], as_json: bool) -> bool:
    from ivr.testing.scenarios import ScenarioError, run_scenarios, scenario_path

    failed = False
    out: list[dict[str, Any]] = []
    for path, line in lines.items():
        calls = scenario_path(path)
        if not calls.exists():
            if not as_json:
                click.echo(f"{path}: no scenario file ({calls})")
            out.append({"menu": str(path), "scenarios": 0, "failures": []})
            continue
        try:
            report = run_scenarios(path, line)
        except ScenarioError as error:
            for problem in error.problems:
                click.echo(problem, err=True)
            failed = True
            continue
        failed |= bool(report.failures)
        gaps = report.coverage.lines() if report.coverage else []
        out.append(
            {
                "menu": str(path),
                "scenarios": report.scenarios,
                "failures": report.failures,
                "not_covered": gaps,
            }
        )
        if as_json:
            continue
        for failure in report.failures:
            click.echo(failure)
        passed = report.scenarios - len(report.failed)
        click.echo(f"{calls}: {passed}/{report.scenarios} scenarios passed")
        if gaps:
            click.echo(f"{path}: coverage: {len(gaps)} not reached")
            for gap in gaps:
                click.echo(f"  {gap}")
        else:
            click.echo(f"{path}: coverage: every node and option reached")
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    return failed


def _fuzz(lines: dict[Path, Any], calls: int, seed: int | None, as_json: bool) -> bool:
    from ivr.testing.fuzz import fuzz_menu

    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    failed = False
    out: list[dict[str, Any]] = []
    for path, line in lines.items():
        report = fuzz_menu(path, calls, random.Random(seed), line)
        failed |= bool(report.findings)
        out.append(
            {
                "menu": str(path),
                "seed": seed,
                "calls": report.calls,
                "outcomes": dict(report.outcomes),
                "findings": [f.to_json() for f in report.findings],
            }
        )
        if as_json:
            continue
        outcomes = ", ".join(f"{k} {v}" for k, v in report.outcomes.most_common())
        click.echo(f"{path}: {report.calls} random calls (seed {seed}): {outcomes}")
        if report.coverage is not None:
            gaps = report.coverage
            nodes = len(gaps.menu.nodes)
            click.echo(
                f"{path}: the random calls reached "
                f"{nodes - len(gaps.missed_nodes)}/{nodes} nodes; options never "
                f"chosen: {len(gaps.missed_options)}"
            )
        by_error: dict[str, list[str]] = defaultdict(list)
        for finding in report.findings:
            by_error[finding.error].append(finding.command)
        for error, commands in by_error.items():
            click.echo(f"{path}: {len(commands)} call(s) ended in error: {error}")
            for command_line in sorted(commands, key=len)[:_SHOWN_PER_ERROR]:
                click.echo(f"  reproduce: {command_line}")
            if len(commands) > _SHOWN_PER_ERROR:
                click.echo(
                    f"  ... and {len(commands) - _SHOWN_PER_ERROR} more "
                    "(all of them with --json)"
                )
        if not report.findings:
            click.echo(f"{path}: no errors found")
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    return failed
