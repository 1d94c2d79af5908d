"""The filer: a process that files the workers' journals (``ivr serve``).

A worker in filer mode only appends its writes to its journal; the filer reads
live trays up to their last whole line, takes closed or orphaned ones whole and
deletes them once filed, says an outage once and its end once, and only one
filer files a spool folder at a time.
"""

from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing as mp
import os
import signal
import time
import uuid
from pathlib import Path

from ivr.store import Store, filer, journal
from ivr.store.ops import apply_ops


def journal_lines(spool: Path) -> int:
    return sum(
        len(path.read_bytes().splitlines()) for path in spool.glob("journal-*.jsonl")
    )


def wait_for(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_worker_with_a_filer_files_nothing_itself_and_loses_nothing(tmp_path):
    spool = tmp_path / "spool"
    store = Store(tmp_path / "calls.sqlite3", spool_dir=spool, filer=True)
    sids = ["CA" + uuid.uuid4().hex for _ in range(3)]
    for i in range(300):
        store.record(sids[i % 3], "step", detail={"i": i})
    assert store.flush(timeout_s=30)
    for n, sid in enumerate(sids):
        assert [e["detail"]["i"] for e in store.events(sid)] == list(range(n, 300, 3))
    records = {r["call_sid"]: r for r in store.call_records(kind=None)}
    assert set(records) == set(sids)  # the filer refreshed the call records too
    assert store.writer.written == 0  # none of it in this process
    assert journal_lines(spool) == 0  # filed trays are deleted
    filers = [p for p in [store.writer._filer_proc] if p is not None]
    assert filers and filers[0].poll() is None  # it runs beside its worker


def _write_then_die(path: str, spool: str, sid: str) -> None:
    store = Store(path, spool_dir=spool, filer=True)
    for i in range(40):
        store.record(sid, "step", detail={"i": i})
    os.kill(os.getpid(), signal.SIGKILL)  # no flush, no exit handlers


def test_a_killed_workers_writes_are_filed_once(tmp_path):
    path, spool = str(tmp_path / "calls.sqlite3"), tmp_path / "spool"
    Store(path).flush()  # the schema exists
    sid = "CA" + uuid.uuid4().hex
    worker = mp.get_context("fork").Process(
        target=_write_then_die, args=(path, str(spool), sid)
    )
    worker.start()
    worker.join(30)
    assert worker.exitcode == -signal.SIGKILL
    # Its filer (or the next worker's) files the tray the dead worker held.
    survivor = Store(path, spool_dir=spool, filer=True)
    survivor.writer.start()
    assert wait_for(lambda: len(survivor.events(sid)) == 40)
    assert wait_for(lambda: journal_lines(spool) == 0)
    assert sorted(e["detail"]["i"] for e in survivor.events(sid)) == list(range(40))


def _tray(spool: Path, name: str, ops: list[dict], *, torn: bytes = b"") -> Path:
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / name
    path.write_bytes(b"".join(json.dumps(op).encode() + b"\n" for op in ops) + torn)
    return path


def _event(sid: str, i: int) -> dict:
    return {"op": "event", "id": f"{sid}-{i}", "at": 1000.0 + i, "call_sid": sid,
            "event": "step", "detail": {"i": i}}  # fmt: skip


def test_a_live_tray_is_filed_up_to_its_last_whole_line_and_kept(tmp_path):
    store = Store(tmp_path / "calls.sqlite3")
    spool = tmp_path / "spool"
    sid = "CA" + uuid.uuid4().hex
    line = json.dumps(_event(sid, 1)).encode()
    path = _tray(spool, "journal-1-aa.jsonl", [_event(sid, 0)], torn=line[:10])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    fcntl.flock(fd, fcntl.LOCK_EX)  # its worker is alive and writing
    clerk = filer.Filer(store.database, apply_ops, spool)
    assert clerk.round() == 1
    assert path.exists()
    os.write(fd, line[10:] + b"\n")  # the line being written is finished
    assert clerk.round() == 1
    assert [e["detail"]["i"] for e in store.events(sid)] == [0, 1]
    os.close(fd)  # the worker closes the tray: taken, and deleted once filed
    assert clerk.round() == 0
    assert not path.exists()
    clerk.close()


def test_what_orjson_cannot_write_or_read_is_journaled_and_filed_all_the_same(
    tmp_path,
):
    """A detail keyed by numbers, an integer past 64 bits, a NaN in a line from
    the standard library's writer: each goes to the journal and into the store."""
    store = Store(tmp_path / "calls.sqlite3")
    spool = tmp_path / "spool"
    sid = "CA" + uuid.uuid4().hex
    odd = [{**_event(sid, 0), "detail": {1: "one"}},
           {**_event(sid, 1), "detail": {"big": 2**70}}]  # fmt: skip
    lines = [journal.line(op) for op in odd]
    assert [journal.read(raw)["detail"] for raw in lines] == [{"1": "one"},
                                                              {"big": 2**70}]  # fmt: skip
    spool.mkdir()
    nan = json.dumps({**_event(sid, 2), "detail": {"queued": float("nan")}})
    (spool / "journal-3-cc.jsonl").write_bytes(b"".join(lines) + nan.encode() + b"\n")
    clerk = filer.Filer(store.database, apply_ops, spool)
    assert clerk.round() == 3
    assert len(store.events(sid)) == 3
    clerk.close()


def test_a_torn_last_line_of_a_dead_worker_is_left_out(tmp_path):
    store = Store(tmp_path / "calls.sqlite3")
    spool = tmp_path / "spool"
    sid = "CA" + uuid.uuid4().hex
    path = _tray(spool, "journal-2-bb.jsonl", [_event(sid, i) for i in range(3)],
                 torn=b'{"op": "ev')  # fmt: skip
    clerk = filer.Filer(store.database, apply_ops, spool)
    assert clerk.round() == 3
    assert not path.exists()
    assert len(store.events(sid)) == 3
    clerk.close()


def test_an_outage_is_said_once_and_its_end_once_and_nothing_is_lost(tmp_path, caplog):
    store = Store(tmp_path / "calls.sqlite3")
    spool = tmp_path / "spool"
    sid = "CA" + uuid.uuid4().hex
    _tray(spool, "journal-3-cc.jsonl", [_event(sid, i) for i in range(50)])
    real = store.database.transaction

    def gone(*args, **kwargs):
        raise OSError("the store is gone")

    store.database.transaction = gone  # type: ignore[method-assign]
    clerk = filer.Filer(store.database, apply_ops, spool)
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        for _ in range(5):
            clerk._retry_at = 0.0  # as if each backoff were over
            assert clerk.round() == 0
        assert clerk.pending == 50
        _tray(spool, "journal-4-dd.jsonl", [_event(sid, i) for i in range(50, 60)])
        store.database.transaction = real  # type: ignore[method-assign]
        clerk._retry_at = 0.0
        assert clerk.round() == 60
    said = [r.getMessage() for r in caplog.records if r.name == "ivr.store"]
    assert len(said) == 2
    assert said[0].startswith("store: cannot write (OSError: the store is gone);")
    assert said[1].startswith("store: writing again after ")
    assert said[1].endswith("; the 60 writes kept meanwhile are being written")
    assert [e["detail"]["i"] for e in store.events(sid)] == list(range(60))
    assert journal_lines(spool) == 0
    assert clerk.failed_batches == 5
    clerk.close()


def test_a_tray_filed_twice_after_a_restart_doubles_nothing(tmp_path):
    store = Store(tmp_path / "calls.sqlite3")
    spool = tmp_path / "spool"
    sid = "CA" + uuid.uuid4().hex
    ops = [_event(sid, i) for i in range(5)]
    path = _tray(spool, "journal-5-ee.jsonl", ops)
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # live
    first = filer.Filer(store.database, apply_ops, spool)
    assert first.round() == 5
    first.close()  # a filer stopped; the next one knows nothing of it
    os.close(fd)
    second = filer.Filer(store.database, apply_ops, spool)
    assert second.round() == 5  # read again from the start...
    assert len(store.events(sid)) == 5  # ...and nothing is doubled
    second.close()


def test_one_filer_at_a_time(tmp_path):
    spool = tmp_path / "spool"
    assert not filer.running(spool)
    turn = filer._take_turn(spool)
    assert turn is not None and filer.running(spool)
    assert filer._take_turn(spool) is None  # a second one stops at once
    os.close(turn)
    assert not filer.running(spool)


def test_a_filer_outlives_the_worker_that_started_it_and_stops_with_the_server(
    tmp_path,
):
    spool = tmp_path / "spool"
    server = mp.get_context("fork").Process(target=time.sleep, args=(2.0,))
    server.start()  # stands for the gunicorn master
    store = Store(tmp_path / "calls.sqlite3", spool_dir=spool, filer=True)
    store.writer.start(lives_with=server.pid)
    sid = "CA" + uuid.uuid4().hex
    store.record(sid, "start")
    assert store.flush(timeout_s=20)
    assert filer.running(spool)
    server.join()
    assert wait_for(lambda: not filer.running(spool))  # gone with the server
    assert len(store.events(sid)) == 1


def test_a_server_that_exited_counts_as_gone_before_it_is_reaped():
    # A filer keeps the server's output open: if it waited for a master that
    # has exited (a zombie until its starter reads its status), whoever reads
    # that output to its end would wait for the filer.
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        assert wait_for(lambda: not filer._alive(pid), timeout_s=10)
    finally:
        os.waitpid(pid, 0)
    assert filer._alive(os.getpid())


def test_a_full_journal_takes_writes_again_once_the_filer_has_filed_it(tmp_path):
    # Until a filer runs, the worker's journal fills and writes are dropped
    # (however short a later one); once the filer has filed what it holds, the
    # worker takes writes again (it hands its tray over and counts what the
    # filer deleted, at most once a second).
    spool = tmp_path / "spool"
    spool.mkdir()
    turn = filer._take_turn(spool)  # stands for a filer that files nothing yet
    assert turn is not None
    store = Store(tmp_path / "calls.sqlite3", spool_dir=spool, filer=True)
    store.writer.max_journal_bytes = 8 * 1024
    sid = "CA" + uuid.uuid4().hex
    for i in range(200):
        store.record(sid, "step", detail={"i": i})
    kept = 200 - store.writer.dropped
    assert 0 < kept < 200
    os.close(turn)  # the worker may start its own filer now
    later = 200
    deadline = time.monotonic() + 30
    while store.writer.dropped == later - kept:  # every later write dropped
        assert time.monotonic() < deadline, "the journal never took writes again"
        store.record(sid, "step", detail={"i": later})
        later += 1
        time.sleep(0.02)
    assert store.flush(timeout_s=30)
    seen = [e["detail"]["i"] for e in store.events(sid)]
    assert seen == [*range(kept), later - 1]  # a prefix, then the write taken
