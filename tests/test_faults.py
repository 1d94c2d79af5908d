"""Faults a live line meets: a broken answer where Twilio allows few verbs, slow
and dead data sources, menus edited while calls go on.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import TwilioPost, action_of, make_app, said, serving, twiml
from twilio.request_validator import RequestValidator

from ivr import humanpath
from ivr.caller.document import parse_twiml
from ivr.engine import CallState, LookupFailed
from ivr.loader import MenuError
from ivr.lookup import Lookups
from ivr.menu import UrlSource
from ivr.web.sealing import Binding

# -- 10. the fallback is valid for the document it answers ----------------------------


def _sealed(client, post, node: str) -> str:
    runtime = client.application.extensions["ivr"]
    state = CallState("hotline", node, 0, {"caller": post.fields["From"]})
    return runtime.sealer.seal(state, Binding.for_call(post.fields["CallSid"]))


def _holds(response) -> list:
    """The waitUrl document of ``response``, checked as Twilio checks one."""
    assert response.status_code == 200 and response.mimetype == "text/xml"
    verbs = parse_twiml(response.data, wait=True)
    assert [v.name for v in verbs] == ["Pause"]
    return verbs


@pytest.mark.parametrize("path", ["/voice/wait", "/voice/callback"])
def test_a_forged_state_in_a_wait_document_keeps_the_caller_holding(client, path):
    post = TwilioPost(client)
    verbs = _holds(post(f"{path}?s=forged", QueuePosition="3", Digits="1"))
    assert verbs[0].get("length") == "30"
    events = client.application.extensions["ivr"].store.events(post.fields["CallSid"])
    assert [e["event"] for e in events] == ["fault"]


def test_a_node_renamed_by_a_deploy_keeps_a_holding_caller_in_the_queue(client):
    post = TwilioPost(client)
    token = _sealed(client, post, "agent_orders_old_name")
    _holds(post(f"/voice/wait?s={token}", QueuePosition="3", QueueTime="40"))


def test_a_fault_while_holding_holds_for_the_queues_announcement_interval(
    client, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("estimate failed")

    monkeypatch.setattr(humanpath, "queue_wait", broken)
    post = TwilioPost(client)
    token = _sealed(client, post, "agent_orders_queue")
    verbs = _holds(post(f"/voice/wait?s={token}", QueuePosition="3"))
    assert verbs[0].get("length") == "60"  # the orders queue's announce_every


def test_a_fault_in_the_status_callback_answers_an_empty_document(client, monkeypatch):
    runtime = client.application.extensions["ivr"]

    def broken(*args, **kwargs):
        raise RuntimeError("log broken")

    monkeypatch.setattr(runtime.store, "record", broken)
    root = twiml(TwilioPost(client)("/voice/status", CallStatus="completed"))
    assert len(root) == 0


def test_a_fault_after_the_queue_still_apologises_and_takes_the_human_path(client):
    post = TwilioPost(client)
    root = twiml(post("/voice/queue?s=forged", QueueResult="error"))
    assert root.find("Enqueue") is not None  # a call document: Enqueue is allowed
    assert action_of(root, "Enqueue").startswith("/voice/queue?s=")


# -- 9. slow and failing data sources ------------------------------------------------------


class Source:
    """A data source on loopback whose behaviour the test sets: answer, fail, hang,
    or drip its answer a byte at a time."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.requests = 0
        self.active = 0
        self.hanging = 0  # requests held in "hang" mode right now
        self.most_active = 0
        self.release = threading.Event()
        self.finished = threading.Event()  # a drip reached its last byte
        self.lock = threading.Lock()
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with source.lock:
                    source.requests += 1
                    source.active += 1
                    source.most_active = max(source.most_active, source.active)
                try:
                    source.answer(self)
                finally:
                    with source.lock:
                        source.active -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/r/{{order}}"

    def answer(self, handler) -> None:
        body = b'{"progress": "refunded"}'
        if self.mode == "fail":
            handler.send_response(500)
            handler.end_headers()
            return
        if self.mode == "hang":
            with self.lock:
                self.hanging += 1
            self.release.wait(60)
            with self.lock:
                self.hanging -= 1
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.mode == "drip":
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                if self.release.wait(0.2):
                    return
            self.finished.set()
            return
        handler.wfile.write(body)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def source():
    running = Source()
    yield running
    running.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_that_drips_its_answer_is_cut_off_at_the_timeout(source):
    source.mode = "drip"  # 24 bytes, one every 0.2 s: about 5 s in all
    refunds = UrlSource("refunds", source.url, timeout_s=1.0)
    with pytest.raises(LookupFailed, match=r"^refunds: "):
        Lookups()(refunds, "1", {"order": "1"})
    assert not source.finished.is_set()  # given up while it was still dripping


def test_a_failing_source_is_left_alone_then_probed(source):
    clock = Clock()
    lookups = Lookups(failures=3, open_s=30, clock=clock)
    refunds = UrlSource("refunds", source.url, timeout_s=5.0)
    source.mode = "fail"
    for _ in range(3):
        with pytest.raises(LookupFailed, match="HTTP 500"):
            lookups(refunds, "1", {"order": "1"})
    assert source.requests == 3
    for _ in range(5):  # open: callers go on at once, the source is not called
        with pytest.raises(LookupFailed, match="not called for a while"):
            lookups(refunds, "1", {"order": "1"})
    assert source.requests == 3
    clock.now += 31  # one probe; it fails, so the breaker opens again
    with pytest.raises(LookupFailed, match="HTTP 500"):
        lookups(refunds, "1", {"order": "1"})
    with pytest.raises(LookupFailed, match="not called for a while"):
        lookups(refunds, "1", {"order": "1"})
    assert source.requests == 4
    clock.now += 31
    source.mode = "answer"  # the probe finds it back: every lookup goes through
    assert lookups(refunds, "1", {"order": "1"}) == {"progress": "refunded"}
    assert lookups(refunds, "2", {"order": "2"}) == {"progress": "refunded"}
    assert source.requests == 6 and lookups.breaker(refunds).state == "closed"


def test_a_hung_source_holds_only_its_own_few_lookups(source):
    source.mode = "hang"
    lookups = Lookups(per_source=2)
    refunds = UrlSource("refunds", source.url, timeout_s=30.0)
    results = []
    waiting = [
        threading.Thread(
            target=lambda: results.append(lookups(refunds, "1", {"order": "1"})),
            daemon=True,
        )
        for _ in range(2)
    ]
    for thread in waiting:
        thread.start()
    while source.active < 2:
        time.sleep(0.01)
    with pytest.raises(LookupFailed, match="2 lookups already wait for it"):
        lookups(refunds, "1", {"order": "1"})
    orders = UrlSource("orders", source.url.replace("/r/", "/o/"), timeout_s=30.0)
    source.mode = "answer"  # another source of the same menu is not held up
    assert lookups(orders, "1", {"order": "1"}) == {"progress": "refunded"}
    # The two hung lookups still wait meanwhile (``active`` may still count the
    # answered one for an instant after its answer was read).
    assert source.hanging == 2
    source.release.set()
    for thread in waiting:
        thread.join(10)
    assert results == [{"progress": "refunded"}] * 2


def test_served_callers_on_a_hung_source_do_not_starve_other_calls(tmp_path, source):
    source.mode = "hang"
    menus = tmp_path / "menus"
    menus.mkdir()
    (menus / "m.yaml").write_text(
        f"""start: main
data:
  refunds: {{url: "{source.url}", timeout: 10s}}
queues:
  people: {{agents: 3}}
nodes:
  main:
    say: Refunds press 1.
    options: {{"1": ask}}
  ask: {{ask: Order?, save_as: order, next: look}}
  look: {{lookup: {{data: refunds, key: "{{order}}"}}, found: ok, missing: agent}}
  ok: {{hangup: "Refund {{progress}}"}}
  agent: {{queue: people}}
"""
    )
    with serving(tmp_path, "token", workers=2, menus=menus) as base:
        answered = []

        def caller(n: int) -> None:
            sid = f"CA{n:032d}"
            _, root = served_post(base, "/voice", sid)
            _, root = served_post(base, action_of(root), sid, Digits="1")
            answered.append(served_post(base, action_of(root), sid, Digits="7#"))

        callers = [
            threading.Thread(target=caller, args=(n,), daemon=True) for n in range(40)
        ]
        for thread in callers:
            thread.start()
        # Each worker lets 2 lookups wait on the source; the 36 others are sent
        # on to the error path (a person) at once, while the source still hangs.
        deadline = time.monotonic() + 8  # before the 10 s lookups time out
        while len(answered) < 36 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(answered) >= 36
        assert all(root.find("Enqueue") is not None for _, root in answered)
        others = [served_post(base, "/voice", f"CB{n:032d}") for n in range(10)]
        assert [status for status, _ in others] == [200] * 10
        assert 0 < source.active <= 4 and source.most_active <= 4
        source.release.set()
        for thread in callers:
            thread.join(30)
        assert len(answered) == 40


def served_post(base: str, path: str, sid: str, **fields):
    url = path if path.startswith("http") else base + path
    data = {"CallSid": sid, "From": "+8613800000000", "To": "+861000000000"}
    data.update(fields)
    signature = RequestValidator("token").compute_signature(url, data)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(data).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, ET.fromstring(response.read())


# -- 12. menus edited while the line runs ---------------------------------------------


def _menu(title: str, number: str, greeting: str) -> str:
    return (
        f'title: {title}\nnumbers: ["{number}"]\nstart: hello\n'
        f"nodes:\n  hello: {{hangup: {greeting}}}\n"
    )


@pytest.fixture
def menus(tmp_path):
    folder = tmp_path / "menus"
    folder.mkdir()
    (folder / "a.yaml").write_text(_menu("A", "+15550000001", "Hello from A"))
    (folder / "b.yaml").write_text(_menu("B", "+15550000002", "Hello from B"))
    return folder


def _greeting(client, number: str) -> str:
    return said(twiml(TwilioPost(client)("/voice", To=number)))[0]


def test_reload_serves_an_edit_and_keeps_the_last_good_menu_on_a_broken_one(
    tmp_path, menus
):
    app = make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))
    client, runtime = app.test_client(), app.extensions["ivr"]
    (menus / "a.yaml").write_text(_menu("A", "+15550000001", "Welcome to A"))
    assert runtime.reload() == []
    assert _greeting(client, "+15550000001") == "Welcome to A"
    (menus / "a.yaml").write_text(
        'title: A\nnumbers: ["+15550000001"]\nstart: hello\nnodes:\n'
        "  hello: {hangup: Broken A, next: nowhere}\n"
    )
    (menus / "b.yaml").write_text(_menu("B", "+15550000002", "Welcome to B"))
    shown = menus / "a.yaml"
    assert runtime.reload() == [
        f"{shown}:5: unknown key 'next' in hangup node 'hello'",
        f"{shown}: has problems: its last good version is served",
    ]
    assert _greeting(client, "+15550000001") == "Welcome to A"  # the last good
    assert _greeting(client, "+15550000002") == "Welcome to B"  # the edit


def test_a_broken_file_on_a_restart_serves_its_last_good_version(tmp_path, menus):
    make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))  # all good once
    (menus / "a.yaml").write_text("title: A\nstart: [\n")
    (menus / "c.yaml").write_text("start: nowhere\nnodes: {}\n")  # never good
    app = make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))
    client, runtime = app.test_client(), app.extensions["ivr"]
    assert _greeting(client, "+15550000001") == "Hello from A"
    assert _greeting(client, "+15550000002") == "Hello from B"
    notes = [p for p in runtime.menu_set.problems if ": has problems" in p]
    assert notes == [
        f"{menus / 'a.yaml'}: has problems: its last good version is served",
        f"{menus / 'c.yaml'}: has problems and never loaded: not served",
    ]
    assert sorted(runtime.menus) == ["a", "b"]


def test_nothing_to_serve_stops_the_start_with_every_problem(tmp_path, menus):
    (menus / "a.yaml").write_text("title: A\nstart: [\n")
    (menus / "b.yaml").write_text("start: nowhere\nnodes: {}\n")
    with pytest.raises(MenuError) as refused:
        make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))
    assert refused.value.problems[-2:] == [
        f"{menus / 'a.yaml'}: has problems and never loaded: not served",
        f"{menus / 'b.yaml'}: has problems and never loaded: not served",
    ]


def test_sighup_reloads_the_menus_of_ivr_serve(tmp_path, menus):
    servers: list = []
    with serving(tmp_path, "token", workers=2, menus=menus, processes=servers) as base:
        assert said_at(base, "+15550000001") == "Hello from A"
        (menus / "a.yaml").write_text(_menu("A", "+15550000001", "Welcome to A"))
        servers[0].send_signal(signal.SIGHUP)
        until(lambda: said_at(base, "+15550000001") == "Welcome to A")
        (menus / "a.yaml").write_text("title: A\nstart: [\n")  # a broken edit
        (menus / "b.yaml").write_text(_menu("B", "+15550000002", "Welcome to B"))
        servers[0].send_signal(signal.SIGHUP)
        until(lambda: said_at(base, "+15550000002") == "Welcome to B")
        for _ in range(4):  # both new workers serve A's last good version
            assert said_at(base, "+15550000001") == "Welcome to A"
        for _ in range(4):  # a forged state, refused by whichever worker
            served_post(base, "/voice/input?s=forged", "CA" + "6" * 32, Digits="1")
    log = servers[0].log
    # The app's own lines are in gunicorn's log, time-stamped like its own.
    assert re.search(
        r"^\[[0-9-]+ [0-9:]+ [+-]\d{4}\] \[\d+\] \[WARNING\] "
        r"refused a call state on /voice/input",
        log,
        re.M,
    ), log
    assert "menus/a.yaml: has problems: its last good version is served" in log
    assert log.count("menus reloaded: 2 served") == 2


def said_at(base: str, number: str) -> str:
    _, root = served_post(base, "/voice", "CA" + "5" * 32, To=number)
    return said(root)[0]


def until(condition, timeout_s: float = 20.0) -> None:
    """Wait for ``condition`` (new workers take a moment to start)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.1)
