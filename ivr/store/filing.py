"""Filing a call's events into its record, in the writer's transaction.

``ivr.store.records`` says what a call's record is (``derive``); this module
keeps the ``calls`` table equal to it as events are inserted, whatever order
they land in and however many processes write at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ivr.store import prepared
from ivr.store.records import derive
from ivr.store.schema import calls, events

__all__ = ["refresh", "refresh_all"]

_log = logging.getLogger("ivr.store")

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
