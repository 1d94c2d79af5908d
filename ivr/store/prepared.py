"""The hot writes' statements: built by SQLAlchemy Core, run with plain values.

Filing the call log runs a handful of statements per batch over hundreds of
rows. For each row SQLAlchemy would build the parameters again and run every
value through its type (JSON encoded by the type's processor), which cost
more than the database's own work. So these statements are compiled once per
dialect and key (like a form printed once and filled in by hand many times)
and run on the transaction's own DBAPI cursor with tuples of values the driver
takes as they are: JSON already encoded (``encode``, by orjson: the standard
library's encoder cost several times the rest of a row). SQLAlchemy's
execution of a statement (its context, result and events) cost about as much
as a hundred rows of SQLite's own work; its connection and transaction are
still what these run in. Everything else goes through SQLAlchemy as usual.

Two things the drivers make slow are avoided: parameters by name (SQLite's
driver makes a string and looks it up for each value of each row) and, in
inserts, ``None`` (SQLite's driver looks for an adapter for it, raising and
clearing an error each time): ``insert`` leaves a row's empty columns out,
which makes them NULL.
"""

from __future__ import annotations

import json
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable

__all__ = [
    "Statement",
    "decode",
    "encode",
    "fetch",
    "given",
    "insert",
    "run",
    "run_values",
    "statement",
]


def encode(value: Any) -> str:
    """``value`` as JSON text: compact, UTF-8 (Chinese words not escaped)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (keys that are not text, huge ints)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


decode: Callable[[str | bytes], Any] = orjson.loads


class Statement(NamedTuple):
    """A compiled statement: its SQL, the names of its values in order, and how
    to take them from a row given as a mapping."""

    sql: str
    names: tuple[str, ...]
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]


_MAX = 1024  # statements kept per process (keys are few; a bound all the same)
_compiled: dict[tuple[Any, ...], Statement] = {}
_positional: dict[str, Dialect] = {}
_lock = threading.Lock()


def statement(
    conn: Connection, build: Callable[..., Executable], *args: Any
) -> Statement:
    """``build(conn, *args)`` compiled for ``conn``'s dialect, once per ``args``."""
    dialect = conn.dialect
    key = (dialect.name, build, args)
    found = _compiled.get(key)
    if found is None:
        compiled = build(conn, *args).compile(dialect=_positional_style(dialect))
        names = tuple(compiled.positiontup or ())
        if len(names) == 1:
            only = names[0]
            values: Any = lambda row: (row[only],)  # noqa: E731
        else:
            values = operator.itemgetter(*names)
        found = Statement(compiled.string, names, values)
        with _lock:
            if len(_compiled) >= _MAX:
                _compiled.clear()
            _compiled[key] = found
    return found


def _positional_style(dialect: Dialect) -> Dialect:
    """``dialect``, or a copy of it that numbers parameters (psycopg's names
    them by default)."""
    if dialect.positional:
        return dialect
    copy = _positional.get(dialect.name)
    if copy is None:
        copy = _positional[dialect.name] = type(dialect)(paramstyle="format")
    return copy


def run(
    conn: Connection, compiled: Statement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run ``compiled`` once for each of ``rows`` (values as the driver takes
    them, by the names the statement was built with)."""
    if rows:
        values = compiled.values
        run_values(conn, compiled, [values(row) for row in rows])


def run_values(
    conn: Connection, compiled: Statement, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Run ``compiled`` once for each of ``rows``, tuples of values in the
    order of ``compiled.names``."""
    if rows:
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(compiled.sql, rows)
        finally:
            cursor.close()


def fetch(
    conn: Connection, compiled: Statement, values: Mapping[str, Any]
) -> list[Any]:
    """The rows ``compiled`` selects with ``values`` (tuples, as the driver
    gives them: no type of SQLAlchemy's applied)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(compiled.sql, compiled.values(values))
        return cursor.fetchall()
    finally:
        cursor.close()


def given(_conn: Connection, built: Executable) -> Executable:
    """A statement built once already (for ``statement(conn, given, built)``)."""
    return built


def insert(
    conn: Connection,
    build: Callable[[Connection, tuple[str, ...]], Executable],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Insert ``rows``, each with the statement ``build(conn, columns)`` for the
    columns it has a value in (the others are left out: NULL)."""
    by_columns: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        columns = tuple([name for name, value in row.items() if value is not None])
        by_columns.setdefault(columns, []).append(row)
    for columns, group in by_columns.items():
        run(conn, statement(conn, build, columns), group)
