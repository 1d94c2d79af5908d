"""The writer that never blocks a call and never loses what a call wrote.

A webhook must answer Twilio in milliseconds whatever the database is doing, so
what it writes (a call-log row, a waiter's progress) is handed to a background
thread per process: the request appends the write to this process's *journal*
(a file in ``instance/spool/``, one JSON line per write, no fsync) and goes on;
the thread commits what has queued up in one transaction every ~50 ms.

Think of the journal as the carbon copy of a paper form: the store is the filing
cabinet, and until a form is filed its copy stays in the tray. When the store is
down or locked, writes wait in the journal (bounded) and are retried with
backoff; the log says so once per outage, with counts, and once when it is over.
A worker killed with ``kill -9`` leaves its journal behind: the next process that
starts a writer adopts it (an exclusive ``flock`` tells a live journal from an
orphan) and files what it holds. Each write carries an id, and the store ignores
an id it has already filed, so a write replayed after a crash is not doubled.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ivr.store.database import Database

__all__ = ["Writer"]

log = logging.getLogger("ivr.store")

BATCH_S = 0.05
MAX_BATCH = 2000
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
Op = dict[str, Any]
Apply = Callable[[Any, list[Op]], None]


class Writer:
    """Writes ops through ``apply(conn, ops)`` in background transactions."""

    def __init__(
        self,
        database: Database,
        apply: Apply,
        spool_dir: str | os.PathLike[str] | None = None,
        *,
        prepare: Callable[[], None] | None = None,
        max_journal_bytes: int = MAX_JOURNAL_BYTES,
        sync: bool = False,
    ) -> None:
        self.database = database
        self.apply = apply
        self.prepare = prepare  # before each transaction, e.g. migrating
        # Write in the caller's thread (a line rung in process, where the clock
        # is simulated and a write must be there for the next request).
        self.sync = sync
        self._sync_lock = threading.Lock()
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.max_journal_bytes = max_journal_bytes
        self.written = 0  # ops committed by this process
        self.failed_batches = 0
        self.dropped = 0  # ops refused because the journal was full
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[Op | threading.Event] = queue.SimpleQueue()
        self._jlock = threading.Lock()
        self._journal_fd: int | None = None
        self._journal_path: Path | None = None
        self._journal_bytes = 0
        self._pending: list[Op] = []
        self._init_lock = threading.Lock()
        _WRITERS.add(self)

    def _after_fork(self) -> None:
        """In a child process: the parent's thread, queue and journal are not ours."""
        self._init_lock = threading.Lock()
        self._jlock = threading.Lock()
        self._thread = None

    # -- the request side --------------------------------------------------------

    def put(self, op: Op) -> None:
        """Queue one write; never raises (a store fault must not break a call)."""
        if self.sync and self._write_now(op):
            return
        try:
            self._ensure_thread()
            op.setdefault("id", secrets.token_hex(8))
            with self._jlock:
                if self._journal_fd is not None:
                    line = (json.dumps(op, ensure_ascii=False) + "\n").encode()
                    if self._journal_bytes + len(line) > self.max_journal_bytes:
                        self.dropped += 1
                        if self.dropped == 1:
                            log.error(
                                "store: the write journal is full (%d bytes); "
                                "dropping writes until the store is back",
                                self._journal_bytes,
                            )
                        return
                    os.write(self._journal_fd, line)
                    self._journal_bytes += len(line)
                self._queue.put(op)
        except Exception:
            log.warning("store: could not queue a write", exc_info=True)

    def _write_now(self, op: Op) -> bool:
        """``sync``: write ``op`` at once, in order; False to queue it instead."""
        if self._thread is not None and self.pending:
            return False  # earlier writes wait for the store: keep the order
        op.setdefault("id", secrets.token_hex(8))
        try:
            with self._sync_lock:
                if self.prepare is not None:
                    self.prepare()
                with self.database.transaction(write=True) as conn:
                    self.apply(conn, [op])
        except Exception:
            return False
        self.written += 1
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every write queued so far is committed; False on time-out."""
        if self._thread is None or self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    @property
    def pending(self) -> int:
        """Writes queued or waiting for the store in this process."""
        return len(self._pending) + self._queue.qsize()

    # -- the thread --------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._init_lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._jlock = threading.Lock()
            self._pending = []
            self._journal_fd = None
            self._pid = os.getpid()
            if self.spool_dir is not None:
                self._open_journal()
            self._thread = threading.Thread(
                target=self._run, name="ivr-store-writer", daemon=True
            )
            self._thread.start()
            atexit.register(self.flush)

    def _open_journal(self) -> None:
        assert self.spool_dir is not None
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"journal-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        path = self.spool_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._journal_fd, self._journal_path, self._journal_bytes = fd, path, 0
        adopted = self._adopt_orphans()
        if adopted:
            log.warning(
                "store: %d writes left by a stopped process are being written", adopted
            )

    def _adopt_orphans(self) -> int:
        """Move the writes of journals no live process holds into ours."""
        assert self.spool_dir is not None and self._journal_fd is not None
        adopted = 0
        for path in sorted(self.spool_dir.glob("journal-*.jsonl")):
            if path == self._journal_path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process writes it
                with os.fdopen(os.dup(fd), "rb") as handle:
                    data = handle.read()
                for raw in data.splitlines():
                    try:
                        op = json.loads(raw)
                    except ValueError:
                        continue  # the torn last line of a killed process
                    line = raw + b"\n"
                    os.write(self._journal_fd, line)
                    self._journal_bytes += len(line)
                    self._queue.put(op)
                    adopted += 1
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return adopted

    def _run(self) -> None:
        outage_since: float | None = None
        backoff = 0.5
        while True:
            waiters: list[threading.Event] = []
            try:
                item = self._queue.get(timeout=backoff if self._pending else None)
            except queue.Empty:
                item = None
            if item is not None:
                if not isinstance(item, threading.Event) and outage_since is None:
                    time.sleep(BATCH_S)  # gather a moment's writes: one commit
                while True:
                    if isinstance(item, threading.Event):
                        waiters.append(item)
                    elif item is not None:
                        self._pending.append(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                try:
                    if self.prepare is not None:
                        self.prepare()
                    with self.database.transaction(write=True) as conn:
                        self.apply(conn, batch)
                except Exception as error:
                    self.failed_batches += 1
                    if outage_since is None:
                        outage_since = time.monotonic()
                        log.warning(
                            "store: cannot write (%s: %s); keeping %d writes in %s "
                            "and retrying",
                            type(error).__name__,
                            str(error).splitlines()[0][:200] if str(error) else "",
                            len(self._pending),
                            self._journal_path or "memory",
                        )
                    backoff = min(backoff * 2, 5.0)
                    break
                del self._pending[: len(batch)]
                self.written += len(batch)
                if outage_since is not None:
                    log.warning(
                        "store: writing again after %.0f s; %d writes kept meanwhile "
                        "are written",
                        time.monotonic() - outage_since,
                        self.written,
                    )
                    outage_since = None
                backoff = 0.5
            if not self._pending:
                self._truncate_journal()
                for waiter in waiters:
                    waiter.set()
            else:
                # Not written yet: a flush must wait for the store to come back.
                for waiter in waiters:
                    self._queue.put(waiter)
                if waiters:
                    time.sleep(backoff)

    def _truncate_journal(self) -> None:
        if self._journal_fd is None:
            return
        with self._jlock:
            if self._queue.empty() and not self._pending and self._journal_bytes:
                os.ftruncate(self._journal_fd, 0)
                self._journal_bytes = 0


_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for writer in list(_WRITERS):
        writer._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
