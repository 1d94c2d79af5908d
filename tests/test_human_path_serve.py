"""The human path against a real `ivr serve` (gunicorn, two workers), posted as
Twilio posts (signed): an agent takes a caller and hears what they came for, and
200 callers and 20 agents at once are each answered exactly once, callbacks
placed exactly once, with no waiter record or callback lost or doubled."""

from __future__ import annotations

import collections
import time

from conftest import serving

from ivr.caller import Caller, HttpTransport, Press, Ring, Switchboard
from ivr.store import Store

TOKEN = "serve-token"
AGENT_LINE = "+15005550199"
LINE = "+15005550100"

LOAD_MENU = f"""\
# Always open (no hours), so the test runs at any time of day.
id: load
title: Load line
numbers: ["{LINE}"]
language: en-US
start: hello
queues:
  desk: {{title: Desk, agents: 20, handle_time: 2m, patience: 30m,
          callback_after: 1s, announce_every: 20s}}
nodes:
  hello: {{say: Hello., next: ask}}
  ask:
    ask: Enter your order number, then press hash.
    digits: {{min: 6, max: 12}}
    save_as: order_id
    next: agent
    on_fail: agent
  agent: {{queue: desk, say: Connecting you., handover: {{order_id: order number}}}}
"""


def roster(agents: int) -> str:
    lines = [f'numbers: ["{AGENT_LINE}"]', "agents:"]
    for i in range(agents):
        lines.append(
            f'  - {{id: a{i}, name: Agent {i}, phones: ["+1500557{i:04d}"], '
            "serves: [load/desk]}"
        )
    return "\n".join(lines) + "\n"


def line_folder(tmp_path, agents: int):
    folder = tmp_path / "menus"
    folder.mkdir()
    (folder / "load.yaml").write_text(LOAD_MENU)
    (folder / "agents.yaml").write_text(roster(agents))
    return folder


def test_the_agent_hears_the_order_number_then_takes_that_callers_queue(tmp_path):
    folder = line_folder(tmp_path, agents=1)
    with serving(tmp_path, TOKEN, workers=2, menus=folder) as base:
        transport = HttpTransport(10)
        board = Switchboard(realtime=True, time_scale=0.002, pace_s=0.05, until_s=3600)
        caller = board.place(
            Caller(
                transport,
                base + "/voice",
                from_number="+15005551234",
                to_number=LINE,
                auth_token=TOKEN,
            ),
            [Press("202611250001#")],
            talk_s=60,
        )
        agent = board.place(
            Caller(
                transport,
                base + "/voice",
                from_number="+15005570000",
                to_number=AGENT_LINE,
                auth_token=TOKEN,
            ),
            [Press("1"), Press("9")],
            at_s=120,  # two minutes later
        )
        board.run()
    assert caller.result.error is None and agent.result.error is None
    enqueued = [e for e in caller.result.transcript if e.get("verb") == "Enqueue"]
    assert enqueued[0]["queue"] == "load.desk.p0"
    heard = agent.result.transcript
    dial = next(i for i, e in enumerate(heard) if e.get("verb") == "Dial")
    briefing = " ".join(e["text"] for e in heard[:dial] if e.get("verb") == "Say")
    assert "Caller, Desk, waited" in briefing
    assert "order number: 202611250001" in briefing
    assert heard[dial]["queue"] == "load.desk.p0"  # the queue holding the caller
    assert caller.result.queue_result == "bridged"
    assert caller.result.bridged_with == [agent.call_sid]
    store = Store(tmp_path / "log.db")
    [record] = store.waiters(call_sid=caller.call_sid)
    assert (record["status"], record["agent"]) == ("answered", "a0")
    assert record["wait_s"] >= 100  # the two minutes, less the time to enqueue


def test_200_callers_and_20_agents_at_once_each_caller_is_answered_once(tmp_path):
    folder = line_folder(tmp_path, agents=20)
    callers_n, agents_n = 200, 20
    with serving(tmp_path, TOKEN, workers=2, menus=folder) as base:
        transport = HttpTransport(15)
        # About a minute of real time: bursts of 40 callers every 10 seconds
        # (10,000 simulated seconds at a thousandth), so that twice as many
        # callers as agents arrive at once: queues build and agents compete.
        board = Switchboard(
            realtime=True,
            time_scale=0.001,
            pace_s=0.05,
            until_s=10**6,
            numbers=[LINE, AGENT_LINE],
            max_queue_size=1000,
        )
        callers = []
        for i in range(callers_n):
            number = f"+1500556{i:04d}"
            # Every third caller takes the callback offered while holding.
            keys = [Press("202611250001#")] + ([Press("1")] if i % 3 == 0 else [])
            callers.append(
                board.place(
                    Caller(
                        transport,
                        base + "/voice",
                        from_number=number,
                        to_number=LINE,
                        auth_token=TOKEN,
                        fetch_audio=False,
                    ),
                    keys,
                    at_s=(i // 40) * 10_000 + (i % 40) * 10,
                    talk_s=30,
                )
            )
            if i % 3 == 0:
                board.phone(number, Ring(after_s=3, talk_s=30))

        def agent_keys(gathering):
            # Take the next one while any caller's story is still going.
            busy = not all(h.done for h in callers) or _callbacks_left(tmp_path)
            return Press("1" if busy else "9")

        agents = [
            board.place(
                Caller(
                    transport,
                    base + "/voice",
                    from_number=f"+1500557{j:04d}",
                    to_number=AGENT_LINE,
                    auth_token=TOKEN,
                    max_requests=100_000,
                    fetch_audio=False,
                ),
                agent_keys,
                at_s=j * 100,
            )
            for j in range(agents_n)
        ]
        started = time.monotonic()
        board.run()
        elapsed = time.monotonic() - started
    print(f"\n{callers_n} callers, {agents_n} agents: {elapsed:.0f} s real time")
    assert [h.result.error for h in callers + agents if h.result.error] == []
    # A caller who would take a callback is answered all the same if an agent
    # takes them before the offer; the others leave the queue for the callback.
    asked = [h for i, h in enumerate(callers) if h.result.queue_result == "leave"]
    live = [h for h in callers if h.result.queue_result != "leave"]
    print(f"{len(live)} answered live, {len(asked)} took a callback")
    assert {h.result.queue_result for h in live} == {"bridged"}
    assert all(i % 3 == 0 for i, h in enumerate(callers) if h in asked)
    assert len(asked) >= 5  # the bursts make queues: callbacks are exercised
    taken = collections.Counter(sid for a in agents for sid in a.result.bridged_with)
    live_sids = {h.call_sid for h in live}
    assert {sid for sid in taken if sid in live_sids} == live_sids
    assert all(taken[sid] == 1 for sid in live_sids)  # nobody taken twice
    store = Store(tmp_path / "log.db")
    waiters = store.waiters()
    assert len(waiters) == callers_n  # one record per caller, none lost or doubled
    assert len({w["call_sid"] for w in waiters}) == callers_n
    status = {w["call_sid"]: w for w in waiters}
    for handle in live:
        record = status[handle.call_sid]
        assert record["status"] == "answered" and record["agent"] is not None
    for handle in asked:
        assert status[handle.call_sid]["status"] == "callback"
    # A caller may press 1 for the callback in the very moment an agent takes
    # them: that callback is canceled, never placed.
    callbacks = {c["call_sid"]: c for c in store.callbacks()}
    assert {h.call_sid for h in asked} <= set(callbacks)
    for sid, row in callbacks.items():
        if sid in {h.call_sid for h in asked}:
            assert (row["status"], row["attempts"]) == ("reached", 1)
        else:
            assert (row["status"], row["attempts"]) == ("canceled", 0)
    # Each customer's phone rang exactly once: no callback placed twice.
    dialled = collections.Counter(
        e["number"]
        for a in agents
        for e in a.result.transcript
        # (a Dial is shown when it starts and, with its status, when it ends)
        if e.get("verb") == "Dial"
        and "status" in e
        and str(e.get("number", "")).startswith("+1500556")
    )
    assert {n: c for n, c in dialled.items() if c != 1} == {}
    assert len(dialled) == len(asked)


def _callbacks_left(tmp_path) -> bool:
    """Whether a callback is still to be placed (the agents' stopping rule)."""
    try:
        store = Store(tmp_path / "log.db")
        return any(c["status"] in ("pending", "dialing") for c in store.callbacks())
    except Exception:
        return True
