"""``ivr staff``: the fewest agents that meet service-level and abandonment targets."""

from __future__ import annotations

import click

from ivr import queueing
from ivr.cli.erlang import DURATION, figures_json, print_figures

__all__ = ["command"]


@click.command(name="staff")
@click.option("--calls-per-hour", type=float, required=True, help="Arrival rate.")
@click.option("--handle-time", type=DURATION, required=True, help="Mean, e.g. 5m.")
@click.option(
    "--patience", type=DURATION, default=None, help="Mean patience (Erlang A)."
)
@click.option(
    "--service-level", type=float, default=None, help="Share answered in --target."
)
@click.option("--target", type=DURATION, default=20.0, help="Answer-time target.")
@click.option("--max-wait", type=DURATION, default=None, help="Mean wait limit.")
@click.option("--max-abandon", type=float, default=None, help="Abandonment limit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(
    calls_per_hour,
    handle_time,
    patience,
    service_level,
    target,
    max_wait,
    max_abandon,
    as_json,
):
    """The fewest agents meeting --service-level, --max-wait and/or --max-abandon."""
    if service_level is None and max_wait is None and max_abandon is None:
        raise click.UsageError(
            "give at least one target: --service-level, --max-wait or --max-abandon"
        )
    try:
        result = queueing.staff(
            calls_per_hour,
            handle_time,
            patience_s=patience,
            service_level=service_level,
            target_s=target,
            max_asa_s=max_wait,
            max_abandon=max_abandon,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        click.echo(figures_json(result))
    else:
        click.echo(f"{result.agents} agents needed")
        print_figures(result)
