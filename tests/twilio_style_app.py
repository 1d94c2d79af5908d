"""A small voice app written the way Twilio's own docs write one (Flask + helper).

The caller has never seen this app: it is not built from a menu and shares no
code with ``ivr.web``. If the caller can drive it, it speaks Twilio's protocol,
not just ours. Sales (1) dials a number, support (2) queues with a wait message
that offers to leave the queue with 9, voicemail (3) records, and the caller may
also say "sales" or "support".

Agents ring the agent line (``/voice`` tells it by ``To``; ``/agent`` answers it
directly): 1 takes the first caller of the support queue
(``<Dial><Queue url>``), 2 calls a customer back (``<Dial callerId><Number
url>``) who hears a whisper and presses 1 to talk, 9 ends the shift. After each
conversation the agent is back at the prompt.
"""

from __future__ import annotations

from functools import wraps

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

SHOP_NUMBER = "+15005550001"  # the app's own Twilio number
AGENT_LINE = "+15005550002"  # agents ring this number (or /agent directly)
CUSTOMER = "+15005550010"  # the customer an agent calls back with 2


def create_app(
    auth_token: str | None = None,
    *,
    caller_id: str = SHOP_NUMBER,
    dial_timeout: int = 20,
) -> Flask:
    """The app; with ``auth_token`` every webhook checks X-Twilio-Signature.

    ``caller_id`` is the callerId of the callback Dial; ``dial_timeout`` the
    agent's Dial timeout.
    """
    app = Flask(__name__)
    app.config["HITS"] = []

    def validate_twilio_request(view):
        @wraps(view)
        def checked(*args, **kwargs):
            app.config["HITS"].append((request.path, request.values.to_dict()))
            if auth_token:
                validator = RequestValidator(auth_token)
                ok = validator.validate(
                    request.url,
                    request.form,
                    request.headers.get("X-Twilio-Signature", ""),
                )
                if not ok:
                    abort(403)
            return view(*args, **kwargs)

        return checked

    def twiml(response: VoiceResponse) -> Response:
        return Response(str(response), mimetype="text/xml")

    @app.route("/voice", methods=["GET", "POST"])
    @validate_twilio_request
    def voice():
        if request.values.get("To") == AGENT_LINE:
            return agent()
        resp = VoiceResponse()
        gather = Gather(num_digits=1, action="/gather", input="dtmf speech")
        gather.say("For sales, press 1. For support, press 2. To leave a message, 3.")
        resp.append(gather)
        resp.say("We did not receive any input.")
        resp.redirect("/voice")
        return twiml(resp)

    @app.route("/gather", methods=["POST"])
    @validate_twilio_request
    def gather():
        resp = VoiceResponse()
        choice = request.values.get("Digits") or {
            "sales": "1",
            "support": "2",
        }.get(request.values.get("SpeechResult", "").lower().strip(". "), "")
        if choice == "1":
            resp.say("Connecting you to sales.")
            dial = Dial(action="/dial-done", timeout=20)
            dial.number("+15005550009")
            resp.append(dial)
        elif choice == "2":
            resp.say("Please hold for support.")
            resp.enqueue("support", wait_url="wait", action="/queue-done")
        elif choice == "3":
            resp.say("Leave a message after the beep.")
            resp.record(max_length=30, action="/recorded")
        else:
            resp.say("Sorry, I don't understand that choice.")
            resp.redirect("/voice")
        return twiml(resp)

    @app.route("/wait", methods=["POST"])
    @validate_twilio_request
    def wait():
        resp = VoiceResponse()
        position = request.values.get("QueuePosition", "?")
        gather = Gather(num_digits=1, action="/wait-key", timeout=3)
        gather.say(f"You are number {position} in line. Press 9 to leave.")
        resp.append(gather)
        resp.pause(length=2)
        return twiml(resp)

    @app.route("/wait-key", methods=["POST"])
    @validate_twilio_request
    def wait_key():
        resp = VoiceResponse()
        if request.values.get("Digits") == "9":
            resp.leave()
        else:
            resp.say("Please keep holding.")
        return twiml(resp)

    @app.route("/queue-done", methods=["POST"])
    @validate_twilio_request
    def queue_done():
        resp = VoiceResponse()
        result = request.values.get("QueueResult")
        if result == "leave":
            resp.say("You left the queue. Goodbye.")
        else:
            resp.say(f"Queue result {result}. Goodbye.")
        resp.hangup()
        return twiml(resp)

    @app.route("/dial-done", methods=["POST"])
    @validate_twilio_request
    def dial_done():
        resp = VoiceResponse()
        if request.values.get("DialCallStatus") != "completed":
            resp.say("Sales is busy. Goodbye.")
        resp.hangup()
        return twiml(resp)

    @app.route("/agent", methods=["POST"])
    @validate_twilio_request
    def agent_line():
        return agent()

    def agent():
        resp = VoiceResponse()
        gather = Gather(num_digits=1, action="/agent-key", timeout=5)
        gather.say("Press 1 for the next caller, 2 to call back, 9 to stop.")
        resp.append(gather)
        resp.redirect("/agent")
        return twiml(resp)

    @app.route("/agent-key", methods=["POST"])
    @validate_twilio_request
    def agent_key():
        resp = VoiceResponse()
        digits = request.values.get("Digits")
        if digits == "1":
            dial = Dial(action="/agent-done", timeout=dial_timeout)
            dial.queue("support", url="/about-to-connect")
            resp.append(dial)
        elif digits == "2":
            dial = Dial(
                action="/callback-done", timeout=dial_timeout, caller_id=caller_id
            )
            dial.number(CUSTOMER, url="/whisper")
            resp.append(dial)
        else:
            resp.say("Goodbye.")
            resp.hangup()
        return twiml(resp)

    @app.route("/about-to-connect", methods=["POST"])
    @validate_twilio_request
    def about_to_connect():
        resp = VoiceResponse()
        waited = request.values.get("QueueTime")
        resp.say(f"You waited {waited} seconds. Connecting you to an agent.")
        return twiml(resp)

    @app.route("/agent-done", methods=["POST"])
    @validate_twilio_request
    def agent_done():
        resp = VoiceResponse()
        resp.say(f"Call ended: {request.values.get('DialCallStatus')}.")
        resp.redirect("/agent")
        return twiml(resp)

    @app.route("/whisper", methods=["POST"])
    @validate_twilio_request
    def whisper():
        resp = VoiceResponse()
        gather = Gather(num_digits=1, action="/whisper-key", timeout=5)
        gather.say("Example Shop is calling you back. Press 1 to talk to us.")
        resp.append(gather)
        resp.hangup()
        return twiml(resp)

    @app.route("/whisper-key", methods=["POST"])
    @validate_twilio_request
    def whisper_key():
        resp = VoiceResponse()
        if request.values.get("Digits") == "1":
            resp.say("Connecting.")
        else:
            resp.hangup()
        return twiml(resp)

    @app.route("/callback-done", methods=["POST"])
    @validate_twilio_request
    def callback_done():
        resp = VoiceResponse()
        resp.say(f"Callback {request.values.get('DialCallStatus')}.")
        resp.redirect("/agent")
        return twiml(resp)

    @app.route("/recorded", methods=["POST"])
    @validate_twilio_request
    def recorded():
        resp = VoiceResponse()
        seconds = request.values.get("RecordingDuration")
        resp.say(f"Thanks for your {seconds} second message.")
        resp.hangup()
        return twiml(resp)

    return app
