"""Callers through a store outage: is every webhook's call-log row written, once?

Starts `ivr serve` (gunicorn, two workers, signatures checked) on the default
menus, and drives it with concurrent callers for a while; each call comes in,
picks the order line, types an order number and ends (four webhooks, four
call-log rows). In the middle the store goes away:

- SQLite: another process holds the database's write lock (`BEGIN EXCLUSIVE`);
- PostgreSQL: the server reaches it through a TCP proxy that this script cuts
  (new connections refused, open ones closed) and later restores.

Afterwards it stops the server gracefully and counts, per call, the rows in the
store against the webhooks that were answered: lost, doubled, and the lines the
server logged about the store. Not a test (`tests/test_store_outage.py` runs a
short one): `python bench/outage.py [--database sqlite|postgres] [--callers 200]
[--seconds 60] [--outage 30]`; PostgreSQL needs `IVR_TEST_POSTGRES_URL`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing as mp
import os
import re
import select
import socket
import sqlite3
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from twilio.request_validator import RequestValidator

if __package__:  # imported as bench.outage (the tests)
    from bench.serving import free_port, ivr_serve, peak_memory_mb, workers_of
else:  # run as a script: this folder is on the path
    from serving import free_port, ivr_serve, peak_memory_mb, workers_of

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "outage-token"


@dataclass
class Figures:
    """What a run measured."""

    calls: int = 0
    webhooks: int = 0  # answered 200, each of which writes one row
    failed_requests: int = 0  # not answered 200 (should be none)
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    webhooks_during_outage: int = 0  # answered while the store was gone
    left_at_stop: int = 0  # writes still in a journal after the server stopped
    store_log_lines: int = 0
    worker_peak_mb: list[float] = field(default_factory=list)
    log_lines: int = 0
    log_bytes: int = 0
    outage_s: float = 0.0
    store_lines: list[str] = field(default_factory=list)


# -- the server ---------------------------------------------------------------------


# -- callers -----------------------------------------------------------------------


def _post(conn: http.client.HTTPConnection, port: int, path: str, fields: dict) -> str:
    url = f"http://127.0.0.1:{port}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, fields)
    conn.request(
        "POST",
        path,
        body=urllib.parse.urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    response = conn.getresponse()
    body = response.read().decode()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}")
    return body


_ACTION = re.compile(r'<Gather action="([^"]+)"')


def _caller(
    port: int, until: float, window: tuple[float, float], results: list, tag: str
) -> None:
    """One caller after another until ``until``.

    Appends (call sid, webhooks answered, of which during ``window``, error).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    n = 0
    while time.monotonic() < until:
        n += 1
        sid = f"CA{tag}{n:08d}"
        fields = {"CallSid": sid, "From": "+8613800138000", "To": "+861000000000"}
        answered = during = 0
        steps = [
            ("/voice", {}),
            ("", {"Digits": "1"}),
            ("", {"Digits": "202611250001#"}),
        ]
        steps.append(("/voice/status", {"CallStatus": "completed"}))
        try:
            body = ""
            for path, extra in steps:
                path = path or unescape(_ACTION.search(body).group(1))
                body = _post(conn, port, path, dict(fields, **extra))
                answered += 1
                during += window[0] <= time.monotonic() <= window[1]
            results.append((sid, answered, during, None))
        except Exception as error:  # counted, and the connection renewed
            results.append((sid, answered, during, f"{type(error).__name__}: {error}"))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.close()


def _client_process(
    port: int, threads: int, until: float, window: tuple[float, float], tag: str, out
) -> None:
    results: list = []
    workers = [
        threading.Thread(
            target=_caller, args=(port, until, window, results, f"{tag}{i:03d}")
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(results)


def drive(
    port: int,
    callers: int,
    seconds: float,
    window: tuple[float, float] = (0.0, 0.0),
    processes: int = 4,
) -> list:
    """``callers`` concurrent callers for ``seconds`` (see ``_caller``)."""
    context = mp.get_context("fork")
    out = context.Queue()
    until = time.monotonic() + seconds
    per = [callers // processes + (i < callers % processes) for i in range(processes)]
    clients = [
        context.Process(
            target=_client_process, args=(port, n, until, window, f"{i}", out)
        )
        for i, n in enumerate(per)
        if n
    ]
    for client in clients:
        client.start()
    results = []
    for _ in clients:
        results.extend(out.get())
    for client in clients:
        client.join()
    return results


# -- outages ------------------------------------------------------------------------


def lock_sqlite(path: Path, seconds: float) -> None:
    """Hold the database's write lock for ``seconds``, as another process would."""
    blocker = sqlite3.connect(path, timeout=30)
    blocker.execute("BEGIN EXCLUSIVE")
    time.sleep(seconds)
    blocker.rollback()
    blocker.close()


class Proxy:
    """A TCP proxy on 127.0.0.1 to a PostgreSQL server that the caller can cut.

    Cut, it refuses new connections and closes the open ones, as a server that
    stopped would; restored, it forwards again on the same port.
    """

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target  # (host, port), or a Unix socket's path
        self.port = free_port()
        self.frozen = threading.Event()  # a partition: nothing goes through
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.restore()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target)

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def freeze(self) -> None:
        """A network partition: connections stay open, nothing goes through."""
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for end in pair:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self._connect()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(
                target=self._pipe, args=(client, upstream), daemon=True
            ).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    peers[end].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for end in (a, b):
                with contextlib.suppress(OSError):
                    end.close()


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[tuple[str, Proxy]]:
    """A fresh database on the server of ``admin_url``, reached through a Proxy."""
    import psycopg

    name = "ivr_outage_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        info = admin.info
        host, port, user = info.host, info.port, info.user
    target: tuple[str, int] | str
    if host.startswith("/"):
        target = os.path.join(host, f".s.PGSQL.{port}")
    else:
        target = (host, port)
    proxy = Proxy(target)
    password = urllib.parse.urlsplit(admin_url).password
    auth = f"{user}:{password}" if password else user
    try:
        yield f"postgresql://{auth}@127.0.0.1:{proxy.port}/{name}", proxy
    finally:
        proxy.cut()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def count_rows(database: str) -> dict[str, int]:
    """Rows per call in the call log of ``database`` (a path or a URL)."""
    query = "SELECT call_sid, count(*) FROM events GROUP BY call_sid"
    if database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database) as conn:
            return dict(conn.execute(query).fetchall())
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return dict(conn.execute(query).fetchall())


# -- a run --------------------------------------------------------------------------


def run(
    kind: str,
    *,
    callers: int,
    seconds: float,
    outage_s: float,
    folder: Path,
    postgres_url: str | None = None,
    partition: bool = False,
) -> Figures:
    """Drive callers for ``seconds`` with the store gone for ``outage_s`` mid-way.

    PostgreSQL goes away as a stopped server (connections refused and closed), or
    with ``partition`` as a network partition (nothing goes through).
    """
    figures = Figures(outage_s=outage_s)
    with contextlib.ExitStack() as stack:
        proxy: Proxy | None = None
        if kind == "postgres":
            if not postgres_url:
                raise SystemExit("PostgreSQL needs IVR_TEST_POSTGRES_URL")
            database, proxy = stack.enter_context(postgres_database(postgres_url))
            name = database.rsplit("/", 1)[1]
            direct = postgres_url.rsplit("/", 1)[0] + "/" + name
        else:
            database = direct = str(folder / "ivr.sqlite3")

        def outage(start_at: float) -> None:
            time.sleep(max(start_at - time.monotonic(), 0))
            if proxy is not None and partition:
                proxy.freeze()
                time.sleep(outage_s)
                proxy.thaw()
            elif proxy is not None:
                proxy.cut()
                time.sleep(outage_s)
                proxy.restore()
            else:
                lock_sqlite(Path(database), outage_s)

        with ivr_serve(folder, ROOT / "menus", database, TOKEN) as (
            port,
            process,
            log_path,
        ):
            master = process.pid
            start_at = time.monotonic() + (seconds - outage_s) / 2
            window = (start_at, start_at + outage_s)
            breaker = threading.Thread(target=outage, args=(start_at,), daemon=True)
            breaker.start()
            results = drive(port, callers, seconds, window)
            breaker.join()
            # Leave the writers their backoff (at most 5 s) to find the store
            # back; stopping the server (gracefully) then writes what is left.
            _until_journals_empty(folder / "instance" / "spool", timeout_s=15)
            figures.worker_peak_mb = [peak_memory_mb(pid) for pid in workers_of(master)]
        log = log_path.read_text()
        figures.left_at_stop = _adopt_leftovers(database, folder / "instance" / "spool")
        rows = count_rows(direct)
    figures.calls = len(results)
    figures.webhooks = sum(answered for _, answered, _, _ in results)
    figures.webhooks_during_outage = sum(during for _, _, during, _ in results)
    figures.failed_requests = sum(1 for *_, error in results if error)
    figures.rows = sum(rows.values())
    for sid, answered, _, _ in results:
        found = rows.get(sid, 0)
        figures.lost += max(answered - found, 0)
        figures.doubled += max(found - answered, 0)
    lines = log.splitlines()
    figures.log_lines, figures.log_bytes = len(lines), len(log)
    figures.store_lines = [line for line in lines if "store" in line.lower()]
    figures.store_log_lines = len(figures.store_lines)
    return figures


def _until_journals_empty(spool: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        size = 0
        for path in spool.glob("journal-*.jsonl"):
            with contextlib.suppress(FileNotFoundError):
                size += path.stat().st_size
        if not size:
            return
        time.sleep(0.2)


def _adopt_leftovers(database: str, spool: Path) -> int:
    """Write what a journal still holds, as the next start of the server would."""
    left = sum(
        len(path.read_bytes().splitlines()) for path in spool.glob("journal-*.jsonl")
    )
    if left:
        from ivr.store import Store

        store = Store(database, spool_dir=spool)
        store.record("CA-adopter", "start")
        store.flush(timeout_s=30)
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument(
        "--partition",
        action="store_true",
        help="PostgreSQL: a network partition instead of a stopped server",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ivr-outage-") as folder:
        figures = run(
            args.database,
            callers=args.callers,
            seconds=args.seconds,
            outage_s=args.outage,
            folder=Path(folder),
            postgres_url=os.environ.get("IVR_TEST_POSTGRES_URL"),
            partition=args.partition,
        )
    how = "a network partition" if args.partition else "gone"
    print(
        f"{args.database}: {args.callers} callers for {args.seconds:g} s, "
        f"store {how} for {args.outage:g} s"
    )
    print(f"  calls {figures.calls}, webhooks answered {figures.webhooks} "
          f"({figures.webhooks_during_outage} while the store was gone), "
          f"requests failed {figures.failed_requests}")  # fmt: skip
    print(f"  writes left in a journal at the stop (written by the next start): "
          f"{figures.left_at_stop}")  # fmt: skip
    print(f"  rows {figures.rows}: lost {figures.lost}, doubled {figures.doubled}")
    peaks = ", ".join(f"{mb:.0f} MB" for mb in figures.worker_peak_mb)
    print(f"  workers' peak memory: {peaks}")
    print(f"  server log: {figures.log_lines} lines ({figures.log_bytes} bytes), "
          f"{figures.store_log_lines} about the store:")  # fmt: skip
    for line in figures.store_lines:
        print("    " + line)


if __name__ == "__main__":
    main()
