"""``ivr report``: what happened on the line, read from the store.

It reads the store ``ivr serve`` writes (``--database``, else ``IVR_DATABASE``,
else ``instance/ivr.sqlite3``) and the menus (``--menus``, for the designer's
shares, the queues' titles and the time zone hours are read in), and prints the
figures of ``ivr.report``: as text, ``--json``, a PNG of the day (``--plot``) and
a traffic file that ``ivr simulate`` replays (``--traffic-out``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from ivr.cli import recordings_option
from ivr.cli.erlang import DURATION

__all__ = ["command"]

LABELS = {
    "self_service": "resolved in self-service",
    "menu_hangup": "menu hung up (retries used up)",
    "caller_hangup": "hung up in the menu",
    "answered": "answered by an agent",
    "abandoned": "hung up while holding",
    "callback_asked": "callback asked (not placed yet)",
    "callback_placed": "callback placed (not reached yet)",
    "callback_reached": "callback reached the caller",
    "callback_failed": "callback failed",
    "voicemail": "voicemail",
    "transfer": "transferred",
    "error": "error",
}


def _when(text: str | None, tz: dt.tzinfo, option: str) -> float | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{text}' is not a date or time like '2026-11-11' or '2026-11-11 18:00'",
            param_hint=option,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def _menus(path: str, recordings: str | None) -> dict:
    """The menus of ``path`` by id; none (with a note) if they cannot be read."""
    from ivr.loader import find_menu_files, load_menus

    if not Path(path).exists():
        return {}
    menus, problems = load_menus(find_menu_files([path]), recordings)
    if problems:
        click.echo(
            f"note: {len(problems)} problem(s) in {path}; shares of those menus "
            "are not shown (ivr check says which)",
            err=True,
        )
    return {menu.id: menu for menu in menus}


def _pct(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0%}"


def _sec(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


def _print(report: dict, store_shown: str) -> None:
    echo = click.echo
    if not report["calls"]:
        echo(f"no calls in {store_shown} for this window")
        return
    first, last = report["first"][:16], report["last"][:16]
    echo(
        f"{report['calls']:,} calls from {first.replace('T', ' ')} to "
        f"{last.replace('T', ' ')} ({report['timezone']}), store {store_shown}"
        + (f"; {report['in_progress']} still going" if report["in_progress"] else "")
    )
    echo("")
    for name, figures in report["outcomes"].items():
        echo(f"  {LABELS[name]:<36}{figures['calls']:>7,}{figures['share']:>8.1%}")
    c = report["containment"]
    if c["calls"]:
        echo(
            f"\ncontainment: {c['resolved_share']:.1%} resolved in self-service; "
            f"apart: {c['menu_hangup'] / c['calls']:.1%} hung up on by the menu, "
            f"{c['caller_hangup'] / c['calls']:.1%} hung up in the menu; "
            f"{c['human_path'] / c['calls']:.1%} took the human path"
        )
    if report["drop_off"]:
        echo("\nwhere calls ended in the menu (and queue hang-ups)")
        echo(
            f"  {'node':<28}{'hung up':>9}{'after an answer':>17}"
            f"{'menu gave up':>14}{'holding':>9}"
        )
        for row in report["drop_off"]:
            node = f"{row['menu']}/{row['node']}"
            echo(
                f"  {node:<28}{row['caller_hangup']:>9}{row['self_service']:>17}"
                f"{row['menu_hangup']:>14}{row['abandoned']:>9}"
            )
        echo(
            "  (hung up: before any answer; after an answer: resolved; menu gave "
            "up: retries used up; holding: in the queue)"
        )
    if report["options"]:
        echo("\noptions: measured share [95% interval] | the menu's share")
        labels = [
            f"{o['menu']}/{o['node']} {o['key']}" + (f" -> {o['goto']}" if o["goto"]
                                                    else "")
            for o in report["options"]
        ]  # fmt: skip
        width = max(map(len, labels)) + 1
        for o, label in zip(report["options"], labels, strict=True):
            low, high = o["ci95"]
            expected = "-" if o["menu_share"] is None else f"{o['menu_share']:.0%}"
            counts = f"{o['chosen']}/{o['of']}"
            echo(
                f"  {label:<{width}}{counts:>9}{o['share']:>7.1%} "
                f"[{low:5.1%}-{high:5.1%}] | {expected}"
            )
    for q in report["queues"]:
        title = f" {q['title']}" if q["title"] else ""
        echo(f"\nqueue {q['menu']}/{q['queue']}{title}")
        echo(
            f"  {q['offered']} offered, {q['answered']} answered, {q['abandoned']} "
            f"hung up ({_pct(q['p_abandon'])}), {_pct(q['service_level'])} answered "
            f"within {report['target_s']:.0f} s; wait mean {_sec(q['mean_wait_s'])} s, "
            f"90% {_sec(q['p90_wait_s'])} s; callbacks {q['callbacks_asked']} asked "
            f"({q['callbacks_offered']} callers offered one), "
            f"{q['callbacks_placed']} placed, {q['callbacks_reached']} reached; "
            f"{q['voicemails']} voicemails"
        )
        told = q["announcements"]
        if told["announcements"]:
            echo(
                f"  waits announced to callers later answered: "
                f"{told['announcements']}, {_pct(told['within_tolerance'])} within "
                f"±25% or ±60 s, mean error {told['mean_error_s']:+.0f} s"
            )
        echo(
            f"  {'hour':<7}{'offered':>8}{'answered':>9}{'hung up':>8}{'in target':>10}"
            f"{'mean s':>8}{'p90 s':>7}{'callbacks a/p/r':>16}{'voicemail':>10}"
            f"{'agents':>7}"
        )
        for h in q["hours"]:
            callbacks = (
                f"{h['callbacks_asked']}/{h['callbacks_placed']}/"
                f"{h['callbacks_reached']}"
            )
            echo(
                f"  {h['start'][11:16]:<7}{h['offered']:>8}{h['answered']:>9}"
                f"{h['abandoned']:>8}{_pct(h['service_level']):>10}"
                f"{_sec(h['mean_wait_s']):>8}{_sec(h['p90_wait_s']):>7}"
                f"{callbacks:>16}{h['voicemails']:>10}{h['agents']:>7.1f}"
            )
    if report["voicemails"]:
        echo("\nvoicemails by topic")
        topic = object()
        for v in report["voicemails"]:
            if v["topic"] != topic:
                topic = v["topic"]
                echo(f"  {topic or '(no queue)'}")
            seconds = "" if v["seconds"] is None else f"{v['seconds']:.0f} s"
            echo(
                f"    {v['at'][:16].replace('T', ' ')}  {v['caller'] or '-'}  "
                f"{seconds:>5}  {v['recording_url'] or '(nothing recorded)'}"
            )


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@click.command(name="report")
@click.option(
    "--database",
    envvar="IVR_DATABASE",
    default=os.path.join("instance", "ivr.sqlite3"),
    show_default=True,
    help="The store: a SQLite file or a postgresql:// URL [env IVR_DATABASE].",
)
@click.option("--menus", default="menus", show_default=True, type=click.Path())
@recordings_option
@click.option("--since", help="From this local date or time, e.g. '2026-11-11 16:00'.")
@click.option("--until", help="Up to (not including) this local date or time.")
@click.option("--menu", "menu_id", help="Only the calls to this menu (its id).")
@click.option("--target", type=DURATION, default=20.0, help="Answer-time target.")
@click.option("--service-level", type=float, default=0.8, show_default=True)
@click.option("--max-abandon", type=float, default=0.05, show_default=True)
@click.option("--show-numbers", is_flag=True, help="Callers' numbers in clear.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the day (PNG).")
@click.option(
    "--traffic-out",
    type=click.Path(dir_okay=False),
    help="Write a traffic file of the measured day, for ivr simulate.",
)
@click.option("--interval", type=DURATION, default=900.0, help="For --traffic-out.")
def command(
    database, menus, recordings, since, until, menu_id, target, service_level,
    max_abandon, show_numbers, as_json, plot, traffic_out, interval,
):  # fmt: skip
    """What happened on the line: containment, drop-off, options, queues."""
    from ivr.report import build_report
    from ivr.store import Store

    loaded = _menus(menus, recordings)
    if menu_id and loaded and menu_id not in loaded:
        raise click.BadParameter(
            f"no menu '{menu_id}' in {menus} (menus: {', '.join(loaded)})",
            param_hint="--menu",
        )
    shown = loaded.get(menu_id) if menu_id else next(iter(loaded.values()), None)
    tz = ZoneInfo(shown.hours.timezone) if shown and shown.hours else dt.UTC
    start, end = _when(since, tz, "--since"), _when(until, tz, "--until")
    if not database.startswith("postgres") and not Path(database).exists():
        raise click.UsageError(
            f"no store at '{database}': run `ivr serve`, or fill one with "
            "`ivr simulate MENU --store FILE`, then give --database FILE"
        )
    store = Store(database)
    try:
        records = store.call_records(since=start, until=end, menu=menu_id)
        agents = store.call_records(since=None, until=end, kind="agent")
    except Exception as error:
        raise click.ClickException(
            f"cannot read the store {store.shown}: {type(error).__name__}: {error}"
        ) from None
    finally:
        store.database.dispose()
    report = build_report(
        records, agents, loaded, tz=tz, target_s=target, show_numbers=show_numbers
    )
    if as_json:
        click.echo(json.dumps(_clean(report), indent=2, ensure_ascii=False))
    else:
        _print(report, store.shown)
    if plot:
        from ivr.reportplot import plot_day

        plot_day(
            report, plot, target_s=target, service_level=service_level,
            max_abandon=max_abandon,
        )  # fmt: skip
        if not as_json:
            click.echo(f"\nplot written to {plot}")
    if traffic_out:
        _write_traffic(records, loaded, menu_id, tz, interval, traffic_out, store)
        if not as_json:
            click.echo(f"traffic file written to {traffic_out}")


def _write_traffic(records, loaded, menu_id, tz, interval, path, store) -> None:
    from ivr.measured import measure_traffic, traffic_yaml

    ids = sorted({r["menu"] for r in records if r["menu"]})
    chosen = menu_id or (ids[0] if len(ids) == 1 else None)
    if chosen is None:
        raise click.UsageError(
            "the calls reached several menus (" + ", ".join(ids) + "): a traffic "
            "file is for one; choose it with --menu"
            if ids
            else "no calls to write a traffic file from"
        )
    if chosen not in loaded:
        raise click.UsageError(
            f"menu '{chosen}' is not in --menus: its options are needed"
        )
    try:
        traffic = measure_traffic(records, loaded[chosen], tz=tz, interval_s=interval)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    note = (
        f"Measured by `ivr report` from {store.shown}: {len(records)} calls to "
        f"{chosen}.\nReplay: ivr simulate MENU --traffic {Path(path).name}"
    )
    Path(path).write_text(traffic_yaml(traffic, note), encoding="utf-8")
