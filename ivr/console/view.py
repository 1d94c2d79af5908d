"""What the console's templates are given: plain dictionaries, built here.

The blueprint (``ivr.web.console``) stays a list of routes; the shapes of the
menu list, a menu's graph and a call's snapshot as the page shows them are
made here, without Flask, so they can be tested on their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivr.console.pictures import menu_svg, problems_of
from ivr.console.replay import Snapshot
from ivr.console.timeline import detail, digest, recording_path, rows, zone_of
from ivr.graph import GraphvizMissing, safe_name
from ivr.menu import Menu

__all__ = ["call_view", "graph_view", "menu_rows", "shown_path"]

NEVER_LOADED = ": has problems and never loaded: not served"


def shown_path(path: str | Path) -> str:
    """A file as the designer knows it: relative to the working folder."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def menu_rows(menu_set: Any) -> dict[str, Any]:
    """The menu list: each menu served, and the files that are not."""
    menus = []
    for menu in menu_set.menus.values():
        problems = problems_of(menu.path, menu_set.problems)
        menus.append(
            {
                "id": menu.id,
                "title": menu.title,
                "path": shown_path(menu.path),
                "numbers": list(menu.numbers),
                "nodes": len(menu.nodes),
                "problems": len([p for p in problems if _located(p)]),
                "last_good": bool(problems),
                "default": menu is menu_set.default,
            }
        )
    unserved = [
        p.removesuffix(NEVER_LOADED) for p in menu_set.problems if NEVER_LOADED in p
    ]
    return {"menus": menus, "unserved": unserved}


def _located(problem: str) -> bool:
    """A ``file:line: message`` problem (not the note of which version serves)."""
    head = problem.split(": ", 1)[0]
    return head.rsplit(":", 1)[-1].isdigit()


def graph_view(menu_set: Any, menu: Menu) -> dict[str, Any]:
    """A menu's graph and problems; a broken edit: the last good menu, the new
    file's problems listed and marked on the nodes whose lines hold them."""
    problems = problems_of(menu.path, menu_set.problems)
    located = [p for p in problems if _located(p)]
    roster = menu_set.roster
    others = [
        p
        for p in menu_set.problems
        if p not in problems and (roster is None or roster.path not in p)
    ]
    view: dict[str, Any] = {
        "menu": menu,
        "path": shown_path(menu.path),
        "problems": located,
        "last_good": bool(problems),
        "others": others,
        "svg": None,
        "svg_error": None,
    }
    try:
        view["svg"] = menu_svg(menu, located)
    except GraphvizMissing as error:
        view["svg_error"] = str(error)
    except RuntimeError as error:  # dot itself failed
        view["svg_error"] = str(error)
    return view


def _controls(snapshot: Snapshot) -> dict[str, Any]:
    """What the phone offers now."""
    gathering = snapshot.gathering
    if gathering is None:
        result = snapshot.result
        return {
            "mode": "done",
            "outcome": result.outcome if result else None,
            "queue_result": result.queue_result if result else None,
            "error": result.error if result else None,
        }
    holding = gathering.input == ()
    return {
        "mode": "hold" if holding else "keys",
        "in_queue": gathering.in_queue,
        "keys": "dtmf" in gathering.input,
        "speech": "speech" in gathering.input,
        "num_digits": gathering.num_digits,
        "finish": gathering.finish_on_key,
        "timeout_s": gathering.timeout_s,
        "queue": "/".join(snapshot.queue) if snapshot.queue else None,
        "agents": [
            {"id": a.id, "name": a.name, "phone": a.phones[0]}
            for a in snapshot.agents
            if a.phones
        ],
    }


def call_view(
    snapshot: Snapshot, seen: Mapping[str, Any] | None, root: str = ""
) -> dict[str, Any]:
    """A snapshot as the page shows it; ``seen`` is what the page showed before
    (the count and digest of its rows), to mark what is new, or to say the call
    no longer plays the way it did (the menu changed under it)."""
    count = 0
    notice = None
    if isinstance(seen, Mapping) and isinstance(seen.get("count"), int):
        count = max(0, seen["count"])
        before = snapshot.moments[:count]
        if len(before) < count or digest(before) != seen.get("digest"):
            notice = (
                "This call now plays differently from what was shown (the menu "
                "changed during the call): the transcript is the call as it "
                "plays now."
            )
            count = 0
    start = snapshot.plan.at.astimezone(zone_of(snapshot.menu))
    clock = start + dt.timedelta(seconds=snapshot.at_s)
    names = {"caller": "caller", "agent": "agent", "other": "line"}
    for name in snapshot.agent_names.values():
        names["agent"] = f"agent {name}"
    new_rows = rows(snapshot, lambda url: recording_path(url, root), names)
    fresh = sum(
        1 for m in snapshot.moments[:count] if m.entry.get("verb") != "Redirect"
    )
    current = snapshot.current
    here = snapshot.menu.id
    return {
        "plan": snapshot.plan.to_json(),
        "seen": {"count": len(snapshot.moments), "digest": digest(snapshot.moments)},
        "notice": notice,
        "rows": new_rows,
        "new_from": fresh,
        "snapshot": snapshot,
        "at_s": snapshot.at_s,
        "clock": clock.strftime("%Y-%m-%d %H:%M:%S"),
        "done": snapshot.done,
        "phone": _controls(snapshot),
        "current": "node-" + safe_name(current[1])
        if current and current[0] == here
        else None,
        "elsewhere": f"{current[0]}/{current[1]}"
        if current and current[0] != here
        else None,
        "visited": sorted(
            {"node-" + safe_name(node) for menu, node in snapshot.nodes if menu == here}
        ),
        "detail": detail(snapshot),
    }
