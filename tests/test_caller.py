"""The caller drives a Twilio-style app it has never seen, as Twilio would."""

from __future__ import annotations

import threading

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from ivr.caller import (
    Caller,
    HangUp,
    HttpTransport,
    Press,
    Silence,
    Speak,
    WsgiTransport,
)
from tests.twilio_style_app import create_app

URL = "https://example.test/voice"


def make_caller(app, **kwargs) -> Caller:
    return Caller(WsgiTransport(app), URL, **kwargs)


def test_pressing_1_dials_sales_and_ends_as_transfer():
    app = create_app()
    result = make_caller(app).call([Press("1")])
    assert result.outcome == "transfer"
    assert result.heard == [
        "For sales, press 1. For support, press 2. To leave a message, 3.",
        "Connecting you to sales.",
    ]
    dial = [e for e in result.transcript if e["verb"] == "Dial"]
    assert dial == [{"verb": "Dial", "number": "+15005550009", "status": "completed"}]
    path, fields = app.config["HITS"][-1]
    assert path == "/dial-done"
    assert fields["DialCallStatus"] == "completed"


def test_busy_dial_is_not_a_transfer_and_app_says_so():
    result = make_caller(create_app(), dial_status="busy").call([Press("1")])
    assert result.outcome == "self_service"
    assert result.heard[-1] == "Sales is busy. Goodbye."


def test_first_request_carries_every_standard_twilio_field():
    app = create_app()
    make_caller(app, from_number="+8613800000000", to_number="+861000").call([])
    path, fields = app.config["HITS"][0]
    assert path == "/voice"
    assert fields["From"] == fields["Caller"] == "+8613800000000"
    assert fields["To"] == fields["Called"] == "+861000"
    assert fields["CallStatus"] == "ringing"
    assert fields["Direction"] == "inbound"
    assert fields["ApiVersion"] == "2010-04-01"
    assert fields["CallSid"].startswith("CA") and len(fields["CallSid"]) == 34
    assert fields["AccountSid"].startswith("AC") and len(fields["AccountSid"]) == 34


def test_silence_falls_through_to_the_next_verb_and_redirect():
    app = create_app()
    result = make_caller(app).call([Silence(), Press("1")])
    assert result.heard[:3] == [
        "For sales, press 1. For support, press 2. To leave a message, 3.",
        "We did not receive any input.",
        "For sales, press 1. For support, press 2. To leave a message, 3.",
    ]
    redirect = [e for e in result.transcript if e["verb"] == "Redirect"]
    assert redirect == [{"verb": "Redirect", "url": "https://example.test/voice"}]
    assert result.outcome == "transfer"


def test_inputs_running_out_hang_up_at_the_next_gather():
    result = make_caller(create_app()).call([])
    assert result.outcome == "caller_hangup"
    assert result.transcript[-1] == {"verb": "Gather", "hangup": True}


def test_speech_is_posted_as_speech_result_with_confidence():
    app = create_app()
    result = make_caller(app).call([Speak("Sales")])
    assert result.outcome == "transfer"
    path, fields = app.config["HITS"][1]
    assert path == "/gather"
    assert fields["SpeechResult"] == "Sales"
    assert float(fields["Confidence"]) > 0
    assert "Digits" not in fields


def test_queue_waits_rounds_with_queue_fields_then_agent_bridges():
    app = create_app()
    result = make_caller(app, agent_after_rounds=2).call([Press("2")])
    assert result.outcome == "queue"
    assert result.queue == "support"
    assert result.queue_result == "bridged"
    waits = [fields for path, fields in app.config["HITS"] if path == "/wait"]
    assert len(waits) == 2
    assert [w["QueuePosition"] for w in waits] == ["3", "2"]
    for name in ("QueueSid", "QueueTime", "AvgQueueTime", "CurrentQueueSize"):
        assert name in waits[0]
    assert waits[0]["MaxQueueSize"] == "100"
    path, fields = app.config["HITS"][-1]
    assert path == "/queue-done"
    assert fields["QueueResult"] == "bridged"
    assert int(fields["QueueTime"]) > 0
    assert result.heard[-1] == "Queue result bridged. Goodbye."


def test_key_pressed_while_waiting_reaches_the_wait_gather_and_leave():
    app = create_app()
    result = make_caller(app, agent_after_rounds=5).call([Press("2"), Press("9")])
    assert result.queue_result == "leave"
    assert result.heard[-1] == "You left the queue. Goodbye."
    assert {"verb": "Leave"} in result.transcript


def test_caller_who_runs_out_of_patience_hangs_up_in_the_queue():
    app = create_app()
    result = make_caller(app, agent_after_rounds=5, patience_rounds=1).call(
        [Press("2")]
    )
    assert result.outcome == "queue"
    assert result.queue_result == "hangup"
    path, fields = app.config["HITS"][-1]
    assert (path, fields["QueueResult"]) == ("/queue-done", "hangup")
    # The app's answer to a hung-up call is reported but never played.
    assert "Queue result hangup. Goodbye." not in result.heard


def test_hanging_up_during_the_wait_gather_reports_hangup_to_the_action():
    app = create_app()
    result = make_caller(app, agent_after_rounds=5).call([Press("2"), HangUp()])
    assert result.queue_result == "hangup"
    assert app.config["HITS"][-1][1]["QueueResult"] == "hangup"


def test_record_posts_recording_url_and_duration_and_ends_as_voicemail():
    app = create_app()
    result = make_caller(app).call([Press("3")])
    assert result.outcome == "voicemail"
    path, fields = app.config["HITS"][-1]
    assert path == "/recorded"
    assert fields["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/")
    assert fields["RecordingDuration"] == "10"
    assert result.heard[-1] == "Thanks for your 10 second message."


def test_signed_requests_pass_the_apps_own_validator():
    app = create_app(auth_token="secret")
    result = make_caller(app, auth_token="secret").call([Press("2")])
    assert result.outcome == "queue"
    assert result.error is None


def test_wrong_auth_token_is_reported_as_403():
    app = create_app(auth_token="secret")
    result = make_caller(app, auth_token="wrong").call([Press("1")])
    assert result.outcome == "error"
    assert result.error == (
        "POST https://example.test/voice answered 403 Forbidden: the webhook "
        "refused the request (wrong auth token or X-Twilio-Signature?)"
    )


def test_signature_matches_twilios_algorithm_for_the_posted_fields():
    seen = {}

    def app(environ, start_response):
        from werkzeug.wrappers import Request

        request = Request(environ)
        seen["signature"] = request.headers["X-Twilio-Signature"]
        seen["form"] = request.form.to_dict()
        seen["url"] = request.url
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response><Hangup/></Response>"]

    Caller(WsgiTransport(app), URL, auth_token="tok").call([])
    expected = RequestValidator("tok").compute_signature(URL, seen["form"])
    assert seen["url"] == URL
    assert seen["signature"] == expected


def test_get_method_sends_fields_in_the_query_and_signs_the_full_url():
    hits = []

    def app(environ, start_response):
        from werkzeug.wrappers import Request

        request = Request(environ)
        hits.append((request.method, request.path, request.args.to_dict()))
        if request.path == "/voice":
            body = '<Response><Redirect method="GET">next?step=2</Redirect></Response>'
        else:
            body = "<Response><Hangup/></Response>"
        start_response("200 OK", [("Content-Type", "application/xml")])
        return [body.encode()]

    result = Caller(WsgiTransport(app), URL).call([])
    assert result.outcome == "self_service"
    method, path, args = hits[1]
    assert (method, path) == ("GET", "/next")
    assert args["step"] == "2"
    assert args["CallStatus"] == "in-progress"


def test_relative_urls_resolve_against_the_document_url():
    app = create_app()
    make_caller(app).call([Press("2")])
    # waitUrl="wait" in the /gather document resolves to /wait, as Twilio does.
    assert "/wait" in [path for path, _ in app.config["HITS"]]


def test_caller_drives_the_app_over_real_http():
    app = create_app(auth_token="tok")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/voice"
        result = Caller(HttpTransport(timeout_s=5), url, auth_token="tok").call(
            [Press("3")]
        )
        assert result.outcome == "voicemail"
        bad = Caller(HttpTransport(timeout_s=5), url, auth_token="nope").call([])
        assert bad.outcome == "error"
        assert "403 Forbidden" in bad.error
    finally:
        server.shutdown()
        thread.join()


def test_unreachable_webhook_is_an_error_naming_the_url():
    result = Caller(HttpTransport(timeout_s=2), "http://127.0.0.1:9/voice").call([])
    assert result.outcome == "error"
    assert result.error.startswith("POST http://127.0.0.1:9/voice failed:")


def test_bad_keys_are_refused_when_the_script_is_written():
    with pytest.raises(ValueError, match="keys must be 0-9, # and \\*, got '1a'"):
        Press("1a")


def test_json_form_lists_outcome_queue_and_transcript():
    result = make_caller(create_app()).call([Press("2")])
    data = result.to_json()
    assert data["outcome"] == "queue"
    assert data["queue"] == "support"
    assert data["transcript"][0]["verb"] == "Say"


def test_a_session_runs_the_call_one_turn_at_a_time():
    from ivr.caller import CallSession

    session = CallSession(make_caller(create_app(), agent_after_rounds=3))
    first = session.start()
    assert [e["verb"] for e in first.entries] == ["Say"]
    assert first.gathering is not None and first.gathering.num_digits == 1
    assert not first.done
    second = session.send(Press("2"))
    assert second.entries[0] == {"verb": "Gather", "press": "2"}
    assert second.gathering is not None and second.gathering.in_queue
    last = session.send(Press("9"))
    assert last.done
    assert last.result.queue_result == "leave"
    assert last.entries[-1] == {"verb": "Hangup"}
    with pytest.raises(RuntimeError, match="the call has ended"):
        session.send(Press("1"))


def test_closing_a_session_hangs_up_the_waiting_call():
    from ivr.caller import CallSession

    session = CallSession(make_caller(create_app()))
    session.start()
    session.close()
    with pytest.raises(RuntimeError, match="the call has ended"):
        session.send(Press("1"))


def test_a_live_caller_asked_while_holding_decides_each_round_alone():
    app = create_app()
    asked = []

    def person(gathering):
        asked.append(gathering)
        if not gathering.in_queue:
            return Press("2")  # the menu: support
        if gathering.input:
            return Silence()  # the wait document's Gather
        return HangUp() if sum(not g.input for g in asked) == 2 else Silence()

    caller = make_caller(app, agent_after_rounds=5, asks_while_holding=True)
    result = caller.call(person)
    assert result.queue_result == "hangup"
    assert sum(1 for path, _ in app.config["HITS"] if path == "/wait") == 2
    assert {"verb": "Hangup", "by": "caller"} in result.transcript
    path, fields = app.config["HITS"][-1]
    assert (path, fields["QueueResult"]) == ("/queue-done", "hangup")
