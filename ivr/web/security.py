"""Twilio request signatures: only Twilio may drive a call.

Twilio signs each webhook with the account's auth token over the full URL it
requested plus the POST fields (``X-Twilio-Signature``). Behind a proxy the URL the
app sees differs from the one Twilio used, so ``PUBLIC_URL`` (or trusted forwarded
headers) rebuilds it.
"""

from __future__ import annotations

from flask import Request
from twilio.request_validator import RequestValidator, compare

__all__ = ["signed_url", "valid_signature"]


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio requested and signed."""
    if public_url:
        query = request.query_string.decode("latin-1")
        return public_url.rstrip("/") + request.path + (f"?{query}" if query else "")
    return request.url


def valid_signature(request: Request, token: str, public_url: str | None) -> bool:
    """Whether the request carries a valid ``X-Twilio-Signature`` for ``token``."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = request.form.to_dict(flat=True) if request.method == "POST" else {}
    url = signed_url(request, public_url)
    validator = RequestValidator(token)
    # The URL as received almost always matches: one HMAC instead of the several
    # port variants `validate` tries; fall back to it for the odd ones.
    if compare(validator.compute_signature(url, params), signature):
        return True
    return validator.validate(url, params, signature)
