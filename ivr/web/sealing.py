"""Sealing call state into the URLs Twilio posts back to us.

The app keeps no call in memory: each TwiML answer hands Twilio URLs that carry
the call's state, so the next webhook can go to any worker on any machine. The
state is encrypted and authenticated (Fernet: AES with an HMAC), so a caller's
digits marked ``sensitive`` never appear in clear in Twilio's logs or a proxy's,
and a forged or altered URL is refused.

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
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from ivr.engine import CallState

__all__ = ["MIN_SECRET_CHARS", "BadState", "Binding", "Sealer"]

MAX_AGE_S = 24 * 3600  # no call lasts a day; older URLs are replays
# A key anyone could guess lets anyone forge call state: token_urlsafe(32) is 43.
MIN_SECRET_CHARS = 32


class BadState(Exception):
    """A state token that was forged, altered, truncated, too old or another call's."""


@dataclass(frozen=True)
class Binding:
    """The request field and value a sealed state may be opened with.

    ``Binding("CallSid", sid)`` (what ``for_call`` gives) for the call's own next
    webhook; another field for a document that another call requests.
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
    with a key everyone knows).
    """

    def __init__(self, secret: str | bytes) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"the secret key must be at least {MIN_SECRET_CHARS} characters, "
                f"got {len(secret.strip())}"
            )
        key = base64.urlsafe_b64encode(hashlib.sha256(b"ivr-state:" + secret).digest())
        self._fernet = Fernet(key)

    def seal(self, state: CallState, binding: Binding) -> str:
        """A token for ``state`` that only a request matching ``binding`` opens."""
        data = {
            "m": state.menu,
            "n": state.node,
            "v": dict(state.variables),
            "b": [binding.field, binding.value],
        }
        if state.attempt:
            data["a"] = state.attempt
        if state.since is not None:
            data["q"] = state.since
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode("ascii")

    def open(self, token: str, fields: Mapping[str, str]) -> CallState:
        """The state in ``token``, posted with request ``fields``; else ``BadState``."""
        try:
            raw = self._fernet.decrypt(token.encode("ascii"), ttl=MAX_AGE_S)
            data = json.loads(raw)
            if "k" in data:  # another kind of token (the agent line's)
                raise ValueError("not a call state")
            field, value = data["b"]
            variables = {str(k): str(v) for k, v in data.get("v", {}).items()}
            since = data.get("q")
            state = CallState(
                str(data["m"]),
                str(data["n"]),
                int(data.get("a", 0)),
                variables,
                None if since is None else float(since),
            )
        except (InvalidToken, ValueError, KeyError, TypeError, AttributeError) as error:
            raise BadState("the call state in the URL is not valid") from error
        if not Binding(str(field), str(value)).holds(fields):
            raise BadState(f"the call state in the URL belongs to another {field}")
        return state

    def seal_fields(
        self, kind: str, fields: Mapping[str, object], binding: Binding
    ) -> str:
        """Seal a few plain ``fields`` of a ``kind`` (the agent line's tokens: which
        agent, which piece of work), bound like a call state."""
        data = {"k": kind, "b": [binding.field, binding.value], **fields}
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode("ascii")

    def open_fields(
        self, token: str, kind: str, request: Mapping[str, str]
    ) -> dict[str, Any]:
        """The fields ``seal_fields`` sealed for ``kind``, posted with ``request``
        fields that match its binding; ``BadState`` else."""
        try:
            raw = self._fernet.decrypt(token.encode("ascii"), ttl=MAX_AGE_S)
            data = json.loads(raw)
            field, value = data.pop("b")
        except (InvalidToken, ValueError, TypeError, KeyError, AttributeError) as error:
            raise BadState("the state in the URL is not valid") from error
        if not isinstance(data, dict) or data.pop("k", None) != kind:
            raise BadState(f"the state in the URL is not a {kind} state")
        if not Binding(str(field), str(value)).holds(request):
            raise BadState(f"the state in the URL belongs to another {field}")
        return data
