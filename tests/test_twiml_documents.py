"""``ivr call URL`` carries out every valid TwiML document and refuses bad ones.

The documents are built with twilio's own ``VoiceResponse`` (every verb and
noun, SSML, media streams, enhanced speech gathers, audio that cannot be
fetched) and served over loopback HTTP, as a designer's own webhook would be.
"""

from __future__ import annotations

import io
import json
import threading
import wave
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from twilio.twiml.voice_response import (
    Client,
    Connect,
    Dial,
    Enqueue,
    Gather,
    Pay,
    Refer,
    Say,
    Sip,
    Start,
    Stop,
    VoiceResponse,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ivr.cli.call import command

DONE = "<Response><Say>done</Say></Response>"


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\0" * 8000)
    return buffer.getvalue()


def _say_ssml() -> VoiceResponse:
    response = VoiceResponse()
    say = Say("Your order", voice="Polly.Joanna", language="en-US", loop=1)
    say.break_(strength="medium", time="500ms")
    say.emphasis("has shipped", level="strong")
    say.lang("Bonjour", xml_lang="fr-FR")
    say.p("A paragraph.")
    say.phoneme("tomato", alphabet="ipa", ph="təˈmeɪtoʊ")
    say.prosody("slowly", volume="loud", rate="slow", pitch="low")
    say.s("A sentence.")
    say.say_as("12345", interpret_as="digits")
    say.sub("W3C", alias="World Wide Web Consortium")
    say.w("read", role="amazon:VBD")
    response.append(say)
    return response


def _gather_enhanced() -> VoiceResponse:
    response = VoiceResponse()
    gather = Gather(
        input="speech dtmf",
        action="/end",
        method="POST",
        timeout=5,
        speech_timeout="auto",
        max_speech_time=30,
        profanity_filter=True,
        finish_on_key="#",
        num_digits=1,
        partial_result_callback="/partial",
        partial_result_callback_method="POST",
        language="en-US",
        hints="order, refund",
        barge_in=True,
        debug=False,
        action_on_empty_result=False,
        speech_model="phone_call",
        enhanced=True,
    )
    gather.say("Say order or refund.", voice="Polly.Joanna")
    gather.play("/audio/ok.wav", loop=1)
    gather.pause(length=1)
    response.append(gather)
    return response


def _dial(**nouns: object) -> Callable[[], VoiceResponse]:
    def build() -> VoiceResponse:
        response = VoiceResponse()
        dial = Dial(
            action="/end",
            method="POST",
            timeout=20,
            hangup_on_star=True,
            time_limit=600,
            caller_id="+15005550006",
            record="record-from-answer-dual",
            trim="trim-silence",
            recording_status_callback="/recording",
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
            answer_on_bridge=True,
            ring_tone="cn",
            recording_track="both",
            sequential=False,
        )
        kind = nouns["kind"]
        if kind == "number":
            dial.number(
                "+15005550007",
                send_digits="wwww1928",
                url="/whisper",
                method="POST",
                status_callback_event="initiated ringing answered completed",
                status_callback="/status",
                status_callback_method="POST",
                machine_detection="Enable",
                amd_status_callback="/amd",
            )
        elif kind == "client":
            client = Client(url="/whisper", status_callback="/status")
            client.identity("li.na")
            client.parameter(name="topic", value="orders")
            dial.append(client)
        elif kind == "sip":
            sip = Sip("sip:agent@example.com", username="u", password="p")
            dial.append(sip)
        elif kind == "conference":
            dial.conference(
                "room-1",
                muted=False,
                beep="onEnter",
                start_conference_on_enter=True,
                end_conference_on_exit=False,
                wait_url="/hold",
                wait_method="POST",
                max_participants=10,
                record="record-from-start",
                region="us1",
                coach="CA" + "0" * 32,
                trim="trim-silence",
                status_callback_event="start end join leave",
                status_callback="/conf",
                recording_status_callback="/recording",
                event_callback_url="/events",
                jitter_buffer_size="small",
                participant_label="customer",
            )
        elif kind == "queue":
            dial.queue(
                "support", url="/about", method="POST", reservation_sid="WR" + "0" * 32
            )
        elif kind == "sim":
            dial.sim("DE" + "0" * 32)
        response.append(dial)
        return response

    return build


def _enqueue() -> VoiceResponse:
    response = VoiceResponse()
    response.enqueue(
        "support",
        action="/end",
        method="POST",
        wait_url="/wait",
        wait_url_method="POST",
        max_queue_size=50,
    )
    return response


def _enqueue_task() -> VoiceResponse:
    response = VoiceResponse()
    enqueue = Enqueue(workflow_sid="WW" + "0" * 32, action="/end")
    enqueue.task('{"topic": "orders"}', priority=5, timeout=300)
    response.append(enqueue)
    return response


def _record() -> VoiceResponse:
    response = VoiceResponse()
    response.say("Leave a message after the tone.")
    response.record(
        action="/end",
        method="POST",
        timeout=5,
        finish_on_key="#",
        max_length=120,
        play_beep=True,
        trim="do-not-trim",
        recording_status_callback="/recording",
        recording_status_callback_method="POST",
        recording_status_callback_event="completed absent",
        transcribe=True,
        transcribe_callback="/transcript",
    )
    return response


def _start() -> VoiceResponse:
    response = VoiceResponse()
    start = Start(action="/started", method="POST")
    stream = start.stream(
        name="agent-assist",
        url="wss://stream.example.com/audio",
        track="both_tracks",
        status_callback="/stream",
        status_callback_method="POST",
    )
    stream.parameter(name="menu", value="shop")
    start.siprec(name="rec", connector_name="SIPREC1", track="both_tracks")
    start.transcription(
        name="live",
        track="inbound_track",
        status_callback_url="/transcription",
        language_code="en-US",
        partial_results=True,
        profanity_filter=True,
        speech_model="telephony",
        hints="order",
        enable_automatic_punctuation=True,
    )
    start.recording(recording_status_callback="/rec", trim="trim-silence")
    response.append(start)
    response.say("We record this call.")
    stop = Stop()
    stop.stream(name="agent-assist")
    response.append(stop)
    response.hangup()
    return response


def _connect() -> VoiceResponse:
    response = VoiceResponse()
    connect = Connect(action="/end")
    connect.stream(url="wss://bot.example.com")
    response.append(connect)
    relay = Connect()
    relay.conversation_relay(
        url="wss://ai.example.com", welcome_greeting="Hi", language="en-US"
    )
    response.append(relay)
    room = Connect()
    room.room("support-room", participant_identity="caller")
    response.append(room)
    return response


def _pay() -> VoiceResponse:
    response = VoiceResponse()
    pay = Pay(
        charge_amount="10.00",
        currency="usd",
        payment_connector="Default",
        action="/paid",
        timeout=5,
        max_attempts=2,
        valid_card_types="visa mastercard",
        language="en-US",
    )
    prompt = pay.prompt(for_="payment-card-number", attempt=1)
    prompt.say("Enter your card number.")
    response.append(pay)
    response.say("Thank you.")
    return response


def _refer() -> VoiceResponse:
    response = VoiceResponse()
    refer = Refer(action="/end")
    refer.sip("sip:alice@example.com")
    response.append(refer)
    response.say("Referred.")
    return response


def _simple(build: Callable[[VoiceResponse], object]) -> Callable[[], VoiceResponse]:
    def make() -> VoiceResponse:
        response = VoiceResponse()
        build(response)
        return response

    return make


VALID: dict[str, Callable[[], VoiceResponse]] = {
    "say": _simple(
        lambda r: r.say("欢迎", voice="Polly.Zhiyu", language="cmn-CN", loop=2)
    ),
    "say_ssml": _say_ssml,
    "play": _simple(lambda r: (r.play("/audio/ok.wav", loop=2), r.play(digits="1w2"))),
    "play_unreachable": _simple(
        lambda r: (
            r.play("/audio/missing.mp3"),
            r.play("http://127.0.0.1:9/nothing.wav"),
            r.say("still here"),
        )
    ),
    "pause": _simple(lambda r: (r.pause(length=2), r.say("after the pause"))),
    "gather_enhanced": _gather_enhanced,
    "gather_dtmf": _simple(
        lambda r: r.gather(num_digits=4, finish_on_key="*", timeout=3, action="/end")
    ),
    "dial_plain": _simple(lambda r: r.dial("+15005550007", action="/end")),
    "dial_number": _dial(kind="number"),
    "dial_client": _dial(kind="client"),
    "dial_sip": _dial(kind="sip"),
    "dial_conference": _dial(kind="conference"),
    "dial_queue": _dial(kind="queue"),
    "dial_sim": _dial(kind="sim"),
    "enqueue": _enqueue,
    "enqueue_task": _enqueue_task,
    "hangup": _simple(lambda r: (r.say("bye"), r.hangup())),
    "redirect": _simple(lambda r: r.redirect("/end", method="GET")),
    "reject": _simple(lambda r: r.reject(reason="busy")),
    "record": _record,
    "sms": _simple(
        lambda r: (r.sms("Your order shipped", to="+15005550006", action="/end"),)
    ),
    "start_stop": _start,
    "connect": _connect,
    "pay": _pay,
    "refer": _refer,
    "echo": _simple(lambda r: (r.echo(), r.say("echoed"))),
}

MALFORMED: dict[str, tuple[str, str]] = {
    "misspelt_attribute": (
        '<Response><Gather bargein="true"/></Response>',
        "<Gather> has unknown attribute 'bargein' (did you mean 'bargeIn'?); "
        "Twilio would ignore it silently",
    ),
    "bad_boolean": (
        '<Response><Gather enhanced="yes"/></Response>',
        '<Gather enhanced="yes">: enhanced must be true or false',
    ),
    "bad_record_value": (
        '<Response><Dial record="always">+15005550007</Dial></Response>',
        '<Dial record="always">: record must be one of do-not-record, false, '
        "record-from-answer, record-from-answer-dual, record-from-ringing, "
        "record-from-ringing-dual, true",
    ),
    "noun_as_verb": (
        "<Response><Number>+15005550007</Number></Response>",
        "<Number> is not a verb: it belongs inside <Dial>",
    ),
    "stream_as_verb": (
        '<Response><Stream url="wss://x"/></Response>',
        "<Stream> is not a verb: it belongs inside <Connect> or <Start> or <Stop>",
    ),
    "messaging_twiml": (
        "<Response><Message>hi</Message></Response>",
        "<Message> is messaging TwiML (a reply to a text); during a call use "
        "<Sms>, or the REST API",
    ),
    "say_in_start": (
        "<Response><Start><Say>hi</Say></Start></Response>",
        "<Say> inside <Start>: only <Recording>, <Siprec>, <Stream>, "
        "<Transcription> may be nested",
    ),
    "unknown_stream_attribute": (
        '<Response><Start><Stream url="wss://x" tracks="both"/></Start></Response>',
        "<Stream> has unknown attribute 'tracks' (did you mean 'track'?); "
        "Twilio would ignore it silently",
    ),
    "unknown_ssml_attribute": (
        '<Response><Say>a <break tim="1s"/> b</Say></Response>',
        "<break> inside <Say> has unknown attribute 'tim' (did you mean 'time'?)",
    ),
    "verb_in_dial": (
        "<Response><Dial><Say>hi</Say></Dial></Response>",
        "<Say> inside <Dial>: only <Application>, <Client>, <Conference>, "
        "<Number>, <Queue>, <Sim>, <Sip>, <WhatsApp> may be nested",
    ),
    "misspelt_verb": (
        "<Response><Gahter/></Response>",
        "unknown verb <Gahter> (did you mean 'Gather'?)",
    ),
}

WAIT = "<Response><Say>please hold</Say><Leave/></Response>"


def _app(environ, start_response):
    request = Request(environ)
    path = request.path
    if path.startswith("/doc/"):
        name = path.removeprefix("/doc/")
        body = str(VALID[name]()) if name in VALID else MALFORMED[name][0]
        response = Response(body, content_type="text/xml")
    elif path == "/audio/ok.wav":
        response = Response(_wav(), content_type="audio/wav")
    elif path.startswith("/audio/"):
        response = Response("not found", status=404, content_type="text/html")
    elif path == "/wait":
        response = Response(WAIT, content_type="text/xml")
    else:  # every action, whisper and queue document
        response = Response(DONE, content_type="text/xml")
    return response(environ, start_response)


@pytest.fixture(scope="module")
def base():
    server = make_server("127.0.0.1", 0, _app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/doc/"
    server.shutdown()
    thread.join()


def ivr_call(url: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        command, [url, "--say", "order", "--press", "1234", "--json"]
    )
    return result.exit_code, json.loads(result.output)


def test_the_documents_are_twilios_own_and_cover_every_verb():
    verbs = set()
    for build in VALID.values():
        root = ET.fromstring(str(build()))
        verbs |= {element.tag for element in root}
    assert verbs == {
        "Say", "Play", "Pause", "Gather", "Dial", "Enqueue", "Hangup", "Redirect",
        "Reject", "Record", "Sms", "Start", "Stop", "Connect", "Pay", "Refer", "Echo",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(VALID))
def test_a_valid_twiml_document_is_carried_out_without_error(base, name):
    status, data = ivr_call(base + name)
    assert status == 0, data
    assert data["outcome"] != "error"
    assert "error" not in data


def test_enhanced_speech_gather_hears_the_caller_and_posts_speech(base):
    _, data = ivr_call(base + "gather_enhanced")
    gathers = [e for e in data["transcript"] if e["verb"] == "Gather"]
    assert gathers == [{"verb": "Gather", "say": "order"}]
    assert data["transcript"][-1] == {"verb": "Say", "text": "done"}


def test_ssml_is_said_as_its_words(base):
    _, data = ivr_call(base + "say_ssml")
    said = data["transcript"][0]["text"]
    assert said.startswith("Your order")
    assert "has shipped" in said and "World Wide Web" not in said


def test_unreachable_audio_is_a_warning_and_the_call_goes_on(base):
    _, data = ivr_call(base + "play_unreachable")
    assert data["outcome"] == "self_service"
    assert data["transcript"][-1] == {"verb": "Say", "text": "still here"}
    assert data["warnings"][0] == (
        f"<Play> {base.removesuffix('/doc/')}/audio/missing.mp3: GET answered "
        "HTTP 404; Twilio cannot play it and goes on"
    )
    assert data["warnings"][1].startswith(
        "<Play> http://127.0.0.1:9/nothing.wav: cannot fetch the audio"
    )


def test_start_stream_is_a_note_and_the_call_goes_on(base):
    _, data = ivr_call(base + "start_stop")
    assert [e["verb"] for e in data["transcript"]] == ["Start", "Say", "Stop", "Hangup"]
    assert data["transcript"][0] == {
        "verb": "Start",
        "note": "not simulated: Twilio starts it beside the call, which goes on",
        "nouns": ["Stream", "Siprec", "Transcription", "Recording"],
    }


def test_sms_is_sent_and_its_action_answered(base):
    _, data = ivr_call(base + "sms")
    assert data["transcript"] == [
        {"verb": "Sms", "to": "+15005550006", "text": "Your order shipped"},
        {"verb": "Say", "text": "done"},
    ]


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_document_is_refused_naming_the_element(base, name):
    status, data = ivr_call(base + name)
    assert status == 1
    assert data["outcome"] == "error"
    assert data["error"] == f"POST {base}{name}: {MALFORMED[name][1]}"
