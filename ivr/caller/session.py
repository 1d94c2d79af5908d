"""A call taken one turn at a time, for front ends that cannot block on input.

``Caller.call`` pulls the caller's inputs as it goes, which suits a script or a
terminal. A browser console works the other way round: the page sends an input,
the server answers with what was heard next. ``CallSession`` turns one into the
other, like a walkie-talkie: the call runs in its own thread and stops at each
``<Gather>``; ``start()`` and ``send()`` return what was heard up to the next
question (or the end of the call).

On a lock-step :class:`~ivr.caller.switchboard.Switchboard` the session's call
is one of several: the switchboard runs in the session's thread, and while the
person at the front end thinks, simulated time stands still for every call.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from ivr.caller.call import Caller
from ivr.caller.inputs import CallResult, Gathering, HangUp, Input
from ivr.caller.switchboard import CallHandle, Switchboard

__all__ = ["CallSession", "Turn"]


@dataclass
class Turn:
    """What happened since the last input: new transcript entries, then either
    the question the phone waits on (``gathering``) or the finished ``result``."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    gathering: Gathering | None = None
    result: CallResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None


class CallSession:
    """One call driven turn by turn: ``start()``, then ``send(input)`` until done.

    ``timeout_s`` bounds each wait for the app, so a stuck webhook cannot hang
    the front end; ``close()`` hangs up a call that is still waiting for input.
    With ``switchboard`` the call is placed on it ``at_s`` simulated seconds in
    (beside the calls already placed there) and ``start()`` runs the switchboard;
    ``handle`` is then this call's handle.
    """

    def __init__(
        self,
        caller: Caller,
        *,
        timeout_s: float = 30.0,
        switchboard: Switchboard | None = None,
        at_s: float = 0.0,
    ) -> None:
        self.caller = caller
        self.timeout_s = timeout_s
        self.switchboard = switchboard
        self.at_s = at_s
        self.handle: CallHandle | None = None
        self._inputs: queue.Queue[Input | None] = queue.Queue()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._done = False

    def start(self) -> Turn:
        """Dial: run the call up to the first question."""
        if self._thread is not None:
            raise RuntimeError("the call has already started")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self._collect()

    def send(self, item: Input | None) -> Turn:
        """Answer the current question (``None`` hangs up); run to the next one."""
        if self._thread is None:
            raise RuntimeError("start() the call before sending input")
        if self._done:
            raise RuntimeError("the call has ended")
        self._inputs.put(item)
        return self._collect()

    def close(self) -> None:
        """Hang up if the call still waits for the caller."""
        if self._thread is not None and not self._done:
            self._inputs.put(HangUp())
            self._thread.join(self.timeout_s)
            self._done = True

    def _run(self) -> None:
        def source(gathering: Gathering) -> Input | None:
            self._events.put(("ask", gathering))
            return self._inputs.get()

        def on_event(entry: dict[str, Any]) -> None:
            self._events.put(("entry", entry))

        try:
            if self.switchboard is None:
                result = self.caller.call(source, on_event=on_event)
            else:
                self.handle = self.switchboard.place(
                    self.caller, source, at_s=self.at_s, on_event=on_event
                )
                self.switchboard.run()
                assert self.handle.result is not None
                result = self.handle.result
        except Exception as error:  # never leave the front end waiting
            result = CallResult(outcome="error", error=f"caller failed: {error}")
        self._events.put(("done", result))

    def _collect(self) -> Turn:
        turn = Turn()
        while True:
            try:
                kind, value = self._events.get(timeout=self.timeout_s)
            except queue.Empty:
                raise TimeoutError(
                    f"the call made no progress in {self.timeout_s} s"
                ) from None
            if kind == "entry":
                turn.entries.append(value)
            elif kind == "ask":
                turn.gathering = value
                return turn
            else:
                turn.result = value
                self._done = True
                return turn
