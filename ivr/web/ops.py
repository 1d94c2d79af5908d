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
The webhooks are counted and timed where they all pass, ``ivr.web.hooks.webhook``.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder

from ivr.web import metrics

bp = Blueprint("ops", __name__)


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
def scrape() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (tests, `flask run`): the default registry holds it all
        registry.register(metrics.DefaultFigures())
    runtime = current_app.extensions["ivr"]
    metrics.watch_writer(runtime.store.writer)
    metrics.writer_figures(runtime.store.writer)  # this worker's, up to now
    registry.register(metrics.StoreFigures(runtime))
    # Prometheus' text format, or OpenMetrics when the scraper asks for it.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)


bp.record_once(lambda state: metrics.count_lookups(state.app))
