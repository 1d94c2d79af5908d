"""The store writer's figures for ``/metrics``: writes pending, committed,
failed and dropped.

They are the store's own (a worker's writer thread, or the filer process,
``ivr.store.filer``, counts them), so they live here and the web layer shows
them (``ivr.web.metrics``): the filer reports them without importing the web
layer. Under ``ivr serve`` each process writes its counts to the folder of
prometheus_client's multiprocess mode, and ``/metrics`` adds them up.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from prometheus_client import Counter, Gauge

__all__ = ["DROPPED", "FAILED", "PENDING", "WRITTEN", "writer_figures"]

PENDING = Gauge(
    "ivr_store_writes_pending", "Writes queued for the store, not committed yet",
    multiprocess_mode="livesum",
)  # fmt: skip
WRITTEN = Counter("ivr_store_writes", "Writes committed to the store")
FAILED = Counter(
    "ivr_store_write_failures", "Batches of writes the store refused (kept, retried)"
)
DROPPED = Counter("ivr_store_writes_dropped", "Writes dropped: the journal was full")

_seen: dict[int, tuple[int, int, int]] = {}
_lock = threading.Lock()


def writer_figures(writer: Any) -> None:
    """Copy a writer's counts (``pending``, ``written``, ``failed_batches``,
    ``dropped``) into the metrics: the deltas since the last copy."""
    with _lock:
        PENDING.set(writer.pending)
        key = (os.getpid() << 20) ^ id(writer)
        now = (writer.written, writer.failed_batches, writer.dropped)
        before = _seen.get(key, (0, 0, 0))
        for metric, new, old in zip((WRITTEN, FAILED, DROPPED), now, before,
                                    strict=True):  # fmt: skip
            if new > old:
                metric.inc(new - old)
        _seen[key] = now
