"""Twilio request signatures: only Twilio may drive a call.

Twilio signs each webhook with the account's auth token over the full URL it
requested plus the POST fields (``X-Twilio-Signature``): HMAC-SHA1 of the URL
followed by each field's name and value, fields in name order. Behind a proxy
the URL the app sees differs from the one Twilio used, so ``PUBLIC_URL`` (or
trusted forwarded headers) rebuilds it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlparse

from flask import Request
from twilio.request_validator import add_port, remove_port

__all__ = ["Signatures", "port_variants", "signed_url"]

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
# The scheme, host and port of a plain URL (``_plain``): an ASCII host, and a
# port of digits or none.
_PLAIN_START = re.compile(
    r"(https?)://([^/?#;:\[\]\t\r\n\x80-\U0010ffff]+)(?::([0-9]{1,5}))?(?=[/?]|\Z)"
)


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


def port_variants(url: str) -> tuple[str, str]:
    """``url`` as Twilio may have signed it: without its port, and with it.

    What twilio's ``remove_port`` and ``add_port`` give for ``urlparse(url)``
    (the URL put back together by ``geturl``, the default port of the scheme
    added when it has none), ``ValueError`` for a port that is not a number.
    A plain URL (``_plain``) is worked out by string operations; anything else
    goes through twilio's own functions.
    """
    plain = _plain(url)
    if plain is not None:
        other = _other_variant(*plain)
        return (other, url) if plain[2] is not None else (url, other)
    parsed = urlparse(url)
    return remove_port(parsed), add_port(parsed)


def _plain(url: str) -> tuple[str, str, str | None, str] | None:
    """The scheme, host, port (None without one) and rest of a URL that
    ``urlparse`` and ``geturl`` give back unchanged, else None: http or https,
    an ASCII host, a port from 1 to 65535 or none, then a path and query
    without a fragment, ``;`` parameters, the tabs and line ends that
    ``urlsplit`` removes, or an empty query that ``geturl`` drops."""
    start = _PLAIN_START.match(url)
    if (
        start is None
        or "#" in url
        or ";" in url
        or "\t" in url
        or "\r" in url
        or "\n" in url
        or url.endswith("?")
    ):
        return None
    scheme, host, port = start.groups()
    if port is not None and not 0 < int(port) <= 65535:
        return None  # 0 and out of range: twilio's functions say what they mean
    return scheme, host, port, url[start.end() :]


def _other_variant(scheme: str, host: str, port: str | None, rest: str) -> str:
    """Of the two URLs Twilio may have signed for a ``_plain`` one, the one that
    is not the URL itself: without its port if it has one, else with its
    scheme's default port."""
    if port is not None:
        return f"{scheme}://{host}{rest}"
    return f"{scheme}://{host}{_DEFAULT_PORTS[scheme]}{rest}"


class Signatures:
    """Checks ``X-Twilio-Signature`` with an auth token, prepared once.

    The same answers as twilio's ``RequestValidator(token).validate(url, form,
    signature)`` with Flask's multi-valued form: HMAC-SHA1 over the URL (with
    and without its port, the URL as received first: Twilio signs either)
    followed by each field name and value in name order. What does not
    change between requests is worked out here once: the token's HMAC state
    (its padded key, hashed) is copied for each request instead of derived
    again (cheaper than even the one-shot ``hmac.digest``, which OpenSSL sets
    up anew), and the comparison is the standard library's. A URL whose port
    is not a number is refused (``validate`` would raise).
    """

    def __init__(self, token: str) -> None:
        self._mac = hmac.new(token.encode("utf-8"), digestmod=hashlib.sha1)

    def valid(
        self,
        url: str,
        pairs: Sequence[tuple[str, str]],
        signature: str,
        form: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether ``signature`` is Twilio's for ``url`` and the POST ``pairs``
        (name, value) as received (a name may repeat); ``form``, the same pairs
        as a dict if the caller has it, spares sorting pairs when no name
        repeats."""
        if not signature or not signature.isascii():  # base64 is ASCII
            return False
        # Each name in order, each of its values in order, a repeated pair once:
        # the pairs sorted, without repeats (the names alone if none repeats).
        if form is not None and len(form) == len(pairs):
            names = sorted(form)
            tail = "".join(map(str.__add__, names, map(form.__getitem__, names)))
        else:
            tail = "".join([name + value for name, value in sorted(set(pairs))])
        expected = signature.encode("ascii")
        plain = _plain(url)
        if plain is not None:  # the URL as requested first: what Twilio signed
            return self._signs(url + tail, expected) or self._signs(
                _other_variant(*plain) + tail, expected
            )
        try:
            without, with_port = port_variants(url)
        except ValueError:  # a port that is not a number
            return False
        if self._signs(without + tail, expected):
            return True
        return with_port != without and self._signs(with_port + tail, expected)

    def _signs(self, text: str, expected: bytes) -> bool:
        mac = self._mac.copy()
        mac.update(text.encode("utf-8"))
        digest = binascii.b2a_base64(mac.digest(), newline=False)
        return hmac.compare_digest(digest, expected)
