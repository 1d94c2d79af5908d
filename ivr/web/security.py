"""Twilio request signatures: only Twilio may drive a call.

Twilio signs each webhook with the account's auth token over the full URL it
requested plus the POST fields (``X-Twilio-Signature``): HMAC-SHA1 of the URL
followed by each field's name and value, fields in name order. Behind a proxy
the URL the app sees differs from the one Twilio used, so ``PUBLIC_URL`` (or
trusted forwarded headers) rebuilds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlparse

from flask import Request
from twilio.request_validator import add_port, remove_port

__all__ = ["Signatures", "signed_url"]


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio requested and signed.

    The path and query come from the request line as received (``RAW_URI``,
    which gunicorn and werkzeug provide), not re-encoded, so they match what
    Twilio signed byte for byte.
    """
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        path = request.script_root + raw
    else:
        query = request.query_string.decode("latin-1")
        path = request.script_root + request.path + (f"?{query}" if query else "")
    if public_url:
        return public_url.rstrip("/") + path
    return f"{request.scheme}://{request.host}{path}"


class Signatures:
    """Checks ``X-Twilio-Signature`` with an auth token, prepared once.

    The same answers as twilio's ``RequestValidator(token).validate(url, form,
    signature)`` with Flask's multi-valued form: HMAC-SHA1 over the URL (as
    received without its port, then with its default port: Twilio signs
    either) followed by each field name and value in name order. What does not
    change between requests is worked out here once: the token's HMAC state
    (its padded key, hashed) is copied for each request instead of derived
    again, and the comparison is the standard library's. A URL whose port is
    not a number is refused (``validate`` would raise).
    """

    def __init__(self, token: str) -> None:
        self._mac = hmac.new(token.encode("utf-8"), digestmod=hashlib.sha1)

    def valid(self, url: str, pairs: Sequence[tuple[str, str]], signature: str) -> bool:
        """Whether ``signature`` is Twilio's for ``url`` and the POST ``pairs``
        (name, value) as received (a name may repeat)."""
        if not signature or not signature.isascii():  # base64 is ASCII
            return False
        params: dict[str, list[str]] = {}
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        tail = "".join(
            name + value
            for name in sorted(params)
            for value in sorted(set(params[name]))
        )
        expected = signature.encode("ascii")
        try:
            parsed = urlparse(url)
            without = remove_port(parsed)  # what Twilio signs, almost always
            if self._signs(without + tail, expected):
                return True
            with_port = add_port(parsed)
        except ValueError:  # a port that is not a number
            return False
        return with_port != without and self._signs(with_port + tail, expected)

    def _signs(self, text: str, expected: bytes) -> bool:
        mac = self._mac.copy()
        mac.update(text.encode("utf-8"))
        return hmac.compare_digest(base64.b64encode(mac.digest()), expected)
