"""A day of calls through the real webhooks, without a phone: a store to look at.

``ivr simulate`` plays a day out in numbers; ``ring_day`` plays it out as calls.
The day's callers (the traffic file's calls per interval, times ``scale``) ring
the menu's own web app in this process through the Twilio-like caller, on one
lock-step switchboard whose clock the app follows, so the store fills with what
``ivr serve`` would have written on that day: events, waiters, callbacks, call
records. Agents are on it too: a roster is made for the day (each queue's day
plan of agents, times ``scale``) and each agent rings the agent line at the start
of their shift, presses 1 for the next caller until it ends, then 9.

Each caller behaves the way the traffic file says callers behave (``ivr.traffic``):
at a menu they press an option by its ``share`` (or the file's ``branches``),
or stay silent at the ``no_input`` rate; after a lookup found their record they
hang up at the next menu at the ``satisfied`` rate. What they type at an ``ask``
is chosen by trying candidates on the pure engine (real keys of the menu's CSV
data, the caller's own record, random digits) and picking a way on by the
file's shares (``found`` for lookups, ``branches``; a route rule the file does
not share out is taken as often as the others, as the walk takes it half the
time). In a queue they hold for an exponential patience with the queue's mean,
take a callback offer half the time, and talk for an exponential handle time;
called back, they answer four times in five.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ivr import engine, queueing
from ivr.caller import (
    Caller,
    Gathering,
    HangUp,
    Input,
    Press,
    Ring,
    Silence,
    Switchboard,
    WsgiTransport,
)
from ivr.engine import CallContext, Dial, Enqueue, Gather, Reply
from ivr.loader import load_menu
from ivr.lookup import Lookups
from ivr.menu import AskNode, CsvSource, LookupNode, Menu, MenuNode, RouteNode
from ivr.report import expected_shares
from ivr.traffic import TrafficPlan, arrival_times, walk_callers

__all__ = ["CALLBACK_TAKE", "PICKS_UP", "DayCalls", "ring_day", "scaled_staff"]

CALLBACK_TAKE = 0.5  # share of callback offers a holding caller accepts
PICKS_UP = 0.8  # share of callbacks the customer answers
AGENT_LINE = "+861000099999"  # the day's agent line (not a menu's number)
TAIL_S = 3 * 3600.0  # after the last arrival: holds, talks, callbacks go on
URL = "http://localhost/voice"


@dataclass
class DayCalls:
    """What ``ring_day`` did: calls placed, agents' shifts, webhook requests."""

    callers: int
    agent_shifts: int
    requests: int
    store: str


@dataclass
class _Plan:
    inputs: list[Input]
    queue: str | None = None
    transfer: str | None = None


class _Planner:
    """Chooses each caller's number and inputs by walking the pure engine."""

    def __init__(self, menu: Menu, plan: TrafficPlan, rng: np.random.Generator):
        self.menu, self.plan, self.rng = menu, plan, rng
        self.lookups = Lookups()
        self.keys: dict[str, list[str]] = {}
        self.digits: dict[str, list[str]] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {}
        for source in menu.data.values():
            if isinstance(source, CsvSource):
                with open(source.path, newline="", encoding="utf-8-sig") as handle:
                    rows = [
                        {k.strip(): (v or "").strip() for k, v in row.items() if k}
                        for row in csv.DictReader(handle)
                    ]
                self.rows[source.id] = {row.get(source.key, ""): row for row in rows}
                self.keys[source.id] = [r.get(source.key, "") for r in rows]
                self.digits[source.id] = sorted(
                    {v for r in rows for v in r.values() if v.isdigit()}
                )
        self.by_caller = [
            node.data
            for node in menu.nodes.values()
            if isinstance(node, LookupNode)
            and node.key.strip() == "{caller}"
            and node.data in self.keys
        ]

    def number(self) -> str:
        """A caller's number: one the data knows at the ``found`` rate."""
        if self.by_caller and self.rng.random() < self.plan.found:
            keys = self.keys[self.by_caller[0]]
            if keys:
                return keys[int(self.rng.integers(len(keys)))]
        return "+86139" + "".join(str(d) for d in self.rng.integers(0, 10, 8))

    def share(self, node_id: str, target: str) -> float:
        """How often the traffic file sends callers from ``node_id`` to ``target``."""
        node = self.menu.nodes[node_id]
        given = self.plan.branches.get(node_id)
        if given is not None:
            return given.get(target, 0.0)
        if isinstance(node, LookupNode):
            found = self.plan.found
            return found if target == node.found else 1 - found
        return 1.0  # a route rule the file does not share out

    def call(self, when: dt.datetime, number: str) -> _Plan:
        menu, rng, plan = self.menu, self.rng, self.plan
        ctx = CallContext(now=when, caller=number, lookup=self.lookups)
        step = engine.start(menu, ctx)
        inputs: list[Input] = []
        answered = False
        replay = False
        for _ in range(60):
            answered = answered or self._found(step.nodes)
            action = step.action
            if isinstance(action, Enqueue):
                return _Plan(inputs, queue=action.queue)
            if isinstance(action, Dial):
                return _Plan(inputs, transfer=action.number)
            if not isinstance(action, Gather):
                return _Plan(inputs)  # a voicemail or the goodbye: nothing to do
            node = menu.nodes[step.state.node]
            content = answered and not replay and isinstance(node, MenuNode)
            if content and rng.random() < plan.satisfied:
                inputs.append(HangUp())
                return _Plan(inputs)
            if rng.random() < plan.no_input:
                reply, item = Reply(), Silence()
            elif isinstance(node, MenuNode):
                key = self._option(node)
                reply, item = Reply(digits=key), Press(key)
            else:
                assert isinstance(node, AskNode)
                typed = self._typed(node, step.state, ctx) + node.finish_on_key
                reply, item = Reply(digits=typed), Press(typed)
            inputs.append(item)
            step = engine.resume(menu, step.state, reply, ctx)
            replay = isinstance(item, Silence) and step.state.node == node.id
        return _Plan(inputs)

    def _found(self, nodes: tuple[str, ...]) -> bool:
        for here, there in itertools.pairwise(nodes):
            node = self.menu.nodes[here]
            if isinstance(node, LookupNode) and there == node.found:
                return True
        return False

    def _option(self, node: MenuNode) -> str:
        given = self.plan.branches.get(node.id)
        if given is not None:
            weights = [given.get(o.goto, 0.0) for o in node.options]
        else:
            expected = expected_shares(node)
            weights = [expected[o.key] for o in node.options]
        total = sum(weights)
        if total <= 0:
            weights, total = [1.0] * len(node.options), float(len(node.options))
        pick = self.rng.random() * total
        for option, weight in zip(node.options, weights, strict=True):
            pick -= weight
            if pick < 0:
                return option.key
        return node.options[-1].key

    def _typed(self, node: AskNode, state: engine.CallState, ctx: CallContext) -> str:
        """Digits for an ask: try candidates on the engine, pick a way on by share."""
        rng = self.rng
        low, high = node.min_digits, node.max_digits
        length = int(rng.integers(low, high + 1)) if high - low < 4 else high
        candidates = {"".join(str(d) for d in rng.integers(0, 10, length))}
        if low <= 1:
            candidates.update(str(d) for d in range(10))
        for source_id, keys in self.keys.items():
            for pool in (keys, self.digits[source_id]):
                fit = [k for k in pool if k.isdigit() and low <= len(k) <= high]
                for index in rng.permutation(len(fit))[:12]:
                    candidates.add(fit[index])
        for source_id in self.by_caller:
            own = self.rows[source_id].get(ctx.caller, {})
            candidates.update(
                v for v in own.values() if v.isdigit() and low <= len(v) <= high
            )
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        weight: dict[tuple[str, ...], float] = {}
        for typed in sorted(candidates):
            step = engine.resume(
                self.menu, state, Reply(digits=typed + node.finish_on_key), ctx
            )
            if step.state.node == node.id and step.nodes[-1:] == (node.id,):
                continue  # refused: the ask asks again
            groups[step.nodes].append(typed)
            weight[step.nodes] = math.prod(
                self.share(a, b)
                for a, b in itertools.pairwise(step.nodes)
                if isinstance(self.menu.nodes[a], LookupNode | RouteNode)
            )
        if not groups:
            return next(iter(candidates))
        paths = sorted(groups)
        weights = np.array([weight[p] for p in paths], float)
        if weights.sum() <= 0:
            weights = np.ones(len(paths))
        chosen = paths[int(rng.choice(len(paths), p=weights / weights.sum()))]
        options = groups[chosen]
        return options[int(rng.integers(len(options)))]


def scaled_staff(
    menu: Menu, plan: TrafficPlan, scale: float, seed: int = 1
) -> dict[str, list[int]]:
    """Agents per queue and interval for the day at ``scale``.

    A tenth of the calls does not need a tenth of the agents (small queues
    need more agents per call), so each interval gets the fewest agents that
    give the scaled calls the service level the day plan gives the whole day,
    by Erlang A hour by hour (at least one while the plan has any).
    """
    journeys = walk_callers(menu, plan, seed=seed)
    per_hour = 3600.0 / plan.interval_s
    staff: dict[str, list[int]] = {}
    for queue in menu.queues.values():
        mine = journeys.ready_s[journeys.queue == queue.id]
        counts = np.histogram(
            mine, bins=len(plan.calls), range=(0, len(plan.calls) * plan.interval_s)
        )[0]
        row = []
        for i, count in enumerate(counts):
            planned = queue.agents_at(plan.interval_start(i).time())
            if planned <= 0 or count == 0:
                row.append(0 if planned <= 0 else 1)  # one answers a quiet hour
                continue
            rate = float(count) * per_hour
            level = queueing.figures(
                rate, queue.handle_time_s, planned, queue.patience_s
            ).service_level
            needed = queueing.staff(
                max(rate * scale, 1e-6), queue.handle_time_s,
                patience_s=queue.patience_s,
                service_level=min(max(level, 0.05), 0.95),
            ).agents  # fmt: skip
            row.append(max(1, needed))
        staff[queue.id] = row
    return staff


def _roster(menu: Menu, staffing: Mapping[str, list[int]], plan: TrafficPlan,
            folder: Path):  # fmt: skip
    """The day's agents as shifts (agent, phone, from, to), and their roster."""
    shifts: list[tuple[str, str, float, float]] = []  # agent, phone, from, to
    lines = [f'numbers: ["{AGENT_LINE}"]', "agents:"]
    count = 0
    for queue in menu.queues.values():
        staff = staffing[queue.id]
        for k in range(1, max(staff, default=0) + 1):
            count += 1
            agent = f"{queue.id}-{k}"
            phone = f"+86170{count:08d}"
            lines.append(
                f'  - {{id: "{agent}", name: "{agent}", phones: ["{phone}"], '
                f'serves: ["{menu.id}/{queue.id}"]}}'
            )
            on = [s >= k for s in staff] + [False]
            start = None
            for i, working in enumerate(on):
                if working and start is None:
                    start = i
                elif not working and start is not None:
                    shifts.append(
                        (agent, phone, start * plan.interval_s, i * plan.interval_s)
                    )
                    start = None
    path = folder / "agents.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, shifts


def ring_day(
    menu_path: str | Path,
    plan: TrafficPlan,
    store: str,
    *,
    scale: float = 1.0,
    seed: int = 1,
    recordings_dir: str | Path | None = None,
) -> DayCalls:
    """Ring the day of ``plan`` (calls times ``scale``) through ``menu_path``'s
    web app, writing to ``store`` (a SQLite path or a PostgreSQL URL)."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be > 0 and <= 1, got {scale}")
    from ivr.web import create_app  # Flask stays out of the pure core

    menu = load_menu(menu_path, recordings_dir)
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(menu.hours.timezone) if menu.hours else dt.UTC
    day_start = dt.datetime.combine(plan.day, plan.start, tzinfo=tz)
    scaled = TrafficPlan(
        plan.day, plan.start, plan.interval_s, tuple(c * scale for c in plan.calls),
        plan.no_input, plan.found, plan.satisfied, plan.branches,
    )  # fmt: skip
    arrivals = arrival_times(scaled, rng)
    window = len(plan.calls) * plan.interval_s
    board = Switchboard(
        at=day_start.astimezone(dt.UTC),
        numbers=(*menu.numbers, AGENT_LINE),
        until_s=window + TAIL_S,
    )
    with tempfile.TemporaryDirectory(prefix="ivr-day-") as folder:
        staffing = scaled_staff(menu, plan, scale, seed)
        roster, shifts = _roster(menu, staffing, plan, Path(folder))
        app = create_app(
            {
                "MENUS": [str(menu_path), str(roster)],
                "RECORDINGS": None if recordings_dir is None else str(recordings_dir),
                "SECRET_KEY": secrets.token_urlsafe(16),
                "DATABASE": store,
                "CLOCK": board.clock,
                "STORE_SYNC": True,  # simulated time: every write lands at once
            }
        )
    transport = _Counted(app)
    status_url = URL + "/status"
    planner = _Planner(menu, plan, rng)
    rings: dict[str, list[Ring]] = defaultdict(list)
    to_number = (menu.numbers or ("+15005550001",))[0]
    for arrival in arrivals:
        number = planner.number()
        when = day_start + dt.timedelta(seconds=float(arrival))
        call = planner.call(when.astimezone(dt.UTC), number)
        patience = talk = None
        if call.queue is not None:
            queue = menu.queues[call.queue]
            talk = float(rng.exponential(queue.handle_time_s))
            if queue.patience_s:
                patience = float(rng.exponential(queue.patience_s))
            for _ in range(queue.callback_attempts):
                answer = "picks-up" if rng.random() < PICKS_UP else "no-answer"
                talk_s = float(rng.exponential(queue.handle_time_s))
                rings[number].append(Ring(answer=answer, talk_s=talk_s))
        if call.transfer is not None:
            rings[call.transfer].append(Ring(talk_s=float(rng.exponential(180.0))))
        caller = Caller(
            transport, URL, from_number=number, to_number=to_number,
            patience_s=patience, status_callback=status_url, fetch_audio=False,
        )  # fmt: skip
        board.place(caller, _Script(call.inputs, rng), at_s=float(arrival), talk_s=talk)
    for number, answers in rings.items():
        board.phone(number, *answers)
    for _agent, phone, start, end in shifts:
        caller = Caller(
            transport, URL, from_number=phone, to_number=AGENT_LINE,
            status_callback=status_url, fetch_audio=False, max_requests=10**6,
        )  # fmt: skip
        shift = _Shift(board, end)
        board.place(caller, shift, at_s=start, on_event=shift.heard)
    board.run()
    app.extensions["ivr"].store.close()
    return DayCalls(len(arrivals), len(shifts), transport.requests, store)


class _Script:
    """A caller's inputs: the planned ones in the menu; in a queue, the callback
    offer taken at ``CALLBACK_TAKE``, else they hold."""

    def __init__(self, inputs: list[Input], rng: np.random.Generator) -> None:
        self.inputs = iter(inputs)
        self.rng = rng

    def __call__(self, gathering: Gathering) -> Input | None:
        if gathering.in_queue:
            return Press("1") if self.rng.random() < CALLBACK_TAKE else None
        return next(self.inputs, None)


class _Shift:
    """An agent: 1 for the next caller until the shift ends, then 9.

    While the line says nobody waits (its prompt then pauses), the agent
    listens on instead of pressing 1: the line asks again after its time-out.
    """

    def __init__(self, board: Switchboard, end_s: float) -> None:
        self.board, self.end_s = board, end_s
        self.idle = False

    def heard(self, entry: dict[str, Any]) -> None:
        if entry.get("verb") == "Say":
            self.idle = False
        elif entry.get("verb") == "Pause":
            self.idle = True

    def __call__(self, gathering: Gathering) -> Input:
        if self.board.now_s >= self.end_s:
            return Press("9")
        return Silence() if self.idle else Press("1")


class _Counted(WsgiTransport):
    """The app's transport, counting requests."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.requests = 0

    def __call__(
        self, method: str, url: str, params: Mapping[str, str], headers: Any
    ) -> Any:
        self.requests += 1
        return super().__call__(method, url, params, headers)
