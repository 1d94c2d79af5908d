"""Call state stays short enough for a URL whatever the data (issue 9, item 8):
only what later nodes read is sealed, a state still too long is kept in the
store behind a short token, and the in-process caller refuses a request line a
real server would refuse (414), so `ivr test` catches it."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import TwilioPost, action_of, make_app, said, twiml

from ivr.caller import Caller, Press, WsgiTransport
from ivr.caller.call import MAX_REQUEST_LINE

# A record of forty long fields, of which the menu reads one (or one long one).
RECORD = {f"field_{i}": "x" * 200 for i in range(40)}
RECORD["status"] = "shipped"
RECORD["story"] = "长" * 2000  # 6,000 bytes in UTF-8, more once sealed


@pytest.fixture
def source():
    class Records(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(RECORD).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Records)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def line(tmp_path, source: str, said_after: str):
    menus = tmp_path / "menus"
    menus.mkdir(exist_ok=True)
    (menus / "m.yaml").write_text(
        f"""start: ask
data:
  orders: {{url: "{source}/o/{{order}}", timeout: 2s}}
queues:
  people: {{agents: 3}}
nodes:
  ask: {{ask: Order?, save_as: order, next: look}}
  look: {{lookup: {{data: orders, key: "{{order}}"}}, found: more, missing: agent}}
  more:
    say: Press 1 to hear it.
    options: {{"1": tell}}
  tell: {{hangup: "{said_after}"}}
  agent: {{queue: people, handover: [order]}}
"""
    )
    return make_app(tmp_path, MENUS=str(menus), RECORDINGS=str(tmp_path))


def test_only_what_later_nodes_read_is_sealed_in_the_urls(tmp_path, source):
    client = line(tmp_path, source, "Your order is {status}.").test_client()
    post = TwilioPost(client)
    menu = twiml(post(action_of(twiml(post("/voice"))), Digits="123"))
    url = action_of(menu)
    assert len(url) < 600  # forty fields of 200 characters stayed behind
    assert said(twiml(post(url, Digits="1"))) == ["Your order is shipped."]


def test_a_state_too_long_for_a_url_is_kept_in_the_store(tmp_path, source):
    app = line(tmp_path, source, "{story}")
    post = TwilioPost(app.test_client())
    menu = twiml(post(action_of(twiml(post("/voice"))), Digits="123"))
    url = action_of(menu)
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["s"][0]
    assert token.startswith("~") and len(url) < 200
    assert said(twiml(post(url, Digits="1"))) == [RECORD["story"]]
    # Sealed for that call like any state: another call cannot use it.
    post.fields["CallSid"] = "CA" + "9" * 32
    assert said(twiml(post(url, Digits="1"))) != [RECORD["story"]]


def test_the_caller_refuses_a_request_line_a_server_would_refuse(tmp_path):
    from flask import Flask, Response

    app = Flask(__name__)

    @app.post("/voice")
    def voice():
        long = "/next?s=" + "a" * (MAX_REQUEST_LINE + 10)
        twiml = f'<Response><Redirect method="POST">{long}</Redirect></Response>'
        return Response(twiml, mimetype="text/xml")

    result = Caller(WsgiTransport(app), "http://localhost/voice").call([Press("1")])
    assert result.outcome == "error"
    assert "request line is" in result.error and "(414)" in result.error
