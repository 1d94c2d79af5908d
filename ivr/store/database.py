"""Connecting to the store: SQLite by default, PostgreSQL for several machines.

``IVR_DATABASE`` is a file path (SQLite, created on first use, private to the
user that runs the server) or a ``postgresql://`` URL. Both go through one
SQLAlchemy engine per process; this module knows the differences:

- SQLite has one writer at a time. Write transactions start with
  ``BEGIN IMMEDIATE``, so two processes claiming the next caller queue on the
  write lock instead of both reading the same row and failing on upgrade; WAL
  mode lets readers go on meanwhile.
- PostgreSQL locks rows: a claim reads ``FOR UPDATE SKIP LOCKED``, so two agents
  asking at once each get a different row without waiting for each other.

``migrate`` brings the schema to the newest Alembic revision under a lock, once
however many workers or machines start together.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__ = ["Database", "is_postgres"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 5151  # PostgreSQL advisory lock held while migrating
# Alembic loads its scripts as modules, which is not safe from several threads.
_MIGRATING = threading.Lock()


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://", "postgresql+"))


def _url(target: str) -> str:
    if target.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver (the `postgres` extra installs it).
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    if is_postgres(target):
        return target
    return "sqlite:///" + os.path.abspath(target)


class Database:
    """One SQLAlchemy engine per process for a store ``target``.

    After a fork (gunicorn starts workers from a master that migrated) the
    child gets its own engine: pooled connections are never shared by two
    processes.
    """

    def __init__(self, target: str) -> None:
        if target == ":memory:":
            # A throw-away store (ivr call, ivr test): a private temporary file,
            # so that several threads and connections see the same data.
            folder = tempfile.mkdtemp(prefix="ivr-store-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            target = os.path.join(folder, "store.sqlite3")
        self.target = target
        self.postgres = is_postgres(target)
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    if self._engine is not None:
                        self._engine.dispose(close=False)  # the parent's, after fork
                    self._engine = self._create()
                    self._pid = os.getpid()
        return self._engine

    def _create(self) -> Engine:
        if self.postgres:
            return sa.create_engine(
                _url(self.target),
                pool_pre_ping=True,
                pool_size=4,
                max_overflow=8,
                # A partition (the network, not the server, gone) would hold a
                # query for the minutes TCP retransmits: give up after 15 s
                # unanswered, so the writer says so and keeps what it holds.
                connect_args={
                    "connect_timeout": 3,
                    "tcp_user_timeout": 15_000,
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 5,
                    "keepalives_count": 2,
                },
            )
        path = Path(self.target)
        # instance/ holds the secret key and the store: private to the server.
        path.resolve().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            # Created private (0600): it holds callers' numbers.
            path.touch(mode=0o600)
        engine = sa.create_engine(_url(self.target), connect_args={"timeout": 5.0})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Let SQLAlchemy's "begin" event emit BEGIN, not pysqlite.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("ivr_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextlib.contextmanager
    def transaction(
        self, *, write: bool = False, timeout_s: float | None = None
    ) -> Iterator[Connection]:
        """A transaction; ``write`` takes SQLite's write lock at the start.

        ``timeout_s`` bounds how long it may wait for locks (the call path gives
        a short one: a caller never waits long on the store).
        """
        with self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(ivr_write=True)
            raw = None if self.postgres else conn.connection.driver_connection
            if timeout_s is not None and raw is not None:
                # On the DB-API connection: SQLAlchemy would begin a transaction.
                raw.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            try:
                with conn.begin():
                    if timeout_s is not None and self.postgres:
                        conn.exec_driver_sql(
                            f"SET LOCAL lock_timeout = {int(timeout_s * 1000)}"
                        )
                        conn.exec_driver_sql(
                            f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"
                        )
                    yield conn
            finally:
                if timeout_s is not None and raw is not None:
                    raw.execute("PRAGMA busy_timeout = 5000")

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        with self.engine.connect() as conn:
            # Most starts find the schema current: check without the write lock.
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        with _MIGRATING, self.engine.connect() as conn:
            if self.postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_ID})")
                conn.commit()
            else:
                conn = conn.execution_options(ivr_write=True)
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if self.postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_ID})")
                    conn.commit()

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None
