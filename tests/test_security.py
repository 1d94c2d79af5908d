"""Hostile input and forged state: what an attacker who can reach the server tries.

Each test reproduces one way a real line leaked a secret or could be driven by
someone other than Twilio: a key anyone knows, bodies that eat a worker's memory,
files outside recordings/, a signed GET with a body, one call's state in another,
sensitive input in clear.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import urllib.parse

import pytest
from click.testing import CliRunner
from conftest import (
    MENUS,
    RECORDINGS,
    TOKEN,
    TwilioPost,
    action_of,
    make_app,
    said,
    serving,
    trace,
    twiml,
)
from twilio.request_validator import RequestValidator

from ivr.cli import main
from ivr.engine import CallState
from ivr.web import ConfigError, create_app
from ivr.web.hooks import MAX_BODY_BYTES
from ivr.web.sealing import BadState, Binding, Sealer

SHOP = os.path.join(os.path.dirname(__file__), "..", "menus")
APOLOGY = "抱歉，系统出现问题，正在为您转接人工服务。"


def app_in(folder, **config):
    """An app whose instance/ is ``folder/instance`` and whose key lives there."""
    settings = {
        "MENUS": str(MENUS),
        "RECORDINGS": str(RECORDINGS),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "INSTANCE_PATH": str(folder / "instance"),
        "DATABASE": str(folder / "instance" / "ivr.sqlite3"),
    }
    settings.update(config)
    return create_app(settings)


# -- 1. the secret key -------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "  \n", "short-key\n"])
def test_an_empty_or_short_secret_key_file_stops_the_start(tmp_path, content):
    (tmp_path / "instance").mkdir()
    key = tmp_path / "instance" / "secret.key"
    key.write_text(content)
    with pytest.raises(ConfigError) as refused:
        app_in(tmp_path)
    chars = len(content.strip())
    what = "is empty" if not chars else f"has only {chars} characters"
    assert str(refused.value) == (
        f"{key} {what}; the secret key that seals call state needs at least 32 "
        "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def test_an_empty_configured_secret_key_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match=r"^IVR_SECRET_KEY is empty;"):
        app_in(tmp_path, SECRET_KEY="")


def test_ivr_serve_refuses_an_empty_secret_key_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "secret.key").write_text("")
    result = CliRunner().invoke(main, ["serve", "--menus", str(MENUS)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        f"ivr serve: {tmp_path / 'instance' / 'secret.key'} is empty;"
    )


def test_the_sealer_refuses_a_key_anyone_could_guess():
    for secret in ["", " " * 40, "x" * 31]:
        with pytest.raises(ValueError, match="at least 32 characters"):
            Sealer(secret)


def test_a_process_starting_beside_one_writing_the_key_never_reads_it_empty(
    tmp_path, monkeypatch
):
    import secrets

    real = secrets.token_urlsafe
    writing, release = threading.Event(), threading.Event()
    first = []

    def slow_token(n):
        if not first:  # the first process stops halfway through writing the key
            first.append(1)
            writing.set()
            release.wait(10)
        return real(n)

    monkeypatch.setattr(secrets, "token_urlsafe", slow_token)
    apps = {}
    starting = threading.Thread(target=lambda: apps.setdefault("a", app_in(tmp_path)))
    starting.start()
    assert writing.wait(10)
    try:
        apps["b"] = app_in(tmp_path)  # reads while the first is mid-write
    finally:
        release.set()
        starting.join(10)
    keys = {name: app.config["SECRET_KEY"] for name, app in apps.items()}
    assert len(keys["b"]) >= 32 and keys["a"] == keys["b"]
    assert (tmp_path / "instance" / "secret.key").read_text().strip() == keys["a"]
    left = [n for n in os.listdir(tmp_path / "instance") if "secret" in n]
    assert left == ["secret.key"]  # no temporary file left behind


# -- 2. request bodies ------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_with_413_before_the_signature(client):
    body = urllib.parse.urlencode({"Digits": "1", "Pad": "x" * MAX_BODY_BYTES})
    response = client.post(
        "/voice", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def test_a_signed_form_just_under_the_cap_is_served(client):
    post = TwilioPost(client)
    pad = "x" * (MAX_BODY_BYTES - 1024)
    assert twiml(post("/voice", SpeechResult=pad)).find("Gather") is not None


def _raw_request(base: str, head: bytes, body: bytes = b"") -> int:
    """Send a raw HTTP request; return the status code of the answer."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_served_a_gigabyte_post_is_refused_before_it_is_sent(tmp_path):
    with serving(tmp_path, TOKEN, workers=2) as base:
        head = (
            b"POST /voice HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )
        # Only the first kilobyte is sent: the answer must not wait for the rest.
        assert _raw_request(base, head, b"Digits=1&" + b"x" * 1024) == 413
        # Without a length (chunked), reading stops at the cap.
        chunk = b"x" * 8192
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(chunk), chunk)
            for _ in range(MAX_BODY_BYTES // len(chunk) + 2)
        )
        head = (
            b"POST /voice HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        assert _raw_request(base, head, chunks) == 413


# -- 3. recordings ------------------------------------------------------------------------


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "recordings"
    shutil.copytree(RECORDINGS, folder)
    (tmp_path / "secret.key").write_text("not for callers")
    return folder


def test_a_symbolic_link_out_of_recordings_is_not_served(tmp_path, recordings):
    (recordings / "leak.wav").symlink_to("../secret.key")
    (recordings / "abs.wav").symlink_to(tmp_path / "secret.key")
    (recordings / "up").symlink_to("..", target_is_directory=True)
    client = make_app(tmp_path, RECORDINGS=str(recordings)).test_client()
    for path in ["leak.wav", "abs.wav", "up/secret.key", "%00", "welcome.wav%00.x"]:
        response = client.get(f"/recordings/{path}")
        assert response.status_code == 404, path
        assert b"not for callers" not in response.data


def test_a_link_inside_recordings_and_plain_files_are_served(tmp_path, recordings):
    (recordings / "alias.wav").symlink_to("welcome.wav")
    (recordings / "sub").mkdir()
    client = make_app(tmp_path, RECORDINGS=str(recordings)).test_client()
    wav = (recordings / "welcome.wav").read_bytes()
    for path in ["welcome.wav", "alias.wav"]:
        response = client.get(f"/recordings/{path}")
        assert response.status_code == 200 and response.data == wav
        assert response.mimetype in ("audio/x-wav", "audio/wav")
    assert client.get("/recordings/sub").status_code == 404  # a folder is no file
    os.mkfifo(recordings / "pipe.wav")  # nor is a pipe (reading it would hang)
    assert client.get("/recordings/pipe.wav").status_code == 404


# -- 4. GET and HEAD ------------------------------------------------------------------


def test_a_signed_get_ignores_form_fields_in_its_body(client):
    post = TwilioPost(client)
    gather = action_of(twiml(post("/voice")))
    fields = dict(post.fields, Digits="1")
    url = gather + "&" + urllib.parse.urlencode(fields)
    signature = RequestValidator(TOKEN).compute_signature("http://localhost" + url, {})
    response = client.get(
        url,
        data={"Digits": "2", "CallSid": "CA" + "9" * 32},
        headers={"X-Twilio-Signature": signature},
    )
    assert trace(response)["nodes"] == ["order_ask"]  # 1, as signed; not 2


def test_a_signed_get_and_head_answer_alike_head_without_the_document(client):
    post = TwilioPost(client)
    gather = action_of(twiml(post("/voice")))
    url = gather + "&" + urllib.parse.urlencode(dict(post.fields, Digits="1"))
    signature = RequestValidator(TOKEN).compute_signature("http://localhost" + url, {})
    headers = {"X-Twilio-Signature": signature}
    got = client.get(url, headers=headers)
    head = client.head(url, headers=headers)
    assert twiml(got).find("Gather") is not None
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) == len(got.data) > 0


# -- 5. state bound to its call --------------------------------------------------------


def test_one_calls_state_posted_in_another_call_is_refused(client):
    call_a = TwilioPost(client)
    call_a.fields["From"] = "+8613800138000"
    gather = action_of(twiml(call_a("/voice")))
    call_b = TwilioPost(client)
    call_b.fields.update(CallSid="CB" + "2" * 32, From="+8613900000000")
    root = twiml(call_b(gather, Digits="1"))
    assert said(root)[0] == APOLOGY and root.find("Enqueue") is not None
    runtime = client.application.extensions["ivr"]
    events = runtime.store.events(call_b.fields["CallSid"])
    assert [e["event"] for e in events] == ["fault"]
    # The call it was sealed for goes on with it.
    response = call_a(gather, Digits="1")
    assert trace(response)["nodes"] == ["order_ask"]
    assert trace(response)["variables"]["caller"] == "+8613800138000"


def test_a_state_sealed_for_the_dequeuing_call_opens_only_for_it():
    sealer = Sealer("k" * 32)
    state = CallState("shop", "agent_orders", 0, {"order_id": "1"})
    token = sealer.seal(state, Binding("DequeingCallSid", "CA-agent"))
    queued = {"CallSid": "CA-caller", "DequeingCallSid": "CA-agent"}
    assert sealer.open(token, queued) == state
    for fields in [{"CallSid": "CA-agent"}, {"DequeingCallSid": "CA-other"}, {}]:
        with pytest.raises(BadState):
            sealer.open(token, fields)


# -- 6. sensitive input -------------------------------------------------------------------


def test_speech_at_a_sensitive_ask_is_masked_in_the_call_log(client):
    post = TwilioPost(client)
    at_refund = post(action_of(twiml(post("/voice"))), Digits="2")
    post(action_of(twiml(at_refund)), SpeechResult="二零二六一一二五零零零一")
    events = client.application.extensions["ivr"].store.events(post.fields["CallSid"])
    inputs = [e["detail"] for e in events if e["event"] == "input"]
    assert inputs[-1] == {"digits": "", "speech": "***"} | {
        k: v for k, v in inputs[-1].items() if k not in ("digits", "speech")
    }
    assert "二零二六" not in str(events)


def test_the_value_a_sensitive_input_is_compared_with_is_masked_in_the_trace(
    tmp_path,
):
    client = make_app(tmp_path, MENUS=SHOP, RECORDINGS=None).test_client()
    post = TwilioPost(client)
    post.fields["From"] = (
        "+8613800138000"  # an account: its ID card ends in other digits
    )
    menu = post("/voice")
    account = post(action_of(twiml(menu)), Digits="3")
    wrong = post(action_of(twiml(account)), Digits="1234#")
    variables = trace(wrong)["variables"]
    assert "account_retry" in trace(wrong)["nodes"]
    assert variables["id4"] == "***" and variables["id_last4"] == "***"


def test_instance_folder_key_and_store_are_created_private(tmp_path):
    os.umask(old := os.umask(0o022))
    try:
        app = app_in(tmp_path)
        post = TwilioPost(app.test_client())
        twiml(post("/voice"))
        app.extensions["ivr"].store.flush()
    finally:
        os.umask(old)
    instance = tmp_path / "instance"
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [instance, *instance.rglob("*")]
    }
    assert "instance/ivr.sqlite3" in modes and "instance/secret.key" in modes
    assert any(name.startswith("instance/spool/journal-") for name in modes)
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert loose == {}
