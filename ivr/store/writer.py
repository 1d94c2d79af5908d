"""The writer that never blocks a call and never loses what a call wrote.

A webhook must answer Twilio in milliseconds whatever the database is doing, so
what it writes (a call-log row, a waiter's progress) is handed to a background
thread per process: the request appends the write to this process's *journal*
(files in ``instance/spool/``, one JSON line per write, no fsync) and goes on;
the thread commits what has queued up in one transaction every ~50 ms.

Think of the journal as the carbon copies of paper forms, kept in trays: the
store is the filing cabinet, and a tray is emptied (its file deleted) once every
form in it is filed. A tray takes about a megabyte, then a new one is started, so
a busy line that never stops writing still empties its old trays. When the store
is down or locked, writes wait in the journal and are retried with backoff (also
while new writes keep coming); the journal is bounded (``max_journal_bytes``:
beyond it, writes are dropped and counted until the store has taken half of
it, so what is kept of a call is where it began). The log says so once per
outage, with counts, and once when it is over; a journal that cannot be written
(a full disk) is said once too, and its writes wait in memory meanwhile.

A worker killed with ``kill -9`` leaves its journal behind: the next process that
starts a writer adopts it (an exclusive ``flock`` tells a live journal from an
orphan) and files what it holds. Each write carries an id, and the store ignores
an id it has already filed, so a write replayed after a crash is not doubled.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
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

from ivr.store import journal
from ivr.store.database import Database

__all__ = ["Writer"]

log = logging.getLogger("ivr.store")

BATCH_S = 0.05
MAX_BATCH = 2000
MAX_JOURNAL_BYTES = 64 * 1024 * 1024
SEGMENT_BYTES = 1024 * 1024
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 5.0
# A write still waiting after this long is an outage too (a network partition
# holds a query without an error): said once, from the request side.
STUCK_S = 20.0
Op = dict[str, Any]
Apply = Callable[[Any, list[Op]], None]


class _Tray:
    """One journal file (or, with ``fd`` None, writes kept in memory only)."""

    def __init__(self, path: Path | None = None, fd: int | None = None) -> None:
        self.path, self.fd = path, fd
        self.bytes = 0
        self.unfiled = 0  # writes in it not yet committed

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _Outage:
    """What happened while the store could not be written: for the two log lines."""

    def __init__(self, since: float | None = None) -> None:
        self.since = time.monotonic() if since is None else since
        self.kept = 0


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
        filer: bool = False,
    ) -> None:
        self.database = database
        self.apply = apply
        self.prepare = prepare  # before each transaction, e.g. migrating
        # Write in the caller's thread (a line rung in process, where the clock
        # is simulated and a write must be there for the next request).
        self.sync = sync
        # Leave the filing to a filer process (``ivr.store.filer``; ``ivr
        # serve``): this process only appends to its journal.
        self.filer = filer and spool_dir is not None
        self._filer_proc: Any = None
        self._filer_checked = -1e9
        self.filer_lives_with = os.getpid()
        self._handed: list[tuple[Path, int]] = []  # closed trays, their bytes
        self._sync_lock = threading.Lock()
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.max_journal_bytes = max_journal_bytes
        self.written = 0  # ops committed by this process
        self.failed_batches = 0
        self.dropped = 0  # ops refused because the journal was full
        self._pid = 0
        self._thread: threading.Thread | None = None
        # Writes wait as their journal lines (bytes take half the memory of the
        # dicts), read back when their batch is written.
        self._queue: queue.SimpleQueue[tuple[bytes, _Tray] | threading.Event] = (
            queue.SimpleQueue()
        )
        self._jlock = threading.Lock()
        self._tray: _Tray | None = None  # the tray new writes go to
        self._journal_bytes = 0  # in every tray not yet emptied
        self._pending: list[tuple[bytes, _Tray]] = []
        # Full: writes are dropped until the store has taken half the journal
        # (not whenever a shorter line would still fit, which would keep a
        # scattering of a call's later writes after a gap).
        self._full = False
        self._recount_at = 0.0  # filer mode: when a full journal is looked at again
        self._said_unwritable = False
        self._said_stuck = False  # this outage was said (or a write waits long)
        self._attempt_since: float | None = None  # the transaction under way
        self._dropped_in_outage = 0
        self._init_lock = threading.Lock()
        _WRITERS.add(self)

    def _after_fork(self) -> None:
        """In a child process: the parent's thread, queue and journal are not ours."""
        self._init_lock = threading.Lock()
        self._jlock = threading.Lock()
        self._thread = None
        self._filer_proc = None
        self.filer_lives_with = os.getpid()

    # -- the request side --------------------------------------------------------

    def put(self, op: Op) -> None:
        """Queue one write; never raises (a store fault must not break a call)."""
        if self.sync and self._write_now(op):
            return
        try:
            self._ensure_thread()
            if self.filer:
                self._ensure_filer()
            op.setdefault("id", _op_id())
            self._check_stuck()
            line = journal.line(op)
            with self._jlock:
                if self._full and self.filer and time.monotonic() > self._recount_at:
                    self._recount_handed()
                if (
                    self._full
                    or self._journal_bytes + len(line) > self.max_journal_bytes
                ):
                    self.dropped += 1
                    self._dropped_in_outage += 1
                    if not self._full:
                        self._full = True
                        log.error(
                            "store: the write journal is full (%s); dropping "
                            "writes until the store takes what it holds",
                            _size(self.max_journal_bytes),
                        )
                    return
                tray = self._tray_for(len(line))
                if tray.fd is not None:
                    try:
                        os.write(tray.fd, line)
                    except OSError as error:
                        tray = self._unwritable(error)
                tray.bytes += len(line)
                self._journal_bytes += len(line)
                if self.filer and tray.fd is not None:
                    return  # the filer reads it from the journal
                tray.unfiled += 1
                self._queue.put((line, tray))
        except Exception:
            log.warning("store: could not queue a write", exc_info=True)

    def _write_now(self, op: Op) -> bool:
        """``sync``: write ``op`` at once, in order; False to queue it instead."""
        if self._thread is not None and self.pending:
            return False  # earlier writes wait for the store: keep the order
        op.setdefault("id", _op_id())
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

    def _check_stuck(self) -> None:
        """Say once when the write under way has waited past ``STUCK_S``."""
        since = self._attempt_since
        if since is None or self._said_stuck:
            return
        waited = time.monotonic() - since
        if waited > STUCK_S:
            self._said_stuck = True
            log.warning(
                "store: a write has waited %.0f s for the store; keeping writes in "
                "%s (up to %s) meanwhile",
                waited,
                self.spool_dir or "memory",
                _size(self.max_journal_bytes),
            )

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every write queued so far is committed; False on time-out."""
        if self._thread is None or self._pid != os.getpid():
            return True
        if self.filer:
            return self._handed_filed(timeout_s)
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    @property
    def pending(self) -> int:
        """Writes queued or waiting for the store in this process (with a
        filer, in its journal: the filer counts those)."""
        return len(self._pending) + self._queue.qsize()

    @property
    def journal_bytes(self) -> int:
        """Bytes of writes kept and not yet committed (on disk, or in memory)."""
        return self._journal_bytes

    # -- the journal's trays (under _jlock) -------------------------------------------

    def _tray_for(self, size: int) -> _Tray:
        tray = self._tray
        # A full tray makes way for a new one (a memory tray, for a journal that
        # could not be written, also: the new one tries the disk again).
        if tray is None or tray.bytes + size > SEGMENT_BYTES:
            if tray is not None and self.filer:
                self._hand_over(tray)
            elif tray is not None and tray.unfiled == 0:
                self._retire(tray)
            tray = self._tray = self._new_tray()
        return tray

    def _new_tray(self) -> _Tray:
        if self.spool_dir is None:
            return _Tray()
        try:
            self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            name = f"journal-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            path = self.spool_dir / name
            # Locked before it has its name: nobody may take a new tray for an
            # orphan (and delete it) before its writer holds it.
            hidden = self.spool_dir / f".{name}"
            fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live journal
            os.rename(hidden, path)
        except OSError as error:
            return self._unwritable(error)
        self._said_unwritable = False
        return _Tray(path, fd)

    def _unwritable(self, error: OSError) -> _Tray:
        """The journal cannot be written (a full disk...): keep in memory, say once."""
        if not self._said_unwritable:
            self._said_unwritable = True
            log.error(
                "store: cannot write the journal in %s (%s); writes wait in memory "
                "only until it can (lost if this process is killed)",
                self.spool_dir,
                error.strerror or error,
            )
        memory = _Tray()
        self._tray = memory
        return memory

    def _hand_over(self, tray: _Tray) -> None:
        """Filer mode: close a full tray (its lock goes with it), so that the
        filer takes it, files it to the end and deletes it."""
        if tray.fd is None:
            return  # a memory tray: the thread files it
        with contextlib.suppress(OSError):
            os.close(tray.fd)
        tray.fd = None
        if tray.path is not None:
            self._handed.append((tray.path, tray.bytes))
        self._count_handed()

    def _hand_over_current(self) -> None:
        """Filer mode: hand the tray new writes go to over, if it holds any,
        and start another (under _jlock)."""
        tray = self._tray
        if tray is not None and tray.fd is not None and tray.bytes:
            self._hand_over(tray)
            self._tray = self._new_tray()

    def _recount_handed(self) -> None:
        """Filer mode, journal full: hand the current tray over (so the filer
        can finish and delete it) and count what the filer deleted; at most once
        a second (under _jlock)."""
        self._recount_at = time.monotonic() + 1.0
        self._hand_over_current()
        self._count_handed()

    def _count_handed(self) -> None:
        """Forget the handed-over trays the filer has deleted (under _jlock)."""
        kept = []
        for path, size in self._handed:
            if path.exists():
                kept.append((path, size))
            else:
                self._journal_bytes -= size
        self._handed = kept
        self._take_again_if_drained()

    def _take_again_if_drained(self) -> None:
        """A full journal takes writes again once the store has taken half of
        it (under _jlock)."""
        if self._journal_bytes < self.max_journal_bytes // 2:
            self._full = False

    def _handed_filed(self, timeout_s: float) -> bool:
        """Filer mode's flush: hand the current tray over, then wait until the
        filer has filed (and deleted) every tray this process handed over."""
        with self._jlock:
            self._hand_over_current()
        deadline = time.monotonic() + timeout_s
        while True:
            self._ensure_filer()
            with self._jlock:
                self._count_handed()
                left = bool(self._handed)
            if not left and not (self._pending or self._queue.qsize()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def _ensure_filer(self) -> None:
        """Filer mode: a filer files this spool folder (one is started when
        none does; looked at most once a second)."""
        now = time.monotonic()
        if now - self._filer_checked < 1.0:
            return
        self._filer_checked = now
        from ivr.store import filer

        assert self.spool_dir is not None
        proc = self._filer_proc
        if proc is not None and proc.poll() is None:
            return  # ours runs (or waits to take its turn)
        if filer.running(self.spool_dir):
            return
        try:
            self._filer_proc = filer.spawn(
                self.spool_dir, self.database.target, self.filer_lives_with
            )
        except OSError:
            log.warning("store: could not start the filer", exc_info=True)

    def start(self, lives_with: int | None = None) -> None:
        """Start what files this process's writes now, not at its first write
        (so that what a stopped server left behind is filed at once). A filer
        this starts lives as long as process ``lives_with`` (default: this
        one; a gunicorn worker names its master)."""
        if lives_with is not None:
            self.filer_lives_with = lives_with
        self._ensure_thread()

    def _retire(self, tray: _Tray) -> None:
        self._journal_bytes -= tray.bytes
        tray.bytes = 0
        tray.close()

    def _filed(self, batch: list[tuple[bytes, _Tray]]) -> None:
        """Ops of ``batch`` are committed: empty the trays they emptied."""
        with self._jlock:
            for _, tray in batch:
                tray.unfiled -= 1
            for tray in {id(tray): tray for _, tray in batch}.values():
                if tray.unfiled:
                    continue
                if tray is self._tray and tray.fd is not None:
                    os.ftruncate(tray.fd, 0)  # the current tray: reuse it
                    self._journal_bytes -= tray.bytes
                    tray.bytes = 0
                elif tray is not self._tray:
                    self._retire(tray)
                else:  # the memory tray
                    self._journal_bytes -= tray.bytes
                    tray.bytes = 0
            self._take_again_if_drained()

    # -- the thread --------------------------------------------------------------

    def _ensure_thread(self) -> None:
        # A forked child finds ``_thread`` None (``_after_fork``): no pid to ask
        # the kernel for on every write.
        if self._thread is not None:
            return
        with self._init_lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._jlock = threading.Lock()
            self._pending = []
            self._tray = None
            self._journal_bytes = 0
            self._pid = os.getpid()
            self._handed = []
            if self.filer:
                self._filer_proc = None
                self._filer_checked = -1e9
                self._ensure_filer()  # it adopts orphans too
            if self.spool_dir is not None:
                with self._jlock:
                    self._tray = self._new_tray()
                    adopted = 0 if self.filer else self._adopt_orphans()
                if adopted:
                    log.warning(
                        "store: %d writes left by a stopped process are being written",
                        adopted,
                    )
            self._thread = threading.Thread(
                target=self._run, name="ivr-store-writer", daemon=True
            )
            self._thread.start()
            atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """At a graceful stop: write what is left; delete empty journal files."""
        if self._pid != os.getpid():
            return
        if self.filer:  # the filer files the last tray and stops after us
            self.flush(timeout_s=10.0)
            return
        self.flush()
        with self._jlock:
            tray = self._tray
            if tray is not None and tray.unfiled == 0 and tray.fd is not None:
                self._retire(tray)
                self._tray = None

    def _adopt_orphans(self) -> int:
        """Move the writes of journals no live process holds into ours."""
        assert self.spool_dir is not None and self._tray is not None
        tray = self._tray
        adopted = 0
        for path in sorted(self.spool_dir.glob("journal-*.jsonl")):
            if path == tray.path:
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
                        journal.read(raw)
                    except ValueError:
                        continue  # the torn last line of a killed process
                    line = raw + b"\n"
                    if tray.fd is not None:
                        os.write(tray.fd, line)
                    tray.bytes += len(line)
                    tray.unfiled += 1
                    self._journal_bytes += len(line)
                    self._queue.put((line, tray))
                    adopted += 1
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return adopted

    def _run(self) -> None:
        outage: _Outage | None = None
        backoff = FIRST_BACKOFF_S
        retry_at = 0.0
        waiters: list[threading.Event] = []
        while True:
            timeout = None
            if self._pending:
                timeout = max(retry_at - time.monotonic(), 0.0)
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            gather = outage is None and not isinstance(item, threading.Event | None)
            if gather:
                time.sleep(BATCH_S)  # a moment's writes: one commit
            while item is not None:
                if isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    self._pending.append(item)
                    if outage is not None:
                        outage.kept += 1
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            # During an outage, writes that keep coming are kept, not retried at
            # once: the store is asked again only when the backoff is over.
            if self._pending and time.monotonic() >= retry_at:
                outage, backoff, retry_at = self._write(outage, backoff)
            if not self._pending:
                for waiter in waiters:
                    waiter.set()
                waiters = []

    def _write(
        self, outage: _Outage | None, backoff: float
    ) -> tuple[_Outage | None, float, float]:
        """Commit the pending ops in batches; returns (outage, backoff, retry at)."""
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            self._attempt_since = started = time.monotonic()
            try:
                if self.prepare is not None:
                    self.prepare()
                with self.database.transaction(write=True) as conn:
                    self.apply(conn, [journal.read(line) for line, _ in batch])
            except Exception as error:
                self.failed_batches += 1
                if outage is None:
                    outage = _Outage(started)
                    outage.kept = len(self._pending) + self._queue.qsize()
                if not self._said_stuck:
                    first = str(error).splitlines()[0][:200] if str(error) else ""
                    log.warning(
                        "store: cannot write (%s: %s); keeping writes in %s (up to "
                        "%s) and retrying",
                        type(error).__name__,
                        first,
                        self.spool_dir or "memory",
                        _size(self.max_journal_bytes),
                    )
                self._said_stuck = True  # one line per outage, however it began
                retry_at = time.monotonic() + backoff
                return outage, min(backoff * 2, MAX_BACKOFF_S), retry_at
            finally:
                self._attempt_since = None
            if outage is None and self._said_stuck:  # a write that waited long
                outage = _Outage(started)
                outage.kept = len(self._pending) + self._queue.qsize()
            self._said_stuck = False
            del self._pending[: len(batch)]
            self.written += len(batch)
            self._filed(batch)
            if outage is not None:
                dropped, self._dropped_in_outage = self._dropped_in_outage, 0
                log.warning(
                    "store: writing again after %.0f s; the %d writes kept "
                    "meanwhile are being written%s",
                    time.monotonic() - outage.since,
                    outage.kept,
                    f"; {dropped} were dropped (the journal was full)"
                    if dropped
                    else "",
                )
                outage = None
        return None, FIRST_BACKOFF_S, 0.0


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB"


_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()

# A write's id (the store keeps an event once per id, so a journal replayed
# after a crash adds nothing twice): unique across processes and machines by a
# random 64-bit prefix drawn once per process, within one by a counter; no
# system call per write (random bytes cost one).
_ids = (secrets.token_hex(8), itertools.count())


def _op_id() -> str:
    prefix, count = _ids
    return f"{prefix}{next(count):x}"


def _reset_after_fork() -> None:
    global _ids
    _ids = (secrets.token_hex(8), itertools.count())
    for writer in list(_WRITERS):
        writer._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
