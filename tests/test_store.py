"""The store on SQLite and on PostgreSQL: the call log written off the request path,
and the human path's rows (waiters, callbacks, agents) claimed safely by
concurrent agents.

The PostgreSQL cases run where IVR_TEST_POSTGRES_URL names a database (CI starts
one); each test gets a database of its own.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sqlite3
import threading
import time
import uuid

import pytest
from conftest import TwilioPost, action_of, make_app, twiml

import ivr.store
from ivr.store import Store

POSTGRES = os.environ.get("IVR_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "calls.sqlite3")
        return
    if not POSTGRES:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set")
    import psycopg

    name = "ivr_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base = POSTGRES.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Clock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def waiter(call_sid: str, *, queue: str = "orders", priority: int = 0, at: float,
           menu: str = "shop", facts=(), stale_after_s: float = 3600) -> dict:  # fmt: skip
    return {
        "call_sid": call_sid,
        "menu": menu,
        "queue": queue,
        "node": f"agent_{queue}",
        "priority": priority,
        "twilio_queue": f"{menu}.{queue}.p{priority}",
        "topic": queue,
        "facts": [list(f) for f in facts],
        "caller": "+8613800138000",
        "enqueued_at": at,
        "stale_after_s": stale_after_s,
    }


def callback(call_sid: str, *, queue: str = "orders", priority: int = 0,
             since: float, number: str = "+8613800138001") -> dict:  # fmt: skip
    return {
        "call_sid": call_sid,
        "menu": "shop",
        "queue": queue,
        "priority": priority,
        "number": number,
        "topic": queue,
        "facts": [],
        "since": since,
        "max_attempts": 2,
        "retry_after_s": 300.0,
    }


def ask(store: Store, row: dict) -> None:
    """A caller asks for a callback, then leaves the queue for it."""
    store.ask_callback(row)
    store.callback_left_queue(row["call_sid"])


# -- the call log ----------------------------------------------------------------


def test_events_are_read_back_in_order(target):
    store = Store(target)
    sid = "CA" + uuid.uuid4().hex
    store.record(sid, "start", menu="shop", detail={"from": "+8613800000000"})
    store.record(sid, "input", menu="shop", node="main", detail={"digits": "1"})
    store.record(sid, "status", detail={"status": "completed"})
    events = store.events(sid)
    assert [e["event"] for e in events] == ["start", "input", "status"]
    assert events[1]["node"] == "main" and events[1]["detail"] == {"digits": "1"}
    assert events[0]["detail"]["from"] == "+8613800000000"


def _write_from_a_worker(target: str, sid: str, count: int) -> None:
    store = Store(target)
    for i in range(count):
        store.record(sid, "step", detail={"i": i})
    if not store.flush():
        raise SystemExit("the worker's events were not written")


def test_forked_workers_all_write_to_one_log(target):
    store = Store(target)
    sid = "CA" + uuid.uuid4().hex
    store.record(sid, "parent")  # the parent's writer thread must not be inherited
    # Fork with the writer idle, as gunicorn forks from a master that logs nothing.
    assert store.flush()
    context = mp.get_context("fork")
    workers = [
        context.Process(target=_write_from_a_worker, args=(target, sid, 50))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert len(store.events(sid)) == 151


@pytest.mark.parametrize(
    "database",
    [
        "postgresql://nobody@127.0.0.1:1/none",  # nothing listens on port 1
        "/proc/no/such/dir/calls.sqlite3",  # cannot be created
    ],
)
def test_a_store_that_cannot_be_written_never_breaks_a_call(tmp_path, database):
    client = make_app(tmp_path, DATABASE=database).test_client()
    post = TwilioPost(client)
    response = post("/voice")
    assert (
        twiml(post(action_of(twiml(response)), Digits="0")).find("Enqueue") is not None
    )


def test_writes_wait_out_a_locked_database_and_are_all_written(tmp_path):
    path = tmp_path / "calls.sqlite3"
    store = Store(path, spool_dir=tmp_path / "spool")
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    sid = "CA" + uuid.uuid4().hex
    for i in range(300):
        store.record(sid, "step", detail={"i": i})
    assert not store.flush(timeout_s=0.5)  # nothing can be written meanwhile
    journal = list((tmp_path / "spool").glob("journal-*.jsonl"))
    assert len(journal) == 1 and journal[0].stat().st_size > 0
    blocker.rollback()
    blocker.close()
    assert store.flush(timeout_s=20)
    assert [e["detail"]["i"] for e in store.events(sid)] == list(range(300))
    assert journal[0].stat().st_size == 0  # filed: the carbon copies are cleared


def test_callbacks_asked_in_an_outage_are_kept_and_logged_sparingly(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(ivr.store, "CALL_PATH_TIMEOUT_S", 0.05)  # a quick test
    path = tmp_path / "calls.sqlite3"
    store = Store(path, spool_dir=tmp_path / "spool")
    store.flush()
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # the store is locked for a while
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        for i in range(20):
            ask(store, callback(f"CA-{i}", since=1000.0 + i))
    blocker.rollback()
    blocker.close()
    assert store.flush(timeout_s=20)
    rows = store.callbacks()
    assert sorted(r["call_sid"] for r in rows) == sorted(f"CA-{i}" for i in range(20))
    assert {r["status"] for r in rows} == {"pending"}
    said = [r.getMessage() for r in caplog.records if r.name == "ivr.store"]
    # A line for each kind of fault (asked, left the queue) and the writer's
    # two (stopped, resumed): not one per caller.
    assert len(said) <= 4, said
    assert any("callback request queued for later" in line for line in said)


def _write_then_die(path: str, spool: str, sid: str) -> None:
    store = Store(path, spool_dir=spool)
    for i in range(40):
        store.record(sid, "step", detail={"i": i})
    os.kill(os.getpid(), signal.SIGKILL)  # before the writer could file them


def test_writes_of_a_killed_worker_are_written_by_the_next_one(tmp_path):
    path, spool = str(tmp_path / "calls.sqlite3"), str(tmp_path / "spool")
    Store(path).flush()  # the schema exists
    blocker = sqlite3.connect(path, timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")  # so the doomed worker cannot write
    sid = "CA" + uuid.uuid4().hex
    worker = mp.get_context("fork").Process(
        target=_write_then_die, args=(path, spool, sid)
    )
    worker.start()
    worker.join(30)
    assert worker.exitcode == -signal.SIGKILL
    blocker.rollback()
    blocker.close()
    survivor = Store(path, spool_dir=spool)
    survivor.record("CA-other", "start")  # starting its writer adopts the orphan
    assert survivor.flush(timeout_s=20)
    assert sorted(e["detail"]["i"] for e in survivor.events(sid)) == list(range(40))
    # Replaying again (another restart) writes nothing twice.
    again = Store(path, spool_dir=spool)
    again.record("CA-third", "start")
    assert again.flush()
    assert len(again.events(sid)) == 40


# -- the human path: who is next ----------------------------------------------------


def test_next_is_highest_priority_then_longest_waiting_callers_and_callbacks_alike(
    target,
):
    clock = Clock()
    store = Store(target, clock=clock)
    t = clock.now
    store.enqueued(waiter("CA-old-p0", at=t - 300))
    store.enqueued(waiter("CA-new-p1", priority=1, at=t - 10))
    store.enqueued(waiter("CA-refund", queue="refunds", at=t - 900))  # not served
    ask(store, callback("CA-cb-p0", since=t - 200))
    store.agent_ready("li.na", "CA-agent", [("shop", "orders")])
    pairs = [("shop", "orders")]
    assert store.waiting_counts(pairs) == (2, 1)
    order = [store.claim_next("li.na", pairs) for _ in range(4)]
    assert [(w.kind, w.call_sid) for w in order[:3]] == [
        ("caller", "CA-new-p1"),  # priority first
        ("caller", "CA-old-p0"),  # then whoever waited longest...
        ("callback", "CA-cb-p0"),  # ...live caller or callback alike
    ]
    assert order[3] is None
    assert order[2].number == "+8613800138001" and order[2].attempt == 1
    assert store.agent("li.na")["status"] == "busy"


def test_callers_who_stopped_holding_are_not_offered(target):
    clock = Clock()
    store = Store(target, clock=clock)
    # Hold rounds come every minute; nothing from CA-gone for 400 s.
    store.enqueued(waiter("CA-gone", at=clock.now - 400, stale_after_s=300))
    here = waiter("CA-here", at=clock.now - 400, stale_after_s=300)
    store.enqueued(here)
    store.waited(here, position=1, now=clock.now - 20)
    store.agent_ready("li.na", "CA-agent", [("shop", "orders")])
    assert store.waiting_counts([("shop", "orders")]) == (1, 0)
    assert store.claim_next("li.na", [("shop", "orders")]).call_sid == "CA-here"


def test_bridge_says_who_answered_whom_when_twilio_dequeues_another_caller(target):
    clock = Clock()
    store = Store(target, clock=clock)
    store.enqueued(waiter("CA-1", at=clock.now - 60))
    store.enqueued(waiter("CA-2", at=clock.now - 30))
    pairs = [("shop", "orders")]
    for agent in ("a", "b"):
        store.agent_ready(agent, f"CA-{agent}", pairs)
    first = store.claim_next("a", pairs)
    second = store.claim_next("b", pairs)
    assert (first.call_sid, second.call_sid) == ("CA-1", "CA-2")
    # b's Dial reached Twilio first and took the caller in front: CA-1.
    row = {"menu": "shop", "queue": "orders", "twilio_queue": "shop.orders.p0"}
    store.bridge(call_sid="CA-1", agent="b", wait_s=61, row=row)
    store.bridge(call_sid="CA-2", agent="a", wait_s=32, row=row)
    rows = {w["call_sid"]: w for w in store.waiters()}
    assert (rows["CA-1"]["status"], rows["CA-1"]["agent"]) == ("answered", "b")
    assert (rows["CA-2"]["status"], rows["CA-2"]["agent"]) == ("answered", "a")
    assert rows["CA-1"]["wait_s"] == 61


def test_an_unanswered_callback_is_retried_later_then_failed(target):
    clock = Clock()
    store = Store(target, clock=clock)
    ask(store, callback("CA-cb", since=clock.now))
    pairs = [("shop", "orders")]
    store.agent_ready("li.na", "CA-agent", pairs)
    work = store.claim_next("li.na", pairs)
    assert store.finish(agent="li.na", work=work.ref, dial_status="no-answer") == (
        "pending"
    )
    assert store.claim_next("li.na", pairs) is None  # not due again yet
    clock.now += 301
    work = store.claim_next("li.na", pairs)
    assert work.attempt == 2
    assert store.finish(agent="li.na", work=work.ref, dial_status="busy") == "failed"
    [row] = store.callbacks()
    assert (row["status"], row["attempts"], row["last_result"]) == ("failed", 2, "busy")


def test_a_callback_is_not_given_out_before_the_caller_has_left_the_queue(target):
    clock = Clock()
    store = Store(target, clock=clock)
    pairs = [("shop", "orders")]
    store.agent_ready("li.na", "CA-agent", pairs)
    store.enqueued(waiter("CA-1", at=clock.now - 30))
    store.ask_callback(callback("CA-1", since=clock.now - 30))  # pressed 1...
    # ...and in that instant an agent takes them live: no callback for them.
    work = store.claim_next("li.na", pairs)
    assert (work.kind, work.call_sid) == ("caller", "CA-1")
    row = {"menu": "shop", "queue": "orders", "twilio_queue": "shop.orders.p0"}
    store.bridge(call_sid="CA-1", agent="li.na", wait_s=30, row=row)
    store.finish(agent="li.na", work=work.ref, dial_status="completed")
    assert store.claim_next("li.na", pairs) is None
    assert store.callbacks()[0]["status"] == "canceled"
    # Another caller's callback is in line once they have left the queue; had
    # word of that been lost, it would come due two minutes after they asked.
    store.ask_callback(callback("CA-2", since=clock.now))
    assert store.claim_next("li.na", pairs) is None
    clock.now += 121
    assert store.claim_next("li.na", pairs).call_sid == "CA-2"


def test_a_reached_callback_is_done(target):
    clock = Clock()
    store = Store(target, clock=clock)
    ask(store, callback("CA-cb", since=clock.now))
    store.agent_ready("li.na", "CA-agent", [("shop", "orders")])
    work = store.claim_next("li.na", [("shop", "orders")])
    assert store.finish(agent="li.na", work=work.ref, dial_status="completed") == (
        "reached"
    )
    assert store.agent("li.na")["status"] == "ready"


def _claim_all(target: str, agent: str, out, start) -> None:
    store = Store(target)
    pairs = [("shop", "orders")]
    store.agent_ready(agent, f"CA-{agent}", pairs)
    start.wait()
    got = []
    while (work := store.claim_next(agent, pairs)) is not None:
        got.append(work.ref)
    out.put((agent, got))


def test_concurrent_agents_in_two_processes_never_get_the_same_row(target):
    store = Store(target)
    now = time.time()
    for i in range(60):
        store.enqueued(waiter(f"CA-w{i}", at=now - 100 + i))
        ask(store, callback(f"CA-c{i}", since=now - 100 + i + 0.5))
    assert store.flush()
    context = mp.get_context("fork")
    out, start = context.Queue(), context.Event()
    workers = [
        context.Process(target=_claim_all, args=(target, f"agent{i}", out, start))
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    claimed = [ref for _, refs in results for ref in refs]
    assert len(claimed) == 120 and len(set(claimed)) == 120  # each once, none lost


def test_concurrent_threads_never_get_the_same_callback(target):
    store = Store(target)
    now = time.time()
    for i in range(40):
        ask(store, callback(f"CA-c{i}", since=now - i))
    pairs = [("shop", "orders")]
    barrier = threading.Barrier(8)
    got: list[str] = []
    lock = threading.Lock()

    def agent(name: str) -> None:
        mine = Store(target)
        mine.agent_ready(name, f"CA-{name}", pairs)
        barrier.wait()
        while (work := mine.claim_next(name, pairs)) is not None:
            with lock:
                got.append(work.ref)

    threads = [threading.Thread(target=agent, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(got) == sorted({*got}) and len(got) == 40
