"""The filer: one process that files every worker's journal into the store.

Under ``ivr serve`` a webhook's writes (the call log, a waiter's progress) are
appended to its worker's journal and nothing more: the worker never runs a
transaction for them, so a request never waits for the interpreter lock behind
a batch being filed. Think of a post room: each office drops its forms in its
own tray (``Writer`` in ``filer`` mode), and one clerk (this process) walks the
trays every ~50 ms, files what is new in one transaction, and throws a tray
away once it is closed and filed.

A tray is *live* while its worker holds an ``flock`` on it: the clerk reads it
up to its last whole line and remembers how far it got. A tray nobody holds
(its worker closed it at a megabyte, or was killed) is taken under the lock,
filed to the end and deleted. After a restart the clerk does not know how far
it had got in a tray: it files the tray again from the start, which the store
makes harmless (each write carries an id, and every op is safe to replay).

One filer files a spool folder (it holds ``filer.lock``). A worker that finds
none (at its start, then at most once a second as it writes) starts one
(``spawn``); one started beside another stops at once. It lives as long as the
server (the gunicorn master) and, once that is gone, files what is left and
stops; a worker killed, or replaced, leaves it running for the others.
Outages are said as the thread writer says them: once when the store cannot be
written, once when it can again (``ivr.store.writer``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.store import journal

__all__ = ["FILER_LOCK", "Filer", "running", "spawn"]

log = logging.getLogger("ivr.store")

FILER_LOCK = "filer.lock"
ROUND_S = 0.05
MAX_BATCH = 2000
READ_BYTES = 256 * 1024
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 5.0
ALIVE_EVERY_S = 0.25  # how often the filer looks whether the server still runs
DATABASE_ENV = "IVR_FILER_DATABASE"  # not on the command line: ps shows that


@dataclass
class _Tray:
    """What the filer knows of one journal file."""

    path: Path
    fd: int
    inode: int
    offset: int = 0  # bytes filed (or read into ``lines``) so far
    held: bool = False  # we hold its lock: nobody writes it any more


class Filer:
    """Files the journals of ``spool_dir`` through ``apply(conn, ops)``."""

    def __init__(self, database: Any, apply: Any, spool_dir: str | os.PathLike[str],
                 *, prepare: Any = None) -> None:  # fmt: skip
        self.database = database
        self.apply = apply
        self.prepare = prepare
        self.spool_dir = Path(spool_dir)
        self.written = 0
        self.failed_batches = 0
        self.dropped = 0
        self._trays: dict[Path, _Tray] = {}
        self._outage_since: float | None = None
        self._kept = 0
        self._backoff = FIRST_BACKOFF_S
        self._retry_at = 0.0

    @property
    def pending(self) -> int:
        return self._kept

    # -- one round ---------------------------------------------------------------

    def round(self) -> int:
        """Read what is new in the trays (up to ``MAX_BATCH`` writes) and file
        it in one transaction; returns the writes filed.

        During an outage the store is asked again only when the backoff is
        over; the journal keeps the writes meanwhile (nothing is held here).
        """
        if time.monotonic() < self._retry_at:
            return 0
        batch: list[tuple[_Tray, int, bytes]] = []  # tray, offset after, line
        for tray in self._scan():
            self._read(tray, batch)
            if len(batch) >= MAX_BATCH:
                break
        if batch and not self._file(batch):
            self._kept = len(batch)
            return 0
        for tray, end, _ in batch:
            tray.offset = max(tray.offset, end)
        self._kept = 0
        self._retire_filed()
        return len(batch)

    def _scan(self) -> list[_Tray]:
        """The journal files now in the spool folder, in the order they were
        first seen (new ones oldest first): one listing a round, and a stat
        only for a file not seen before."""
        found = set(self.spool_dir.glob("journal-*.jsonl"))
        for path in [p for p in self._trays if p not in found]:
            self._forget(self._trays.pop(path))
        for path in sorted(found - self._trays.keys(), key=_age):
            tray = self._open(path)
            if tray is not None:
                self._trays[path] = tray
        return list(self._trays.values())

    def _open(self, path: Path) -> _Tray | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        return _Tray(path, fd, os.fstat(fd).st_ino)

    def _read(self, tray: _Tray, batch: list[tuple[_Tray, int, bytes]]) -> None:
        """Whole lines of ``tray`` past what was filed, into ``batch`` (up to
        ``MAX_BATCH`` writes in all)."""
        if not tray.held:
            try:
                fcntl.flock(tray.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                tray.held = True  # closed, or its worker is gone: ours now
            except BlockingIOError:
                pass  # live: a worker appends to it
        size = os.fstat(tray.fd).st_size
        if size < tray.offset:  # emptied by a thread writer that reuses its tray
            tray.offset = 0
        position = tray.offset
        while position < size and len(batch) < MAX_BATCH:
            data = os.pread(tray.fd, min(size - position, READ_BYTES), position)
            whole = data[: data.rfind(b"\n") + 1]
            if not whole:  # no end of line (yet)
                if tray.held and position + len(data) >= size:
                    tray.offset = size  # the torn last line of a killed worker
                return
            for raw in whole.splitlines(keepends=True):
                position += len(raw)
                if raw.strip():
                    batch.append((tray, position, raw))
                    if len(batch) >= MAX_BATCH:
                        return

    def _file(self, part: list[tuple[_Tray, int, bytes]]) -> bool:
        """Commit ``part`` in one transaction; False (said once) if it failed."""
        ops = []
        for _, _, raw in part:
            try:
                ops.append(journal.read(raw))
            except ValueError:
                continue  # a torn line: never a whole write
        started = time.monotonic()
        try:
            if self.prepare is not None:
                self.prepare()
            with self.database.transaction(write=True) as conn:
                self.apply(conn, ops)
        except Exception as error:
            self.failed_batches += 1
            if self._outage_since is None:
                self._outage_since = started
                first = str(error).splitlines()[0][:200] if str(error) else ""
                log.warning(
                    "store: cannot write (%s: %s); keeping writes in %s and retrying",
                    type(error).__name__,
                    first,
                    self.spool_dir,
                )
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            return False
        self.written += len(ops)
        self._backoff = FIRST_BACKOFF_S
        self._retry_at = 0.0
        if self._outage_since is not None:
            log.warning(
                "store: writing again after %.0f s; the %d writes kept meanwhile "
                "are being written",
                time.monotonic() - self._outage_since,
                len(ops),
            )
            self._outage_since = None
        return True

    def _retire_filed(self) -> None:
        """Delete the trays nobody writes any more and that are filed whole."""
        for path, tray in list(self._trays.items()):
            if tray.held and tray.offset >= os.fstat(tray.fd).st_size:
                path.unlink(missing_ok=True)
                del self._trays[path]
                self._forget(tray)

    def _forget(self, tray: _Tray) -> None:
        with contextlib.suppress(OSError):
            os.close(tray.fd)

    def close(self) -> None:
        for tray in self._trays.values():
            self._forget(tray)
        self._trays.clear()


def _age(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except FileNotFoundError:
        return (0.0, path.name)


# -- the process -------------------------------------------------------------------


def spawn(spool_dir: Path, database: str, lives_with: int) -> subprocess.Popen[bytes]:
    """Start a filer for ``spool_dir`` that stops once process ``lives_with``
    (the gunicorn master; in one process, this one) is gone and all is filed.

    It inherits stderr (the server's log) and nothing else; the database goes
    through the environment, which only this user can read.
    """
    env = dict(os.environ, **{DATABASE_ENV: database})
    return subprocess.Popen(
        [sys.executable, "-m", "ivr.store.filer", str(spool_dir), str(lives_with)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        close_fds=True,
    )


def running(spool_dir: Path) -> bool:
    """Whether a filer files ``spool_dir`` now (it holds ``filer.lock``)."""
    try:
        fd = os.open(spool_dir / FILER_LOCK, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: a zombie (a master that exited and waits
    for whoever started it to read its status) counts as gone, or the filer
    would keep the server's output open and its starter waiting for it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: kill's answer is all there is
    return stat.rpartition(")")[2].split()[0] != "Z"


def _take_turn(spool_dir: Path) -> int | None:
    """Hold ``filer.lock``, or None: another filer files this folder."""
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(spool_dir / FILER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str] | None = None) -> int:
    """``python -m ivr.store.filer SPOOL_DIR LIVES_WITH`` (see ``spawn``)."""
    args = sys.argv[1:] if argv is None else argv
    spool_dir, lives_with = Path(args[0]), int(args[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C reaches the whole group
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    # Lines like gunicorn's, on the server's stderr: ivr's own, and others'
    # warnings (not Alembic's chatter while it checks the schema).
    logging.basicConfig(
        level=logging.WARNING,
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S %z",
    )
    logging.getLogger("ivr").setLevel(logging.INFO)
    if _take_turn(spool_dir) is None:
        return 0  # started beside another: that one files
    from ivr.store import Store

    store = Store(os.environ[DATABASE_ENV])
    filer = Filer(store.database, _apply(), spool_dir, prepare=store.ensure_schema)
    figures = _figures()
    looked_at = 0.0  # when the server was last seen running
    try:
        while True:
            filed = filer.round()
            if figures is not None:
                with contextlib.suppress(OSError):
                    figures(filer)
            gone = bool(stopping)
            if not gone and time.monotonic() - looked_at >= ALIVE_EVERY_S:
                # Reading /proc every round cost a twentieth of a busy filer.
                gone = not _alive(lives_with)
                looked_at = time.monotonic()
            if gone and not filed and not filer.pending:
                break  # the server is gone and what it left is filed
            if filed < MAX_BATCH:
                time.sleep(ROUND_S)
    finally:
        filer.close()
        store.database.dispose()
        if figures is not None:  # this process's live gauges go with it
            from prometheus_client import multiprocess

            with contextlib.suppress(OSError):
                multiprocess.mark_process_dead(os.getpid())
    return 0


def _apply() -> Any:
    from ivr.store.ops import apply_ops

    return apply_ops


def _figures() -> Any:
    """The writer's figures for ``/metrics``, when the server counts them."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    try:
        from ivr.store.figures import writer_figures
    except OSError:  # the metrics folder is gone (a server stopping): no figures
        return None
    return writer_figures


if __name__ == "__main__":
    raise SystemExit(main())
