"""Several calls on one simulated Twilio account: queues, agents, callbacks.

The app is written the way Twilio's docs write apps (tests/twilio_style_app.py):
callers press 2 to hold in the ``support`` queue; agents call ``/agent`` and
press 1 to take the first caller (``<Dial><Queue url>``) or 2 to call a customer
back (``<Dial callerId><Number url>`` with a whisper).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from ivr.caller import (
    Caller,
    CallSession,
    HttpTransport,
    Press,
    Ring,
    Silence,
    Switchboard,
    WsgiTransport,
)
from ivr.testing.menuline import MenuLine, parse_clock
from tests.twilio_style_app import CUSTOMER, SHOP_NUMBER, create_app

BASE = "https://example.test"
AGENT = "+15005552001"


class Line:
    """The Twilio-style app on a lock-step switchboard, with each event's time."""

    def __init__(self, app=None, **board_options):
        self.app = app or create_app()
        self.transport = WsgiTransport(self.app)
        board_options.setdefault("numbers", [SHOP_NUMBER])
        self.board = Switchboard(**board_options)
        self.times: dict[str, list[tuple[float, dict]]] = collections.defaultdict(list)

    def place(self, path, from_number, inputs, at_s=0.0, **caller_options):
        talk_s = caller_options.pop("talk_s", None)
        caller = Caller(
            self.transport, BASE + path, from_number=from_number, **caller_options
        )
        handle = self.board.place(
            caller,
            inputs,
            at_s=at_s,
            talk_s=talk_s,
            on_event=lambda entry: self.times[from_number].append(
                (self.board.now_s, entry)
            ),
        )
        return handle

    def caller(self, from_number, inputs=None, **options):
        return self.place("/voice", from_number, inputs or [Press("2")], **options)

    def agent(self, inputs, at_s=0.0, **options):
        return self.place("/agent", AGENT, list(inputs), at_s=at_s, **options)

    def when(self, from_number, **match) -> float:
        """The simulated time of the first event of ``from_number`` matching."""
        for at_s, entry in self.times[from_number]:
            if all(entry.get(k) == v for k, v in match.items()):
                return at_s
        raise AssertionError(f"no event {match} for {from_number}")

    def hits(self, path):
        return [fields for p, fields in self.app.config["HITS"] if p == path]


def test_an_agent_takes_the_first_caller_and_both_actions_report_the_bridge():
    line = Line()
    first = line.caller("+15005551001")
    second = line.caller("+15005551002", at_s=10, patience_s=200)
    agent = line.agent([Press("1"), Press("9")], at_s=60)
    line.board.run()

    assert agent.result.bridged_with == [first.call_sid]
    assert first.result.queue_result == "bridged"
    assert first.result.bridged_with == [agent.call_sid]
    # The <Queue url> document ran on the queued caller's end, not the agent's.
    joined = line.when("+15005551001", verb="Enqueue", queue="support")
    taken = line.when(AGENT, verb="Dial", queue="support")
    waited = int(taken - joined)
    connect = f"You waited {waited} seconds. Connecting you to an agent."
    assert connect in first.result.heard
    assert connect not in agent.result.heard
    (url_request,) = line.hits("/about-to-connect")
    assert url_request["CallSid"] == first.call_sid
    assert url_request["DequeingCallSid"] == agent.call_sid
    assert url_request["From"] == "+15005551001"
    queue_sid = line.hits("/wait")[0]["QueueSid"]
    assert url_request["QueueSid"] == queue_sid
    queue_done = {f["CallSid"]: f for f in line.hits("/queue-done")}
    assert queue_done[first.call_sid]["QueueResult"] == "bridged"
    assert queue_done[first.call_sid]["QueueTime"] == str(waited)
    assert queue_done[first.call_sid]["QueueSid"] == queue_sid
    (dial_done,) = line.hits("/agent-done")
    assert dial_done["DialCallStatus"] == "completed"
    assert dial_done["DialCallSid"] == first.call_sid
    assert dial_done["DialCallDuration"] == "120"
    assert dial_done["DialBridged"] == "true"
    assert dial_done["QueueSid"] == queue_sid
    # The agent's Dial action came after the talk, back at the agent prompt.
    assert agent.result.heard[-3:] == [
        "Call ended: completed.",
        "Press 1 for the next caller, 2 to call back, 9 to stop.",
        "Goodbye.",
    ]
    # Nobody took the second caller: patience ran out after 200 seconds.
    assert second.result.queue_result == "hangup"
    assert queue_done[second.call_sid]["QueueTime"] == "200"


def test_callers_are_taken_in_the_order_they_joined_the_queue():
    line = Line()
    first = line.caller("+15005551001")
    second = line.caller("+15005551002", at_s=10)
    agent = line.agent([Press("1"), Press("1"), Press("9")], at_s=60)
    line.board.run()

    assert agent.result.bridged_with == [first.call_sid, second.call_sid]
    assert agent.result.dial_statuses == ["completed", "completed"]
    positions = [int(f["QueuePosition"]) for f in line.hits("/wait")]
    assert positions[:2] == [1, 2]  # the second caller heard they were second
    assert second.result.bridged_with == [agent.call_sid]
    assert "You are number 2 in line. Press 9 to leave." in second.result.heard


def test_a_dial_to_an_empty_queue_waits_for_the_next_caller():
    line = Line()
    agent = line.agent([Press("1"), Press("9")])
    caller = line.caller("+15005551001", at_s=5)
    line.board.run()

    assert agent.result.bridged_with == [caller.call_sid]
    assert caller.result.queue_result == "bridged"
    assert line.hits("/wait") == []  # taken the moment they joined
    assert line.hits("/queue-done")[0]["QueueTime"] == "0"
    dialled = line.when(AGENT, verb="Dial", queue="support")
    joined = line.when("+15005551001", verb="Enqueue", queue="support")
    assert dialled < joined


def test_a_dial_to_an_empty_queue_gives_up_after_its_timeout_with_no_answer():
    line = Line()
    agent = line.agent([Press("1"), Press("9")])
    line.board.run()

    (dial_done,) = line.hits("/agent-done")
    assert dial_done["DialCallStatus"] == "no-answer"
    assert dial_done["DialCallDuration"] == "0"
    assert dial_done["DialBridged"] == "false"
    assert "DialCallSid" not in dial_done
    started = line.when(AGENT, verb="Dial", queue="support")
    ended = line.when(AGENT, verb="Dial", status="no-answer")
    assert ended - started == 20  # the app's Dial timeout
    assert "Call ended: no-answer." in agent.result.heard


def test_leave_in_the_wait_document_leaves_the_queue_for_good():
    line = Line()
    caller = line.caller("+15005551001", [Press("2"), Press("9")])
    agent = line.agent([Press("1"), Press("9")], at_s=60)
    line.board.run()

    assert caller.result.queue_result == "leave"
    assert caller.result.heard[-1] == "You left the queue. Goodbye."
    assert line.hits("/queue-done")[0]["QueueResult"] == "leave"
    assert agent.result.dial_statuses == ["no-answer"]
    assert agent.result.bridged_with == []


def test_a_full_queue_turns_the_next_caller_away():
    line = Line(max_queue_size=1)
    line.caller("+15005551001", patience_s=60)
    second = line.caller("+15005551002", at_s=5)
    line.board.run()

    assert second.result.queue_result == "queue-full"
    done = {f["CallSid"]: f for f in line.hits("/queue-done")}
    assert done[second.call_sid]["QueueResult"] == "queue-full"
    assert "QueueSid" not in done[second.call_sid]  # never actually enqueued
    assert second.result.heard[-1] == "Queue result queue-full. Goodbye."


def test_a_callback_rings_the_customer_who_hears_the_whisper_first():
    line = Line()
    phone = line.board.phone(
        CUSTOMER,
        Ring(inputs=(Press("1"),), after_s=8),
        on_event=lambda e: line.times[CUSTOMER].append((line.board.now_s, e)),
    )
    agent = line.agent([Press("2"), Press("9")])
    line.board.run()

    (customer,) = phone.calls
    assert customer.direction == "outbound-dial"
    assert customer.parent_sid == agent.call_sid
    assert customer.result.transcript[0] == {"verb": "Ring", "from": SHOP_NUMBER}
    assert customer.result.heard == [
        "Example Shop is calling you back. Press 1 to talk to us.",
        "Connecting.",
    ]
    assert customer.result.bridged_with == [agent.call_sid]
    assert customer.result.outcome == "transfer"
    # The whisper is the customer's alone.
    assert not any("calling you back" in text for text in agent.result.heard)
    (whisper,) = line.hits("/whisper")
    assert whisper["CallSid"] == customer.call_sid
    assert whisper["ParentCallSid"] == agent.call_sid
    assert whisper["Direction"] == "outbound-dial"
    assert whisper["From"] == SHOP_NUMBER
    assert whisper["To"] == CUSTOMER
    assert whisper["CallStatus"] == "in-progress"
    (done,) = line.hits("/callback-done")
    assert done["DialCallStatus"] == "completed"
    assert done["DialCallSid"] == customer.call_sid
    assert done["DialCallDuration"] == "120"
    assert agent.result.heard[-3:] == [
        "Callback completed.",
        "Press 1 for the next caller, 2 to call back, 9 to stop.",
        "Goodbye.",
    ]
    rang = line.when(AGENT, verb="Dial", number=CUSTOMER)
    assert line.when(CUSTOMER, verb="Ring") - rang == 8


@pytest.mark.parametrize(
    ("ring", "status"),
    [
        (Ring(answer="busy"), "busy"),
        (Ring(answer="no-answer"), "no-answer"),
        (Ring(answer="failed"), "failed"),
        (Ring(after_s=25), "no-answer"),  # would pick up after the Dial timeout
        (None, "no-answer"),  # a number nobody registered
    ],
)
def test_a_callback_that_is_not_picked_up_reports_why(ring, status):
    line = Line()
    phone = line.board.phone(CUSTOMER, ring) if ring else None
    agent = line.agent([Press("2"), Press("9")])
    line.board.run()

    (done,) = line.hits("/callback-done")
    assert done["DialCallStatus"] == status
    assert done["DialCallDuration"] == "0"
    assert f"Callback {status}." in agent.result.heard
    assert line.hits("/whisper") == []
    if phone is not None:
        assert phone.calls == [None]


def test_a_customer_who_does_not_press_1_declines_the_callback():
    line = Line()
    phone = line.board.phone(CUSTOMER, Ring())  # picks up, presses nothing
    agent = line.agent([Press("2"), Press("9")])
    line.board.run()

    (customer,) = phone.calls
    assert customer.result.heard == [
        "Example Shop is calling you back. Press 1 to talk to us."
    ]
    assert customer.result.bridged_with == []
    assert line.hits("/callback-done")[0]["DialCallStatus"] == "no-answer"
    assert agent.result.bridged_with == []


def test_a_caller_id_that_is_not_the_accounts_fails_the_dial_as_twilio_does():
    line = Line(app=create_app(caller_id="+15009999999"))
    phone = line.board.phone(CUSTOMER, Ring(inputs=(Press("1"),)))
    agent = line.agent([Press("2"), Press("9")])
    line.board.run()

    assert phone.calls == []  # never rang
    assert line.hits("/callback-done")[0]["DialCallStatus"] == "failed"
    (failed,) = [e for e in agent.result.transcript if e.get("status") == "failed"]
    assert failed["error"] == (
        "callerId '+15009999999' is neither this call's From or To nor a number "
        "of the account (Twilio error 13214)"
    )


def test_a_queue_url_document_may_only_play_say_pause_and_redirect():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/xml")])
        documents = {
            "/voice": '<Response><Enqueue waitUrl="/hold">q</Enqueue></Response>',
            "/hold": '<Response><Pause length="10"/></Response>',
            "/agent": '<Response><Dial timeout="5"><Queue url="/hello">q</Queue>'
            "</Dial></Response>",
            "/hello": "<Response><Gather/></Response>",
        }
        return [documents[environ["PATH_INFO"]].encode()]

    board = Switchboard()
    transport = WsgiTransport(app)
    caller = board.place(Caller(transport, BASE + "/voice"), [])
    agent = board.place(Caller(transport, BASE + "/agent"), [], at_s=15)
    board.run()

    assert caller.result.outcome == "error"
    assert caller.result.error == (
        f"POST {BASE}/hello: <Gather> is not allowed in a <Queue url> document "
        "(only <Pause>, <Play>, <Redirect>, <Say>)"
    )
    assert agent.result.dial_statuses == ["no-answer"]  # went on waiting


def test_a_caller_nobody_takes_is_hung_up_when_the_switchboard_closes():
    line = Line(until_s=300)
    caller = line.caller("+15005551001")
    line.board.run()

    assert caller.result.outcome == "queue"
    assert caller.result.transcript[-1] == {
        "verb": "Hangup",
        "by": "switchboard",
        "reason": "the switchboard closed at 300 s",
    }
    assert line.board.now_s == 300


def test_a_lock_step_run_is_deterministic():
    def run():
        line = Line()
        for i in range(3):
            line.caller(f"+1500555100{i}", at_s=7 * i, patience_s=150)
        line.agent([Press("1")] * 3 + [Press("9")], at_s=30, talk_s=45)
        line.board.run()
        # CallSids are random; everything else must repeat exactly.
        return [
            (number, at_s, {k: v for k, v in entry.items() if k != "call"})
            for number in sorted(line.times)
            for at_s, entry in line.times[number]
        ]

    first = run()
    assert any(entry["verb"] == "Bridge" for _, _, entry in first)
    assert run() == first


def test_a_session_takes_part_in_a_switchboard_one_turn_at_a_time():
    line = Line()
    agent = line.agent([Press("1"), Press("9")], at_s=40)
    session = CallSession(
        Caller(line.transport, BASE + "/voice", from_number="+15005551001"),
        switchboard=line.board,
    )
    turn = session.start()
    turn = session.send(Press("2"))
    rounds = 0
    while not turn.done:
        assert turn.gathering is not None and turn.gathering.in_queue
        turn = session.send(Silence())
        rounds += 1
    assert turn.result.queue_result == "bridged"
    assert rounds >= 2  # held a few rounds until the agent came at 40 s
    assert session.handle is not None
    assert turn.result.bridged_with == [agent.call_sid]
    assert agent.result.bridged_with == [session.handle.call_sid]


def test_the_app_clock_follows_simulated_time(tmp_path):
    menus = Path(__file__).parent / "fixtures" / "menus" / "hotline.yaml"
    line = MenuLine(menus)
    late = parse_clock("2026-11-25 21:59:30", line.timezone)  # a Wednesday
    # Three silent rounds of the menu take longer than thirty seconds: the line
    # has closed when the caller reaches the queue, alone or on a switchboard.
    alone = line.call([Silence(), Silence(), Silence()], at=late)
    assert alone.outcome == "voicemail"
    board = line.switchboard(at=late)
    seen = []
    runtime = line.app.extensions["ivr"]
    handle = board.place(
        line.caller(),
        [Silence(), Silence(), Silence()],
        on_event=lambda entry: seen.append((runtime.clock(), board.clock())),
    )
    line.run(board)
    assert handle.result.outcome == "voicemail"
    assert all(app_clock == clock for app_clock, clock in seen)
    assert seen[-1][0] > late + dt.timedelta(seconds=30)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def test_free_running_callers_and_agents_over_http_each_caller_is_bridged_once():
    app = create_app(dial_timeout=5)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    callers_n, agents_n = 40, 6
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        transport = HttpTransport(10)
        board = Switchboard(realtime=True, time_scale=0.001, pace_s=0.05, until_s=10**6)
        callers = [
            board.place(
                Caller(transport, base + "/voice", from_number=f"+1500556{i:04d}"),
                [Press("2")],
                at_s=i * 5,
                talk_s=10,
            )
            for i in range(callers_n)
        ]

        def agent_keys(gathering):
            # Take the next caller while any call is still going, then stop.
            return Press("9" if all(h.done for h in callers) else "1")

        agents = [
            board.place(
                Caller(
                    transport,
                    base + "/agent",
                    from_number=f"+1500557{j:04d}",
                    max_requests=10_000,
                ),
                agent_keys,
                at_s=j,
            )
            for j in range(agents_n)
        ]
        board.run()
    finally:
        server.shutdown()
        thread.join()

    caller_sids = {h.call_sid for h in callers}
    assert [h.result.error for h in callers + agents if h.result.error] == []
    assert {h.result.queue_result for h in callers} == {"bridged"}
    taken = collections.Counter(sid for a in agents for sid in a.result.bridged_with)
    assert set(taken) == caller_sids
    assert set(taken.values()) == {1}  # nobody taken twice
    hits = app.config["HITS"]
    bridged = [f["CallSid"] for p, f in hits if p == "/queue-done"]
    assert sorted(bridged) == sorted(caller_sids)
    dialled = [
        f["DialCallSid"]
        for p, f in hits
        if p == "/agent-done" and f["DialCallStatus"] == "completed"
    ]
    assert sorted(dialled) == sorted(caller_sids)


def holding_caller(line: Line) -> Caller:
    """A caller asked what to do at each hold round, not only at gathers."""
    return Caller(
        line.transport,
        BASE + "/voice",
        from_number="+15005551001",
        asks_while_holding=True,
    )


def test_a_caller_asked_while_holding_hangs_up_between_rounds():
    line = Line()
    asked = []

    def person(gathering):
        asked.append(gathering)
        if not gathering.in_queue:
            return Press("2")  # the menu: support
        if gathering.input:
            return Silence()  # the wait document's own Gather
        holding = [g for g in asked if not g.input]
        return Silence() if len(holding) < 3 else None  # hangs up at the third

    caller = holding_caller(line)
    handle = line.board.place(caller, person)
    line.board.run()

    pauses = [g for g in asked if not g.input]
    assert len(pauses) == 3
    assert all(g.in_queue and g.num_digits is None for g in pauses)
    assert len(line.hits("/wait")) == 3  # a pause after each round
    assert handle.result.queue_result == "hangup"
    assert handle.result.outcome == "queue"
    assert {"verb": "Hangup", "by": "caller"} in handle.result.transcript
    (done,) = line.hits("/queue-done")
    assert done["QueueResult"] == "hangup"


def test_a_caller_asked_while_holding_is_still_taken_by_an_agent():
    line = Line()
    agent = line.agent([Press("1"), Press("9")], at_s=70)
    pauses = []

    def person(gathering):
        if not gathering.in_queue:
            return Press("2")  # the menu: support
        if not gathering.input:
            pauses.append(line.board.now_s)
        return Silence()

    caller = holding_caller(line)
    handle = line.board.place(caller, person)
    line.board.run()
    assert handle.result.queue_result == "bridged"
    assert handle.result.bridged_with == [agent.call_sid]
    assert len(pauses) >= 2  # held on, round after round, until taken


def test_a_script_is_never_asked_while_holding():
    line = Line()
    line.agent([Press("1"), Press("9")], at_s=70)
    caller = holding_caller(line)
    handle = line.board.place(caller, [Press("2")])
    line.board.run()
    assert handle.result.queue_result == "bridged"
    assert handle.result.inputs == [Press("2")]
