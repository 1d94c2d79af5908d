"""The metrics ``/metrics`` shows, and where their figures come from.

Two kinds: what each gunicorn worker counts itself (webhooks and their latency,
lookups, its store writer), summed over the workers by prometheus_client's
multiprocess mode; and what the store says (calls by outcome, callers waiting),
read at each scrape by ``StoreFigures``, the same whichever worker answers.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Flask
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ivr.engine import LookupFailed
from ivr.store.figures import writer_figures

__all__ = [
    "LATENCY", "LOOKUPS", "WEBHOOKS", "DefaultFigures", "StoreFigures",
    "count_lookups", "watch_writer", "webhook_answered", "writer_figures",
]  # fmt: skip

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


class DefaultFigures:
    """The default registry's metrics (one process: tests, ``flask run``)."""

    def collect(self) -> Any:
        yield from REGISTRY.collect()


class StoreFigures:
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


_watching: set[int] = set()  # ids of the writers this process watches
_watch_lock = threading.Lock()


def watch_writer(writer: Any) -> None:
    """Copy this process's writer counts into the metrics now and every second
    (a thread per worker: a worker that answers nothing still reports).

    Called on every webhook: once the thread runs it costs a set lookup (the
    scrape copies the counts of the worker that answers it, ``ops.scrape``).
    """
    if id(writer) in _watching:
        return
    writer_figures(writer)
    with _watch_lock:
        if id(writer) in _watching:
            return
        _watching.add(id(writer))

    def watch() -> None:
        while True:
            time.sleep(1.0)
            writer_figures(writer)

    threading.Thread(target=watch, name="ivr-metrics", daemon=True).start()


def webhook_answered(endpoint: str, status: int, seconds: float | None) -> None:
    """Count one webhook answer and its latency (the labelled children are
    looked up once: ``labels`` takes a lock and checks its arguments each time)."""
    key = (endpoint, status)
    child = _answered.get(key)
    if child is None:
        child = _answered[key] = WEBHOOKS.labels(endpoint, str(status))
    child.inc()
    if seconds is not None:
        latency = _latency.get(endpoint)
        if latency is None:
            latency = _latency[endpoint] = LATENCY.labels(endpoint)
        latency.observe(seconds)


_answered: dict[tuple[str, int], Any] = {}
_latency: dict[str, Any] = {}


def _forget_after_fork() -> None:
    """A forked worker watches its own writer (the parent's thread is not here)."""
    _watching.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def count_lookups(app: Flask) -> None:
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
