"""For the people who run the line: ``GET /healthz`` and ``GET /metrics``.

``/healthz`` answers 200 when the menus are loaded and the store answers, 503
otherwise (a load balancer takes the machine out meanwhile). ``/metrics`` is
Prometheus' text format, through ``prometheus_client``: webhooks by endpoint and
status with their latency, lookups by source and result, the store's writes
pending, committed, failed and dropped, and from the store itself (so the same
on every worker and machine) calls by outcome and callers waiting per queue.
Neither needs a Twilio signature; neither shows anything of a caller.

Gunicorn runs several worker processes, each counting what it answers: ``ivr
serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` (``instance/metrics/``) before the
app is built, each worker's counts go to files there, and whichever worker
answers ``/metrics`` adds them all up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from ivr.engine import LookupFailed

bp = Blueprint("ops", __name__)

WEBHOOKS = Counter(
    "ivr_webhooks", "Webhook requests answered, by endpoint and HTTP status",
    ["endpoint", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "ivr_webhook_seconds", "Time to answer a webhook, by endpoint", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip
LOOKUPS = Counter(
    "ivr_lookups", "Lookups in the menus' data, by source and result "
    "(found, missing, error)", ["source", "result"],
)  # fmt: skip
PENDING = Gauge(
    "ivr_store_writes_pending", "Writes queued for the store, not committed yet",
    multiprocess_mode="livesum",
)  # fmt: skip
WRITTEN = Counter("ivr_store_writes", "Writes committed to the store")
FAILED = Counter(
    "ivr_store_write_failures", "Batches of writes the store refused (kept, retried)"
)
DROPPED = Counter("ivr_store_writes_dropped", "Writes dropped: the journal was full")
_WEBHOOK_BLUEPRINTS = ("voice", "agent")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    runtime = current_app.extensions.get("ivr")
    menus = len(runtime.menus) if runtime else 0
    store = bool(runtime) and runtime.store.ping()
    ok = menus > 0 and store
    body = {"status": "ok" if ok else "unavailable", "menus": menus,
            "store": "up" if store else "down"}  # fmt: skip
    return jsonify(body), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (tests, `flask run`): the default registry holds it all
        registry.register(_Default())
    registry.register(_StoreFigures(current_app.extensions["ivr"]))
    # Prometheus' text format, or OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)


class _Default:
    def collect(self) -> Any:
        yield from REGISTRY.collect()


class _StoreFigures:
    """Figures read from the store at each scrape: the same whoever answers."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Any:
        store = self.runtime.store
        up = GaugeMetricFamily("ivr_store_up", "Whether the store answered the scrape")
        try:
            outcomes = store.outcome_counts()
            waiting = store.waiting_now()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        calls = GaugeMetricFamily(
            "ivr_calls", "Calls to the menus in the store, by outcome",
            labels=["outcome"],
        )  # fmt: skip
        for outcome, count in sorted(outcomes.items()):
            calls.add_metric([outcome], count)
        yield calls
        held = GaugeMetricFamily(
            "ivr_callers_waiting", "Callers holding in a queue now",
            labels=["menu", "queue"],
        )  # fmt: skip
        for menu in self.runtime.menus.values():
            for queue in menu.queues:
                held.add_metric([menu.id, queue], waiting.get((menu.id, queue), 0))
        yield held


@bp.before_app_request
def _started() -> None:
    g.ivr_started = time.perf_counter()


@bp.after_app_request
def _answered(response: Response) -> Response:
    if request.blueprint in _WEBHOOK_BLUEPRINTS:
        endpoint = request.endpoint or "unknown"
        WEBHOOKS.labels(endpoint, str(response.status_code)).inc()
        started = g.get("ivr_started")
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        _watch_writer(current_app.extensions["ivr"].store.writer)
    return response


_seen: dict[int, tuple[int, int, int]] = {}
_watching: set[tuple[int, int]] = set()
_watch_lock = threading.Lock()


def _watch_writer(writer: Any) -> None:
    """Copy this process's writer counts into the metrics now and every second
    (a thread per worker: a worker that answers nothing still reports)."""
    _writer_figures(writer)
    key = (os.getpid(), id(writer))
    if key in _watching:
        return
    with _watch_lock:
        if key in _watching:
            return
        _watching.add(key)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            _writer_figures(writer)

    threading.Thread(target=watch, name="ivr-metrics", daemon=True).start()


def _writer_figures(writer: Any) -> None:
    """This process's writer counts into the metrics (the deltas since last)."""
    with _watch_lock:
        PENDING.set(writer.pending)
        key = (os.getpid() << 20) ^ id(writer)
        now = (writer.written, writer.failed_batches, writer.dropped)
        before = _seen.get(key, (0, 0, 0))
        for metric, new, old in zip((WRITTEN, FAILED, DROPPED), now, before,
                                    strict=True):  # fmt: skip
            if new > old:
                metric.inc(new - old)
        _seen[key] = now


def _count_lookups(app: Flask) -> None:
    """Wrap the app's lookups so each one is counted by source and result."""
    runtime = app.extensions["ivr"]
    inner = runtime.lookups

    def counted(source: Any, key: str, variables: Any) -> Any:
        try:
            record = inner(source, key, variables)
        except LookupFailed:
            LOOKUPS.labels(source.id, "error").inc()
            raise
        LOOKUPS.labels(source.id, "found" if record is not None else "missing").inc()
        return record

    runtime.lookups = counted


bp.record_once(lambda state: _count_lookups(state.app))
