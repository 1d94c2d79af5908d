"""Fixtures: the hotline test menu, its app, and a helper to post as Twilio does."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr.loader import load_menu
from ivr.web import create_app

FIXTURES = Path(__file__).parent / "fixtures"
MENUS = FIXTURES / "menus"
RECORDINGS = FIXTURES / "recordings"
TOKEN = "test-auth-token"
# A Wednesday, 12:00 in Shanghai: the hotline is open.
OPEN = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)
_POSTGRES = os.environ.get("IVR_TEST_POSTGRES_URL")  # read before _clean_env
# The same Wednesday, 23:30 in Shanghai: closed.
CLOSED = dt.datetime(2026, 11, 25, 15, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """The developer's own Twilio or IVR_* settings must not leak into tests."""
    import os

    for name in list(os.environ):
        if name.startswith("IVR_") or name == "TWILIO_AUTH_TOKEN":
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    """A store of its own for the test: a SQLite file, or a PostgreSQL database
    where IVR_TEST_POSTGRES_URL names a server (CI starts one)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite3")
        return
    postgres = os.environ.get("IVR_TEST_POSTGRES_URL") or _POSTGRES
    if not postgres:
        pytest.skip("IVR_TEST_POSTGRES_URL is not set")
    import uuid

    import psycopg

    name = "ivr_r_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def hotline():
    return load_menu(MENUS / "hotline.yaml", RECORDINGS)


def make_app(tmp_path, **config):
    settings = {
        "MENUS": str(MENUS),
        "RECORDINGS": str(RECORDINGS),
        "SECRET_KEY": "test-secret-" + "k" * 32,
        "DATABASE": str(tmp_path / "calls.sqlite3"),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "EXPOSE_TRACE": True,
        "CLOCK": lambda: OPEN,
    }
    settings.update(config)
    return create_app(settings)


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@contextlib.contextmanager
def serving(tmp_path, token: str, workers: int = 1, menus: Path = MENUS,
            processes: list | None = None, env: dict | None = None):  # fmt: skip
    """Run `ivr serve` (gunicorn) on a free loopback port; yield its base URL.

    ``processes``, if given, receives the server's ``Popen`` (to signal it); once
    the server has stopped, its log is the ``Popen``'s ``log`` attribute.
    ``env`` adds environment variables (``IVR_CONSOLE_PASSWORD``...).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra_env = env
    env = dict(
        os.environ, TWILIO_AUTH_TOKEN=token, IVR_DATABASE=str(tmp_path / "log.db")
    )
    env.pop("IVR_SECRET_KEY", None)  # workers share the one in instance/
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve", "--menus", str(menus), "--port", str(port),
         "--workers", str(workers), "--no-access-log"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    if processes is not None:
        processes.append(process)
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
    try:
        yield base
    finally:
        process.terminate()
        try:  # a graceful stop: workers finish requests and write what they hold
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        process.log = output  # type: ignore[attr-defined]
        # Shown by pytest when the test fails: what the server logged.
        print("--- ivr serve output (last 60 lines) ---")
        print("\n".join(output.splitlines()[-60:]))


class TwilioPost:
    """Posts form fields the way Twilio does, signed with the auth token."""

    def __init__(
        self, client, token: str | None = TOKEN, base: str = "http://localhost"
    ):
        self.client = client
        self.token = token
        self.base = base
        self.fields = {
            "CallSid": "CA" + "0" * 32,
            "AccountSid": "AC" + "0" * 32,
            "From": "+8613800000000",
            "To": "+861000000000",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def __call__(self, url: str, **extra: str):
        data = dict(self.fields, **extra)
        absolute = url if url.startswith("http") else self.base + url
        headers = {}
        if self.token:
            signature = RequestValidator(self.token).compute_signature(absolute, data)
            headers["X-Twilio-Signature"] = signature
        path = absolute[len(self.base) :] if absolute.startswith(self.base) else url
        return self.client.post(path, data=data, headers=headers)


def twiml(response) -> ET.Element:
    """The parsed TwiML of a response, checking it is a 200 XML answer."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> list[str]:
    """Every text spoken in a TwiML document, in order (inside Gather too)."""
    return ["".join(el.itertext()) for el in root.iter("Say")]


def action_of(root: ET.Element, verb: str = "Gather") -> str:
    element = root.find(f".//{verb}")
    assert element is not None, f"no <{verb}> in {ET.tostring(root, 'unicode')}"
    return html.unescape(element.get("action"))


def trace(response) -> dict:
    import json

    return json.loads(response.headers["X-IVR-Trace"])


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


__all__ = [
    "TwilioPost",
    "action_of",
    "make_app",
    "re",
    "said",
    "trace",
    "twiml",
    "verbs",
]
