"""Requests per second of ivr's webhooks against a bare Flask route, same server.

Starts `ivr serve` (gunicorn, signatures checked, call log and metrics on) on the
default menus and a bare Flask app returning a constant TwiML string under the
same gunicorn settings, then drives each with the same keep-alive load from
client processes (each on a new connection every 100 requests), in rounds taken
in turn (ABBA) to share the machine's noise, and prints requests per second and
the ratio of each round to the bare route's beside it. An ivr round lasts until
the filer has filed its call log, so what the filer puts off is paid in that
round and not in the next one's.
Each request is a step of a call, as on a line: `/voice` starts a new call every
time (50,000 calls, more than a default run makes), the gather action presses 1
at the first menu of one of 10,000 calls with that call's own sealed state (a few
times each in a run, as a caller presses a few keys; not a thousand presses by
one call, whose record the store would fold ever longer).
Not a test: run it by hand, `python bench/webhook.py [--rounds 7]`; the least
flattering setup is `--workers 1 --threads 1 --clients 1` (one request at a time).

To see whether a change makes the webhooks faster where it counts, over HTTP,
measure its checkout in the same rounds as this one: `python bench/webhook.py
--against ../my-change [--only gather]`. Each checkout is served by this
Python and its libraries, on the same menus. A change that saves time in
process (`bench/webhook_cpu.py`) does not always save it here: a compiled
hot path (mypyc) made the gather 10 µs cheaper in process and 15-20 µs
dearer over HTTP (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing as mp
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from html import unescape
from pathlib import Path
from typing import NamedTuple

from twilio.request_validator import RequestValidator

if __package__:  # imported as bench.webhook
    from bench.serving import cpu_seconds, free_port, ivr_serve, wait_up
else:  # run as a script: this folder is on the path
    from serving import cpu_seconds, free_port, ivr_serve, wait_up

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
STARTS = 50_000  # distinct calls for /voice: none starts twice in a default run
CALLS = 10_000  # calls whose first gather is pressed (a few times each in a run)
RECONNECT = 100  # requests a client makes on one connection
Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


def signed(port: int, path: str, fields: dict[str, str]) -> Request:
    url = f"http://127.0.0.1:{port}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, fields)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return path, urllib.parse.urlencode(fields).encode(), headers


def post(conn: http.client.HTTPConnection, request: Request) -> str:
    """The answer to ``request`` on the keep-alive connection ``conn``."""
    path, body, headers = request
    conn.request("POST", path, body=body, headers=headers)
    return conn.getresponse().read().decode()


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def call_fields(n: int) -> dict[str, str]:
    return {
        "CallSid": f"CA{n:032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800000000",
        "To": "+861000000000",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def starts(port: int, count: int = STARTS, first: int = 0) -> list[Request]:
    """``/voice`` of ``count`` different calls (numbered from ``first``)."""
    return [signed(port, "/voice", call_fields(n)) for n in range(first, first + count)]


def _pressed(port: int, numbered: list[tuple[int, Request]]) -> list[Request]:
    """Start each call and sign its key 1 at the first menu (one connection)."""
    conn = connect(port)
    requests = []
    for n, start in numbered:
        answer = post(conn, start)
        action = unescape(re.search(r'<Gather action="([^"]+)"', answer).group(1))
        requests.append(signed(port, action, {**call_fields(n), "Digits": "1"}))
    conn.close()
    return requests


def gathers(port: int, count: int = CALLS, parallel: int = 4) -> list[Request]:
    """Key 1 pressed at the first menu by ``count`` calls (numbered after the
    ``/voice`` ones), each posting the gather action of its own ``/voice``
    answer (call state is bound to its call: another call's URL gets the
    apology and the human path instead). The calls are started by ``parallel``
    processes."""
    numbered = list(enumerate(starts(port, count, STARTS), STARTS))
    chunks = [(port, numbered[i::parallel]) for i in range(parallel)]
    with mp.Pool(parallel) as pool:
        requests = [r for chunk in pool.starmap(_pressed, chunks) for r in chunk]
    # The step after the key (the order number's question), not the fallback.
    with contextlib.closing(connect(port)) as conn:
        if "<Enqueue" in post(conn, requests[0]):
            raise SystemExit("the gather action was refused: the bench is broken")
    return requests


def client(
    port: int, requests: list[Request], n: int, offset: int, seconds: float, out
):
    conn = connect(port)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if done and done % RECONNECT == 0:
            # A new connection now and then, as Twilio's edge opens them: gunicorn
            # hands each to whichever worker accepts it first, and a round that
            # kept four connections drew one hand-out for all of it (one worker
            # idle for a whole round was seen); now it averages over many.
            conn.close()
            conn = connect(port)
        path, body, headers = requests[(offset + done) % len(requests)]
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
        done += 1
    out.put((n, done))


def call_log(database: str) -> sqlite3.Connection:
    """A read-only connection to the call log of ``database`` (the SQLite file
    ``ivr serve`` writes), kept for the run: outside a transaction each query
    sees what the filer has committed."""
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)


def logged(log: sqlite3.Connection) -> int:
    """The id of the last event in the call log: rows are only added, so it
    counts what is filed."""
    return log.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def filed(log: sqlite3.Connection, count: int, timeout_s: float = 30.0) -> float:
    """Seconds until the call log reaches ``count`` events."""
    started = time.perf_counter()
    while logged(log) < count:
        if time.perf_counter() - started > timeout_s:
            raise SystemExit("the call log was not filed: the bench is broken")
        time.sleep(0.005)
    return time.perf_counter() - started


def _still(log: sqlite3.Connection) -> int:
    """The call log's last event once nothing more is filed for 0.3 s."""
    last = logged(log)
    while True:
        time.sleep(0.3)
        now = logged(log)
        if now == last:
            return now
        last = now


def shares(count: int, clients: int) -> list[int]:
    """Where each of ``clients`` starts in ``count`` requests: each its own share."""
    return [n * (count // clients) for n in range(clients)]


def measure(
    port: int,
    requests: list[Request],
    seconds: float,
    clients: int,
    places: list[int] | None = None,
) -> int:
    """Requests made by ``clients`` processes in ``seconds``. Each client goes
    on through its own share of ``requests`` from where it stopped the round
    before (``places``, updated), so a round does not replay the last."""
    if places is None:
        places = shares(len(requests), clients)
    out: mp.Queue = mp.Queue()
    procs = [
        mp.Process(target=client, args=(port, requests, n, place, seconds, out))
        for n, place in enumerate(places)
    ]
    for p in procs:
        p.start()
    moved = dict(out.get() for _ in procs)
    for p in procs:
        p.join()
    places[:] = [place + moved[n] for n, place in enumerate(places)]
    return sum(moved.values())


class IvrServer(NamedTuple):
    port: int
    pid: int  # the gunicorn master
    log: sqlite3.Connection  # its call log, read-only


def serve_ivr(
    stack: contextlib.ExitStack, checkout: Path, menus: Path, args: argparse.Namespace
) -> IvrServer:
    """`ivr serve` of ``checkout``'s code (``serving.ivr_serve``) with a fresh
    store, stopped and its call log closed when ``stack`` closes."""
    folder = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    database = str(folder / "bench.sqlite3")
    port, process, _ = stack.enter_context(
        ivr_serve(folder, menus, database, TOKEN, args.workers,
                  threads=args.threads, checkout=checkout)
    )  # fmt: skip
    log = stack.enter_context(contextlib.closing(call_log(database)))
    return IvrServer(port, process.pid, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Rounds swing from 0.4 to 0.9 of the bare route on a shared 2-core
    # machine: the median of seven is the figure, not of two.
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--menus", default=str(ROOT / "menus"))
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="CHECKOUT",
        help="another checkout of ivr (a git worktree, say) served the same way "
        "and measured in the same rounds (repeatable)",
    )
    parser.add_argument(
        "--only", choices=["voice", "gather"], help="measure one webhook only"
    )
    args = parser.parse_args()
    menus = Path(args.menus).resolve()
    checkouts = {"ivr": ROOT}
    for other in args.against:
        path = Path(other).resolve()
        if not (path / "ivr" / "__init__.py").is_file():
            raise SystemExit(f"--against {other}: no ivr checkout there")
        checkouts[path.name if path.name not in checkouts else str(path)] = path

    with contextlib.ExitStack() as stack:
        servers = {
            label: serve_ivr(stack, checkout, menus, args)
            for label, checkout in checkouts.items()
        }
        bare_port = free_port()
        bare_server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"),
             "-b", f"127.0.0.1:{bare_port}", "-k", "gthread",
             "--workers", str(args.workers), "--threads", str(args.threads),
             "bare_app:app"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        stack.callback(_stop, bare_server)
        wait_up(bare_port, bare_server)
        # name: (port, the server's process, its call log or None, requests)
        targets: dict[str, tuple[int, int, sqlite3.Connection | None, list]] = {}
        for label, (port, pid, log) in servers.items():
            if args.only != "gather":
                targets[f"{label} /voice (start)"] = (port, pid, log, starts(port))
            if args.only != "voice":
                pressed = gathers(port, parallel=args.clients)
                targets[f"{label} gather action"] = (port, pid, log, pressed)
        bare = [signed(bare_port, "/voice", call_fields(0))]
        targets["bare Flask route"] = (bare_port, bare_server.pid, None, bare)
        places = {  # where each client is in its share of each target's requests
            name: shares(len(reqs), args.clients)
            for name, (*_, reqs) in targets.items()
        }
        # Events each ivr request logs, counted over the warm-up once filed.
        logs = {name: 0 for name in targets}
        for name, (port, _, log, requests) in targets.items():  # warm up
            if log is None:
                measure(port, requests, 0.5, args.clients, places[name])
                continue
            first = _still(log)
            made = measure(port, requests, 0.5, args.clients, places[name])
            logs[name] = round((_still(log) - first) / made)
            if logs[name] < 1:
                raise SystemExit(f"{name} logged no event: the bench is broken")
        load = os.getloadavg()[0]
        rates: dict[str, list[float]] = {name: [] for name in targets}
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        drains: list[float] = []
        for n in range(args.rounds):
            # ABBA: ivr's rounds before the bare route's, then after, and so on,
            # so that a machine slowing down or speeding up favours neither.
            names = list(targets) if n % 2 == 0 else list(reversed(targets))
            for name in names:
                port, pid, log, requests = targets[name]
                before = cpu_seconds(pid)
                first = logged(log) if log is not None else 0
                made = measure(port, requests, args.seconds, args.clients, places[name])
                spent_s = args.seconds
                if log is not None:
                    # ivr's round lasts until its call log is filed: work the
                    # filer put off would otherwise slow the next round down.
                    drain = filed(log, first + logs[name] * made)
                    drains.append(drain)
                    spent_s += drain
                rates[name].append(made / spent_s)
                cpu[name].append((cpu_seconds(pid) - before) / made * 1e6)
        bare_rates = rates["bare Flask route"]
        print(
            f"{args.workers} gunicorn worker(s) x {args.threads} thread(s), "
            f"{args.clients} keep-alive client(s), {args.rounds} rounds of "
            f"{args.seconds:g}s (ABBA), signatures checked; ivr's rounds end when "
            f"their call log is filed (median {statistics.median(drains) * 1e3:.0f} ms "
            f"after the last request); load average {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after"
        )
        for label, checkout in checkouts.items():
            if len(checkouts) > 1:
                print(f"  {label}: {checkout}")
        width = max(map(len, targets))
        for name, values in rates.items():
            # Each round's ratio against the bare route measured right beside it.
            ratios = [v / b for v, b in zip(values, bare_rates, strict=True)]
            mean = sum(values) / len(values)
            print(
                f"  {name:{width}s} {mean:7.0f} req/s  ratio to bare: median "
                f"{statistics.median(ratios):.2f} (rounds "
                f"{', '.join(f'{r:.2f}' for r in ratios)}); server CPU "
                f"{statistics.median(cpu[name]):.0f} µs/request"
            )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)


if __name__ == "__main__":
    main()
