"""Sealing call state into the URLs Twilio posts back to us.

The app keeps no call in memory: each TwiML answer hands Twilio URLs that carry
the call's state, so the next webhook can go to any worker on any machine. The
state is encrypted and authenticated (Fernet: AES with an HMAC), so a caller's
digits marked ``sensitive`` never appear in clear in Twilio's logs or a proxy's,
and a forged or altered URL is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from ivr.engine import CallState

__all__ = ["BadState", "Sealer"]

MAX_AGE_S = 24 * 3600  # no call lasts a day; older URLs are replays


class BadState(Exception):
    """A state token that was forged, altered, truncated or too old."""


class Sealer:
    """Seals ``CallState`` into URL-safe tokens with a secret key, and opens them."""

    def __init__(self, secret: str | bytes) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        key = base64.urlsafe_b64encode(hashlib.sha256(b"ivr-state:" + secret).digest())
        self._fernet = Fernet(key)

    def seal(self, state: CallState) -> str:
        data = {"m": state.menu, "n": state.node, "v": dict(state.variables)}
        if state.attempt:
            data["a"] = state.attempt
        if state.since is not None:
            data["q"] = state.since
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode("ascii")

    def seal_fields(self, kind: str, fields: Mapping[str, object]) -> str:
        """Seal a few plain ``fields`` of a given ``kind`` (the agent line's
        tokens: which agent, which piece of work), like a call state."""
        data = {"k": kind, **fields}
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return self._fernet.encrypt(raw).decode("ascii")

    def open_fields(self, token: str, kind: str) -> dict[str, Any]:
        """The fields sealed by ``seal_fields`` for ``kind``; ``BadState`` else."""
        try:
            raw = self._fernet.decrypt(token.encode("ascii"), ttl=MAX_AGE_S)
            data = json.loads(raw)
        except (InvalidToken, ValueError, TypeError) as error:
            raise BadState("the state in the URL is not valid") from error
        if not isinstance(data, dict) or data.pop("k", None) != kind:
            raise BadState(f"the state in the URL is not a {kind} state")
        return data

    def open(self, token: str) -> CallState:
        try:
            raw = self._fernet.decrypt(token.encode("ascii"), ttl=MAX_AGE_S)
            data = json.loads(raw)
            if "k" in data:  # another kind of token (the agent line's)
                raise ValueError("not a call state")
            variables = {str(k): str(v) for k, v in data.get("v", {}).items()}
            since = data.get("q")
            return CallState(
                str(data["m"]),
                str(data["n"]),
                int(data.get("a", 0)),
                variables,
                None if since is None else float(since),
            )
        except (InvalidToken, ValueError, KeyError, TypeError, AttributeError) as error:
            raise BadState("the call state in the URL is not valid") from error
