"""CPU time per webhook in process: ivr's `/voice` and gather against a bare route.

The WSGI apps are called directly (no HTTP server, no sockets), with the same
signed requests as `bench/webhook.py` (`/voice` of 200 calls, and key 1 at the
first menu posting each call's own sealed state), and timed by the process's
CPU time, which counts the store writer's thread too and moves less with the
machine's load than requests per second do. Prints the median of five batches.
`--no-store-write`, `--no-signature` and `--no-metrics` leave that part of a
webhook out (the call log, the signature check, the webhook counters), to see
what it costs. Not a test:

    python bench/webhook_cpu.py [--requests 3000] [--no-store-write]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import re
import statistics
import tempfile
import time
import urllib.parse
from html import unescape
from pathlib import Path

from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
CALLS = 200


def fields(n: int) -> dict[str, str]:
    return {
        "CallSid": f"CA{n:032d}", "AccountSid": "AC" + "0" * 32,
        "From": "+8613800000000", "To": "+861000000000", "CallStatus": "in-progress",
        "Direction": "inbound", "ApiVersion": "2010-04-01",
    }  # fmt: skip


def environ(path: str, form: dict[str, str]) -> tuple[dict, bytes]:
    signature = RequestValidator(TOKEN).compute_signature(
        "http://localhost" + path, form
    )
    body = urllib.parse.urlencode(form).encode()
    env = EnvironBuilder(
        path=path.split("?")[0], query_string=path.partition("?")[2], method="POST",
        data=body, content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature}, base_url="http://localhost",
    ).get_environ()  # fmt: skip
    env["RAW_URI"] = path
    return env, body


def call(app, env: dict, body: bytes) -> str:
    env = dict(env, **{"wsgi.input": io.BytesIO(body)})
    status = []
    result = app(env, lambda s, h, exc=None: status.append(s))
    data = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    if not status[0].startswith("200"):
        raise SystemExit(f"{env['PATH_INFO']}: {status[0]}")
    return data.decode()


def ivr_app(*, filer: bool = False):
    """``create_app`` on the default menus with a fresh store in a temporary
    folder, signatures checked (also for ``bench/filing.py``); ``filer``: the
    call log only journaled, as in ``ivr serve``'s workers."""
    from ivr.web import create_app

    folder = tempfile.mkdtemp(prefix="ivr-bench-")
    return create_app({
        "MENUS": str(ROOT / "menus"), "TWILIO_AUTH_TOKEN": TOKEN,
        "DATABASE": f"{folder}/bench.sqlite3", "INSTANCE_PATH": folder,
        "SECRET_KEY": "bench-secret-" + "k" * 32, "STORE_FILER": filer,
    })  # fmt: skip


def gather(n: int, answer: str) -> tuple[dict, bytes]:
    """Call ``n`` pressing 1 at the gather of its ``/voice`` ``answer``."""
    action = unescape(re.search(r'<Gather action="([^"]+)"', answer).group(1))
    path = action.removeprefix("http://localhost")
    return environ(path, {**fields(n), "Digits": "1"})


def requests_of(app) -> tuple[object, list, list, list]:
    """The bare route's app and request, and ivr's ``/voice`` and gather
    requests for ``app`` (each call's ``/voice`` answered once to get its
    gather's sealed state)."""
    spec = importlib.util.spec_from_file_location("bare", ROOT / "bench/bare_app.py")
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    starts = [environ("/voice", fields(n)) for n in range(CALLS)]
    gathers = [gather(n, call(app, *start)) for n, start in enumerate(starts)]
    if "<Enqueue" in call(app, *gathers[0]):
        raise SystemExit("the gather action was refused: the bench is broken")
    return bare.app, [environ("/voice", fields(0))], starts, gathers


def cpu_us(app, requests: list, count: int) -> float:
    for i in range(300):
        call(app, *requests[i % len(requests)])
    batches = []
    for _ in range(5):
        start = time.process_time()
        for i in range(count):
            call(app, *requests[i % len(requests)])
        batches.append((time.process_time() - start) / count * 1e6)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--no-store-write", action="store_true")
    parser.add_argument("--no-signature", action="store_true")
    parser.add_argument("--no-metrics", action="store_true")
    args = parser.parse_args()

    app = ivr_app()
    runtime = app.extensions["ivr"]
    left_out = []
    if args.no_store_write:
        runtime.store.record = lambda *a, **k: None
        left_out.append("call-log write")
    if args.no_signature:
        runtime.signatures = None
        left_out.append("signature check")
    if args.no_metrics:
        from ivr.web import metrics

        metrics.webhook_answered = lambda *a, **k: None
        left_out.append("metrics")
    bare, bare_requests, starts, gathers = requests_of(app)
    figures = {
        "bare Flask route": cpu_us(bare, bare_requests, args.requests),
        "ivr /voice (start)": cpu_us(app, starts, args.requests),
        "ivr gather action": cpu_us(app, gathers, args.requests),
    }
    without = f" (without the {', '.join(left_out)})" if left_out else ""
    print(f"CPU time per request in process, median of 5 x {args.requests:,}{without}")
    for name, us in figures.items():
        print(f"  {name:20s} {us:6.0f} µs  ({us / figures['bare Flask route']:.1f}x)")


if __name__ == "__main__":
    main()
