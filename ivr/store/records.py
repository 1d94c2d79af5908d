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
``refresh`` locks the record's row, reads every event of the call committed so
far, and writes the summary again, in the writer's transaction, so the record
always equals ``derive`` of the events that are in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ivr.store import prepared
from ivr.store.schema import calls, events

__all__ = ["CALLBACK_EVENTS", "derive", "refresh", "refresh_all"]

_log = logging.getLogger("ivr.store")

FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
# Events the agent line logs on the *customer's* call as it calls them back.
CALLBACK_EVENTS = ("callback_placed", "callback_retry", "callback_reached",
                   "callback_failed")  # fmt: skip
_CALLBACK_RANK = {"asked": 1, "placed": 2, "failed": 3, "reached": 4}
_LEFT = {"bridged": "answered", "hangup": "abandoned"}


def derive(
    call_sid: str,
    log: Sequence[Mapping[str, Any]],
    *,
    onto: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of ``call_sid`` from its events (``at``, ``menu``, ``event``,
    ``node``, ``detail``), in the order they happened (``at``, then ``id``).

    ``onto``: a record derived from the events before these (all of ``log``
    later than its ``updated_at``), to go on from; the result is the same as
    deriving from every event (its ``fold`` column holds what that needs).
    """
    ordered = sorted(log, key=lambda e: (e["at"], e.get("id") or 0))
    if onto is not None and onto.get("fold") is not None:
        rec = {**onto, "path": list(onto["path"] or ()),
               "choices": list(onto["choices"] or ()),
               "announcements": list(onto["announcements"] or ())}  # fmt: skip
        fold = dict(onto["fold"])
        rec.pop("id", None)
    else:
        rec = _blank(call_sid, ordered[0]["at"] if ordered else 0.0)
        fold = {"last_step": None, "voicemail": False, "bridged_wait": None}
    for entry in ordered:
        _add(rec, fold, entry)
    if rec["wait_s"] is None and fold["bridged_wait"] is not None:
        rec["wait_s"] = fold["bridged_wait"]
    last_step = fold["last_step"]
    if rec["ended_at"] is None and last_step and last_step["action"] == "hangup":
        rec["ended_at"] = last_step["at"]  # the app hung up; the status comes later
    if rec["kind"] == "caller":
        rec["outcome"] = _outcome(rec, last_step, fold["voicemail"])
    rec["fold"] = fold
    return rec


def _blank(call_sid: str, started_at: float) -> dict[str, Any]:
    return {
        "call_sid": call_sid,
        "kind": "caller",
        "menu": None,
        "caller": None,
        "called": None,
        "started_at": started_at,
        "ended_at": None,
        "updated_at": started_at,
        "path": [],
        "last_node": None,
        "choices": [],
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
        "announcements": [],
        "status": None,
        "duration_s": None,
        "faults": 0,
        "serves": None,
        "fold": None,
    }


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


# -- in the store -------------------------------------------------------------------
#
# Filing is the largest cost of a webhook, so ``refresh`` does only what each
# call needs (docs/decisions.md, "Filing the call log"):
#
# - a call whose record has seen everything before the new events (the usual
#   case: webhooks come in order) is folded on from its stored row, read with
#   its JSON as text: the lists only grow, so new items are spliced into the
#   stored text rather than the whole list decoded and encoded again; only the
#   columns that changed are written;
# - a call with no record yet whose only events in the store are the new ones
#   (its first webhook: a count says so) is derived from them, not read back;
# - anything else (events out of order, replayed, or a record never written)
#   is derived again from every event of the call in the store.

_COLUMNS = tuple(derive("", []))
_JSON = ("path", "choices", "announcements", "serves", "fold")
_GROWING = ("path", "choices", "announcements")  # only appended to by ``_add``
_PLAIN = tuple(c for c in _COLUMNS if c not in _JSON)
_SIDS = sa.bindparam("sids", expanding=True)

# Built once: building a statement costs more than running it.
_LOG = sa.select(
    events.c.id,
    events.c.call_sid,
    events.c.at,
    events.c.menu,
    events.c.event,
    events.c.node,
    events.c.detail,
).where(events.c.call_sid.in_(_SIDS))
_COUNTS = (
    sa.select(events.c.call_sid, sa.func.count())
    .where(events.c.call_sid.in_(_SIDS))
    .group_by(events.c.call_sid)
)
# The stored records, JSON as text (decoded only where a fold needs it).
_CURRENT = sa.select(
    *(sa.cast(calls.c[c], sa.Text).label(c) if c in _JSON else calls.c[c]
      for c in _COLUMNS)
).where(calls.c.call_sid.in_(_SIDS))  # fmt: skip
_CURRENT_LOCKED = _CURRENT.order_by(calls.c.call_sid).with_for_update()
# PostgreSQL: an empty row for each call first, so that there is a row to lock.
_PLACEHOLDERS = (
    postgresql.insert(calls)
    .from_select(
        ["call_sid", "kind", "started_at", "updated_at", "inputs", "no_input",
         "served", "callback_attempts", "faults"],
        sa.select(
            sa.func.unnest(sa.bindparam("sids", type_=postgresql.ARRAY(sa.String))),
            sa.literal("caller"), sa.literal(0.0), sa.literal(0.0), sa.literal(0),
            sa.literal(0), sa.literal(False), sa.literal(0), sa.literal(0),
        ),
    )
    .on_conflict_do_nothing(index_elements=["call_sid"])
)  # fmt: skip


def refresh(conn: Connection, new: Iterable[Mapping[str, Any]]) -> None:
    """Bring the records of the calls of ``new`` events (just inserted) up to date.

    Runs last in a write transaction, after the events are inserted. Rows are
    locked in a fixed order (PostgreSQL: an empty row first, then ``FOR
    UPDATE``), so two processes refreshing the same call take turns, and the
    second reads the first one's events. Events later than everything the
    record has seen are folded onto it; a call's first events, when they are
    all it has in the store, make its record; otherwise (out of order,
    replayed) the record is derived again from all the call's events.
    """
    by_call: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for n, event in enumerate(new):
        sid = event["call_sid"]
        if sid and sid != "unknown":
            by_call.setdefault(sid, {})[event.get("op_id") or n] = event
    if by_call:
        _file(conn, {sid: list(log.values()) for sid, log in by_call.items()})


def _file(
    conn: Connection,
    by_call: Mapping[str, list[Mapping[str, Any]]],
    again: bool = False,
) -> None:
    """Write the records of ``by_call``'s calls (``again``: all from the store)."""
    sids = sorted(by_call)
    query = _CURRENT
    if conn.dialect.name == "postgresql":
        conn.execute(_PLACEHOLDERS, {"sids": sids})
        query = _CURRENT_LOCKED
    current = {row[0]: row for row in conn.execute(query, {"sids": sids}).all()}
    whole: list[dict[str, Any]] = []  # records to write in full
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by what changed
    first: list[str] = []
    rederive: list[str] = []
    for sid in sids:
        log = by_call[sid]
        row = current.get(sid)
        if again:
            rederive.append(sid)
        elif row is None or row[_FOLD] is None:  # no record, or a placeholder
            first.append(sid)
        elif min(e["at"] for e in log) <= row[_UPDATED_AT]:
            rederive.append(sid)
        else:
            changes = _folded(sid, log, row)
            if changes is not None:
                changed.setdefault(tuple(changes), []).append(changes)
    if first:
        stored = dict(conn.execute(_COUNTS, {"sids": first}).all())
        for sid in first:
            if stored.get(sid) == len(by_call[sid]):  # nothing but these
                _derived(whole, sid, by_call[sid])
            else:
                rederive.append(sid)
    if rederive:
        logs: dict[str, list[dict[str, Any]]] = {sid: [] for sid in rederive}
        for row in conn.execute(_LOG, {"sids": rederive}).mappings():
            logs[row["call_sid"]].append(dict(row))
        for sid, log in logs.items():
            if log:
                _derived(whole, sid, log)
    prepared.insert(conn, _upsert, whole)
    for columns, rows in changed.items():
        prepared.run(conn, prepared.statement(conn, _update, columns), rows)


_UPDATED_AT, _FOLD = _COLUMNS.index("updated_at"), _COLUMNS.index("fold")


def _derived(
    records: list[dict[str, Any]], sid: str, log: Sequence[Mapping[str, Any]]
) -> None:
    """Append the record of ``log`` to ``records``, ready to be written whole."""
    try:
        record = derive(sid, log)
    except Exception:  # one odd event must not hold up every write behind it
        _log.exception("store: the record of call %s could not be derived", sid)
        return
    for column in _JSON:
        record[column] = prepared.encode(record[column])
    records.append(record)


def _folded(
    sid: str, log: Sequence[Mapping[str, Any]], row: Sequence[Any]
) -> dict[str, Any] | None:
    """The columns of ``row`` (a stored record) that ``log`` changes, by name,
    with ``sid_`` (None when the events cannot be folded)."""
    stored = dict(zip(_COLUMNS, row, strict=True))
    onto = {
        **stored,
        "path": [], "choices": [], "announcements": [],  # new items only
        "serves": _decoded(stored["serves"]), "fold": _decoded(stored["fold"]),
    }  # fmt: skip
    try:
        record = derive(sid, log, onto=onto)
    except Exception:  # one odd event must not hold up every write behind it
        _log.exception("store: the record of call %s could not be derived", sid)
        return None
    changes = {c: record[c] for c in _PLAIN if record[c] != stored[c]}
    for column in _GROWING:
        if record[column]:
            changes[column] = _extended(stored[column], record[column])
    for column in ("serves", "fold"):
        if record[column] != onto[column]:
            changes[column] = prepared.encode(record[column])
    changes["sid_"] = sid
    return changes


def _decoded(text: str | None) -> Any:
    return None if text is None else prepared.decode(text)


def _extended(stored: str | None, items: list[Any]) -> str:
    """The JSON list ``stored`` (as text) with ``items`` appended, not decoded."""
    text = (stored or "").strip()
    if not (text.startswith("[") and text.endswith("]")):  # none yet ("null")
        return prepared.encode([*(_decoded(text or "null") or ()), *items])
    head = text[:-1].rstrip()
    tail = prepared.encode(items)[1:]
    return head + tail if head.endswith("[") else head + "," + tail


def _upsert(conn: Connection, columns: Sequence[str]) -> Any:
    """Write a whole record (its ``columns`` with a value), over what the call's
    row held."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(calls).values(
        {c: sa.bindparam(c, type_=calls.c[c].type) for c in columns}
    )
    return insert.on_conflict_do_update(
        index_elements=["call_sid"],
        set_={c: insert.excluded[c] for c in _COLUMNS if c != "call_sid"},
    )


def _update(_conn: Connection, columns: Sequence[str]) -> Any:
    """Write the ``columns`` of a record (``sid_`` names the call)."""
    return (
        sa.update(calls)
        .where(calls.c.call_sid == sa.bindparam("sid_"))
        .values({c: sa.bindparam(c, type_=calls.c[c].type)
                 for c in columns if c != "sid_"})
    )  # fmt: skip


def refresh_all(conn: Connection, batch: int = 500) -> None:
    """Write the record of every call in the events table (a migration's job)."""
    sids = [
        sid
        for (sid,) in conn.execute(sa.select(events.c.call_sid).distinct())
        if sid and sid != "unknown"
    ]
    for start in range(0, len(sids), batch):
        _file(conn, {sid: [] for sid in sids[start : start + batch]}, again=True)
