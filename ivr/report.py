"""What happened on the line: figures from the call records, for ``ivr report``.

The store keeps one record per call (``ivr.store.records``); this module reads a
window of them the way the people who run the line ask about a day:

- **containment**: how many calls the menu resolved by itself, told apart from
  the callers the menu hung up on after their retries ran out and those who hung
  up in the menu before any answer;
- **drop-off by node**: where in the menu calls ended;
- **options**: each option's measured share beside the menu's ``share``, with a
  95% interval;
- **queues**, over the window and hour by hour: calls offered, answered,
  abandoned, service level, waits (mean, 90th percentile), callbacks asked /
  placed / reached, voicemails, agents on shift;
- **voicemails** by topic, with their recordings (feedback and complaints).

Everything is plain data (``build_report``), so the text, ``--json``, the plot
and the tests read the same figures. Numbers are masked unless asked for.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ivr.menu import Menu, MenuNode
from ivr.outcomes import HUMAN_OUTCOMES, MENU_OUTCOMES, OUTCOMES
from ivr.phrases import TOLERANCE, TOLERANCE_S

__all__ = [
    "build_report", "expected_shares", "heard_callback_offer", "mask_number",
    "percentile", "wilson",
]  # fmt: skip

Z95 = 1.959963984540054


def mask_number(number: str | None) -> str | None:
    """A caller's number as a report shows it: only the last four digits."""
    if not number:
        return number
    if len(number) <= 4:
        return "*" * len(number)
    return "*" * (len(number) - 4) + number[-4:]


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of a share of ``k`` in ``n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` (linear between order statistics)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def expected_shares(node: MenuNode) -> dict[str, float]:
    """The menu's share of each option, as ``ivr simulate`` walks it: the given
    ``share``, and what is left split evenly among the options without one."""
    known = sum(o.share for o in node.options if o.share is not None)
    unset = [o for o in node.options if o.share is None]
    rest = max(0.0, 1.0 - known) / len(unset) if unset else 0.0
    return {o.key: (rest if o.share is None else o.share) for o in node.options}


def _hour(ts: float, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz).replace(minute=0, second=0, microsecond=0)


def _hours(records: Sequence[Mapping[str, Any]], tz: dt.tzinfo) -> list[dt.datetime]:
    """Every hour from the first call's to the last call's (queues without calls
    in an hour still show it, with the agents on shift)."""
    if not records:
        return []
    hour = _hour(min(r["started_at"] for r in records), tz)
    last = _hour(max(r["enqueued_at"] or r["started_at"] for r in records), tz)
    hours = []
    while hour <= last:
        hours.append(hour)
        hour = _hour(hour.timestamp() + 3600, tz)
    return hours


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _queue_figures(
    rows: Sequence[Mapping[str, Any]], target_s: float
) -> dict[str, Any]:
    """One queue's figures over ``rows`` (the calls that reached it)."""
    offered = [r for r in rows if r["enqueued_at"] is not None]
    waits = [r["wait_s"] for r in offered if r["wait_s"] is not None]
    answered = [r for r in offered if r["queue_result"] == "answered"]
    abandoned = sum(1 for r in offered if r["queue_result"] == "abandoned")
    within = sum(1 for r in answered if (r["wait_s"] or 0.0) <= target_s)
    callbacks = [r["callback"] for r in rows if r["callback"]]
    return {
        "offered": len(offered),
        "answered": len(answered),
        "abandoned": abandoned,
        "service_level": within / len(offered) if offered else math.nan,
        "p_abandon": abandoned / len(offered) if offered else math.nan,
        "mean_wait_s": _mean(waits),
        "p90_wait_s": percentile(waits, 0.9),
        "mean_wait_answered_s": _mean(
            [r["wait_s"] for r in answered if r["wait_s"] is not None]
        ),
        "callbacks_offered": sum(map(heard_callback_offer, offered)),
        "callbacks_asked": len(callbacks),
        "callbacks_placed": sum(1 for c in callbacks if c != "asked"),
        "callbacks_reached": callbacks.count("reached"),
        "callbacks_failed": callbacks.count("failed"),
        "voicemails": sum(1 for r in rows if r["outcome"] == "voicemail"),
    }


def heard_callback_offer(record: Mapping[str, Any]) -> bool:
    """Whether the caller of a call record was offered a callback while holding
    (at any of the wait announcements they heard)."""
    return any(said.get("offer") for said in record["announcements"] or ())


def _on_shift(
    agents: Iterable[Mapping[str, Any]], menu: str, queue: str,
    start: float, end: float,
) -> float:  # fmt: skip
    """Agents on shift serving ``queue`` of ``menu``, on average over [start, end)."""
    seconds = 0.0
    for agent in agents:
        if [menu, queue] not in (agent["serves"] or []):
            continue
        begin = agent["started_at"]
        stop = agent["ended_at"] if agent["ended_at"] is not None else end
        seconds += max(0.0, min(stop, end) - max(begin, start))
    return seconds / (end - start)


def _told(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How right the wait announcements heard by callers later answered were:
    what the words said against the wait they then had, scored as ``ivr
    simulate`` scores them (``ivr.announcements``): the words' waits
    (``said_s``: "about 3 minutes" is 180 s, "2 to 4 minutes" 120–240 s)
    against the actual wait, the error the distance to the nearer end (none
    inside a range), right within ±25% or ±60 s. Records from before the
    words were kept are scored by the estimate in seconds."""
    errors: list[float] = []
    within = 0
    for row in rows:
        if row["queue_result"] != "answered" or row["enqueued_at"] is None:
            continue
        answered_at = row["enqueued_at"] + (row["wait_s"] or 0.0)
        for said in row["announcements"] or ():
            actual = max(answered_at - said["at"], 0.0)
            words = said.get("said_s")
            if words:
                low = words[0]
                high = math.inf if words[1] is None else words[1]
                error = min(max(actual, low), high) - actual
            elif said.get("estimate_s") is not None:
                error = said["estimate_s"] - actual
            else:
                continue
            errors.append(error)
            within += abs(error) <= max(TOLERANCE * actual, TOLERANCE_S)
    return {
        "announcements": len(errors),
        "within_tolerance": within / len(errors) if errors else math.nan,
        "mean_error_s": _mean(errors),
    }


def build_report(
    records: Sequence[Mapping[str, Any]],
    agents: Sequence[Mapping[str, Any]] = (),
    menus: Mapping[str, Menu] | None = None,
    *,
    tz: dt.tzinfo = dt.UTC,
    target_s: float = 20.0,
    show_numbers: bool = False,
) -> dict[str, Any]:
    """The report of caller ``records`` (``Store.call_records``) as plain data.

    ``agents`` are the agent line's records (for agents on shift), ``menus`` the
    loaded menus by id (for the designer's shares and the queues' titles),
    ``tz`` the time zone hours are read in, ``target_s`` the answer-time target
    of the service level.
    """
    menus = menus or {}
    total = len(records)
    ended = [r for r in records if r["outcome"] is not None]
    by_outcome = Counter(r["outcome"] for r in ended)
    outcomes = {
        name: {"calls": by_outcome[name], "share": by_outcome[name] / len(ended)}
        for name in OUTCOMES
        if by_outcome[name]
    } if ended else {}  # fmt: skip
    human = sum(by_outcome[name] for name in HUMAN_OUTCOMES)
    containment = {
        "calls": len(ended),
        **{name: by_outcome[name] for name in MENU_OUTCOMES},
        "human_path": human,
        "error": by_outcome["error"],
        "resolved_share": by_outcome["self_service"] / len(ended) if ended else None,
    }

    drop: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in ended:
        if r["outcome"] == "menu_hangup":
            drop[(r["menu"], r["gave_up_at"] or r["last_node"])]["menu_hangup"] += 1
        elif r["outcome"] == "caller_hangup":
            drop[(r["menu"], r["last_node"])]["caller_hangup"] += 1
        elif r["outcome"] == "self_service":
            drop[(r["menu"], r["last_node"])]["self_service"] += 1
        elif r["outcome"] == "abandoned":
            drop[(r["menu"], r["last_node"])]["abandoned"] += 1
    kinds = ("caller_hangup", "self_service", "menu_hangup", "abandoned")
    drop_off = [
        {"menu": menu, "node": node, **{k: counts[k] for k in kinds}}
        for (menu, node), counts in drop.items()
    ]
    drop_off.sort(
        key=lambda d: (
            -d["caller_hangup"] - d["menu_hangup"] - d["abandoned"],
            -d["self_service"],
            d["menu"] or "",
            d["node"] or "",
        )
    )

    chosen: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in records:
        for node, key in r["choices"] or ():
            chosen[(r["menu"], node)][key] += 1
    options = []
    by_use = sorted(
        chosen.items(), key=lambda kv: (kv[0][0], -sum(kv[1].values()), kv[0][1])
    )
    for (menu_id, node_id), counts in by_use:
        n = sum(counts.values())
        node = menus[menu_id].nodes.get(node_id) if menu_id in menus else None
        expected = expected_shares(node) if isinstance(node, MenuNode) else {}
        keys = list(expected) or sorted(counts)
        for key in keys + sorted(set(counts) - set(keys)):
            option = node.option(key) if isinstance(node, MenuNode) else None
            low, high = wilson(counts[key], n)
            options.append(
                {
                    "menu": menu_id,
                    "node": node_id,
                    "key": key,
                    "goto": option.goto if option else None,
                    "chosen": counts[key],
                    "of": n,
                    "share": counts[key] / n,
                    "ci95": [low, high],
                    "menu_share": expected.get(key),
                }
            )

    queues = []
    by_queue: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        if r["queue"]:
            by_queue[(r["menu"], r["queue"])].append(r)
    window = _hours(records, tz)
    busiest = sorted(by_queue.items(), key=lambda item: (item[0][0], -len(item[1])))
    for (menu_id, queue_id), rows in busiest:
        menu = menus.get(menu_id)
        queue = menu.queues.get(queue_id) if menu else None
        hours: dict[dt.datetime, list[Mapping[str, Any]]] = defaultdict(list)
        for r in rows:
            hours[_hour(r["enqueued_at"] or r["started_at"], tz)].append(r)
        hourly = []
        for start in sorted(set(window) | set(hours)):
            begin = start.timestamp()
            hourly.append(
                {
                    "start": start.isoformat(),
                    **_queue_figures(hours[start], target_s),
                    "agents": _on_shift(agents, menu_id, queue_id, begin, begin + 3600),
                }
            )
        queues.append(
            {
                "menu": menu_id,
                "queue": queue_id,
                "title": queue.title if queue else None,
                **_queue_figures(rows, target_s),
                "announcements": _told(rows),
                "hours": hourly,
            }
        )

    voicemails = [
        {
            "at": dt.datetime.fromtimestamp(r["started_at"], tz).isoformat(),
            "menu": r["menu"],
            "topic": r["topic"],
            "queue": r["queue"],
            "caller": r["caller"] if show_numbers else mask_number(r["caller"]),
            "recording_url": r["recording_url"],
            "seconds": r["recording_s"],
        }
        for r in ended
        if r["outcome"] == "voicemail"
    ]
    voicemails.sort(key=lambda v: (v["topic"] or "", v["at"]))
    starts = [r["started_at"] for r in records]
    return {
        "calls": total,
        "in_progress": total - len(ended),
        "first": dt.datetime.fromtimestamp(min(starts), tz).isoformat()
        if starts
        else None,
        "last": dt.datetime.fromtimestamp(max(starts), tz).isoformat()
        if starts
        else None,
        "timezone": str(tz),
        "target_s": target_s,
        "outcomes": outcomes,
        "containment": containment,
        "drop_off": drop_off,
        "options": options,
        "queues": queues,
        "voicemails": voicemails,
    }
