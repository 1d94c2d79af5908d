"""The call log on SQLite and on PostgreSQL: written off the request path, never failing a call.

The PostgreSQL cases run where IVR_TEST_POSTGRES_URL names a database (CI starts one).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import uuid

import pytest
from conftest import TwilioPost, make_app, twiml

from ivr.store import Store as CallLog

POSTGRES = os.environ.get("IVR_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "calls.sqlite3")
    if not POSTGRES:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set")
    return POSTGRES


def test_events_are_read_back_in_order(target):
    log = CallLog(target)
    sid = "CA" + uuid.uuid4().hex
    log.record(sid, "start", menu="shop", detail={"from": "+8613800000000"})
    log.record(sid, "input", menu="shop", node="main", detail={"digits": "1"})
    log.record(sid, "status", detail={"status": "completed"})
    events = log.events(sid)
    assert [e["event"] for e in events] == ["start", "input", "status"]
    assert events[1]["node"] == "main" and events[1]["detail"] == {"digits": "1"}
    assert events[0]["detail"]["from"] == "+8613800000000"


def _write_from_a_worker(target: str, sid: str, count: int) -> None:
    log = CallLog(target)
    for i in range(count):
        log.record(sid, "step", detail={"i": i})
    if not log.flush():
        raise SystemExit("the worker's events were not written")


def test_forked_workers_all_write_to_one_log(target):
    log = CallLog(target)
    sid = "CA" + uuid.uuid4().hex
    log.record(sid, "parent")  # the parent's writer thread must not be inherited
    # Fork only with the writer idle, as gunicorn forks from a master that logs
    # nothing: a thread caught inside SQLite at fork leaves its lock held.
    assert log.flush()
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
    events = log.events(sid)
    assert len(events) == 151


@pytest.mark.parametrize(
    "database",
    [
        "postgresql://nobody@127.0.0.1:1/none",  # nothing listens on port 1
        "/proc/no/such/dir/calls.sqlite3",  # cannot be created
    ],
)
def test_a_log_that_cannot_be_written_never_breaks_a_call(tmp_path, database):
    client = make_app(tmp_path, DATABASE=database).test_client()
    post = TwilioPost(client)
    response = post("/voice")
    from conftest import action_of

    assert (
        twiml(post(action_of(twiml(response)), Digits="0")).find("Enqueue") is not None
    )
