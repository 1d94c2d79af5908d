"""How a call's control flow ends or turns, shared by the call loop and the
verbs that cross calls (``ivr.caller.handover``)."""

from __future__ import annotations

import secrets

__all__ = ["LEAVE", "Ended", "LoopError", "WebhookError", "new_sid"]


class WebhookError(Exception):
    """A webhook answered something Twilio cannot use: not 200, not TwiML, nothing."""


class LoopError(Exception):
    """A document chain that would run for ever."""


class Ended(Exception):
    """The call is over; ``by`` says who ended it: ``caller`` or ``app``."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


LEAVE = object()  # what running a waitUrl document returns after <Leave>


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)
