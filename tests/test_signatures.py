"""The signature check answers exactly as twilio's own ``RequestValidator``.

``ivr.web.security.Signatures`` prepares the auth token's HMAC once and checks
with the standard library; these tests hold it to the reference: every request
``RequestValidator.validate`` accepts is accepted and every one it refuses is
refused, for URLs with and without ports, behind a proxy, with fields that
repeat, are empty or not ASCII.
"""

from __future__ import annotations

import random
import urllib.parse
from urllib.parse import parse_qsl, urlparse

import pytest
from conftest import TOKEN, make_app
from twilio.request_validator import RequestValidator, add_port, remove_port
from werkzeug.datastructures import MultiDict

from ivr.web.hooks import parse_form
from ivr.web.security import Signatures, port_variants

HOSTS = ["ivr.example.com", "ivr.example.com:443", "ivr.example.com:80",
         "ivr.example.com:8443", "127.0.0.1:5000", "localhost", "LOCALHOST:80"]  # fmt: skip
PATHS = ["/voice", "/voice/input?s=abc%2Fdef&x=1", "/voice/wait?s=", "/voice?",
         "/ivr/voice/callback?s=t~1&p=3", "/voice/input?s=%E4%BD%A0", "/v;p=1"]  # fmt: skip
NAMES = ["CallSid", "Digits", "From", "SpeechResult", "To", "digits", "Ä"]
VALUES = ["", "1", "CA123", "+8613800000000", "退款", "a b&c=d", "1", "x" * 40]


def _request(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    url = f"{rng.choice(['http', 'https'])}://{rng.choice(HOSTS)}{rng.choice(PATHS)}"
    pairs = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randrange(6))]
    return url, pairs


def _variants(url: str) -> list[str]:
    """The URL Twilio may have signed: as is, with or without a port, another
    scheme or host (which must fail)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    default = "443" if parts.scheme == "https" else "80"
    return [
        url,
        parts._replace(netloc=host).geturl(),
        parts._replace(netloc=f"{host}:{default}").geturl(),
        parts._replace(netloc=f"{host}:8080").geturl(),
        parts._replace(scheme="https" if parts.scheme == "http" else "http").geturl(),
        url + "&extra=1",
    ]


def test_same_answer_as_twilios_request_validator_on_random_requests():
    rng = random.Random(14)
    reference = RequestValidator(TOKEN)
    ours = Signatures(TOKEN)
    accepted = refused = 0
    for _ in range(600):
        url, pairs = _request(rng)
        form = MultiDict(pairs)  # Flask's form: every value of a repeated name
        signed_pairs = list(pairs)
        if pairs and rng.random() < 0.2:  # a field changed after signing
            signed_pairs[0] = (pairs[0][0], pairs[0][1] + "9")
        signatures = [""]
        for variant in _variants(url):
            for token in (TOKEN, "another-token"):
                signatures.append(
                    RequestValidator(token).compute_signature(
                        variant, MultiDict(signed_pairs)
                    )
                )
        signatures.append(signatures[1][:-2] + "==")  # truncated
        signatures.append(signatures[1] + " ")
        for signature in signatures:
            expected = reference.validate(url, form, signature)
            assert ours.valid(url, pairs, signature) == expected, (url, pairs)
            as_dict = ours.valid(url, pairs, signature, dict(pairs))
            assert as_dict == expected, (url, pairs)
            accepted += expected
            refused += not expected
    assert accepted > 500 and refused > 3000  # both answers were exercised


def _twilios_variants(url: str) -> object:
    """twilio's (without the port, with it) for ``url``, or ValueError."""
    try:
        parsed = urlparse(url)
        return remove_port(parsed), add_port(parsed)
    except ValueError:
        return ValueError


def _our_variants(url: str) -> object:
    try:
        return port_variants(url)
    except ValueError:
        return ValueError


def test_the_url_with_and_without_its_port_is_twilios():
    rng = random.Random(5)
    pieces = ["http://", "https://", "HTTP://", "ftp://", "http:", "localhost",
              "ivr.example.com", ":", "80", "8443", "port", "[::1]", "[", "]", "@",
              "user", "é", "/voice", "/", "//", "?", "s=a%2Fb", "&p=1", "#", "#f",
              ";", ";p=1", "\t", "\n", " ", "~", "%41"]  # fmt: skip
    plain = ["/voice", "/", "//", "?", "s=a%2Fb", "&p=1", "~", "%41", "@", " ", "é"]
    tried = set()
    for _ in range(6000):
        url = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 9)))
        if rng.random() < 0.7:  # most like a webhook's
            url = rng.choice(pieces[:2]) + rng.choice(pieces[5:7]) + url
        if rng.random() < 0.4:  # a plain one
            url = "".join(
                rng.choice(p) for p in [pieces[:2], pieces[5:7], *[plain] * 4]
            )
        expected = _twilios_variants(url)
        assert _our_variants(url) == expected, url
        tried.add(expected is ValueError)
    assert tried == {True, False}


@pytest.mark.parametrize(
    "host", ["h.example:5000", "h.example:080", "h.example:0", "h.example:65535",
             "h.example:65536", "h.example:99999", "h.example:", "u@h.example:80"],
)  # fmt: skip
def test_ports_at_the_edges_give_twilios_variants(host):
    url = f"http://{host}/voice/input?s=abc"
    expected = _twilios_variants(url)
    assert _our_variants(url) == expected
    if expected is not ValueError:  # a request signed either way is Twilio's
        for signed in set(expected):  # type: ignore[arg-type]
            signature = RequestValidator(TOKEN).compute_signature(signed, FIELDS)
            assert Signatures(TOKEN).valid(url, list(FIELDS.items()), signature)


def test_a_url_whose_port_is_not_a_number_is_refused_not_raised():
    url = "http://localhost:port/voice"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert Signatures(TOKEN).valid(url, [], signature) is False
    assert Signatures(TOKEN).valid("http://localhost/voice", [], "签名") is False


# -- through the app: what Twilio requested, where the app sits -------------------

FIELDS = {"CallSid": "CA1", "From": "+8613800000000", "To": "+861000000000"}


def _signed_variants(url: str) -> list[str]:
    token = RequestValidator(TOKEN)
    return [token.compute_signature(v, FIELDS) for v in _variants(url)] + [
        RequestValidator("another").compute_signature(url, FIELDS)
    ]


@pytest.mark.parametrize(
    ("config", "base", "headers", "twilio_url"),
    [
        # Twilio called the app directly, on a port or not.
        ({}, "http://localhost", {}, "http://localhost/voice?x=1"),
        ({}, "http://localhost:8080", {}, "http://localhost:8080/voice?x=1"),
        ({}, "https://localhost:443", {}, "https://localhost:443/voice?x=1"),
        # Behind a proxy: the public URL rebuilds what Twilio requested.
        (
            {"PUBLIC_URL": "https://ivr.example.com"},
            "http://127.0.0.1:5000",
            {},
            "https://ivr.example.com/voice?x=1",
        ),
        # Behind a trusted proxy that forwards the scheme and host.
        (
            {"TRUSTED_PROXIES": 1},
            "http://127.0.0.1:5000",
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com"},
            "https://public.example.com/voice?x=1",
        ),
    ],
)
def test_the_app_accepts_what_request_validator_accepts(
    tmp_path, config, base, headers, twilio_url
):
    client = make_app(tmp_path, **config).test_client()
    reference = RequestValidator(TOKEN)
    answers = []
    for signature in _signed_variants(twilio_url):
        response = client.post(
            "/voice?x=1",
            base_url=base,
            data=FIELDS,
            headers={**headers, "X-Twilio-Signature": signature},
        )
        accepted = reference.validate(twilio_url, MultiDict(FIELDS), signature)
        assert response.status_code == (200 if accepted else 403), signature
        answers.append(accepted)
    assert True in answers and False in answers


# -- one pass over the form ---------------------------------------------------------


def test_the_form_reads_as_parse_qsl_reads_it():
    rng = random.Random(9)
    pieces = ["CallSid", "=", "&", "&&", "+", "%20", "%E4%BD%A0", "%zz", "%", "a",
              "退", "Digits=1", "=x", "SpeechResult=%E9%80%80+%E6%AC%BE", ";", "é",
              "From=%2B86", "%2b", "%3A%2F", "%7e", "%7", "%0A", "%aF", "%C3", "%26",
              "%3D", "%3d", "%25", "%2541"]  # fmt: skip
    for _ in range(6000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        assert parse_form(text) == parse_qsl(text, keep_blank_values=True), text
