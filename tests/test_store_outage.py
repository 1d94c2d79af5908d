"""The call log through store faults: nothing lost, nothing doubled, little said.

The writer's own faults first (a store that fails, a read-only file, a full or
unwritable journal, a journal under steady traffic), then the whole line: callers
against `ivr serve` while the store goes away and comes back (a short run here;
`bench/outage.py` runs the full-size one).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from bench.outage import run
from ivr.store import Store, writer
from ivr.store import ops as ops_module

POSTGRES = os.environ.get("IVR_TEST_POSTGRES_URL")
FULL_OUTAGE = os.environ.get("IVR_FULL_OUTAGE")  # read before conftest clears IVR_*


class Outage:
    """Makes the store's transactions fail until ``end()``, counting attempts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.attempts = 0
        self.tried = threading.Event()
        self._real = store.database.transaction
        store.database.transaction = self._fail  # type: ignore[method-assign]

    def _fail(self, *args, **kwargs):
        self.attempts += 1
        self.tried.set()
        raise OSError("the store is gone")

    def end(self) -> None:
        """Bring the store back, once the writer has met the outage."""
        assert self.tried.wait(10)
        self.store.database.transaction = self._real  # type: ignore[method-assign]


def store_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ivr.store"]


def journal_bytes(spool: Path) -> int:
    return sum(path.stat().st_size for path in spool.glob("journal-*.jsonl"))


def test_an_outage_under_steady_traffic_is_retried_with_backoff_and_said_twice(
    tmp_path, caplog
):
    store = Store(tmp_path / "calls.sqlite3", spool_dir=tmp_path / "spool")
    assert store.flush()
    outage = Outage(store)
    sid = "CA" + uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        for i in range(300):  # writes keep coming all through the outage
            store.record(sid, "step", detail={"i": i})
            threading.Event().wait(0.002)
        assert outage.attempts <= 10  # not one attempt per write that came in
        outage.end()
        assert store.flush(timeout_s=20)
    assert [e["detail"]["i"] for e in store.events(sid)] == list(range(300))
    said = store_lines(caplog)
    assert len(said) == 2
    assert said[0].startswith("store: cannot write (OSError: the store is gone);")
    assert said[1].startswith("store: writing again after ")
    assert said[1].endswith("; the 300 writes kept meanwhile are being written")
    assert journal_bytes(tmp_path / "spool") == 0


def test_a_write_held_without_an_error_is_said_once_as_an_outage(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(writer, "STUCK_S", 0.2)
    store = Store(tmp_path / "calls.sqlite3", spool_dir=tmp_path / "spool")
    assert store.flush()
    real, held, release = (
        store.database.transaction,
        threading.Event(),
        threading.Event(),
    )

    @contextlib.contextmanager
    def partitioned(*args, **kwargs):  # a query that hangs, as in a partition
        held.set()
        release.wait(30)
        with real(*args, **kwargs) as conn:
            yield conn

    store.database.transaction = partitioned
    sid = "CA" + uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        store.record(sid, "step", detail={"i": 0})
        assert held.wait(10)
        threading.Event().wait(0.3)  # longer than STUCK_S
        for i in range(1, 50):
            store.record(sid, "step", detail={"i": i})
        release.set()
        store.database.transaction = real
        assert store.flush(timeout_s=20)
    assert len(store.events(sid)) == 50
    said = store_lines(caplog)
    assert len(said) == 2
    assert said[0].startswith("store: a write has waited 0 s for the store; keeping")
    assert said[1].startswith("store: writing again after 0 s; the ")


def test_a_full_journal_keeps_what_fits_drops_the_rest_and_says_so_once(
    tmp_path, caplog
):
    spool = tmp_path / "spool"
    store = Store(tmp_path / "calls.sqlite3", spool_dir=spool)
    assert store.flush()
    store.writer.max_journal_bytes = 64 * 1024
    outage = Outage(store)
    sid = "CA" + uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        for i in range(2000):
            store.record(sid, "step", detail={"i": i})
        dropped = store.writer.dropped
        store.record(sid, "s")  # shorter than any: dropped too (what is kept of
        assert store.writer.dropped == dropped + 1  # a call is where it began)
        assert journal_bytes(spool) <= 64 * 1024  # bounded on disk
        kept = 2001 - store.writer.dropped
        assert 0 < kept < 2000
        outage.end()
        assert store.flush(timeout_s=20)
    assert [e["detail"]["i"] for e in store.events(sid)] == list(range(kept))
    said = store_lines(caplog)  # the first two in either order
    said[:2] = sorted(said[:2])
    assert said[0].startswith("store: cannot write (OSError: the store is gone);")
    assert said[1].startswith("store: the write journal is full (64 KB); dropping")
    assert said[2].endswith(
        f"the {kept} writes kept meanwhile are being written; "
        f"{2001 - kept} were dropped (the journal was full)"
    )
    assert len(said) == 3


def test_a_journal_that_cannot_be_written_keeps_writes_in_memory_and_says_once(
    tmp_path, caplog
):
    (tmp_path / "not-a-folder").write_text("")
    store = Store(tmp_path / "calls.sqlite3", spool_dir=tmp_path / "not-a-folder" / "s")
    sid = "CA" + uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        for i in range(500):
            store.record(sid, "step", detail={"i": i})
        assert store.flush(timeout_s=20)
    assert len(store.events(sid)) == 500
    said = store_lines(caplog)
    assert len(said) == 1
    assert said[0].startswith("store: cannot write the journal in ")
    assert said[0].endswith(
        "(Not a directory); writes wait in memory only until it can (lost if "
        "this process is killed)"
    )


def test_a_journal_under_steady_traffic_is_emptied_as_it_is_written(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(writer, "SEGMENT_BYTES", 4096, raising=False)
    monkeypatch.setattr(writer, "BATCH_S", 0.0)  # one write a batch
    spool = tmp_path / "spool"
    store = Store(tmp_path / "calls.sqlite3", spool_dir=spool)
    sid = "CA" + uuid.uuid4().hex
    sizes, arrivals, last = [], iter(range(1, 400)), threading.Event()

    def apply(conn, ops):  # a write always arrives while a batch commits
        ops_module.apply_ops(conn, ops)
        sizes.append(journal_bytes(spool))
        i = next(arrivals, None)
        if i is None:
            last.set()
        else:
            store.record(sid, "step", detail={"i": i})

    store.writer.apply = apply
    store.record(sid, "step", detail={"i": 0})
    assert last.wait(30) and store.flush(timeout_s=30)
    assert len(store.events(sid)) == 400
    assert max(sizes) <= 3 * 4096  # old trays emptied, not kept until a lull
    assert journal_bytes(spool) == 0


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a folder) and its files read-only, root included (chattr +i)."""
    files = [path, *path.iterdir()]
    if os.geteuid() == 0:
        if not shutil.which("chattr"):
            pytest.skip("chattr is needed to make a file read-only for root")
        flags = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
        if flags.returncode:
            pytest.skip(f"chattr +i is not allowed here: {flags.stderr.decode()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
        return
    modes = {file: file.stat().st_mode for file in files}
    for file in files:
        file.chmod(0o555 if file.is_dir() else 0o444)
    try:
        yield
    finally:
        for file, mode in modes.items():
            file.chmod(mode)


def test_a_read_only_store_keeps_writes_until_it_is_writable_again(tmp_path, caplog):
    folder = tmp_path / "db"
    folder.mkdir()
    store = Store(folder / "calls.sqlite3", spool_dir=tmp_path / "spool")
    assert store.flush()
    store.database.dispose()  # as a file made read-only is met by a new connection
    sid = "CA" + uuid.uuid4().hex
    with caplog.at_level(logging.WARNING, logger="ivr.store"), read_only(folder):
        for i in range(200):
            store.record(sid, "step", detail={"i": i})
        assert not store.flush(timeout_s=1)
        assert store.writer.pending == 200 and store.writer.failed_batches >= 1
    assert store.flush(timeout_s=20)
    assert [e["detail"]["i"] for e in store.events(sid)] == list(range(200))
    said = store_lines(caplog)
    assert len(said) == 2 and said[0].startswith("store: cannot write (")
    assert said[1].endswith("; the 200 writes kept meanwhile are being written")


# -- the whole line: callers against ivr serve while the store goes away ---------------


# Outages longer than SQLite's 5 s busy time-out and a busy filer's round
# together: the filer's write does meet them, however a round falls.
SHORT = {"callers": 40, "seconds": 14, "outage_s": 10}
# The size: .ci/run sets IVR_FULL_OUTAGE (about 75 s a database).
FULL = {"callers": 200, "seconds": 60, "outage_s": 30}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("size", ["short", "full"])
def test_served_callers_lose_no_log_row_while_the_store_is_gone(tmp_path, kind, size):
    if kind == "postgres" and not POSTGRES:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set")
    if size == "full" and not FULL_OUTAGE:
        pytest.skip("the full-size run is for CI (IVR_FULL_OUTAGE=1)")
    # Outages longer than SQLite's 5 s busy time-out: the writers do meet them.
    sizes = SHORT if size == "short" else FULL
    figures = run(kind, **sizes, folder=tmp_path, postgres_url=POSTGRES)
    assert figures.failed_requests == 0
    assert figures.webhooks_during_outage > 0  # calls went on meanwhile
    assert (figures.lost, figures.doubled) == (0, 0)
    assert figures.rows == figures.webhooks
    # Each worker: one line when it cannot write, one when it writes again.
    cannot = [line for line in figures.store_lines if "cannot write (" in line]
    again = [line for line in figures.store_lines if "writing again after" in line]
    assert 1 <= len(cannot) == len(again) <= 2
    assert len(figures.store_lines) == len(cannot) + len(again)
