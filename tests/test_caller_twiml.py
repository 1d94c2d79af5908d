"""The caller refuses TwiML that Twilio would refuse or silently mishandle."""

from __future__ import annotations

import pytest

from ivr.caller import Caller, Press, WsgiTransport

URL = "https://example.test/voice"


def answering(body: str, status: str = "200 OK", content_type: str = "text/xml"):
    """A WSGI app that answers every request with ``body``."""

    def app(environ, start_response):
        start_response(status, [("Content-Type", content_type)])
        return [body.encode()]

    return app


def call(body: str, **kwargs):
    return Caller(WsgiTransport(answering(body, **kwargs)), URL).call([Press("1")])


MALFORMED = [
    ("<Speak>hello</Speak>", "root element is <Speak>, TwiML needs <Response>"),
    (
        "<Response><Speak>hello</Speak></Response>",
        "unknown verb <Speak>",
    ),
    (
        "<Response><HangUp/></Response>",
        "unknown verb <HangUp> (did you mean 'Hangup'?)",
    ),
    (
        "<Response><Gather><Dial>+15005550006</Dial></Gather></Response>",
        "<Dial> inside <Gather>: only <Say>, <Play> and <Pause> may be nested "
        "in <Gather>",
    ),
    (
        "<Response><Gather><Gather/></Gather></Response>",
        "<Gather> inside <Gather>: only <Say>, <Play> and <Pause> may be nested "
        "in <Gather>",
    ),
    (
        "<Response><Say>Hi <Play>a.mp3</Play></Say></Response>",
        "<Play> inside <Say>: verbs cannot be nested in <Say>",
    ),
    (
        '<Response><Gather numDigits="0"/></Response>',
        '<Gather numDigits="0">: numDigits must be a positive integer',
    ),
    (
        '<Response><Gather numDigits="one"/></Response>',
        '<Gather numDigits="one">: numDigits must be a positive integer',
    ),
    (
        '<Response><Gather timeout="5s"/></Response>',
        '<Gather timeout="5s">: timeout must be a positive integer',
    ),
    (
        '<Response><Gather speechTimeout="soon"/></Response>',
        '<Gather speechTimeout="soon">: speechTimeout must be an integer >= 0',
    ),
    (
        '<Response><Gather input="keys"/></Response>',
        "<Gather input=\"keys\">: input must be 'dtmf', 'speech' or 'dtmf speech'",
    ),
    (
        '<Response><Gather finishOnKey="##"/></Response>',
        '<Gather finishOnKey="##">: finishOnKey must be one of 0-9, #, * or empty',
    ),
    (
        '<Response><Say loop="-1">hi</Say></Response>',
        '<Say loop="-1">: loop must be an integer >= 0',
    ),
    (
        '<Response><Redirect method="PUT">/next</Redirect></Response>',
        '<Redirect method="PUT">: method must be GET or POST',
    ),
    (
        '<Response><Say language="Chinese">你好</Say></Response>',
        '<Say language="Chinese">: language must be a BCP-47 tag such as '
        "'en-US' or 'zh-CN'",
    ),
    (
        '<Response><Gather numdigits="1"/></Response>',
        "<Gather> has unknown attribute 'numdigits' (did you mean 'numDigits'?); "
        "Twilio would ignore it silently",
    ),
    (
        "<Response><Leave/></Response>",
        "<Leave> outside a waitUrl document: there is no queue to leave",
    ),
    (
        "<Response>Hello there</Response>",
        (
            "text 'Hello there' directly inside <Response> is not a verb; put it in "
            "a <Say>"
        ),
    ),
    ("<Response><Redirect/></Response>", "<Redirect> has no URL"),
    (
        "<Response><Enqueue/></Response>",
        "<Enqueue> names no queue and has no workflowSid",
    ),
    (
        "<Response><Dial><Phone>+1500</Phone></Dial></Response>",
        "<Phone> inside <Dial>: only <Application>, <Client>, <Conference>, "
        "<Number>, <Queue>, <Sim>, <Sip>, <WhatsApp> may be nested",
    ),
    (
        '<Response><Record maxLength="0"/></Response>',
        '<Record maxLength="0">: maxLength must be a positive integer',
    ),
    (
        '<Response><Pause length="1.5"/></Response>',
        '<Pause length="1.5">: length must be a positive integer',
    ),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED)
def test_malformed_twiml_is_refused_naming_the_element(body, message):
    result = call(body)
    assert result.outcome == "error"
    assert result.error == f"POST {URL}: {message}"


def test_there_are_at_least_fifteen_malformed_cases():
    assert len(MALFORMED) >= 15


def test_non_xml_answer_is_refused():
    result = call("Thanks for calling!")
    assert result.error == (
        f"POST {URL}: answer is not XML (syntax error: line 1, column 0): "
        "'Thanks for calling!'"
    )


def test_non_200_answer_is_refused_with_its_status():
    result = call("<Response/>", status="500 INTERNAL SERVER ERROR")
    assert result.error == f"POST {URL} answered HTTP 500, not 200"


def test_json_answer_is_refused_for_its_content_type():
    result = call('{"say": "hi"}', content_type="application/json")
    assert result.error == (
        f"POST {URL} answered Content-Type 'application/json', not TwiML "
        "(text/xml or application/xml)"
    )


def test_dial_in_a_wait_url_document_is_refused():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/xml")])
        if environ["PATH_INFO"] == "/wait":
            return [b"<Response><Dial>+15005550006</Dial></Response>"]
        return [b'<Response><Enqueue waitUrl="/wait">q</Enqueue></Response>']

    result = Caller(WsgiTransport(app), URL).call([])
    assert result.error == (
        "POST https://example.test/wait: <Dial> is not allowed in a waitUrl "
        "document (only <Gather>, <Hangup>, <Leave>, <Pause>, <Play>, "
        "<Redirect>, <Say>)"
    )


def test_a_redirect_loop_without_input_is_reported_as_a_loop():
    result = call("<Response><Redirect>/voice</Redirect></Response>")
    assert result.outcome == "error"
    assert result.error == (
        "40 webhook requests without any input from the caller (last "
        "https://example.test/voice): a loop that never ends"
    )


def test_ssml_inside_say_is_accepted():
    body = (
        '<Response><Say voice="Polly.Joanna">Hi <break time="1s"/>'
        "<prosody rate='slow'>there</prosody></Say></Response>"
    )
    result = call(body)
    assert result.error is None
    assert result.heard == ["Hi there"]


def test_play_of_a_missing_recording_is_a_warning_and_the_call_goes_on():
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/recordings/hi.wav":
            start_response("404 NOT FOUND", [("Content-Type", "text/html")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response><Play>/recordings/hi.wav</Play><Say>after</Say></Response>"]

    result = Caller(WsgiTransport(app), URL).call([])
    assert result.error is None
    assert result.outcome == "self_service"
    assert result.heard == ["after"]
    assert result.warnings == [
        "<Play> https://example.test/recordings/hi.wav: GET answered HTTP 404; "
        "Twilio cannot play it and goes on"
    ]


def test_twiml_over_64_kb_is_refused():
    body = "<Response><Say>" + "a" * 70_000 + "</Say></Response>"
    result = call(body)
    assert result.error == (
        f"POST {URL} answered 70032 bytes; Twilio refuses TwiML over 64 KB"
    )


def test_a_long_hold_is_not_mistaken_for_a_loop():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/xml")])
        if environ["PATH_INFO"] == "/wait":
            return [b'<Response><Say>hold</Say><Pause length="30"/></Response>']
        return [b'<Response><Enqueue waitUrl="/wait">q</Enqueue></Response>']

    caller = Caller(WsgiTransport(app), URL, agent_after_rounds=100)
    result = caller.call([])
    assert result.error is None
    assert result.queue_result == "bridged"
    assert result.heard.count("hold") == 100


def test_a_real_twilio_verb_the_caller_does_not_simulate_is_a_note_not_an_error():
    result = call(
        "<Response><Connect><Stream url='wss://x'/></Connect><Say>after</Say>"
        "</Response>"
    )
    assert result.error is None
    assert result.transcript[0] == {
        "verb": "Connect",
        "note": "not simulated: taken as ended at once; the call goes on with "
        "the next verb",
        "nouns": ["Stream"],
    }
    assert result.heard == ["after"]


def test_in_process_play_of_audio_on_another_host_is_not_fetched_from_the_app():
    hits = []

    def app(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<Response><Play>https://cdn.example.org/hold.mp3</Play></Response>"]

    result = Caller(WsgiTransport(app), URL).call([])
    assert result.error is None
    assert result.transcript == [
        {"verb": "Play", "url": "https://cdn.example.org/hold.mp3"}
    ]
    assert hits == ["/voice"]
