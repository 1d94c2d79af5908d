"""A real `ivr serve` for the bench scripts: a free port, the server started and
waited for, stopped gracefully, and the workers' peak memory.

`bench/hostile.py`, `bench/outage.py` and `bench/webhook.py` import it (they run
as scripts, so this folder is on their path).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(
    port: int, process: subprocess.Popen | None = None, log: Path | None = None
):
    """Wait up to 30 s for something to listen on ``port``; stop the bench if
    ``process`` exits first (saying its ``log``)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline or (process and process.poll() is not None):
                said = f":\n{log.read_text()}" if log and log.exists() else ""
                raise SystemExit(
                    f"the server on port {port} did not start{said}"
                ) from None
            time.sleep(0.1)


def wait_filing(spool: Path, timeout_s: float = 30.0) -> None:
    """Wait until a filer files ``spool`` (``ivr.store.filer``): the server is
    whole, writes are being filed."""
    from ivr.store import filer

    deadline = time.monotonic() + timeout_s
    while not filer.running(spool):
        if time.monotonic() > deadline:
            raise SystemExit(f"no filer started in {spool}")
        time.sleep(0.1)


@contextlib.contextmanager
def ivr_serve(
    folder: Path,
    menus: Path,
    database: str,
    token: str,
    workers: int = 2,
    *,
    threads: int = 4,
    checkout: Path | None = None,
) -> Iterator[tuple[int, subprocess.Popen, Path]]:
    """`ivr serve` of ``menus`` on a free port with ``token`` set, run in
    ``folder`` (its ``instance/``) with its log in ``folder/serve.log``; yields the
    port, the master process and the log's path. Stopped with SIGTERM (the
    workers finish their requests and flush their writes). ``checkout``: serve
    that checkout's ivr (with this Python and its libraries) instead of the
    installed one."""
    port = free_port()
    log_path = folder / "serve.log"
    env = dict(os.environ, TWILIO_AUTH_TOKEN=token, IVR_DATABASE=database)
    env.pop("IVR_SECRET_KEY", None)
    if checkout is not None:
        paths = [str(checkout), os.environ.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--menus", str(menus),
             "--port", str(port), "--workers", str(workers),
             "--threads", str(threads), "--no-access-log"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_up(port, process, log_path)
        wait_filing(folder / "instance" / "spool")
        yield port, process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workers_of(master: int) -> list[int]:
    """The pids of a gunicorn master's workers."""
    return [
        int(pid)
        for task in Path(f"/proc/{master}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]


def peak_memory_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(master: int) -> float:
    """CPU time (user and system) used so far by a gunicorn master and all its
    descendants: workers, and the filer each worker starts (a process that has
    exited is not counted: read it over a span in which none restarts)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    family, seen = [master], set()
    while family:
        pid = family.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            family += workers_of(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
