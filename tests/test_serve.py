"""`ivr serve` for real: gunicorn with two workers on loopback, signed calls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from conftest import MENUS
from twilio.request_validator import RequestValidator

TOKEN = "serve-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = dict(
        os.environ, TWILIO_AUTH_TOKEN=TOKEN, IVR_DATABASE=str(tmp_path / "log.db")
    )
    env.pop("IVR_SECRET_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve", "--menus", str(MENUS), "--port", str(port),
         "--workers", "2", "--no-access-log"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("ivr serve did not start: " + process.communicate()[0])
    yield base
    process.terminate()
    process.wait(10)


def post(base, path, token=TOKEN, **fields):
    url = path if path.startswith("http") else base + path
    data = {"CallSid": "CA" + "1" * 32, "From": "+8613800000000", "To": "+861000000000"}
    data.update(fields)
    signature = RequestValidator(token).compute_signature(url, data)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(data).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, ET.fromstring(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def test_served_call_reaches_order_status_across_workers(server):
    status, root = post(server, "/voice")
    assert status == 200
    for digits in ["1"]:
        status, root = post(
            server, unescape(root.find("Gather").get("action")), Digits=digits
        )
    # Several calls in turn land on both workers; each must open the others' state.
    for _ in range(6):
        status, _ = post(
            server, unescape(root.find("Gather").get("action")), Digits="*"
        )
        assert status == 200
    status, root = post(
        server, unescape(root.find("Gather").get("action")), Digits="202611250001"
    )
    assert status == 200
    assert "您的订单202611250001状态为已发货。" in [
        "".join(s.itertext()) for s in root.iter("Say")
    ]


def test_served_call_with_the_wrong_token_gets_403(server):
    status, _ = post(server, "/voice", token="wrong-token")
    assert status == 403
