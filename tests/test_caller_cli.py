"""``ivr call URL`` against a foreign TwiML webhook over real HTTP."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from ivr.cli.call import command
from tests.twilio_style_app import create_app


@pytest.fixture
def served():
    """The Twilio-style app on a loopback port; yields (url, app)."""
    app = create_app(auth_token="tok")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/voice", app
    server.shutdown()
    thread.join()


def run(*args: str):
    return CliRunner().invoke(command, list(args))


def test_scripted_call_keeps_inputs_in_the_order_given(served):
    url, _ = served
    result = run(
        url,
        "--token",
        "tok",
        "--agent-after",
        "4",
        "--silence",
        "--press",
        "2",
        "--press",
        "9",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    gathers = [e for e in data["transcript"] if e["verb"] == "Gather"]
    assert gathers == [
        {"verb": "Gather", "silence": True},
        {"verb": "Gather", "press": "2"},
        {"verb": "Gather", "press": "9"},
    ]
    assert data["outcome"] == "queue"
    assert data["queue"] == "support"
    assert data["queue_result"] == "leave"


def test_say_option_is_sent_as_speech(served):
    url, _ = served
    result = run(url, "--token", "tok", "--say", "support", "--json")
    assert json.loads(result.output)["outcome"] == "queue"


def test_plain_output_prints_the_transcript_and_outcome(served):
    url, _ = served
    result = run(url, "--token", "tok", "--press", "3")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (
        "  [Say] For sales, press 1. For support, press 2. To leave a message, 3."
    )
    assert "  (you press) 3" in lines
    assert lines[-1] == "outcome: voicemail"


def test_wrong_token_exits_1_and_reports_403(served):
    url, _ = served
    result = run(url, "--token", "wrong", "--press", "1", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["outcome"] == "error"
    assert "answered 403 Forbidden" in data["error"]


def test_bad_keys_are_a_usage_error(served):
    url, _ = served
    result = run(url, "--press", "12x")
    assert result.exit_code == 2
    assert "keys must be 0-9, # and *, got '12x'" in result.output


def test_at_is_refused_for_a_url_target(served):
    url, _ = served
    result = run(url, "--at", "2026-11-27 23:30")
    assert result.exit_code == 2
    assert "--at sets the clock of the in-process app" in result.output


def test_live_call_in_a_terminal_reads_keys_words_and_enter_as_silence(
    served, monkeypatch
):
    import ivr.cli.call

    url, app = served
    monkeypatch.setattr(ivr.cli.call, "_is_terminal", lambda: True)
    result = CliRunner().invoke(
        command, [url, "--token", "tok", "--agent-after", "3"], input="\nsupport\n9\n"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "  [Say] We did not receive any input." in out
    assert "  [Say] Please hold for support." in out
    assert "  [Leave]" in out
    assert out.rstrip().endswith("outcome: queue (queue support, leave)")
    fields = [f for path, f in app.config["HITS"] if path == "/gather"]
    assert fields[0]["SpeechResult"] == "support"


def test_live_call_hangs_up_on_end_of_input(served, monkeypatch):
    import ivr.cli.call

    url, _ = served
    monkeypatch.setattr(ivr.cli.call, "_is_terminal", lambda: True)
    result = CliRunner().invoke(command, [url, "--token", "tok"], input="")
    assert result.output.rstrip().endswith("outcome: caller_hangup")
