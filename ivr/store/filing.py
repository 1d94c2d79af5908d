"""Filing a call's events into its record, in the writer's transaction.

``ivr.store.records`` says what a call's record is (``derive``); this module
keeps the ``calls`` table equal to it as events are inserted, whatever order
they land in (two workers' writers commit in either order), twice (a journal
replayed after a crash: the events table keeps one copy by the write's id), or
from several processes at once. Think of a clerk filing forms into folders:
the usual form is the next page of a folder and is added to it; a folder
with no pages gets its first; a page that belongs between others, or one the
clerk is not sure of, has the folder rewritten from all its pages.

Filing is the largest cost of a webhook, so each call gets only the work it
needs (docs/decisions.md, "Filing the call log"):

- **goes on** (the usual case: webhooks come in order): events later than
  everything the record has seen are folded on from the columns folding reads
  (``FOLD_READS``, not the whole wide row), and only the columns that changed
  are written; the lists (path, choices, announcements) only grow, so their
  new items are appended in SQL, the stored lists never read;
- **first**: a call with no record whose only events in the store are the new
  ones (a count says so) gets the record derived from them, not read back;
- **again**: anything else (out of order, replayed) is derived again from
  every event of the call in the store.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ivr.store import prepared
from ivr.store.records import FOLD_READS, derive, go_on
from ivr.store.schema import calls, events

__all__ = ["refresh", "refresh_all"]

_log = logging.getLogger("ivr.store")

_COLUMNS = tuple(derive("", []))
_GROWING = ("path", "choices", "announcements")  # only appended to by folding
_JSON = (*_GROWING, "serves", "fold")
_reads = operator.itemgetter(*FOLD_READS)
_SIDS = sa.bindparam("sids", expanding=True)
_PG_SIDS = sa.any_(sa.bindparam("sids", type_=postgresql.ARRAY(sa.String)))

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


# What a record goes on from (each row: the call, the fields of FOLD_READS,
# ``fold`` as JSON text); and how many events the calls without one have.
# SQLite takes the calls as a JSON list (one parameter, not one each).
_STATE = (
    calls.c.call_sid,
    *(calls.c[c] for c in FOLD_READS),
    sa.cast(calls.c.fold, sa.Text),
)
_N = len(FOLD_READS)
_UPDATED_AT = 1 + FOLD_READS.index("updated_at")
_IN_JSON = sa.select(sa.func.json_each(sa.bindparam("sids")).table_valued("value"))
_CURRENT_SQLITE = sa.select(*_STATE).where(calls.c.call_sid.in_(_IN_JSON))
_COUNTS_SQLITE = (
    sa.select(events.c.call_sid, sa.func.count())
    .where(events.c.call_sid.in_(_IN_JSON))
    .group_by(events.c.call_sid)
)
# PostgreSQL: an empty row for each call first, so that there is a row to lock,
# then the rows locked in the calls' order. The events are counted after the
# lock, in a statement of its own: one that waited for a lock sees what was
# committed meanwhile only from its next statement.
_PLACEHOLDERS = (
    postgresql.insert(calls)
    .from_select(
        ["call_sid", "kind", "started_at", "updated_at", "inputs", "no_input",
         "served", "callback_attempts", "faults"],
        sa.select(
            sa.func.unnest(sa.bindparam("sids", type_=postgresql.ARRAY(sa.String))),
            *map(sa.literal_column, ("'caller'", "0.0", "0.0", "0", "0", "false",
                                     "0", "0")),
        ),
    )
    .on_conflict_do_nothing(index_elements=["call_sid"])
)  # fmt: skip
_CURRENT_POSTGRES = (
    sa.select(*_STATE)
    .where(calls.c.call_sid == _PG_SIDS)
    .order_by(calls.c.call_sid)
    .with_for_update()
)
_COUNTS_POSTGRES = (
    sa.select(events.c.call_sid, sa.func.count())
    .where(events.c.call_sid == _PG_SIDS)
    .group_by(events.c.call_sid)
)


def refresh(conn: Connection, new: Iterable[Mapping[str, Any]]) -> None:
    """Bring the records of the calls of ``new`` events (just inserted) up to date.

    Runs last in a write transaction, after the events are inserted. Rows are
    locked in a fixed order (PostgreSQL: an empty row first, then ``FOR
    UPDATE``), so two processes refreshing the same call take turns, and the
    second reads the first one's events.
    """
    by_call: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for n, event in enumerate(new):
        sid = event["call_sid"]
        if sid and sid != "unknown":
            by_call.setdefault(sid, {})[event.get("op_id") or n] = event
    if by_call:
        _file(conn, {sid: list(log.values()) for sid, log in by_call.items()})


def refresh_all(conn: Connection, batch: int = 500) -> None:
    """Write the record of every call in the events table (a migration's job)."""
    sids = [
        sid
        for (sid,) in conn.execute(sa.select(events.c.call_sid).distinct())
        if sid and sid != "unknown"
    ]
    for start in range(0, len(sids), batch):
        _file(conn, {sid: [] for sid in sids[start : start + batch]}, again=True)


def _file(
    conn: Connection,
    by_call: Mapping[str, list[Mapping[str, Any]]],
    again: bool = False,
) -> None:
    """Write the records of ``by_call``'s calls (``again``: all from the store)."""
    sids = sorted(by_call)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        placeholders = prepared.statement(conn, prepared.given, _PLACEHOLDERS)
        prepared.run(conn, placeholders, [{"sids": sids}])
        current, counts = _CURRENT_POSTGRES, _COUNTS_POSTGRES
    else:
        current, counts = _CURRENT_SQLITE, _COUNTS_SQLITE
    rows = _fetch(conn, current, sids)
    whole: list[dict[str, Any]] = []  # records to write in full
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # by what changed
    rederive = set(sids) if again else set()
    first = [] if again else sorted(set(sids) - {row[0] for row in rows})
    for row in () if again else rows:
        sid, fold = row[0], row[-1]
        log = by_call[sid]
        if fold is None:  # an empty row (PostgreSQL)
            first.append(sid)
        elif min(e["at"] for e in log) <= row[_UPDATED_AT]:
            rederive.add(sid)
        else:
            changes = _folded(sid, log, row[1 : 1 + _N], fold)
            if changes is None:
                rederive.add(sid)
            else:
                changed.setdefault(tuple(changes), []).append(changes)
    if first:
        stored = dict(_fetch(conn, counts, first))
        for sid in first:
            if stored.get(sid) == len(by_call[sid]):  # nothing but these
                _derived(whole, sid, by_call[sid])
            else:
                rederive.add(sid)
    if rederive:
        logs: dict[str, list[dict[str, Any]]] = {sid: [] for sid in rederive}
        for row in conn.execute(_LOG, {"sids": sorted(rederive)}).mappings():
            logs[row["call_sid"]].append(dict(row))
        for sid, log in logs.items():
            if log:
                _derived(whole, sid, log)
    prepared.insert(conn, _upsert, whole)
    for columns, group in changed.items():
        prepared.run(conn, prepared.statement(conn, _update, columns), group)


def _fetch(conn: Connection, built: Any, sids: list[str]) -> list[Any]:
    """The rows of ``built`` for the calls ``sids`` (SQLite takes them as a
    JSON list, PostgreSQL as an array)."""
    compiled = prepared.statement(conn, prepared.given, built)
    given = sids if conn.dialect.name == "postgresql" else prepared.encode(sids)
    return prepared.fetch(conn, compiled, {"sids": given})


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
        value = record[column]
        # An empty list is written as such; no value (serves) is left out: NULL.
        if value is not None:
            record[column] = "[]" if value == [] else prepared.encode(value)
    records.append(record)


def _folded(
    sid: str,
    log: Sequence[Mapping[str, Any]],
    reads: Sequence[Any],
    fold: str,
) -> dict[str, Any] | None:
    """The columns of the record that ``log`` changes, by name, with ``sid_``
    (None if the events could not be folded). ``reads``: the stored values of
    ``FOLD_READS``. The lists' changes are their new items (``_update``
    appends them)."""
    record = _ON.copy()  # a copy, then its values: cheaper than a new dict
    record.update(zip(FOLD_READS, reads, strict=True))
    record["served"] = bool(record["served"])  # SQLite's driver gives 0 or 1
    state = record["fold"] = prepared.decode(fold)
    record["path"], record["choices"], record["announcements"] = [], [], []
    try:
        go_on(record, log)
    except Exception:  # one odd event must not hold up every write behind it
        _log.exception("store: the record of call %s could not be derived", sid)
        return None
    changes = {
        name: record[name]
        for name in compress(FOLD_READS, map(operator.ne, _reads(record), reads))
    }
    if len(record) > len(_ON):  # fields the events wrote
        for name in compress(_WRITES, map(record.__contains__, _WRITES)):
            value = record[name]
            changes[name] = prepared.encode(value) if name == "serves" else value
    for name in _GROWING:
        if record[name]:
            changes[name] = prepared.encode(record[name])
    if record["fold"] != state:
        changes["fold"] = prepared.encode(record["fold"])
    changes["sid_"] = sid
    return changes


_ON = dict.fromkeys((*FOLD_READS, *_GROWING, "fold"))
# The fields folding only writes (besides the lists), in the table's order.
_WRITES = tuple(c for c in _COLUMNS if c not in _ON and c != "call_sid")


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


def _update(conn: Connection, columns: Sequence[str]) -> Any:
    """Write the ``columns`` of a record (``sid_`` names the call); the lists
    get the items given appended."""
    values = {}
    for name in columns:
        if name == "sid_":
            continue
        value = sa.bindparam(name, type_=calls.c[name].type)
        values[name] = _appended(conn, name, value) if name in _GROWING else value
    return (
        sa.update(calls).where(calls.c.call_sid == sa.bindparam("sid_")).values(values)
    )


def _appended(conn: Connection, name: str, items: Any) -> Any:
    """The stored JSON list ``name`` with the JSON list ``items`` appended.

    PostgreSQL concatenates ``jsonb`` arrays. SQLite keeps the text as it was
    written, ending in ``]`` (by orjson here, by SQLAlchemy's JSON type before),
    so the new items are spliced in as text rather than the list being decoded
    and encoded again.
    """
    if conn.dialect.name == "postgresql":
        return calls.c[name].op("||")(items)
    stored = sa.type_coerce(calls.c[name], sa.Text)
    text = sa.type_coerce(items, sa.Text)
    one, two = sa.literal_column("1"), sa.literal_column("2")  # not parameters
    spliced = (
        sa.func.substr(stored, one, sa.func.length(stored) - one)
        .concat(sa.literal_column("','"))
        .concat(sa.func.substr(text, two))
    )
    empty = sa.or_(
        stored.is_(None), stored.in_([sa.literal_column(t) for t in ("'[]'", "'null'")])
    )
    return sa.case((empty, text), else_=spliced)
