"""The caller against `ivr serve` for real: gunicorn on loopback, signed calls."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli.call import command as ivr_call

ROOT = Path(__file__).resolve().parent.parent
MENUS = Path(__file__).parent / "fixtures" / "menus"
TOKEN = "caller-serve-token"


@pytest.fixture
def served(tmp_path):
    """`ivr serve` with TWILIO_AUTH_TOKEN set; yields its voice URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    env["IVR_DATABASE"] = str(tmp_path / "log.db")
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve", "--menus", str(MENUS), "--port",
         str(port), "--workers", "1", "--no-access-log"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
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
    yield base + "/voice"
    process.terminate()
    process.wait(10)


def test_wrong_token_is_refused_by_ivr_serve_and_reported_as_403(served):
    result = CliRunner().invoke(
        ivr_call, [served, "--token", "not-the-token", "--press", "0", "--json"]
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["outcome"] == "error"
    assert data["error"] == (
        f"POST {served} answered 403 Forbidden: the webhook refused the request "
        "(wrong auth token or X-Twilio-Signature?)"
    )


def test_right_token_walks_the_served_menu_to_a_person(served):
    result = CliRunner().invoke(
        ivr_call,
        [served, "--token", TOKEN, "--to", "+861000000000", "--press", "0", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # Open hours reach the queue; at night the same key reaches voicemail.
    assert data["outcome"] in ("queue", "voicemail")
    assert data["transcript"][0]["verb"] == "Play"
