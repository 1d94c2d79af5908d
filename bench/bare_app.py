"""The peer for bench/webhook.py: a bare Flask route returning constant TwiML."""

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/input" '
    'input="dtmf" numDigits="1" timeout="6"><Say>Press 1.</Say></Gather></Response>'
)

app = Flask(__name__)


@app.route("/voice", methods=["POST"])
def voice() -> Response:
    return Response(TWIML, mimetype="text/xml")
