"""Requests per second of ivr's webhooks against a bare Flask route, same server.

Starts `ivr serve` (gunicorn, signatures checked) on the default menus and a bare
Flask app returning a constant TwiML string under the same gunicorn settings, then
drives each with the same keep-alive load from client processes, alternating
rounds to share the machine's noise, and prints requests per second and the ratio.
Not a test: run it by hand, `python bench/webhook.py [--seconds 5]`.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from html import unescape
from pathlib import Path

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def signed(
    port: int, path: str, fields: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    url = f"http://127.0.0.1:{port}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, fields)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return urllib.parse.urlencode(fields).encode(), headers


def calls(
    port: int, path: str, fields: dict[str, str], count: int = 1000
) -> list[tuple[bytes, dict[str, str]]]:
    """Signed requests of ``count`` different calls (CallSids): each request is
    one step of some call, as on a line, not the thousandth step of one."""
    return [
        signed(port, path, {**fields, "CallSid": f"CA{n:032d}"}) for n in range(count)
    ]


def client(
    port: int, path: str, requests: list, offset: int, seconds: float, out
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        body, headers = requests[(offset + done) % len(requests)]
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
        done += 1
    out.put(done)


def measure(
    port: int, path: str, requests: list, seconds: float, clients: int
) -> float:
    out: mp.Queue = mp.Queue()
    spread = len(requests) // clients
    procs = [
        mp.Process(target=client, args=(port, path, requests, i * spread, seconds, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--menus", default=str(ROOT / "menus"))
    args = parser.parse_args()
    menus = str(Path(args.menus).resolve())

    ivr_port, bare_port = free_port(), free_port()
    store = tempfile.mkdtemp(prefix="ivr-bench-")  # a fresh store each run
    env = dict(
        os.environ, TWILIO_AUTH_TOKEN=TOKEN, IVR_DATABASE=f"{store}/bench.sqlite3"
    )
    common = ["--workers", str(args.workers), "--threads", "4"]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--menus", menus,
             "--port", str(ivr_port), "--no-access-log", *common],
            cwd="/tmp", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"),
             "-b", f"127.0.0.1:{bare_port}", "-k", "gthread", *common, "bare_app:app"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        wait_up(ivr_port)
        wait_up(bare_port)
        call = {
            "CallSid": "CA" + "0" * 32,
            "AccountSid": "AC" + "0" * 32,
            "From": "+8613800000000",
            "To": "+861000000000",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        body, headers = signed(ivr_port, "/voice", call)
        conn = http.client.HTTPConnection("127.0.0.1", ivr_port)
        conn.request("POST", "/voice", body=body, headers=headers)
        first = conn.getresponse().read().decode()
        action = unescape(re.search(r'<Gather action="([^"]+)"', first).group(1))
        pressed = dict(call, Digits="1")
        targets = {
            "ivr /voice (start)": (ivr_port, "/voice", calls(ivr_port, "/voice", call)),
            "ivr gather action": (ivr_port, action, calls(ivr_port, action, pressed)),
            "bare Flask route": (
                bare_port,
                "/voice",
                [signed(bare_port, "/voice", call)],
            ),
        }
        for port, path, requests in targets.values():  # warm up
            measure(port, path, requests, 0.5, args.clients)
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (port, path, requests) in targets.items():
                rates[name].append(
                    measure(port, path, requests, args.seconds, args.clients)
                )
        bare = rates["bare Flask route"]
        print(
            f"{args.workers} gunicorn workers x 4 threads, {args.clients} keep-alive "
            f"clients, {args.rounds} rounds of {args.seconds:g}s, signatures checked"
        )
        for name, values in rates.items():
            # Each round's ratio against the bare route measured right beside it.
            ratios = sorted(v / b for v, b in zip(values, bare, strict=True))
            mean = sum(values) / len(values)
            spread = f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}"
            print(
                f"  {name:22s} {mean:8.0f} req/s   ratio to bare: median "
                f"{statistics.median(ratios):.2f} ({spread})"
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
