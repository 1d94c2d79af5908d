"""What the console shows of a call: one row per thing heard or done, and detail.

A snapshot's moments are the caller's transcript entries, the simulated
agent's, and the console's own marks (a hold round begins, the app traced the
nodes it entered). ``rows`` turns them into lines a designer reads, on the
call's own clock; ``digest`` fingerprints what was shown, so the page can tell
when a replay no longer plays the same call (the menu changed under it);
``detail`` is what ``ivr call --json`` would print, with the trace.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ivr.console.replay import Moment, Snapshot
from ivr.menu import Menu

__all__ = ["Row", "detail", "digest", "recording_path", "rows", "zone_of"]

# Parts of an entry that differ from one play of a call to the next (CallSids,
# the sealed state in a Redirect's URL, a recording's id).
_UNSTABLE = {"call", "variables"}
_UNSTABLE_URL = {"Redirect", "Record"}


def zone_of(menu: Menu) -> dt.tzinfo:
    """The menu's time zone (its opening hours'), UTC without hours."""
    return ZoneInfo(menu.hours.timezone) if menu.hours else dt.UTC


@dataclass(frozen=True)
class Row:
    """One line of the transcript as the page shows it."""

    time: str
    who: str  # caller, agent, other
    label: str  # "caller", the agent's name
    kind: str  # say, play, input, hold, node, queue, line, ...
    text: str
    audio: str | None = None


def _said(entry: Mapping[str, Any]) -> str:
    text = str(entry.get("text", ""))
    loop = entry.get("loop")
    return f"{text} (×{loop})" if loop else text


def _gather(entry: Mapping[str, Any]) -> str:
    if "press" in entry:
        text = f"presses {entry['press']}"
    elif "say" in entry:
        text = f"says “{entry['say']}”"
    elif entry.get("hangup"):
        text = "hangs up"
    else:
        text = "stays silent"
    if entry.get("ignored"):
        text += f" (not heard: the {entry['ignored']})"
    return text


def _queue(entry: Mapping[str, Any]) -> str:
    if "result" in entry:
        return f"leaves queue {entry['queue']}: {entry['result']}"
    return f"joins queue {entry['queue']}"


def _dial(entry: Mapping[str, Any]) -> str:
    target = f"queue {entry['queue']}" if "queue" in entry else entry.get("number")
    if "status" not in entry:
        return f"dials {target}"
    text = f"dial to {target} ends: {entry['status']}"
    return text + (f" ({entry['error']})" if entry.get("error") else "")


def _bridge(entry: Mapping[str, Any]) -> str:
    text = f"talks with {entry.get('with')} for {entry.get('seconds')} s"
    return text + (", then hangs up" if entry.get("hangs_up") else "")


def _hold(entry: Mapping[str, Any]) -> str:
    text = f"hold round {entry.get('round')}"
    if entry.get("position") is not None:
        text += f", position {entry['position']}"
    if entry.get("waited_s"):
        text += f", waited {entry['waited_s']} s"
    return text


def _node(entry: Mapping[str, Any]) -> str:
    choice = entry.get("choice")
    text = f"key {choice['key']} at {choice['node']}: " if choice else ""
    return text + " → ".join(entry.get("nodes") or ())


def _hangup(entry: Mapping[str, Any]) -> str:
    if entry.get("by") == "caller":
        return "hangs up"
    if entry.get("by") == "switchboard":
        return f"the call is cut: {entry.get('reason')}"
    return "the line hangs up"


_TEXTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "Say": ("say", _said),
    "Gather": ("input", _gather),
    "Pause": ("line", lambda e: f"pause {e.get('seconds')} s"),
    "Hold": ("hold", _hold),
    "Node": ("node", _node),
    "Enqueue": ("queue", _queue),
    "Leave": ("queue", lambda e: "leaves the queue"),
    "Dial": ("queue", _dial),
    "Bridge": ("talk", _bridge),
    "Hangup": ("line", _hangup),
    "Reject": ("line", lambda e: f"the line rejects the call ({e.get('reason')})"),
    "Record": ("line", lambda e: f"records a message ({e.get('seconds')} s)"),
    "Ring": ("line", lambda e: f"the phone rings (from {e.get('from')})"),
}


def rows(
    snapshot: Snapshot,
    audio_path: Callable[[str], str],
    names: Mapping[str, str] | None = None,
) -> list[Row]:
    """The snapshot's moments as rows (a Redirect is mechanics: left out).

    ``audio_path`` turns the in-process app's recording URL into one the
    browser can fetch; ``names`` label the agents' rows.
    """
    start = snapshot.plan.at.astimezone(zone_of(snapshot.menu))
    shown: list[Row] = []
    for moment in snapshot.moments:
        entry, verb = moment.entry, moment.entry.get("verb", "")
        if verb == "Redirect":
            continue
        time = (start + dt.timedelta(seconds=moment.at_s)).strftime("%H:%M:%S")
        label = (names or {}).get(moment.who, moment.who)
        if verb == "Play":
            url = entry.get("url")
            text = "plays a recording" if url else f"plays tones {entry.get('digits')}"
            if entry.get("loop"):
                text += f" (×{entry['loop']})"
            audio = audio_path(url) if url else None
            shown.append(Row(time, moment.who, label, "play", text, audio))
            continue
        kind, describe = _TEXTS.get(verb, ("line", _generic))
        shown.append(Row(time, moment.who, label, kind, describe(entry)))
    return shown


def _generic(entry: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in entry.items() if k != "verb"}
    return f"{entry.get('verb')} " + " ".join(f"{k}={v}" for k, v in rest.items())


def _stable(moment: Moment) -> list[Any]:
    entry = {k: v for k, v in moment.entry.items() if k not in _UNSTABLE}
    if entry.get("verb") in _UNSTABLE_URL:
        entry.pop("url", None)
    return [moment.who, entry]


def digest(moments: Sequence[Moment]) -> str:
    """A fingerprint of what ``moments`` show (CallSids and sealed URLs aside)."""
    text = json.dumps([_stable(m) for m in moments], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def detail(snapshot: Snapshot) -> dict[str, Any]:
    """The call as ``ivr call --json`` prints it, plus its clock, trace and agents."""
    caller = [m.entry for m in snapshot.moments if m.who == "caller" and _real(m.entry)]
    data: dict[str, Any] = {
        "menu": snapshot.plan.menu,
        "at": snapshot.plan.at.isoformat(),
        "caller": snapshot.plan.caller,
        "elapsed_s": round(snapshot.at_s, 3),
    }
    if snapshot.result is not None:
        data.update(snapshot.result.to_json())
    else:
        gathering = snapshot.gathering
        data["outcome"] = None
        data["transcript"] = caller
        if gathering is not None:
            data["waiting_for"] = {
                "input": list(gathering.input),
                "num_digits": gathering.num_digits,
                "finish_on_key": gathering.finish_on_key,
                "timeout_s": gathering.timeout_s,
                "in_queue": gathering.in_queue,
            }
    data["nodes"] = [f"{menu}/{node}" for menu, node in snapshot.nodes]
    data["variables"] = snapshot.variables
    data["trace"] = snapshot.traces
    agents = [m.entry for m in snapshot.moments if m.who == "agent" and _real(m.entry)]
    if agents:
        data["agent_transcript"] = agents
    return data


def _real(entry: Mapping[str, Any]) -> bool:
    """A transcript entry of the caller, not one of the console's marks."""
    return entry.get("verb") not in ("Hold", "Node")


def recording_path(url: str, root: str) -> str:
    """A recording the in-process app serves, as a path of this server."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc != "localhost":
        return url  # elsewhere (a CDN): the browser fetches it there
    return root + parts.path + (f"?{parts.query}" if parts.query else "")
