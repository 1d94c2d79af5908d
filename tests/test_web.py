"""Webhooks posted the way Twilio posts them: form fields, signed, parsed TwiML back."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import (
    CLOSED,
    TOKEN,
    TwilioPost,
    action_of,
    make_app,
    said,
    trace,
    twiml,
    verbs,
)


def start_call(client, **fields):
    post = TwilioPost(client)
    response = post("/voice", **fields)
    return post, response


def press(post, response, digits="", speech=""):
    root = twiml(response)
    extra = {"Digits": digits}
    if speech:
        extra = {"SpeechResult": speech, "Confidence": "0.9"}
    return post(action_of(root), **extra)


def test_incoming_call_plays_welcome_then_gathers_the_main_menu(client):
    _, response = start_call(client)
    root = twiml(response)
    assert verbs(root)[:2] == ["Play", "Gather"]
    assert root.find("Play").text == "http://localhost/recordings/welcome.wav"
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("language") == "zh-CN"
    assert "退款" in gather.get("hints")
    assert trace(response)["nodes"] == ["welcome", "main"]


def test_known_order_number_reads_status_from_the_csv(client):
    post, response = start_call(client)
    response = press(post, response, "1")
    assert twiml(response).find("Gather").get("finishOnKey") == "#"
    response = press(post, response, "202611250001")
    root = twiml(response)
    assert "您的订单202611250001状态为已发货。" in said(root)
    assert verbs(root)[-1] == "Hangup"


def test_unknown_order_number_says_not_found_and_returns_to_the_menu(client):
    post, response = start_call(client)
    response = press(post, response, "1")
    response = press(post, response, "999999999")
    root = twiml(response)
    assert "没有找到订单999999999。" in said(root)
    assert trace(response)["nodes"] == ["order_lookup", "order_not_found", "main"]


def test_refund_path_by_speech_asks_for_the_order(client):
    post, response = start_call(client)
    response = press(post, response, speech="我想退款")
    assert trace(response)["choice"] == {"node": "main", "key": "2"}
    assert "请输入需要退款的订单号，以井号键结束。" in said(twiml(response))


def test_refund_source_down_takes_the_error_path_to_a_person(client):
    # refunds is a URL source on a closed port: the lookup fails fast.
    post, response = start_call(client)
    response = press(post, response, "2")
    response = press(post, response, "202611250001")
    root = twiml(response)
    assert root.find("Enqueue").text == "hotline.general.p0"


def test_zero_enqueues_the_caller_with_wait_and_action_urls(client):
    post, response = start_call(client)
    response = press(post, response, "0")
    root = twiml(response)
    enqueue = root.find("Enqueue")
    assert enqueue.text == "hotline.general.p0"
    assert enqueue.get("waitUrl").startswith("/voice/wait?s=")
    assert enqueue.get("action").startswith("/voice/queue?s=")
    assert "正在为您转接人工客服。" in said(root)


def test_outside_opening_hours_zero_goes_to_voicemail(tmp_path):
    client = make_app(tmp_path, CLOCK=lambda: CLOSED).test_client()
    post, response = start_call(client)
    response = press(post, response, "0")
    root = twiml(response)
    assert root.find("Record") is not None
    assert root.find("Record").get("maxLength") == "120"
    assert "请在提示音后留言。" in said(root)


def test_silence_replays_with_no_input_text_then_goes_to_on_fail(client):
    post, response = start_call(client)
    for _ in range(2):  # retries: 2
        response = press(post, response, "")
        root = twiml(response)
        assert said(root)[0] == "抱歉，没有听到您的选择。"
        assert root.find("Gather") is not None
    response = press(post, response, "")
    root = twiml(response)
    assert root.find("Enqueue").text == "hotline.general.p0"  # on_fail: agent_general


def test_wrong_keys_replay_with_invalid_text_then_go_to_on_fail(client):
    post, response = start_call(client)
    for _ in range(2):
        response = press(post, response, "7")
        assert said(twiml(response))[0] == "抱歉，您的选择无效。"
    response = press(post, response, "9")
    assert twiml(response).find("Enqueue") is not None


def test_star_repeats_the_menu_without_using_a_retry(client):
    post, response = start_call(client)
    for _ in range(4):
        response = press(post, response, "*")
        root = twiml(response)
        assert said(root) == ["查询订单请按1，退款请按2，人工服务请按0。"]


def test_unsigned_request_is_refused_with_403(client):
    response = client.post("/voice", data={"CallSid": "CA1", "To": "+861000000000"})
    assert response.status_code == 403


def test_request_signed_with_another_token_is_refused(client):
    post = TwilioPost(client, token="not-the-token")
    assert post("/voice").status_code == 403


def test_tampered_fields_break_the_signature(client):
    post = TwilioPost(client)
    from twilio.request_validator import RequestValidator

    data = dict(post.fields)
    signature = RequestValidator(TOKEN).compute_signature(
        "http://localhost/voice", data
    )
    data["From"] = "+8613999999999"
    response = client.post(
        "/voice", data=data, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_signature_is_checked_against_public_url_behind_a_proxy(tmp_path):
    app = make_app(tmp_path, PUBLIC_URL="https://ivr.example.com")
    client = app.test_client()
    post = TwilioPost(client, base="https://ivr.example.com")
    response = post("https://ivr.example.com/voice")
    root = twiml(response)
    assert action_of(root).startswith("https://ivr.example.com/voice/input?s=")
    assert root.find("Play").text == "https://ivr.example.com/recordings/welcome.wav"
    # Signed for the internal URL instead: refused.
    assert TwilioPost(client)("/voice").status_code == 403


def test_forwarded_headers_rebuild_the_signed_url_when_proxies_are_trusted(tmp_path):
    client = make_app(tmp_path, TRUSTED_PROXIES=1).test_client()
    post = TwilioPost(client, base="https://public.example.com")
    data = dict(post.fields)
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(TOKEN).compute_signature(
        "https://public.example.com/voice", data
    )
    headers = {
        "X-Twilio-Signature": signature,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "public.example.com",
    }
    assert client.post("/voice", data=data, headers=headers).status_code == 200


def test_without_a_token_requests_are_not_checked(tmp_path):
    client = make_app(tmp_path, TWILIO_AUTH_TOKEN=None).test_client()
    assert client.post("/voice", data={"To": "+861000000000"}).status_code == 200


def test_forged_state_never_gets_a_500_and_reaches_a_person(client):
    post = TwilioPost(client)
    response = post("/voice/input?s=forged", Digits="1")
    root = twiml(response)
    assert said(root)[0] == "抱歉，系统出现问题，正在为您转接人工服务。"
    assert root.find("Enqueue") is not None


@pytest.mark.parametrize(
    "path",
    [
        "/voice/wait",
        "/voice/queue",
        "/voice/dial",
        "/voice/recorded",
        "/voice/callback",
    ],
)
def test_every_webhook_answers_twiml_without_state(client, path):
    root = twiml(TwilioPost(client)(path))
    assert len(root) > 0


def test_a_bug_in_the_engine_becomes_an_apology_and_the_human_path(client, monkeypatch):
    from ivr import engine

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "resume", broken)
    post, response = start_call(client)
    response = press(post, response, "1")
    root = twiml(response)
    assert said(root)[0].startswith("抱歉，系统出现问题")
    assert root.find("Enqueue") is not None


def test_one_call_served_alternately_by_two_app_instances(tmp_path):
    # Two apps share nothing but configuration, like two gunicorn workers.
    first = make_app(tmp_path / "a").test_client()
    second = make_app(tmp_path / "b").test_client()
    post_a, post_b = TwilioPost(first), TwilioPost(second)
    response = post_a("/voice")
    response = post_b(action_of(twiml(response)), Digits="1")
    response = post_a(action_of(twiml(response)), Digits="202611250002")
    assert "您的订单202611250002状态为未发货。" in said(twiml(response))


def test_queue_wait_announces_position_and_estimate_from_staffing(client):
    post, response = start_call(client)
    response = press(post, response, "0")
    wait_url = twiml(response).find("Enqueue").get("waitUrl")
    # general: 45 agents at 12:00, handle 5m -> position 10 waits ~10*300/45 s;
    # Twilio's AvgQueueTime (how long others have waited) does not count.
    root = twiml(post(wait_url, QueuePosition="10", QueueTime="30", AvgQueueTime="900"))
    assert said(root) == ["您前面还有9位客户在等待，预计等待约1分钟。"]
    assert root.find("Pause").get("length") == "60"


def test_queue_without_callback_after_never_offers_a_callback(client):
    post, response = start_call(client)
    response = press(post, response, "0")
    enqueue = twiml(response).find("Enqueue")
    # general has no callback_after: no offer however long the wait.
    root = twiml(post(enqueue.get("waitUrl"), QueuePosition="200", QueueTime="10"))
    assert root.find("Gather") is None


def test_orders_queue_offers_callback_and_overflows_after_max_wait(tmp_path):
    client = make_app(tmp_path).test_client()
    post = TwilioPost(client)
    from ivr.engine import CallState
    from ivr.web.sealing import Binding

    runtime = client.application.extensions["ivr"]
    state = CallState("hotline", "agent_orders_queue", 0, {"caller": "+8613800000000"})
    token = runtime.sealer.seal(state, Binding.for_call(post.fields["CallSid"]))
    # orders: 30 agents, 4m handle, 3m patience: position 200 waits about 7m
    # (callers ahead hang up too) > callback_after 5m.
    root = twiml(post(f"/voice/wait?s={token}", QueuePosition="200", QueueTime="10"))
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    assert said(gather) == ["如需我们稍后回电，请按1。"]
    leave = twiml(post(action_of(root), Digits="1"))
    assert verbs(leave) == ["Leave"]
    done = twiml(post(f"/voice/queue?s={token}", QueueResult="leave", QueueTime="120"))
    assert "回电" in said(done)[0] and verbs(done)[-1] == "Hangup"
    [asked] = runtime.store.callbacks(call_sid=post.fields["CallSid"])
    assert (asked["number"], asked["queue"], asked["status"]) == (
        "+8613800000000",
        "orders",
        "pending",
    )
    # Another caller holds past max_wait (15m): the wait TwiML says Leave, and
    # the action goes to overflow.
    post.fields["CallSid"] = "CA" + "1" * 32
    token = runtime.sealer.seal(state, Binding.for_call(post.fields["CallSid"]))
    assert verbs(twiml(post(f"/voice/wait?s={token}", QueueTime="900"))) == ["Leave"]
    overflow = twiml(
        post(f"/voice/queue?s={token}", QueueResult="leave", QueueTime="901")
    )
    assert overflow.find("Record") is not None  # overflow: voicemail


def test_sensitive_digits_are_masked_in_the_call_log_and_trace(client):
    post, response = start_call(client)
    response = press(post, response, "2")
    response = press(post, response, "202611250001")
    runtime = client.application.extensions["ivr"]
    events = runtime.store.events(post.fields["CallSid"])
    inputs = [e["detail"]["digits"] for e in events if e["event"] == "input"]
    assert inputs == ["2", "***"]
    assert "202611250001" not in str(events)
    assert trace(response)["variables"]["order_id"] == "***"
    assert "202611250001" not in response.headers["X-IVR-Trace"]


def test_state_in_urls_is_encrypted(client):
    post, response = start_call(client)
    response = press(post, response, "2")
    response = press(post, response, "202611250001")
    assert b"202611250001" not in response.data


def test_call_log_fault_never_breaks_a_call(client, monkeypatch):
    runtime = client.application.extensions["ivr"]

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runtime.store.database, "transaction", broken)
    post, response = start_call(client)
    assert twiml(press(post, response, "0")).find("Enqueue") is not None


def test_status_callback_is_logged(client):
    post = TwilioPost(client)
    twiml(post("/voice/status", CallStatus="completed", CallDuration="42"))
    events = client.application.extensions["ivr"].store.events(post.fields["CallSid"])
    assert events[-1]["detail"] == {"status": "completed", "duration_s": "42"}


def test_recordings_are_served_but_nothing_outside_them(client):
    assert client.get("/recordings/welcome.wav").status_code == 200
    for path in [
        "/recordings/../menus/hotline.yaml",
        "/recordings/..%2fmenus%2fhotline.yaml",
        "/recordings/%2e%2e/menus/hotline.yaml",
        "/recordings//etc/passwd",
        "/recordings/missing.wav",
    ]:
        assert client.get(path, follow_redirects=True).status_code == 404, path


def test_menu_is_chosen_by_the_number_called(tmp_path):
    other = tmp_path / "menus"
    other.mkdir()
    (other / "a.yaml").write_text(
        'numbers: ["+15550000001"]\nstart: bye\nnodes:\n  bye: {hangup: Hello from A}\n'
    )
    (other / "b.yaml").write_text(
        'numbers: ["+15550000002"]\nstart: bye\nnodes:\n  bye: {hangup: Hello from B}\n'
    )
    client = make_app(
        tmp_path, MENUS=str(other), RECORDINGS=str(tmp_path)
    ).test_client()
    post = TwilioPost(client)
    assert said(twiml(post("/voice", To="+15550000002"))) == ["Hello from B"]
    assert said(twiml(post("/voice", To="+19999999999"))) == ["Hello from A"]
    assert said(twiml(post("/voice?menu=b", To="+19999999999"))) == ["Hello from B"]


def test_slow_data_source_takes_the_error_path(tmp_path):
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):
            release.wait(5)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"progress": "done"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        menus = tmp_path / "menus"
        menus.mkdir()
        (menus / "m.yaml").write_text(
            f"""start: ask
data:
  refunds: {{url: "http://127.0.0.1:{server.server_port}/r/{{order}}", timeout: 0.3s}}
queues:
  people: {{agents: 3}}
nodes:
  ask: {{ask: Order?, save_as: order, next: look}}
  look: {{lookup: {{data: refunds, key: "{{order}}"}}, found: ok, missing: agent}}
  ok: {{hangup: "Refund {{progress}}"}}
  agent: {{queue: people}}
"""
        )
        client = make_app(
            tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path)
        ).test_client()
        post = TwilioPost(client)
        response = post(action_of(twiml(post("/voice"))), Digits="123")
        root = twiml(response)
        assert root.find("Enqueue").text == "m.people.p0"  # default error: human path
    finally:
        release.set()
        server.shutdown()


def test_front_page_names_the_webhook_to_give_twilio(client):
    page = client.get("/").get_data(as_text=True)
    assert "http://localhost/voice" in page
    assert "hotline" in page
