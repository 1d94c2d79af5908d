"""``ivr erlang``: waits, service level and abandonment from Erlang C/A."""

from __future__ import annotations

import json
import math

import click

from ivr import queueing
from ivr.durations import format_duration, parse_duration

__all__ = ["DURATION", "command", "print_figures"]


class Duration(click.ParamType):
    """A click parameter for ``45s``, ``4m``, ``1h`` or plain seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION = Duration()

FIGURE_KEYS = (
    "p_wait",
    "asa_s",
    "mean_wait_served_s",
    "service_level",
    "p_abandon",
    "occupancy",
)


def _seconds(value: float) -> str:
    if math.isinf(value):
        return "unbounded (load >= agents: the queue grows without limit)"
    return f"{value:.1f} s" if value < 600 else f"{value:.0f} s"


def print_figures(result: queueing.QueueFigures) -> None:
    """Print figures as a short table an operator reads."""
    model = "Erlang C" if result.patience_s is None else "Erlang A"
    click.echo(
        f"{model}: {result.calls_per_hour:g} calls/h, handle "
        f"{format_duration(result.handle_s)}, {result.agents} agents"
        + (
            f", patience {format_duration(result.patience_s)}"
            if result.patience_s is not None
            else ""
        )
        + f" (load {result.load_erlangs:.2f} erlangs)"
    )
    target = format_duration(result.target_s)
    rows = [
        ("wait at all", f"{result.p_wait:.2%}"),
        ("mean wait, all callers", _seconds(result.asa_s)),
        ("mean wait, answered", _seconds(result.mean_wait_served_s)),
        (f"answered within {target}", f"{result.service_level:.2%}"),
        ("hang up waiting", f"{result.p_abandon:.2%}"),
        ("agent occupancy", f"{result.occupancy:.2%}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value}")


def figures_json(result: queueing.QueueFigures, extra: dict | None = None) -> str:
    data = result.as_dict()
    out = {key: data[key] for key in FIGURE_KEYS}
    out.update(
        agents=result.agents,
        calls_per_hour=result.calls_per_hour,
        handle_s=result.handle_s,
        patience_s=result.patience_s,
        target_s=result.target_s,
        stable=result.stable,
    )
    out.update(extra or {})
    return json.dumps(out, indent=2)


@click.command(name="erlang")
@click.option("--calls-per-hour", type=float, required=True, help="Arrival rate.")
@click.option("--handle-time", type=DURATION, required=True, help="Mean, e.g. 5m.")
@click.option("--agents", type=int, required=True, help="Agents answering.")
@click.option(
    "--patience", type=DURATION, default=None, help="Mean patience (Erlang A)."
)
@click.option("--target", type=DURATION, default=20.0, help="Answer-time target.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def command(calls_per_hour, handle_time, agents, patience, target, as_json):
    """Waits, service level and abandonment from Erlang C (or A with --patience)."""
    try:
        result = queueing.figures(calls_per_hour, handle_time, agents, patience, target)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        click.echo(figures_json(result))
    else:
        print_figures(result)
