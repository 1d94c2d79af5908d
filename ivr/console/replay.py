"""A console call played from its plan, up to the moment the phone waits again.

The console keeps no call running on the server. Each time the person at the
page acts, the call is played again from the start, the way a chess problem is
set up again from its moves: a fresh in-process copy of the server's menus (a
``MenuLine`` serving the server's ``MenuSet``, last good versions included), a
lock-step switchboard on the plan's clock, the caller fed the plan's moves. When
the moves run out and the phone waits for the person again, what happened so
far is the *snapshot* the page shows; the call is then hung up and forgotten.
Simulated time makes this exact: the same plan on the same menus plays the same
call, whichever worker plays it.

While the caller holds, the person may have an agent take the call: the plan
then places an agent's call on the same switchboard, from one of the roster's
phones to the agent line, at the moment it was asked for; the agent presses 1,
hears the briefing, is connected, talks a minute and hangs up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.caller import (
    Answer,
    CallResult,
    Gathering,
    HangUp,
    Input,
    Press,
    Ring,
    request_fields,
)
from ivr.caller.inputs import traced_variables
from ivr.console.plan import Plan, PlanError
from ivr.menu import Menu, QueueNode
from ivr.roster import Agent

__all__ = ["AGENT_TALK_S", "Moment", "Snapshot", "replay"]

AGENT_TALK_S = 60.0  # how long the simulated agent talks before hanging up
AGENT_INPUTS = (Press("1"), Press("9"))  # take the next caller; after it, stop


@dataclass(frozen=True)
class Moment:
    """One thing that happened, ``at_s`` simulated seconds into the call, to
    ``who`` (``caller``, ``agent`` or ``other``): a transcript entry of the
    caller (``{"verb": "Say", ...}``), or one of the console's own marks:
    ``{"verb": "Hold", "round": 2, ...}`` when a hold round begins and
    ``{"verb": "Node", ...}`` with the trace of an answer (the nodes entered)."""

    at_s: float
    who: str
    entry: dict[str, Any]


@dataclass
class Snapshot:
    """The call so far: what happened, and what the phone waits for now.

    ``gathering`` is set while the call waits for the person (``input == ()``:
    between two hold rounds); ``result`` once the call has ended. ``agents``
    are those of the roster who serve the queue the caller holds in.
    """

    plan: Plan
    menu: Menu
    moments: list[Moment]
    at_s: float
    gathering: Gathering | None = None
    result: CallResult | None = None
    traces: list[dict[str, Any]] = field(default_factory=list)
    agents: tuple[Agent, ...] = ()
    queue: tuple[str, str] | None = None  # (menu, queue) the caller holds in
    agent_results: list[CallResult] = field(default_factory=list)
    agent_names: dict[str, str] = field(default_factory=dict)  # by phone

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def nodes(self) -> list[tuple[str, str]]:
        """(menu, node) entered by the caller, in order."""
        return [
            (trace["menu"], node)
            for trace in self.traces
            if "menu" in trace
            for node in trace.get("nodes", ())
        ]

    @property
    def current(self) -> tuple[str, str] | None:
        """The node the caller is at: the last one entered."""
        nodes = self.nodes
        return nodes[-1] if nodes else None

    @property
    def variables(self) -> dict[str, Any]:
        return traced_variables(self.traces)


def replay(menus: Any, plan: Plan) -> Snapshot:
    """Play ``plan`` on ``menus`` (a server's ``MenuSet``) up to its next pause."""
    from ivr.testing.menuline import MenuLine  # builds a Flask app

    menu = menus.menus.get(plan.menu)
    if menu is None:
        raise PlanError(f"no menu '{plan.menu}' is served")
    line = MenuLine(menu.path, menus=menus)
    try:
        return _Replay(line, menus, menu, plan).run()
    finally:
        line.app.extensions["ivr"].store.close()


class _Replay:
    """One play of a plan: the switchboard, the moves fed, what was seen."""

    def __init__(self, line: Any, menus: Any, menu: Menu, plan: Plan) -> None:
        self.line, self.menus, self.menu, self.plan = line, menus, menu, plan
        self.board = line.switchboard(at=plan.at, unknown_number=Ring())
        self.moves = iter(plan.moves)
        self.moments: list[Moment] = []
        self.traces: list[dict[str, Any]] = []
        self.who: dict[str, str] = {}
        self.rounds: dict[str, int] = {}
        self.paused: tuple[float, Gathering, int, int] | None = None
        self.agent_names: dict[str, str] = {}

    def run(self) -> Snapshot:
        caller = self.line.caller(from_number=self.plan.caller, asks_while_holding=True)
        caller.transport = _Tap(caller.transport, self)
        handle = self.board.place(
            caller, self.person, on_event=lambda entry: self.note("caller", entry)
        )
        self.who[handle.call_sid] = "caller"
        for move in self.plan.agents:
            self.place_agent(move.value, move.at_s)
        self.line.run(self.board)
        snapshot = Snapshot(self.plan, self.menu, self.moments, self.board.now_s)
        snapshot.agent_names = self.agent_names
        snapshot.agent_results = [
            h.result
            for h in self.board.calls
            if self.who.get(h.call_sid) == "agent" and h.result is not None
        ]
        if self.paused is None:
            snapshot.result = handle.result
            snapshot.traces = self.traces
            return snapshot
        at_s, gathering, moments, traces = self.paused
        snapshot.at_s, snapshot.gathering = at_s, gathering
        snapshot.moments = self.moments[:moments]
        snapshot.traces = self.traces[:traces]
        if gathering.in_queue:
            snapshot.queue = self.holding_in(snapshot)
            roster = self.menus.roster
            if snapshot.queue and roster is not None and roster.numbers:
                snapshot.agents = roster.serving(*snapshot.queue)
        return snapshot

    def place_agent(self, phone: str, at_s: float) -> None:
        roster = self.menus.roster
        if roster is None or not roster.numbers:
            raise PlanError("no agent line: agents.yaml is missing or has no numbers")
        known = roster.agent_for(phone)
        if known is None:
            raise PlanError(f"no agent in {roster.path} calls from '{phone}'")
        self.agent_names[phone] = known.name
        agent = self.line.caller(from_number=phone, to_number=roster.numbers[0])
        agent.transport = _Tap(agent.transport, self)
        handle = self.board.place(
            agent,
            list(AGENT_INPUTS),
            at_s=at_s,
            talk_s=AGENT_TALK_S,
            on_event=lambda entry: self.note("agent", entry),
        )
        self.who[handle.call_sid] = "agent"

    def person(self, gathering: Gathering) -> Input:
        """The person at the page: the plan's next move, or a pause."""
        move = next(self.moves, None)
        if move is not None:
            return move.as_input()
        if self.paused is None:
            self.paused = (
                self.board.now_s,
                gathering,
                len(self.moments),
                len(self.traces),
            )
        return HangUp()  # the snapshot is taken: end this play of the call

    def note(self, who: str, entry: dict[str, Any]) -> None:
        self.moments.append(Moment(self.board.now_s, who, entry))

    def answered(self, params: Mapping[str, str], answer: Answer) -> None:
        """A webhook answered one of the calls: note a hold round and the trace."""
        sid = params.get("CallSid", "")
        who = self.who.get(sid, "other")
        if "QueuePosition" in params:
            self.rounds[sid] = self.rounds.get(sid, 0) + 1
            self.note(
                who,
                {
                    "verb": "Hold",
                    "round": self.rounds[sid],
                    "position": _int(params.get("QueuePosition")),
                    "waited_s": _int(params.get("QueueTime")),
                },
            )
        raw = answer.headers.get("x-ivr-trace")
        if not raw or who != "caller":
            return
        try:
            trace = json.loads(raw)
        except ValueError:
            return
        self.traces.append(trace)
        if trace.get("nodes"):
            self.note(who, {"verb": "Node", **trace})

    def holding_in(self, snapshot: Snapshot) -> tuple[str, str] | None:
        """The (menu, queue) of the queue node the caller is at, if any."""
        current = snapshot.current
        if current is None:
            return None
        menu = self.menus.menus.get(current[0])
        node = menu.nodes.get(current[1]) if menu is not None else None
        return (menu.id, node.queue) if isinstance(node, QueueNode) else None


class _Tap:
    """The caller's transport, telling the replay what each webhook answered."""

    def __init__(self, inner: Any, replay: _Replay) -> None:
        self.inner, self.replay = inner, replay

    def __call__(
        self,
        method: str,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        answer = self.inner(method, url, params, headers)
        self.replay.answered(request_fields(url, params), answer)
        return answer


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
