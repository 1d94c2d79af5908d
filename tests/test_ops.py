"""/healthz and /metrics: no signature needed, nothing of a caller shown; health
follows the store; metrics parse and count what happened, across gunicorn's
workers."""

from __future__ import annotations

import time
import urllib.request

import pytest
from conftest import FIXTURES, TOKEN, make_app, serving
from prometheus_client.parser import text_string_to_metric_families

import ivr.store
from ivr.caller import Caller, HangUp, HttpTransport, Press, Silence
from ivr.web import create_app

LINE = FIXTURES / "report"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_health_follows_the_store_and_needs_no_signature(tmp_path, monkeypatch):
    monkeypatch.setattr(ivr.store, "SCHEMA_RETRY_S", 0.0)
    blocker = tmp_path / "disk"
    blocker.write_text("not a folder")  # the store's folder cannot be made
    client = make_app(tmp_path, DATABASE=str(blocker / "ivr.sqlite3")).test_client()
    down = client.get("/healthz")
    assert (down.status_code, down.json) == (
        503, {"status": "unavailable", "menus": 1, "store": "down"},
    )  # fmt: skip
    blocker.unlink()
    up = client.get("/healthz")
    assert (up.status_code, up.json) == (
        200, {"status": "ok", "menus": 1, "store": "up"},
    )  # fmt: skip


def test_health_is_503_while_postgresql_refuses_and_200_after(database):
    if not database.startswith("postgresql"):
        pytest.skip("the SQLite case is the test above")
    import psycopg

    client = create_app(
        {"MENUS": str(LINE), "SECRET_KEY": "k" * 40, "DATABASE": database}
    ).test_client()
    assert client.get("/healthz").status_code == 200
    admin_url, name = database.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )
        try:
            assert client.get("/healthz").status_code == 503
            metrics = samples(client.get("/metrics").get_data(as_text=True))
            assert metrics[("ivr_store_up", ())] == 0
        finally:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
    assert client.get("/healthz").status_code == 200


def test_metrics_count_the_calls_made_across_two_workers(tmp_path):
    with serving(tmp_path, TOKEN, workers=2, menus=LINE) as base:
        transport = HttpTransport()
        scripts = {
            "caller_hangup": [[HangUp()]] * 3,
            "menu_hangup": [[Silence(), Silence()]] * 2,
            "self_service": [[Press("1"), Press("100001#")]],
        }
        requests: dict[str, int] = {}
        calls = 0
        for outcome, runs in scripts.items():
            for n, inputs in enumerate(runs):
                caller = Caller(
                    transport, base + "/voice", auth_token=TOKEN,
                    from_number=f"+86139555000{calls:02d}", to_number="+861000000200",
                    status_callback=base + "/voice/status", fetch_audio=False,
                )  # fmt: skip
                result = caller.call(inputs)
                assert result.outcome != "error", (outcome, n, result.error)
                calls += 1
                requests[outcome] = requests.get(outcome, 0) + result.requests
        deadline = time.monotonic() + 15
        while True:  # the call records are written off the request path
            text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
            metrics = samples(text)
            counted = {
                labels[0][1]: value
                for (name, labels), value in metrics.items()
                if name == "ivr_calls"
            }
            if counted == {k: len(v) for k, v in scripts.items()}:
                break
            assert time.monotonic() < deadline, counted
            time.sleep(0.2)
        health = urllib.request.urlopen(base + "/healthz", timeout=5)
        assert health.status == 200
    webhooks = {
        dict(labels)["endpoint"]: value
        for (name, labels), value in metrics.items()
        if name == "ivr_webhooks_total"
    }
    assert webhooks == {
        "voice.incoming": calls,
        "voice.input": sum(requests.values()) - calls,
        "voice.status": calls,
    }
    latency = sum(
        value for (name, _), value in metrics.items()
        if name == "ivr_webhook_seconds_count"
    )  # fmt: skip
    assert latency == 2 * calls + webhooks["voice.input"]
    assert metrics[("ivr_store_writes_pending", ())] >= 0
    assert metrics[("ivr_callers_waiting", (("menu", "line"), ("queue", "help")))] == 0
    assert (
        metrics[("ivr_lookups_total", (("result", "found"), ("source", "orders")))] == 1
    )
    assert "+86139555" not in text  # nothing of a caller


def test_metrics_need_no_signature_and_the_webhooks_still_do(tmp_path):
    client = make_app(tmp_path).test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.post("/voice").status_code == 403  # unsigned webhooks are not
