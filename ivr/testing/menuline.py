"""A menu's own line, in this process: its web app answered by the Twilio-like caller.

``MenuLine`` is what ``ivr call MENU``, ``ivr test`` and the fuzzer ring: the menu's
Flask app built with a clock the caller controls (``--at``) and the trace header on,
so every call can say which nodes and options it reached. A fault the app hides
behind an apology is caught from its log and reported as an error, not a pass.

Several calls at once (callers, agents on the agent line, customers called back)
go through a lock-step :class:`~ivr.caller.Switchboard` from ``switchboard()``:
while it runs, the app's clock is the switchboard's, ``at`` plus the simulated
seconds, so the app sees waits grow, the line close, callbacks come due.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ivr.caller import (
    Answer,
    Caller,
    CallHandle,
    CallResult,
    Input,
    InputSource,
    Switchboard,
    WsgiTransport,
    request_fields,
)
from ivr.loader import MenuError, load_menu, menu_file_beside
from ivr.menu import GotoMenuNode, Menu
from ivr.roster import ROSTER_FILE

if TYPE_CHECKING:
    from ivr.web.menuset import MenuSet

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
    Given ``menus`` (a server's ``MenuSet``, as the console gives it), the app
    serves those menus, last good versions included, instead of reading files;
    ``menu_path`` picks the one a call rings.
    ``switchboard(at=...)``, ``caller(...)`` and ``run(board)`` make several calls
    meet (see :class:`~ivr.caller.Switchboard`); the app answers every number,
    told apart by the call's ``To`` as on Twilio.
    """

    def __init__(
        self,
        menu_path: str | Path,
        *,
        auth_token: str | None = None,
        recordings_dir: str | Path | None = None,
        menus: MenuSet | None = None,
    ):
        self.menu_path = menu_path
        self.auth_token = auth_token
        self.recordings_dir = recordings_dir
        self.menus = menus
        if menus is None:
            self.menu: Menu = load_menu(menu_path, recordings_dir)
        else:  # a server's menus as it serves them (the console's calls)
            self.menu = menus.by_path()[Path(menu_path).resolve()]
        self.timezone = self.menu.hours.timezone if self.menu.hours else "UTC"
        self._now: dt.datetime | None = None
        self._board: Switchboard | None = None
        self._solo: Caller | None = None
        config: dict[str, Any] = {
            "TESTING": True,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE": ":memory:",
            "KEEP_LAST_GOOD": False,
            # The menu, the menus it goes on in (goto_menu), and the agent
            # line of its folder if it has a roster (none read with ``menus``:
            # the server's set has them all).
            "MENUS": [str(menu_path)]
            if menus is not None
            else [
                str(menu_path),
                *map(str, self._others()),
                *map(str, self._roster()),
            ],
            "RECORDINGS": None if recordings_dir is None else str(recordings_dir),
            "CLOCK": self._clock,
            "EXPOSE_TRACE": True,
            "STORE_SYNC": True,  # the clock is simulated: no write may lag
            "MENU_SET": menus,
            # The line is its own: a server's settings in the environment
            # (its Twilio token, public URL, console) are not the line's.
            "TWILIO_AUTH_TOKEN": auth_token or None,
            "PUBLIC_URL": None,
            "TRUSTED_PROXIES": 0,
            "DEFAULT_MENU": None,
            "CONSOLE": False,
        }
        self.app = self._build_app(config)
        self.transport = WsgiTransport(self.app)
        self.url = "http://localhost/voice"
        if menus is not None:  # several menus: this one, whatever number it has
            self.url += f"?menu={urllib.parse.quote(self.menu.id)}"
        self._watch = _FaultWatch()
        self._watched = _WatchedTransport(self.app, self._watch)

    def _others(self) -> list[Path]:
        """The files of the menus this one goes on in (``goto_menu``), beside it,
        and those they go on in."""
        found: list[Path] = []
        todo = [self.menu]
        seen = {self.menu.id}
        while todo:
            menu = todo.pop()
            for node in menu.nodes.values():
                if not isinstance(node, GotoMenuNode) or node.menu in seen:
                    continue
                seen.add(node.menu)
                path = menu_file_beside(Path(menu.path), node.menu)
                if path is None:
                    continue  # the app's own check says so
                found.append(path)
                with contextlib.suppress(MenuError):  # reported when the app loads
                    todo.append(load_menu(path, self.recordings_dir))
        return found

    def _roster(self) -> list[Path]:
        roster = Path(self.menu_path).with_name(ROSTER_FILE)
        return [roster] if roster.is_file() else []

    def _build_app(self, config: dict[str, Any]) -> Any:
        from ivr.web import create_app  # Flask stays out of the pure core

        return create_app(config)

    def _clock(self) -> dt.datetime:
        if self._board is not None:
            return self._board.clock()
        if self._now is None:
            return dt.datetime.now(dt.UTC)
        elapsed = self._solo.elapsed_s if self._solo is not None else 0.0
        return self._now + dt.timedelta(seconds=elapsed)

    def fresh(self) -> MenuLine:
        """The same line with a new app: nothing the last calls stored remains."""
        return MenuLine(
            self.menu_path,
            auth_token=self.auth_token,
            recordings_dir=self.recordings_dir,
            menus=self.menus,
        )

    @property
    def account_numbers(self) -> tuple[str, ...]:
        """The Twilio numbers of the account the line runs on: valid callerIds."""
        runtime = self.app.extensions.get("ivr")
        agent_line = getattr(runtime, "agent_numbers", ())
        return self.menu.numbers + tuple(sorted(agent_line))

    @property
    def number(self) -> str:
        """The number a call to this menu dials (its first, or a stand-in)."""
        return (self.menu.numbers or ("+15005550001",))[0]

    def caller(
        self,
        *,
        from_number: str = DEFAULT_CALLER,
        to_number: str | None = None,
        auth_token: str | None = None,
        **caller_options: Any,
    ) -> Caller:
        """A caller for this line's app, for ``board.place(...)``; ``to_number``
        picks what the app answers (this menu by default, or an agent line)."""
        return Caller(
            self._watched,
            self.url,
            from_number=from_number,
            to_number=to_number or self.number,
            auth_token=auth_token,
            **caller_options,
        )

    def switchboard(
        self, *, at: dt.datetime | None = None, **options: Any
    ) -> Switchboard:
        """A lock-step switchboard whose clock the app follows from now on.

        The menu's numbers are the account's (valid ``<Dial callerId>``);
        ``options`` go to :class:`~ivr.caller.Switchboard`.
        """
        options.setdefault("numbers", self.account_numbers)
        board = Switchboard(at=at or dt.datetime.now(dt.UTC), **options)
        self._board = board
        return board

    def run(self, board: Switchboard) -> list[CallHandle]:
        """Run ``board``; a call during which the app hid a fault is an error."""
        logger = logging.getLogger("ivr.web")
        self._watch.faults.clear()
        logger.addHandler(self._watch)
        try:
            handles = board.run()
        finally:
            logger.removeHandler(self._watch)
        for handle in handles:
            result = handle.result
            faults = self._watch.faults.get(handle.call_sid)
            if result is not None and faults and result.outcome != "error":
                result.outcome = "error"
                result.error = (
                    "the app hit an internal fault and apologised: " + faults[0]
                )
        return handles

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
        # The app's clock starts at ``at`` and moves with the call's own
        # simulated time (holding 15 minutes takes no real time).
        self._now = at or dt.datetime.now(dt.UTC)
        self._board = None
        caller = self._solo = Caller(
            self.transport,
            self.url,
            from_number=from_number,
            to_number=to_number or self.number,
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


class _FaultWatch(logging.Handler):
    """The web layer's warnings and errors, by the CallSid of the request."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.current = threading.local()
        self.faults: dict[str, list[str]] = defaultdict(list)

    def emit(self, record: logging.LogRecord) -> None:
        sid = getattr(self.current, "sid", None)
        if not sid:
            return
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message += f" ({type(error).__name__}: {error})"
        self.faults[sid].append(message)


class _WatchedTransport(WsgiTransport):
    """The app's transport, noting which call each request belongs to."""

    def __init__(self, app: Callable[..., Any], watch: _FaultWatch) -> None:
        super().__init__(app)
        self.watch = watch

    def __call__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        self.watch.current.sid = request_fields(url, params).get("CallSid")
        try:
            return super().__call__(method, url, params, headers)
        finally:
            self.watch.current.sid = None
