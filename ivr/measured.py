"""A traffic file measured from the call records: replay a real day in simulation.

``ivr simulate`` walks callers through a menu by the shares a designer expects
(``NAME.traffic.yaml``, see ``ivr.traffic``). After a day on the line the call
records say what callers actually did, so ``ivr report --traffic-out FILE``
writes the same kind of file from them: the calls that arrived in each interval,
and how callers behaved, each figure the estimate the simulator's own walk
would use:

- ``branches`` of every menu (the option targets chosen), lookup (found or
  missing) and route (the rule taken) that calls passed;
- ``no_input``: the share of answers to a prompt that were silence;
- ``found``: the share of lookups that found a record (each lookup's own
  share is in ``branches``);
- ``satisfied``: after a lookup found the caller's record, the share of
  arrivals at a menu where the caller hung up;
- ``callback_accept``: of the callers offered a callback while holding, the
  share who took one (written only when some were offered one; the live line
  offers at every announcement, the simulator on joining, so it is the share
  of callers, not of offers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ivr.durations import format_duration
from ivr.menu import LookupNode, Menu, MenuNode, RouteNode
from ivr.report import heard_callback_offer

__all__ = ["measure_traffic", "traffic_yaml"]


def measure_traffic(
    records: Sequence[Mapping[str, Any]],
    menu: Menu,
    *,
    tz: dt.tzinfo,
    interval_s: float = 900.0,
) -> dict[str, Any]:
    """The traffic file of ``records`` (calls to ``menu``) as plain data.

    Raises ``ValueError`` when there are no calls or they span more than a day.
    """
    mine = [r for r in records if r["menu"] == menu.id]
    if not mine:
        raise ValueError(f"no calls to menu '{menu.id}' in the window")
    starts = sorted(dt.datetime.fromtimestamp(r["started_at"], tz) for r in mine)
    midnight = starts[0].replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (starts[0] - midnight).total_seconds()
    first = midnight + dt.timedelta(seconds=offset // interval_s * interval_s)
    count = math.floor((starts[-1] - first).total_seconds() / interval_s) + 1
    if (first - midnight).total_seconds() + count * interval_s > 86400:
        raise ValueError(
            f"the calls run from {starts[0]:%Y-%m-%d %H:%M} to "
            f"{starts[-1]:%Y-%m-%d %H:%M}: a traffic file holds one day "
            "(choose it with --since and --until)"
        )
    calls = [0] * count
    for when in starts:
        calls[int((when - first).total_seconds() // interval_s)] += 1

    ways: dict[str, Counter[str]] = defaultdict(Counter)
    inputs = silent = lookups = found = visits = hung_up = offered = taken = 0
    for r in mine:
        if heard_callback_offer(r):
            offered += 1
            taken += r["callback"] is not None
        inputs += r["inputs"] or 0
        silent += r["no_input"] or 0
        for node_id, key in r["choices"] or ():
            node = menu.nodes.get(node_id)
            option = node.option(key) if isinstance(node, MenuNode) else None
            if option is not None:
                ways[node_id][option.goto] += 1
        path = list(r["path"] or ())
        answered = False
        for here, there in itertools.pairwise(path):
            node = menu.nodes.get(here)
            if isinstance(node, LookupNode):
                ways[here][there] += 1
                lookups += 1
                found += there == node.found
                answered = answered or there == node.found
            elif isinstance(node, RouteNode):
                ways[here][there] += 1
            if (
                answered
                and there != here
                and isinstance(menu.nodes.get(there), MenuNode)
            ):
                visits += 1
        ended_at_menu = r["outcome"] in ("self_service", "caller_hangup") and (
            isinstance(menu.nodes.get(r["last_node"] or ""), MenuNode)
        )
        if answered and ended_at_menu:
            hung_up += 1

    branches = {
        node_id: {target: round(n / sum(counts.values()), 4)
                  for target, n in sorted(counts.items())}
        for node_id, counts in sorted(ways.items())
    }  # fmt: skip
    accept = {"callback_accept": round(taken / offered, 4)} if offered else {}
    return {
        "day": first.date().isoformat(),
        "start": first.strftime("%H:%M"),
        "interval": format_duration(interval_s),
        "calls": calls,
        "no_input": round(silent / inputs, 4) if inputs else 0.03,
        "found": round(found / lookups, 4) if lookups else 0.85,
        "satisfied": round(hung_up / visits, 4) if visits else 0.7,
        **accept,
        "branches": branches,
    }


def traffic_yaml(traffic: Mapping[str, Any], note: str = "") -> str:
    """The traffic file's text (``calls`` on one line, as people write them)."""
    head = "".join(f"# {line}\n" for line in note.splitlines())
    lines = [
        f"day: {traffic['day']}",
        f'start: "{traffic["start"]}"',
        f"interval: {traffic['interval']}",
        "calls: [" + ", ".join(str(n) for n in traffic["calls"]) + "]",
        f"no_input: {traffic['no_input']}",
        f"found: {traffic['found']}",
        f"satisfied: {traffic['satisfied']}",
    ]
    if "callback_accept" in traffic:
        lines.append(f"callback_accept: {traffic['callback_accept']}")
    body = "\n".join(lines) + "\n"
    if traffic["branches"]:
        dumped = yaml.safe_dump(
            {"branches": traffic["branches"]},
            allow_unicode=True,
            default_flow_style=None,
            sort_keys=False,
            width=88,
        )
        body += dumped
    return head + body
