"""`ivr serve` for real: gunicorn with two workers on loopback, signed calls."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from conftest import serving
from twilio.request_validator import RequestValidator

TOKEN = "serve-test-token"


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path, TOKEN, workers=2) as base:
        yield base


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
