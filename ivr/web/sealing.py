"""Sealing call state into the URLs Twilio posts back to us.

The app keeps no call in memory: each TwiML answer hands Twilio URLs that carry
the call's state, so the next webhook can go to any worker on any machine. The
state is encrypted and authenticated (AES-GCM), so a caller's digits marked
``sensitive`` never appear in clear in Twilio's logs or a proxy's, and a forged,
altered, truncated or day-old URL is refused.

A sealed state is also *bound to the call it was sealed for*, like a cloakroom
ticket that names its coat: the token says which request field must carry which
value (by default ``CallSid``, the call being answered). Posted by another call,
it is refused, so call A's variables (an account that passed the identity check)
never travel into call B. A document that another call will request names that
call's field instead: Twilio requests a ``<Dial><Queue url>`` document with the
*dequeued caller's* ``CallSid`` and the agent's call as ``DequeingCallSid``, and a
``<Number url>`` whisper with the called party's new ``CallSid`` and the dialling
call as ``ParentCallSid``; seal those with ``Binding("DequeingCallSid", agent)``
or ``Binding("ParentCallSid", agent)``.

The token (URL-safe base64, no padding) is a 6-byte header (format version, the
bound field, the second it was sealed), a 12-byte nonce that never repeats (a
random prefix per process and a counter), then the state as compact JSON
encrypted with AES-GCM and its 16-byte tag. The bound value is not in the
token: it is authenticated as associated data, with the header and the token's
kind, so the tag only checks out when the request carries the value it was
sealed for. The key is derived from the secret once per UTC day of sealing and
kept (one key, reused for every token of the day, not derived per token); a
token opens with the key of its own day. Tokens of another
format (the Fernet tokens of earlier versions) are refused like forged ones: a
call in progress during a deploy hears the fallback once, then goes on.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import itertools
import json
import os
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ivr.engine import CallState

__all__ = ["MIN_SECRET_CHARS", "BadState", "Binding", "Sealer"]

MAX_AGE_S = 24 * 3600  # no call lasts a day; older URLs are replays
CLOCK_SKEW_S = 60  # a token sealed this far "in the future" (another machine)
# A key anyone could guess lets anyone forge call state: token_urlsafe(32) is 43.
MIN_SECRET_CHARS = 32
VERSION = 1
# The request fields a state can be bound to (Twilio's names for a call), by code.
FIELDS = ("CallSid", "DequeingCallSid", "ParentCallSid")
_CODES = {name: code for code, name in enumerate(FIELDS)}
_HEADER = struct.Struct(">BBI")  # version, bound field, second sealed
_NONCE_BYTES, _TAG_BYTES = 12, 16
_DAY_S = 86400
_STATE = "state"  # the kind of a call state's token (the agent line has others)


def _compact_json() -> Any:
    """The pieces of ``json.dumps(payload, ensure_ascii=False, separators=(",",
    ":"))`` for ``(payload, 0)``, by an encoder set up once: ``json.dumps`` builds
    one (and json's C encoder inside it) on every call, most of what sealing a
    state would cost."""
    options = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    make = json.encoder.c_make_encoder
    if make is None:  # a Python without json's C accelerator
        return lambda payload, _: options.iterencode(payload)
    return make(
        None,  # no circular check: a payload is strings, numbers and one dict
        options.default,
        json.encoder.encode_basestring,
        None,
        options.key_separator,
        options.item_separator,
        options.sort_keys,
        options.skipkeys,
        options.allow_nan,
    )


_ENCODE = _compact_json()
_DECODE = json.JSONDecoder().raw_decode  # then the end is checked: one value
# URL-safe base64 from and to the standard alphabet (``base64.urlsafe_b64*``).
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


class _Nonces:
    """AES-GCM nonces that never repeat, without a system call per token.

    A nonce is a random 64-bit prefix, drawn once per process (again in a forked
    child, and after 2^32 nonces), then a 32-bit counter: unique within the
    process by the counter, across processes and machines sharing the key by
    the prefix (two of them drawing the same 64 bits is a 2^-64 chance).
    GCM needs nonces unique, not unpredictable.
    """

    LIMIT = 1 << 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fresh()

    def fresh(self) -> None:
        self._state = (os.urandom(_NONCE_BYTES - 4), itertools.count())

    def next(self) -> bytes:
        while True:
            state = self._state  # prefix and counter read together
            n = next(state[1])
            if n < self.LIMIT:
                return state[0] + n.to_bytes(4, "big")
            with self._lock:
                if self._state is state:
                    self.fresh()


_NONCES = _Nonces()
os.register_at_fork(after_in_child=_NONCES.fresh)


class BadState(Exception):
    """A state token that was forged, altered, truncated, too old or another call's."""


@dataclass(unsafe_hash=True)  # a value made per webhook, as ``ivr.engine``'s
class Binding:
    """The request field and value a sealed state may be opened with.

    ``Binding("CallSid", sid)`` (what ``for_call`` gives) for the call's own next
    webhook; another field of ``FIELDS`` for a document that another call
    requests.
    """

    field: str
    value: str

    @classmethod
    def for_call(cls, call_sid: str) -> Binding:
        return cls("CallSid", call_sid)

    def holds(self, fields: Mapping[str, str]) -> bool:
        """Whether a request with ``fields`` is the call this state was sealed for."""
        return fields.get(self.field, "") == self.value


class Sealer:
    """Seals ``CallState`` into URL-safe tokens with a secret key, and opens them.

    Refuses a secret shorter than ``MIN_SECRET_CHARS`` (an empty key would seal
    with a key everyone knows). ``clock`` gives seconds since the epoch (real
    time: a token's age is how long ago it was really sealed).
    """

    def __init__(self, secret: str | bytes, *, clock: Any = time.time) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"the secret key must be at least {MIN_SECRET_CHARS} characters, "
                f"got {len(secret.strip())}"
            )
        self._master = hashlib.sha256(b"ivr-state:" + secret).digest()
        self._keys: dict[int, AESGCM] = {}
        self._clock = clock

    def _key(self, day: int) -> AESGCM:
        """The AES-GCM key of UTC day ``day``, derived once and kept."""
        key = self._keys.get(day)
        if key is None:
            derived = hmac.digest(self._master, b"ivr-state-day:%d" % day, "sha256")
            key = AESGCM(derived)
            if len(self._keys) > 4:  # only today's and yesterday's are used
                self._keys = {d: k for d, k in self._keys.items() if d >= day - 1}
            self._keys[day] = key
        return key

    # -- the token ------------------------------------------------------------------

    def _seal(self, kind: str, payload: object, binding: Binding) -> str:
        code = _CODES.get(binding.field)
        if code is None:
            raise ValueError(
                f"a state can be bound to {', '.join(FIELDS)}, not {binding.field!r}"
            )
        now = int(self._clock())
        header = _HEADER.pack(VERSION, code, now)
        nonce = _NONCES.next()
        raw = "".join(_ENCODE(payload, 0)).encode()
        bound = b"%s%s\x00%s" % (header, kind.encode(), binding.value.encode())
        day = now // _DAY_S
        key = self._keys.get(day) or self._key(day)
        sealed = key.encrypt(nonce, raw, bound)
        token = binascii.b2a_base64(header + nonce + sealed, newline=False)
        return token.translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")

    def _open(self, token: str, kind: str, fields: Mapping[str, str]) -> Any:
        try:  # as ``base64.urlsafe_b64decode`` reads it (not ASCII: ValueError)
            padded = (token + "=" * (-len(token) % 4)).encode("ascii")
            data = binascii.a2b_base64(padded.translate(_FROM_URLSAFE))
        except (binascii.Error, ValueError) as error:
            raise BadState("the state in the URL is not valid") from error
        if len(data) < _HEADER.size + _NONCE_BYTES + _TAG_BYTES:
            raise BadState("the state in the URL is not valid (too short)")
        version, code, sealed_at = _HEADER.unpack_from(data)
        if version != VERSION or code >= len(FIELDS):
            raise BadState("the state in the URL is not valid (another format)")
        age = self._clock() - sealed_at
        if age > MAX_AGE_S or age < -CLOCK_SKEW_S:
            raise BadState("the state in the URL is too old")
        header = data[: _HEADER.size]
        nonce = data[_HEADER.size : _HEADER.size + _NONCE_BYTES]
        field = FIELDS[code]
        bound = b"%s%s\x00%s" % (header, kind.encode(), fields.get(field, "").encode())
        day = sealed_at // _DAY_S
        try:
            raw = (self._keys.get(day) or self._key(day)).decrypt(
                nonce, data[_HEADER.size + _NONCE_BYTES :], bound
            )
            text = raw.decode()
            payload, end = _DECODE(text)
            if end != len(text):
                raise ValueError("more than one JSON value")
            return payload
        except (InvalidTag, ValueError) as error:
            raise BadState(
                f"the state in the URL is not valid (forged, altered, or sealed for "
                f"another {field})"
            ) from error

    # -- call state -----------------------------------------------------------------

    def seal(self, state: CallState, binding: Binding) -> str:
        """A token for ``state`` that only a request matching ``binding`` opens."""
        payload: list[Any] = [state.menu, state.node, dict(state.variables)]
        if state.attempt or state.since is not None:
            payload.append(state.attempt)
        if state.since is not None:
            payload.append(state.since)
        return self._seal(_STATE, payload, binding)

    def open(self, token: str, fields: Mapping[str, str]) -> CallState:
        """The state in ``token``, posted with request ``fields``; else ``BadState``."""
        payload = self._open(token, _STATE, fields)
        try:
            menu, node, variables, *rest = payload
            since = rest[1] if len(rest) > 1 else None
            return CallState(
                str(menu),
                str(node),
                int(rest[0]) if rest else 0,
                {str(k): str(v) for k, v in variables.items()},
                None if since is None else float(since),
            )
        except (ValueError, TypeError, AttributeError) as error:
            raise BadState("the call state in the URL is not valid") from error

    # -- the agent line's tokens ------------------------------------------------------

    def seal_fields(
        self, kind: str, fields: Mapping[str, object], binding: Binding
    ) -> str:
        """Seal a few plain ``fields`` of a ``kind`` (the agent line's tokens: which
        agent, which piece of work), bound like a call state."""
        if kind == _STATE:
            raise ValueError(f"'{_STATE}' is the kind of call states")
        return self._seal(kind, dict(fields), binding)

    def open_fields(
        self, token: str, kind: str, request: Mapping[str, str]
    ) -> dict[str, Any]:
        """The fields ``seal_fields`` sealed for ``kind``, posted with ``request``
        fields that match its binding; ``BadState`` else (another kind included)."""
        data = self._open(token, kind, request)
        if not isinstance(data, dict):
            raise BadState(f"the state in the URL is not a {kind} state")
        return data
