"""Call records: one row per call in ``calls``, derived from the call's events.

Every webhook of a call logs one event (``events``); the record is what those
events say once read in order: the menu, the numbers, when it started and
ended, the nodes it passed and the options chosen, the queue, the wait, who
answered, the callback, the voicemail, the announcements heard, and one outcome
(``ivr.outcomes``). Think of a ship's log and the voyage summary written from
it: the log is appended line by line, the summary is rewritten from the whole
log whenever a line is added.

That is what makes the record safe against the ways writes arrive: the events
of one call may land out of order (two workers' writers commit in either
order), twice (a journal replayed after a crash: the events table keeps one
copy by the write's id), or while another process refreshes the same record.
``ivr.store.filing`` keeps the record in the store equal to ``derive`` of the
events that are in it, in the writer's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CALLBACK_EVENTS", "FOLD_READS", "derive", "go_on"]

FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# Events the agent line logs on the *customer's* call as it calls them back.
CALLBACK_EVENTS = ("callback_placed", "callback_retry", "callback_reached",
                   "callback_failed")  # fmt: skip
_CALLBACK_RANK = {"asked": 1, "placed": 2, "failed": 3, "reached": 4}
_LEFT = {"bridged": "answered", "hangup": "abandoned"}


# The record's fields that folding an event reads (it only writes the others,
# besides appending to the lists): what ``go_on`` needs of a record, with its
# ``fold`` (what else the next event needs).
FOLD_READS = ("kind", "menu", "caller", "agent", "served", "enqueued_at",
              "ended_at", "callback", "callback_attempts", "queue_result",
              "wait_s", "transfer", "status", "inputs", "no_input", "faults",
              "outcome", "updated_at")  # fmt: skip


def derive(call_sid: str, log: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record of ``call_sid`` from its events (``at``, ``menu``, ``event``,
    ``node``, ``detail``), in the order they happened (``at``, then ``id``)."""
    at = log[0]["at"] if len(log) == 1 else min((e["at"] for e in log), default=0.0)
    rec = _blank(call_sid, at)
    rec["fold"] = {"last_step": None, "voicemail": False, "bridged_wait": None}
    go_on(rec, log)
    return rec


def go_on(rec: dict[str, Any], log: Sequence[Mapping[str, Any]]) -> None:
    """Fold ``log``, events later than all ``rec`` has seen, into ``rec``.

    ``rec`` is changed in place; it needs only the fields of ``FOLD_READS``,
    its ``fold`` and the lists to extend (``path``, ``choices``,
    ``announcements``, which may hold only the new items): the other fields are
    only written. The result is the record ``derive`` gives from every event.
    """
    fold = dict(rec["fold"])
    for entry in log if len(log) == 1 else sorted(log, key=_order):
        _add(rec, fold, entry)
    if rec["wait_s"] is None and fold["bridged_wait"] is not None:
        rec["wait_s"] = fold["bridged_wait"]
    last_step = fold["last_step"]
    if rec["ended_at"] is None and last_step and last_step["action"] == "hangup":
        rec["ended_at"] = last_step["at"]  # the app hung up; the status comes later
    if rec["kind"] == "caller":
        rec["outcome"] = _outcome(rec, last_step, fold["voicemail"])
    rec["fold"] = fold


def _order(event: Mapping[str, Any]) -> tuple[float, int]:
    return event["at"], event.get("id") or 0


# A record before its first event (copied: building a dict of this size key by
# key costs several times more).
_BLANK: dict[str, Any] = {
    "call_sid": None,
    "kind": "caller",
    "menu": None,
    "caller": None,
    "called": None,
    "started_at": 0.0,
    "ended_at": None,
    "updated_at": 0.0,
    "path": None,
    "last_node": None,
    "choices": None,
    "inputs": 0,
    "no_input": 0,
    "served": False,
    "gave_up_at": None,
    "outcome": None,
    "queue": None,
    "topic": None,
    "enqueued_at": None,
    "queue_result": None,
    "wait_s": None,
    "agent": None,
    "callback": None,
    "callback_attempts": 0,
    "recording_url": None,
    "recording_s": None,
    "transfer": None,
    "announcements": None,
    "status": None,
    "duration_s": None,
    "faults": 0,
    "serves": None,
    "fold": None,
}


def _blank(call_sid: str, started_at: float) -> dict[str, Any]:
    rec = _BLANK.copy()
    rec["call_sid"] = call_sid
    rec["started_at"] = rec["updated_at"] = started_at
    rec["path"], rec["choices"], rec["announcements"] = [], [], []
    return rec


def _add(rec: dict[str, Any], fold: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """Fold one event into the record (``fold``: what the outcome needs besides)."""
    event, at = entry["event"], entry["at"]
    detail: Mapping[str, Any] = entry.get("detail") or {}
    rec["updated_at"] = at
    if entry.get("menu") and rec["menu"] is None:
        rec["menu"] = entry["menu"]
    if event.startswith("agent_"):
        rec["kind"] = "agent"
        rec["agent"] = detail.get("agent") or rec["agent"]
        rec["caller"] = detail.get("from") or rec["caller"]
        if detail.get("serves") is not None:
            rec["serves"] = detail["serves"]
        if event == "agent_off" and rec["ended_at"] is None:
            rec["ended_at"] = at
        return
    if event == "start":
        rec["caller"] = detail.get("from")
        rec["called"] = detail.get("to")
    if "action" in detail:  # a step of the menu: a webhook that answered one
        fold["last_step"] = {
            "event": event,
            "action": detail["action"],
            "gave_up": detail.get("gave_up"),
            "failed": detail.get("lookup_failed"),
            "served_before": rec["served"],
            "at": at,
        }
        rec["path"].extend(detail.get("nodes") or ())
        if detail.get("choice"):
            rec["choices"].append(list(detail["choice"]))
        if entry.get("node"):
            rec["last_node"] = entry["node"]
        rec["served"] = rec["served"] or bool(detail.get("answer"))
        if detail.get("gave_up"):
            rec["gave_up_at"] = detail["gave_up"]
        if detail.get("queue"):
            rec["queue"] = detail["queue"]
            rec["topic"] = detail.get("topic")
        if detail["action"] == "enqueue" and rec["enqueued_at"] is None:
            rec["enqueued_at"] = at
    if event == "input":
        rec["inputs"] += 1
        if not detail.get("digits") and not str(detail.get("speech") or "").strip():
            rec["no_input"] += 1
    elif event == "wait":
        rec["announcements"].append(
            {
                "at": at,
                "position": detail.get("position"),
                "estimate_s": detail.get("estimate_s"),
                "said_s": detail.get("said_s"),
                "said": detail.get("said"),
                "offer": bool(detail.get("offer")),
            }
        )
    elif event == "queue":
        result = detail.get("result")
        rec["queue_result"] = detail.get("left") or _LEFT.get(result, result)
        rec["wait_s"] = _number(detail.get("waited_s"))
    elif event == "bridge":
        rec["agent"] = detail.get("agent")
        fold["bridged_wait"] = _number(detail.get("waited_s"))
    elif event == "callback":
        rec["callback"] = _callback(rec["callback"], "asked")
    elif event in CALLBACK_EVENTS:
        state = event.removeprefix("callback_")
        if state == "placed":
            rec["callback_attempts"] += 1
        if state != "retry":  # still placed: the next attempt comes later
            rec["callback"] = _callback(rec["callback"], state)
    elif event == "voicemail":
        fold["voicemail"] = True
        rec["recording_url"] = detail.get("url") or None
        rec["recording_s"] = _number(detail.get("duration_s"))
    elif event == "dial":
        rec["transfer"] = detail.get("status")
    elif event == "status":
        rec["status"] = detail.get("status")
        rec["duration_s"] = _number(detail.get("duration_s"))
        if rec["status"] in FINAL_STATUSES:
            rec["ended_at"] = at
    elif event == "fault":
        rec["faults"] += 1


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _callback(current: str | None, new: str) -> str:
    if current is None or _CALLBACK_RANK[new] >= _CALLBACK_RANK[current]:
        return new
    return current


def _outcome(
    rec: dict[str, Any], last_step: Mapping[str, Any] | None, voicemail: bool
) -> str | None:
    """One outcome, the furthest the call got (see ``ivr.outcomes``)."""
    if rec["callback"]:
        return f"callback_{rec['callback']}"
    if rec["queue_result"] == "answered" or rec["agent"]:
        return "answered"
    if voicemail:
        return "voicemail"
    if rec["transfer"] in ("completed", "answered"):
        return "transfer"
    if rec["queue_result"] == "abandoned":
        return "abandoned"
    if rec["ended_at"] is None:
        return None  # still going
    if rec["status"] == "failed" or (last_step and last_step["event"] == "fault"):
        return "error"
    action = last_step["action"] if last_step else None
    if action == "hangup":
        # Given up on before any answer; a caller answered first was served.
        failure = last_step["gave_up"] or last_step.get("failed")
        served = last_step.get("served_before")
        return "menu_hangup" if failure and not served else "self_service"
    if action == "enqueue":
        return "abandoned"  # hung up holding; the queue's action never came
    return "self_service" if rec["served"] else "caller_hangup"
