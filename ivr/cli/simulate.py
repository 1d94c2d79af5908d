"""``ivr simulate``: one queue in steady state, or a day's traffic through a menu.

Without MENU it simulates the queue ``ivr erlang`` describes (same options, same
JSON keys plus ``callers`` and ``ci95``). With MENU and ``--traffic`` it walks the
day's callers through the menu into its queues and prints, per queue and
interval, the simulated figures beside the hour-by-hour Erlang ones.
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import nullcontext
from pathlib import Path

import click

from ivr.cli.erlang import DURATION, FIGURE_KEYS

__all__ = ["command"]

DAY_CALLS = 300.0  # --store without --scale: about this many calls


def _progress(total: int, label: str, quiet: bool):
    """A progress bar on a terminal; nothing with --json or when piped."""
    if quiet or not sys.stderr.isatty():
        return nullcontext(None)
    return click.progressbar(length=total, label=label, file=sys.stderr)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _single_queue(
    calls_per_hour, handle_time, handle_spread, agents, patience, callers, seed,
    replications, target, as_json,
):  # fmt: skip
    from ivr import queueing
    from ivr import simulation as sim

    if calls_per_hour is None or handle_time is None or agents is None:
        raise click.UsageError(
            "give MENU --traffic FILE, or --calls-per-hour, --handle-time and "
            "--agents for one queue"
        )
    try:
        handle = (
            sim.lognormal(handle_time, handle_spread)
            if handle_spread
            else sim.exponential(handle_time)
        )
        impatience = sim.exponential(patience) if patience else sim.NEVER
        with _progress(replications, "simulating", as_json) as bar:
            result = sim.simulate_erlang(
                calls_per_hour, handle, agents, impatience, callers=callers,
                seed=seed, replications=replications, target_s=target,
                progress=bar.update if bar else None,
            )  # fmt: skip
        exact = queueing.figures(calls_per_hour, handle_time, agents, patience, target)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        out = {key: result[key] for key in FIGURE_KEYS}
        out["callers"] = result["callers"]
        out["ci95"] = {key: result["ci95"][key] for key in FIGURE_KEYS}
        click.echo(json.dumps(_clean(out), indent=2))
        return
    model = "Erlang C" if patience is None else "Erlang A"
    click.echo(
        f"{result['callers']:,} callers in {replications} replications (seed {seed})"
    )
    click.echo(f"  {'figure':<20}{'simulated':>12}{'± 95%':>10}{model:>12}")
    for key in FIGURE_KEYS:
        value, half, want = result[key], result["ci95"][key], getattr(exact, key)
        mark = "" if abs(value - want) <= half else "  outside"
        click.echo(f"  {key:<20}{value:>12.4f}{half:>10.4f}{want:>12.4f}{mark}")


def _ring(menu, plan, store, scale, seed, as_json) -> None:
    """``--store``: the day as calls through the webhooks (``ivr.testing.daycalls``)."""
    import time

    from ivr.testing.daycalls import ring_day

    if scale is None:  # a day to look at in a minute or two
        scale = min(1.0, DAY_CALLS / max(sum(plan.calls), 1.0))
    began = time.monotonic()
    try:
        day = ring_day(menu, plan, store, scale=scale, seed=seed)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    seconds = time.monotonic() - began
    if as_json:
        figures = {
            "callers": day.callers,
            "agent_shifts": day.agent_shifts,
            "requests": day.requests,
            "store": store,
            "seconds": seconds,
        }
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(
        f"{day.callers:,} calls (the traffic x {scale:.3g}) and {day.agent_shifts} "
        f"agent shifts rang the webhooks ({day.requests:,} requests, {seconds:.0f} s) "
        f"into {store}\n"
        f"See them: ivr report --database {store}"
    )


def _table(result, as_json: bool) -> None:
    plan = result.plan
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    total = sum(result.ends.values())
    ends = ", ".join(
        f"{kind.replace('_', ' ')} {count / total:.1%}"
        for kind, count in result.ends.items()
        if count
    )
    click.echo(
        f"{total:,.0f} callers a day on average ({result.replications} "
        f"replications): {ends}"
    )
    if result.recorded:
        click.echo(
            "recorded a day on average: "
            + ", ".join(
                f"{name} {n:,.1f}" for name, n in sorted(result.recorded.items())
            )
        )
    click.echo(
        "Each row: simulated (± 95%) | hour-by-hour Erlang; * where Erlang lies "
        "outside the interval; told: wait announcements within ±25% or ±60 s."
    )
    for qid in result.mean:
        click.echo(f"\nqueue {qid}")
        click.echo(
            f"  {'start':<6}{'calls':>6}{'agents':>7}{'mean wait s':>22}"
            f"{'p90 s':>7}{'answered in target':>24}{'hung up':>20}{'occ':>6}"
            f"{'told':>6}"
        )
        for i in range(len(plan.calls)):
            m, h, e = result.mean[qid][i], result.ci95[qid][i], result.erlang[qid][i]
            if not m["offered"]:
                continue
            bad = result.disagree[qid][i]

            def cell(key, fmt, scale=1.0, m=m, h=h, e=e, bad=bad):
                sim = f"{m[key] * scale:{fmt}}±{h[key] * scale:{fmt}}"
                exact = "-" if e is None else f"{e[key] * scale:{fmt}}"
                star = "*" if key in bad else " "
                return f"{sim} |{exact:>6}{star}"

            click.echo(
                f"  {plan.interval_start(i):%H:%M} {m['offered']:>6.0f}"
                f"{result.agents[qid][i]:>7}{cell('asa_s', '.0f'):>22}"
                f"{m['p90_wait_s']:>7.0f}{cell('service_level', '.0%'):>24}"
                f"{cell('p_abandon', '.0%'):>20}{m['occupancy']:>6.0%}"
                f"{_share(result, qid, i):>6}"
            )
        if qid in result.told:
            _told_lines(result, qid, f"queue {qid}")
    if len(result.told) > 2:
        click.echo("")
        _told_lines(result, "all", "all queues")


def _share(result, qid: str, index: int) -> str:
    """The interval's share of announcements within tolerance, or blank."""
    told = result.told_by_interval.get(qid)
    if not told or not told[index]["announcements"]:
        return ""
    return f"{told[index]['within_tolerance']:.0%}"


def _told_lines(result, qid: str, label: str) -> None:
    """How right the wait announcements were, for one queue or all of them."""
    m, h = result.told[qid], result.told_ci95[qid]
    if not m["announcements"]:
        click.echo(f"  {label}: no announcements to callers later answered")
        return
    click.echo(
        f"  {label}: {m['announcements']:,.0f} announcements to callers later "
        f"answered, {m['within_tolerance']:.1%} ± {h['within_tolerance']:.1%} "
        f"within ±25% or ±60 s of the wait they had, mean error "
        f"{m['mean_error_s']:+.1f} ± {h['mean_error_s']:.1f} s"
    )
    line = f"    {m['hung_up_announced']:,.0f} hung up after hearing a wait"
    if not math.isnan(m["callback_offers"]):
        line += (
            f"; callbacks: {m['callbacks_taken']:,.0f} taken on joining, "
            f"{m['callback_offers']:,.0f} offers while holding, "
            f"{m['callback_needless']:,.0f} of them to callers answered within "
            f"callback_after, {m['callback_missed']:,.0f} times not offered to "
            "callers who waited longer"
        )
    click.echo(line)


def _plot(result, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plan = result.plan
    queues = list(result.mean)
    fig, axes = plt.subplots(
        len(queues),
        2,
        figsize=(15, 2.6 * len(queues)),
        sharex=True,
        squeeze=False,
        gridspec_kw={"width_ratios": (2, 1)},
    )
    x = np.arange(len(plan.calls))
    labels = [plan.interval_start(i).strftime("%H:%M") for i in x]
    for ax, qid in zip(axes[:, 1], queues, strict=True):
        _plot_told(ax, result, qid, x)
    for ax, qid in zip(axes[:, 0], queues, strict=True):
        mean = np.array([m["asa_s"] for m in result.mean[qid]], float)
        half = np.array([h["asa_s"] for h in result.ci95[qid]], float)
        erl = np.array(
            [np.nan if e is None else e["asa_s"] for e in result.erlang[qid]], float
        )
        ax.fill_between(x, mean - half, mean + half, alpha=0.3, label="95% interval")
        ax.plot(x, mean, marker="o", ms=3, label="simulated mean wait")
        ax.plot(x, erl, ls="--", label="hour-by-hour Erlang")
        ax.set_ylabel(f"{qid}\nwait (s)")
        twin = ax.twinx()
        twin.step(x, result.agents[qid], where="post", color="grey", lw=1)
        twin.set_ylabel("agents", color="grey")
        ax.legend(loc="upper left", fontsize=7)
    for ax in axes[-1]:
        ax.set_xticks(x[::2], labels[::2], rotation=45)
    fig.suptitle(
        f"{plan.day}: mean wait by interval, simulated vs Erlang; "
        "wait announcements against the waits callers had"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_told(ax, result, qid: str, x) -> None:
    """Per interval: mean error of the announced waits and the share within
    tolerance (an empty interval is left blank)."""
    import numpy as np

    told = result.told_by_interval.get(qid) or []
    error = np.array([t["mean_error_s"] for t in told], float)
    share = np.array([t["within_tolerance"] for t in told], float)
    ax.bar(x, error, color="tab:orange", alpha=0.7, label="mean error (s)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("said − actual (s)")
    twin = ax.twinx()
    twin.plot(x, share * 100, marker="o", ms=3, color="tab:green")
    twin.set_ylim(0, 105)
    twin.set_ylabel("within ±25%/60 s (%)", color="tab:green")
    if qid in result.told:
        whole = result.told[qid]
        ax.set_title(
            f"{qid}: {whole['within_tolerance']:.1%} within, "
            f"mean error {whole['mean_error_s']:+.0f} s",
            fontsize=8,
        )


@click.command(name="simulate")
@click.argument("menu", required=False, type=click.Path(dir_okay=False))
@click.option("--traffic", type=click.Path(dir_okay=False), help="Calls per interval.")
@click.option("--calls-per-hour", type=float, help="One queue: arrival rate.")
@click.option("--handle-time", type=DURATION, help="One queue: mean handle time.")
@click.option("--handle-spread", type=DURATION, help="Log-normal handle spread.")
@click.option("--agents", type=int, help="One queue: agents.")
@click.option("--patience", type=DURATION, help="Mean patience (exponential).")
@click.option("--callers", type=int, default=100_000, show_default=True)
@click.option("--replications", type=int, default=None, help="Runs (default 10).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--target", type=DURATION, default=20.0, help="Answer-time target.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw a PNG.")
@click.option("--staff", is_flag=True, help="Propose agents per interval.")
@click.option("--service-level", type=float, default=0.8, show_default=True)
@click.option("--max-abandon", type=float, default=0.05, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--store",
    help="Ring the day's calls through the menu's webhooks into this store "
    "(a SQLite file or postgresql:// URL) for `ivr report`, instead.",
)
@click.option(
    "--scale",
    type=float,
    help="With --store: the traffic's calls times this [default: about 300 calls].",
)
def command(
    menu, traffic, calls_per_hour, handle_time, handle_spread, agents, patience,
    callers, replications, seed, target, plot, staff, service_level, max_abandon,
    as_json, store, scale,
):  # fmt: skip
    """Simulate one queue, or a day's TRAFFIC through MENU and its queues."""
    if menu is None:
        _single_queue(
            calls_per_hour, handle_time, handle_spread, agents, patience, callers,
            seed, replications or 10, target, as_json,
        )  # fmt: skip
        return
    from ivr.day import propose_staffing, simulate_day
    from ivr.loader import MenuError, load_menu
    from ivr.traffic import TrafficError, load_traffic, traffic_path

    try:
        loaded = load_menu(menu)
    except MenuError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    traffic = traffic or traffic_path(menu)
    if not Path(traffic).exists():
        raise click.UsageError(
            f"no traffic file '{traffic}': write one (see docs/queueing.md) or "
            "give --traffic FILE"
        )
    try:
        plan = load_traffic(traffic, loaded)
    except TrafficError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    if store:
        _ring(menu, plan, store, scale, seed, as_json)
        return
    reps = replications or 10
    queues = len(loaded.queues)
    try:
        if staff:
            with _progress(reps * queues * 9, "staffing", as_json) as bar:
                proposal, result = propose_staffing(
                    loaded, plan, service_level=service_level, target_s=target,
                    max_abandon=max_abandon, seed=seed, replications=reps,
                    progress=bar.update if bar else None,
                )  # fmt: skip
        else:
            with _progress(reps * queues, "simulating", as_json) as bar:
                result = simulate_day(
                    loaded, plan, seed=seed, replications=reps, target_s=target,
                    progress=bar.update if bar else None,
                )  # fmt: skip
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    if staff and as_json:
        click.echo(json.dumps({"agents": proposal, **result.as_dict()}, indent=2))
    else:
        _table(result, as_json)
    if staff and not as_json:
        click.echo("\nproposed agents per interval (meets the target in simulation):")
        for qid, counts in proposal.items():
            click.echo(f"  {qid}: " + " ".join(str(n) for n in counts))
        short = [
            f"{qid} {plan.interval_start(i):%H:%M}"
            for qid, rows in result.mean.items()
            for i, m in enumerate(rows)
            if m["offered"]
            and (
                m["service_level"] < service_level
                or (max_abandon is not None and m["p_abandon"] > max_abandon)
            )
        ]
        if short:
            click.echo("still short after the last round: " + ", ".join(short))
    if plot:
        _plot(result, plot)
        if not as_json:
            click.echo(f"\nplot written to {plot}")
