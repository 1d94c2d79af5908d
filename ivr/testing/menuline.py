"""A menu's own line, in this process: its web app answered by the Twilio-like caller.

``MenuLine`` is what ``ivr call MENU``, ``ivr test`` and the fuzzer ring: the menu's
Flask app built with a clock the caller controls (``--at``) and the trace header on,
so every call can say which nodes and options it reached. A fault the app hides
behind an apology is caught from its log and reported as an error, not a pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.caller import Caller, CallResult, Input, InputSource, WsgiTransport
from ivr.loader import load_menu
from ivr.menu import Menu

__all__ = ["DEFAULT_CALLER", "MenuLine", "parse_clock"]

DEFAULT_CALLER = "+8613800000000"


def parse_clock(text: str, timezone: str) -> dt.datetime:
    """``"2026-11-27 23:30"`` in the menu's time zone (an explicit offset wins)."""
    try:
        when = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(
            f"clock must look like '2026-11-27 23:30', got {text!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    return when


class MenuLine:
    """A menu's phone line in this process: its web app and a caller for it.

    One app serves every call; ``call(at=...)`` moves the clock the app sees,
    which is how a scenario or ``ivr call --at`` lands outside opening hours.
    """

    def __init__(self, menu_path: str | Path, *, auth_token: str | None = None):
        from ivr.web import create_app  # Flask stays out of the pure core

        self.menu: Menu = load_menu(menu_path)
        self.timezone = self.menu.hours.timezone if self.menu.hours else "UTC"
        self._now: dt.datetime | None = None
        config: dict[str, Any] = {
            "TESTING": True,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE": ":memory:",
            "KEEP_LAST_GOOD": False,
            "MENUS": [str(menu_path)],
            "CLOCK": self._clock,
            "EXPOSE_TRACE": True,
        }
        if auth_token:
            config["TWILIO_AUTH_TOKEN"] = auth_token
        self.app = create_app(config)
        self.transport = WsgiTransport(self.app)
        self.url = "http://localhost/voice"

    def _clock(self) -> dt.datetime:
        return self._now or dt.datetime.now(dt.UTC)

    def call(
        self,
        inputs: Iterable[Input] | InputSource = (),
        *,
        at: dt.datetime | None = None,
        from_number: str = DEFAULT_CALLER,
        to_number: str | None = None,
        auth_token: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        **caller_options: Any,
    ) -> CallResult:
        """Ring the menu's line once; ``at`` is the clock the app sees."""
        self._now = at
        caller = Caller(
            self.transport,
            self.url,
            from_number=from_number,
            to_number=to_number or (self.menu.numbers or ("+15005550001",))[0],
            auth_token=auth_token,
            **caller_options,
        )
        faults = _FaultCatcher()
        logger = logging.getLogger("ivr.web")
        logger.addHandler(faults)
        try:
            result = caller.call(inputs, on_event=on_event)
        finally:
            logger.removeHandler(faults)
        if faults.messages and result.outcome != "error":
            # The app hid a fault from Twilio behind an apology: still a bug.
            result.outcome = "error"
            result.error = (
                "the app hit an internal fault and apologised: " + (faults.messages[0])
            )
        return result


class _FaultCatcher(logging.Handler):
    """Collects the web layer's warnings and errors during one call."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"
        self.messages.append(message)
