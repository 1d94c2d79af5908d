"""CPU time to file the call log: `apply_ops` per event, with and without records.

The ops are the app's own: the Flask app is called in process (as in
`bench/webhook_cpu.py`) for the `/voice` start and the first gather (key 1) of
200 calls, and what its webhooks hand to `Writer.put` is kept instead of being
written. A batch is what a busy line's writer commits every 50 ms: one event
per call, half of them the start of new calls and half the gather of calls
started in the batch before (so their records are folded onto, as live). Each
batch is filed in a write transaction (`Database.transaction(write=True)`, as
the writer does) on a fresh store and timed in CPU time; the figure is the
median over the rounds, in µs per event. "events only" leaves
`filing.refresh` out, to see what the records cost. With
`IVR_TEST_POSTGRES_URL` set, the same on a temporary PostgreSQL database. Not a
test:

    python bench/filing.py [--rounds 15] [--batch 33 --batch 200] [--spread]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

from webhook_cpu import call, environ, fields, gather, ivr_app

CALLS = 200


def app_ops() -> list[tuple[list[dict], list[dict]]]:
    """Per call, the ops of its `/voice` start and of its first gather."""
    app = ivr_app()
    kept: list[dict] = []
    writer = app.extensions["ivr"].store.writer

    def put(op: dict) -> None:
        op.setdefault("id", uuid.uuid4().hex)
        kept.append(json.loads(json.dumps(op)))  # as the journal hands it back

    writer.put = put
    calls = []
    for n in range(CALLS):
        answer = call(app, *environ("/voice", fields(n)))
        start, kept[:] = list(kept), []
        call(app, *gather(n, answer))
        pressed, kept[:] = list(kept), []
        calls.append((start, pressed))
    if not all(ops and ops[0]["op"] == "event" for pair in calls for ops in pair):
        raise SystemExit("a webhook logged no event: the bench is broken")
    return calls


def renamed(ops: list[dict], tag: int) -> list[dict]:
    """``ops`` of another call, ``tag`` batches later (ids and times moved)."""
    out = []
    for op in copy.deepcopy(ops):
        op["id"] = f"{op['id']}-{tag}"
        if "call_sid" in op:
            op["call_sid"] = f"{op['call_sid']}-{tag}"
        if "at" in op:
            op["at"] += tag
        out.append(op)
    return out


def batches(calls: list, size: int, rounds: int) -> list[list[dict]]:
    """``rounds + 1`` batches of ``size`` ops: the starts of new calls and the
    gathers of the calls the batch before started (the first: starts only)."""
    half = size // 2
    out = []
    for k in range(rounds + 1):
        batch = []
        for i in range(size - half if k else size):
            start, _ = calls[(k * size + i) % CALLS]
            batch += renamed(start, k * size + i)
        for i in range(half if k else 0):
            n = (k - 1) * size + i
            _, gather = calls[n % CALLS]
            batch += renamed(gather, n)
        out.append(batch)
    return out


@contextlib.contextmanager
def stores(postgres: str | None) -> Iterator[str]:
    """A fresh, empty store's target (deleted afterwards)."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="ivr-bench-") as folder:
            yield f"{folder}/filing.sqlite3"
        return
    import psycopg

    name = "ivr_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def filing_us(
    target: str, work: list[list[dict]], with_records: bool, spread: bool = False
) -> float:
    """The median CPU µs per event of filing each batch after the first."""
    from ivr.store import Store, filing
    from ivr.store.ops import apply_ops

    store = Store(target)
    refresh = filing.refresh
    if not with_records:
        filing.refresh = lambda conn, new: None
    try:
        figures = []
        gc.collect()
        for k, batch in enumerate(work):
            start = time.process_time()
            with store.database.transaction(write=True) as conn:
                apply_ops(conn, batch)
            if k:  # the first only starts calls, on an empty table
                events = sum(op["op"] == "event" for op in batch)
                figures.append((time.process_time() - start) / events * 1e6)
        if spread:
            print(f"    {sorted(round(f) for f in figures)}")
        return statistics.median(figures)
    finally:
        filing.refresh = refresh
        store.database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument(
        "--spread", action="store_true", help="print every batch's figure too"
    )
    args = parser.parse_args()
    sizes = args.batch or [33, 200]
    calls = app_ops()
    gc.freeze()  # the app's objects: not walked again by every collection
    sample = [op["event"] for op in calls[0][0] + calls[0][1]]
    print(f"ops of a call's start and first gather: {sample}")
    targets = {"SQLite": None}
    if os.environ.get("IVR_TEST_POSTGRES_URL"):
        targets["PostgreSQL"] = os.environ["IVR_TEST_POSTGRES_URL"]
    print(f"CPU µs per event filed, median of {args.rounds} batches")
    for label, postgres in targets.items():
        for size in sizes:
            work = batches(calls, size, args.rounds)
            figures = []
            for with_records in (False, True):
                with stores(postgres) as target:
                    figures.append(filing_us(target, work, with_records, args.spread))
            print(
                f"  {label:10s} batch {size:4d}: events only {figures[0]:6.1f} µs, "
                f"with records {figures[1]:6.1f} µs "
                f"({figures[1] / figures[0]:.1f}x the events alone)"
            )


if __name__ == "__main__":
    sys.exit(main())
