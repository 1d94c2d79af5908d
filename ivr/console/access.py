"""Who may use the console: the person at this machine, or whoever has the password.

The console shows every menu and rings them at will, so it is never open to
the internet by default. ``ivr serve`` turns it on for a server on a loopback
address; there, without a password, a request is let in only if it is plainly
local: from a loopback address, naming a loopback host (a web page elsewhere
cannot reach it by rebinding its own domain to 127.0.0.1) and carrying no
proxy's forwarding headers (a reverse proxy or tunnel on the same machine
would otherwise make the whole internet local).

With ``IVR_CONSOLE_PASSWORD`` set the console is on whatever the address, and
asks for the password: by HTTP Basic authentication (any user name: the
browser's own dialog, ``curl -u``), or by the login form, which sets a signed
cookie for twelve hours (HttpOnly, SameSite=Strict, for ``/console`` only). The
cookie is signed with the server's secret key over a digest of the password,
so changing the password logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = [
    "COOKIE",
    "COOKIE_MAX_AGE_S",
    "is_local",
    "login_cookie",
    "password_matches",
    "password_of",
    "verdict",
]

COOKIE = "ivr_console"
COOKIE_MAX_AGE_S = 12 * 3600
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
FORWARDING = ("X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "X-Real-Ip")


def password_of(config: Any) -> str | None:
    """The console's password, if set (as text: IVR_* values may parse as JSON)."""
    value = config.get("CONSOLE_PASSWORD")
    if value is None or value is False or str(value) == "":
        return None
    return str(value)


def is_local(request: Any) -> bool:
    """Whether ``request`` plainly comes from this machine, not through a proxy."""
    if any(request.headers.get(name) for name in FORWARDING):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
        return False
    host = request.host.rsplit(":", 1)[0] if "]" not in request.host else None
    if host is None:  # [::1]:5000
        host = request.host.split("]")[0].lstrip("[")
    return host.lower() in LOOPBACK_NAMES


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="ivr-console-login")


def _mark(password: str) -> str:
    return hashlib.sha256(("ivr-console:" + password).encode()).hexdigest()


def login_cookie(secret: str, password: str) -> str:
    """The cookie value that lets its holder in while the password stays."""
    return _serializer(secret).dumps(_mark(password))


def _cookie_ok(request: Any, secret: str, password: str) -> bool:
    token = request.cookies.get(COOKIE)
    if not token:
        return False
    try:
        mark = _serializer(secret).loads(token, max_age=COOKIE_MAX_AGE_S)
    except BadSignature:
        return False
    return isinstance(mark, str) and hmac.compare_digest(mark, _mark(password))


def _basic_ok(request: Any, password: str) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.password is None:
        return False
    return hmac.compare_digest(auth.password.encode(), password.encode())


def verdict(request: Any, config: Any) -> str:
    """``ok``, ``login`` (the password is needed) or ``local-only``."""
    password = password_of(config)
    if password is None:
        return "ok" if is_local(request) else "local-only"
    if _basic_ok(request, password):
        return "ok"
    if _cookie_ok(request, str(config["SECRET_KEY"]), password):
        return "ok"
    return "login"


def password_matches(given: str, config: Any) -> bool:
    """Whether the login form's ``given`` password is the console's."""
    password = password_of(config)
    if password is None:
        return False
    return hmac.compare_digest(given.encode(), password.encode())
