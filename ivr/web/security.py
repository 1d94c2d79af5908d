"""Twilio request signatures: only Twilio may drive a call.

Twilio signs each webhook with the account's auth token over the full URL it
requested plus the POST fields (``X-Twilio-Signature``). Behind a proxy the URL the
app sees differs from the one Twilio used, so ``PUBLIC_URL`` (or trusted forwarded
headers) rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Request
from twilio.request_validator import RequestValidator, compare

__all__ = ["signed_url", "valid_signature"]


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio requested and signed.

    The path and query come from the request line as received (``RAW_URI``,
    which gunicorn and werkzeug provide), not re-encoded, so they match what
    Twilio signed byte for byte.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        path = request.script_root + raw
    else:
        query = request.query_string.decode("latin-1")
        path = request.script_root + request.path + (f"?{query}" if query else "")
    if public_url:
        return public_url.rstrip("/") + path
    return f"{request.scheme}://{request.host}{path}"


def valid_signature(
    url: str, params: Mapping[str, str], signature: str, token: str
) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and the POST ``params``."""
    if not signature:
        return False
    validator = RequestValidator(token)
    # The URL as received almost always matches: one HMAC instead of the several
    # port variants `validate` tries; fall back to it for the odd ones.
    if compare(validator.compute_signature(url, dict(params)), signature):
        return True
    return validator.validate(url, dict(params), signature)
