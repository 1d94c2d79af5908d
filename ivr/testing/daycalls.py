"""A day of calls through the real webhooks, without a phone: a store to look at.

``ivr simulate`` plays a day out in numbers; ``ring_day`` plays it out as calls.
The day's callers (the traffic file's calls per interval, times ``scale``) ring
the menu's own web app in this process through the Twilio-like caller, on one
lock-step switchboard whose clock the app follows, so the store fills with what
``ivr serve`` would have written on that day: events, waiters, callbacks, call
records. Agents are on it too: a roster is made for the day (``scaled_staff``)
and each agent rings the agent line at the start of their shift, presses 1 for
the next caller until it ends, then 9.

In the menu each caller does what the traffic file says callers do
(``ivr.testing.daycallers``). In a queue they hold for an exponential patience
with the queue's mean, take a callback when first offered one as the traffic
file's ``callback_accept`` says (each caller decides once: the share of callers
offered one who take it, as ``ivr report --traffic-out`` measures it), and talk
for an exponential handle time; called back, they answer four times in five.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ivr import queueing
from ivr.caller import (
    Caller,
    Gathering,
    Input,
    Press,
    Ring,
    Silence,
    Switchboard,
    WsgiTransport,
)
from ivr.loader import load_menu
from ivr.menu import Menu
from ivr.testing.daycallers import DayCallers
from ivr.traffic import TrafficPlan, arrival_times, walk_callers

__all__ = ["PICKS_UP", "DayCalls", "ring_day", "scaled_staff"]

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
    scaled = dataclasses.replace(plan, calls=tuple(c * scale for c in plan.calls))
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
                "SECRET_KEY": secrets.token_urlsafe(32),
                "DATABASE": store,
                "CLOCK": board.clock,
                "STORE_SYNC": True,  # simulated time: every write lands at once
                "KEEP_LAST_GOOD": False,
                "INSTANCE_PATH": str(Path(folder) / "instance"),
            }
        )
    transport = _Counted(app)
    status_url = URL + "/status"
    planner = DayCallers(menu, plan, rng)
    rings: dict[str, list[Ring]] = defaultdict(list)
    to_number = (menu.numbers or ("+15005550001",))[0]
    for arrival in arrivals:
        number = planner.number()
        when = day_start + dt.timedelta(seconds=float(arrival))
        call = planner.call(when.astimezone(dt.UTC), number)
        patience = talk = None
        takes = False  # a callback, when offered one
        if call.queue is not None:
            takes = bool(rng.random() < plan.callback_accept)
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
        script = _Script(call.inputs, takes)
        board.place(caller, script, at_s=float(arrival), talk_s=talk)
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
    """A caller's inputs: the planned ones in the menu; in a queue, 1 for the
    callback offer if they ``takes`` one, else they hold on."""

    def __init__(self, inputs: list[Input], takes: bool) -> None:
        self.inputs = iter(inputs)
        self.takes = takes

    def __call__(self, gathering: Gathering) -> Input | None:
        if gathering.in_queue:
            return Press("1") if self.takes else None
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
