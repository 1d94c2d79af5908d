"""Filing the call log: after every write transaction, each call's record is
``derive`` of its events in the store, however the events land (in order, out
of order, replayed, in batches of mixed calls, from two processes at once) and
whatever the record was written by (this version, the previous one, a
migration). On SQLite and PostgreSQL (``database`` fixture).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random

import pytest
import sqlalchemy as sa

from ivr.store import Store, filing, prepared
from ivr.store.ops import apply_ops
from ivr.store.records import FOLD_READS, derive, go_on
from ivr.store.schema import calls, events

NUMBER = "+861000000000"


def step(at, event, action, nodes, **detail):
    return {"at": at, "event": event, "node": nodes[-1] if nodes else None,
            "detail": {"action": action, "nodes": nodes, **detail}}  # fmt: skip


def life(n: int, t0: float, rng: random.Random) -> list[dict]:
    """The events of one call, in the order they happened: the menu, and by
    ``n`` a queue with waits, an answer, a callback, a voicemail or an agent's
    shift. Some share their moment with the one before (ties are ordered by
    when they were written)."""
    t = t0
    log = []

    def at(gap: float = 1.0) -> float:
        nonlocal t
        t += 0 if rng.random() < 0.15 else gap * rng.uniform(0.5, 2)
        return round(t, 6)

    if n % 6 == 5:
        serves = [["shop", "orders"], ["shop", "refunds"]]
        log.append(
            {
                "at": at(),
                "event": "agent_on",
                "detail": {
                    "agent": f"agent{n}",
                    "from": "+8613900000001",
                    "serves": serves,
                },
            }
        )
        log.append(
            {"at": at(60), "event": "agent_off", "detail": {"agent": f"agent{n}"}}
        )
        return log  # fmt: skip
    log.append(step(at(), "start", "gather", ["welcome", "main"],
                    **{"from": f"+86138{n:08d}", "to": NUMBER}))  # fmt: skip
    log.append(step(at(), "input", "gather", ["order_ask"], digits="1",
                    choice=["main", "1"]))  # fmt: skip
    log.append(step(at(), "input", "gather", [], digits=""))  # silence
    if n % 6 == 0:
        log.append(step(at(), "input", "hangup", ["order_status"], digits="12",
                        answer=True))  # fmt: skip
    elif n % 6 in (1, 2, 3):
        log.append(step(at(), "input", "enqueue", ["agent_orders"], digits="0",
                        choice=["order_ask", "0"], queue="orders", topic="订单"))  # fmt: skip
        for position in (3, 2, 1):
            log.append({"at": at(30), "event": "wait", "detail": {
                "position": position, "estimate_s": 40.0 * position, "said_s": 6.5,
                "said": f"您前面还有{position}位", "offer": n % 6 == 2}})  # fmt: skip
        if n % 6 == 1:
            log.append({"at": at(), "event": "bridge",
                        "detail": {"agent": "ann", "waited_s": 95}})  # fmt: skip
            log.append({"at": at(), "event": "queue",
                        "detail": {"result": "bridged", "waited_s": "95.5"}})  # fmt: skip
        elif n % 6 == 2:
            log.append({"at": at(), "event": "callback", "detail": {"action": "hangup",
                        "nodes": ["callback_ok"]}})  # fmt: skip
            for event in ("callback_placed", "callback_retry", "callback_placed",
                          "callback_reached"):  # fmt: skip
                log.append({"at": at(300), "event": event, "detail": {"agent": "ann"}})
        else:
            log.append({"at": at(), "event": "queue", "detail": {"result": "hangup"}})
    else:
        log.append(step(at(), "input", "record", ["voicemail"], digits="9"))
        log.append({"at": at(40), "event": "voicemail", "detail": {
            "url": "https://api.twilio.com/R1", "duration_s": "31"}})  # fmt: skip
        log.append({"at": at(), "event": "fault", "detail": {"error": "x"}})
    log.append({"at": at(), "event": "status",
                "detail": {"status": "completed", "duration_s": "120"}})  # fmt: skip
    return log


def ops_of(sid: str, log: list[dict]) -> list[dict]:
    return [{"op": "event", "id": f"{sid}-{i}", "call_sid": sid, "menu": "shop",
             **event} for i, event in enumerate(log)]  # fmt: skip


def assert_records_are_derived(store: Store) -> None:
    """Every record is ``derive`` of its call's events in the store, and every
    call with events has one."""
    records = {r["call_sid"]: r for r in store.call_records(kind=None)}
    with store.database.transaction() as conn:
        sids = {sid for (sid,) in conn.execute(sa.select(events.c.call_sid))}
    assert set(records) == sids
    for sid, record in records.items():
        assert record == {**derive(sid, store.events(sid)), "id": record["id"]}


def test_going_on_reads_only_the_fields_of_fold_reads():
    """``go_on`` from a record cut down to FOLD_READS, ``fold`` and empty lists
    gives every field ``derive`` gives, and the lists' new items."""
    rng = random.Random(13)
    lists = ("path", "choices", "announcements")
    for n in range(12):
        log = life(n, 1_795_000_000.0, rng)
        for k in range(1, len(log)):
            before, after = derive("CA1", log[:k]), derive("CA1", log[: k + 1])
            rec = {name: before[name] for name in FOLD_READS}
            rec.update({name: [] for name in lists}, fold=before["fold"])
            go_on(rec, log[k : k + 1])  # a KeyError if it reads another field
            for name in lists:
                assert before[name] + rec.pop(name) == after[name]
            assert rec == {name: after[name] for name in rec}
            untouched = after.keys() - rec.keys() - set(lists)
            assert {name: after[name] for name in untouched} == {
                name: before[name] for name in untouched
            }  # the fields it did not write are as they were


def test_records_are_derived_after_every_batch_however_the_events_land(database):
    rng = random.Random(2026)
    store = Store(database)
    try:
        logs = {f"CA{n:04d}": life(n, 1_795_000_000.0 + 7 * n, rng) for n in range(24)}
        in_order = [op for sid, log in logs.items() for op in ops_of(sid, log)]
        in_order.sort(key=lambda op: op["at"])
        # A busy line: calls interleaved, mostly in order; then the ways writes
        # go wrong: two writers' batches swapped, a journal replayed after a
        # crash, the same write twice in a batch.
        batches = [in_order[i : i + 9] for i in range(0, len(in_order) // 2, 9)]
        rest = in_order[len(in_order) // 2 :]
        rng.shuffle(rest)
        batches += [rest[i : i + 7] for i in range(0, len(rest), 7)]
        batches[3], batches[4] = batches[4], batches[3]
        batches.append(rng.sample(in_order, 20))  # replayed
        batches.append([in_order[5], in_order[5], in_order[-1]])
        for batch in batches:
            with store.database.transaction(write=True) as conn:
                apply_ops(conn, batch)
            assert_records_are_derived(store)
        outcomes = {r["outcome"] for r in store.call_records()}
        assert {"self_service", "answered", "callback_reached", "voicemail",
                "abandoned"} <= outcomes  # fmt: skip
    finally:
        store.database.dispose()


def test_a_record_goes_on_from_one_written_by_the_previous_version(database):
    """Rows written through SQLAlchemy's JSON type (lists with spaces, as the
    previous version and migration 0002 wrote them) are folded onto."""
    rng = random.Random(3)
    store = Store(database)
    try:
        sid, log = "CA-old", life(1, 1_795_000_000.0, rng)
        ops = ops_of(sid, log)
        with store.database.transaction(write=True) as conn:
            apply_ops(conn, ops[:5])
            record = derive(sid, [dict(op) for op in ops[:5]])
            conn.execute(calls.delete())
            conn.execute(calls.insert().values(**record))  # as SQLAlchemy writes
        with store.database.transaction() as conn:
            path = conn.execute(sa.select(sa.cast(calls.c.path, sa.Text))).scalar()
        assert ", " in path  # the JSON type's spacing, not ours
        for op in ops[5:]:
            with store.database.transaction(write=True) as conn:
                apply_ops(conn, [op])
        assert_records_are_derived(store)
    finally:
        store.database.dispose()


def test_a_call_whose_record_was_never_written_is_derived_from_all_its_events(
    database,
):
    rng = random.Random(5)
    store = Store(database)
    try:
        ops = ops_of("CA-lost", life(0, 1_795_000_000.0, rng))
        with store.database.transaction(write=True) as conn:  # events alone
            conn.execute(events.insert(), [
                {"at": op["at"], "call_sid": op["call_sid"], "menu": op["menu"],
                 "event": op["event"], "node": op["node"], "detail": op["detail"],
                 "op_id": op["id"]}
                for op in ops[:3]
            ])  # fmt: skip
        with store.database.transaction(write=True) as conn:
            apply_ops(conn, ops[3:4])  # later than all: but there is no record
        assert_records_are_derived(store)
    finally:
        store.database.dispose()


def test_refresh_all_writes_every_record_whole_over_what_the_rows_held(database):
    rng = random.Random(7)
    store = Store(database)
    try:
        for n in range(6):
            with store.database.transaction(write=True) as conn:
                apply_ops(conn, ops_of(f"CA{n}", life(n, 1_795_000_000.0, rng)))
        with store.database.transaction(write=True) as conn:  # spoilt rows
            conn.execute(calls.update().values(agent="nobody", recording_url="x",
                                               inputs=99, fold=None))  # fmt: skip
            filing.refresh_all(conn, batch=4)
        assert_records_are_derived(store)
    finally:
        store.database.dispose()


def _file_in_turns(target: str, batches: list[list[dict]], start) -> None:
    store = Store(target)
    start.wait(10)
    for batch in batches:
        with store.database.transaction(write=True) as conn:
            apply_ops(conn, batch)
    store.database.dispose()


def test_two_processes_filing_the_same_calls_at_once_leave_derived_records(
    database,
):
    rng = random.Random(11)
    Store(database).database.dispose()  # migrated before the processes start
    logs = {f"CA{n:03d}": life(n, 1_795_000_000.0, rng) for n in range(12)}
    mine: list[list[dict]] = [[], []]
    for sid, log in logs.items():  # each call's events shared by both writers
        for op in ops_of(sid, log):
            mine[rng.randrange(2)].append(op)
    context = mp.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(
            target=_file_in_turns,
            args=(database, [part[i : i + 3] for i in range(0, len(part), 3)], start),
        )
        for part in mine
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    store = Store(database)
    try:
        assert_records_are_derived(store)
    finally:
        store.database.dispose()


@pytest.mark.parametrize(
    "value",
    [None, [], ["a", "b"], {"at": 1.5, "said": "您前面还有2位", "offer": False},
     {1: "a key that is not text"}],
)  # fmt: skip
def test_json_is_written_as_the_standard_library_reads_it(value):
    assert json.loads(prepared.encode(value)) == json.loads(json.dumps(value))
