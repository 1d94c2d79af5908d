"""The day on one picture, for ``ivr report --plot``: a row per queue, three panels.

Read by an operations manager at a glance, so every axis starts at zero, each
target is drawn as a dashed line with its value written on it, and the legends
sit above the panels, never on the data:

- **calls an hour**: bars of how calls that joined the queue ended (answered,
  callback, hung up, other), and the agents on shift as a line;
- **waits**: mean and 90th percentile an hour, against the answer-time target;
- **service and hang-ups**: the share answered within the target and the share
  who hung up, each against its target.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

__all__ = ["plot_day"]

COLOURS = {
    "answered": "#4c9a5b",
    "callback": "#4a7fb5",
    "abandoned": "#c9483c",
    "other": "#b0b0b0",
    "agents": "#222222",
    "target": "#7a4fb0",
}


def _fonts(plt: Any) -> None:
    """Latin text in DejaVu Sans, Chinese queue titles in a CJK font if any."""
    from matplotlib import font_manager

    wanted = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei")
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not names.intersection(wanted):
        # A font cache made before the CJK fonts were installed: look again.
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [name for name in wanted if name in names]
    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk]


def _target(ax: Any, y: float, text: str) -> None:
    ax.axhline(y, color=COLOURS["target"], ls="--", lw=1.2, zorder=1)
    ax.annotate(  # in the margin on the right: never over the data
        text, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
        textcoords="offset points", ha="left", va="center", fontsize=8,
        color=COLOURS["target"],
    )  # fmt: skip


def plot_day(
    report: dict[str, Any],
    path: str,
    *,
    target_s: float = 20.0,
    service_level: float = 0.8,
    max_abandon: float = 0.05,
) -> None:
    """Draw ``report`` (``ivr.report.build_report``) to the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    _fonts(plt)
    queues = report["queues"] or [{"menu": "-", "queue": "no queue", "title": None,
                                   "hours": []}]  # fmt: skip
    hours = sorted({h["start"] for q in queues for h in q["hours"]})
    x = np.arange(len(hours))
    labels = [dt.datetime.fromisoformat(h).strftime("%H:%M") for h in hours]
    fig, axes = plt.subplots(
        len(queues), 3, figsize=(15, 2.7 * len(queues) + 1.4), squeeze=False,
        sharex=True, layout="constrained",
        gridspec_kw={"width_ratios": (1.15, 1, 1)},
    )  # fmt: skip
    for row, queue in enumerate(queues):
        at = {h["start"]: h for h in queue["hours"]}

        def series(key, at=at):
            return np.array(
                [np.nan if at.get(h) is None or at[h][key] is None else at[h][key]
                 for h in hours], float,
            )  # fmt: skip

        offered = np.nan_to_num(series("offered"))
        answered = np.nan_to_num(series("answered"))
        callback = np.nan_to_num(series("callbacks_asked"))
        abandoned = np.nan_to_num(series("abandoned"))
        other = np.clip(offered - answered - callback - abandoned, 0, None)
        ax = axes[row, 0]
        bottom = np.zeros(len(hours))
        for name, values in (("answered", answered), ("callback", callback),
                             ("abandoned", abandoned), ("other", other)):  # fmt: skip
            label = {"callback": "took a callback", "abandoned": "hung up holding",
                     "other": "overflow / closed"}.get(name, name)  # fmt: skip
            ax.bar(x, values, bottom=bottom, color=COLOURS[name], width=0.8,
                   label=label)  # fmt: skip
            bottom += values
        ax.set_ylim(0, max(1.0, bottom.max()) * 1.15)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        title = f"{queue['queue']} {queue['title'] or ''}".strip()
        ax.set_ylabel(f"{title}\ncalls an hour")
        agents = series("agents")
        twin = ax.twinx()
        twin.step(x, agents, where="mid", color=COLOURS["agents"], lw=1.8,
                  label="agents on shift (right axis)")  # fmt: skip
        top = np.nanmax(agents) if np.isfinite(agents).any() else 1.0
        twin.set_ylim(0, max(1.0, top) * 1.3)
        twin.yaxis.set_major_locator(MaxNLocator(integer=True))
        twin.set_ylabel("agents")

        ax = axes[row, 1]
        mean, p90 = series("mean_wait_s"), series("p90_wait_s")
        ax.bar(x, np.nan_to_num(mean), color="#8fb3d9", width=0.8, label="mean wait")
        ax.plot(x, p90, color="#1f4e79", marker="o", ms=4, lw=1.5,
                label="90% waited less than")  # fmt: skip
        finite = [v for v in (*mean, *p90) if math.isfinite(v)]
        ax.set_ylim(0, max([target_s * 1.5, *finite]) * 1.15)
        _target(ax, target_s, f"target\n{target_s:.0f} s")
        ax.set_ylabel("wait (s)")

        ax = axes[row, 2]
        level, gone = series("service_level") * 100, series("p_abandon") * 100
        ax.bar(x, np.nan_to_num(gone), color=COLOURS["abandoned"], width=0.8,
               alpha=0.8, label="hung up holding")  # fmt: skip
        ax.plot(x, level, color=COLOURS["answered"], marker="o", ms=4, lw=1.8,
                label=f"answered within {target_s:.0f} s")  # fmt: skip
        ax.set_ylim(0, 115)
        _target(ax, service_level * 100, f"target\n{service_level:.0%}")
        _target(ax, max_abandon * 100, f"limit\n{max_abandon:.0%}")
        ax.set_ylabel("% of calls offered")

        if row == 0:
            for column, heading in enumerate(
                ("How calls that queued ended", "Waits", "Service and hang-ups")
            ):
                handles, names = axes[0, column].get_legend_handles_labels()
                if column == 0:
                    more, more_names = twin.get_legend_handles_labels()
                    handles, names = handles + more, names + more_names
                axes[0, column].legend(
                    handles, names, loc="lower left", bbox_to_anchor=(0, 1.02),
                    ncol=3, fontsize=8, frameon=False, title=heading,
                    title_fontsize=9, alignment="left",
                )  # fmt: skip
    for ax in axes[-1]:
        step = max(1, len(x) // 12)
        ax.set_xticks(x[::step], labels[::step], rotation=0)
        ax.set_xlabel("hour starting")
    for ax in axes.flat:
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    c = report["containment"]
    day = (report["first"] or "")[:10]
    headline = f"{report['calls']:,} calls {day}"
    if c["calls"]:
        headline += (
            f": {c['self_service'] / c['calls']:.0%} resolved in self-service, "
            f"{c['human_path'] / c['calls']:.0%} took the human path, "
            f"{(c['caller_hangup'] + c['menu_hangup']) / c['calls']:.0%} ended in "
            "the menu unresolved"
        )
    fig.suptitle(headline, fontsize=12, x=0.01, ha="left")
    fig.savefig(path, dpi=100)
    plt.close(fig)
