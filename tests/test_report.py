"""Call records and `ivr report` against calls whose outcomes are known.

The calls ring the report fixture's line through the real webhooks, signed, on a
lock-step switchboard whose clock the app follows: an agent takes callers and
calls one back, callers hang up, a menu gives up, a caller leaves a voicemail at
night. What Twilio (the switchboard) posted is recorded, so the waits the report
gives are checked against the waits Twilio measured. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import urllib.parse

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, TOKEN

from ivr.caller import Caller, HangUp, Press, Ring, Silence, Switchboard, WsgiTransport
from ivr.cli import main
from ivr.report import _told, percentile
from ivr.store import Store
from ivr.store.ops import apply_ops
from ivr.store.records import derive
from ivr.web import create_app

LINE = FIXTURES / "report"
URL = "http://localhost/voice"
NUMBER = "+861000000200"
AGENT_LINE = "+861000000209"
ANN = "+8613800000201"
MORNING = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # Wednesday 10:00 Shanghai
NIGHT = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # 23:00 Shanghai: closed


class Recording(WsgiTransport):
    """The app's transport, keeping what was posted to each path, by CallSid."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.posted: dict[str, dict[str, dict[str, str]]] = {}

    def __call__(self, method, url, params, headers):
        path = urllib.parse.urlsplit(url).path
        self.posted.setdefault(params.get("CallSid", ""), {})[path] = dict(params)
        return super().__call__(method, url, params, headers)


class Line:
    """The fixture line's app; its clock is the switchboard running now."""

    def __init__(self, database: str) -> None:
        self.board: Switchboard | None = None
        self.app = create_app(
            {
                "MENUS": str(LINE),
                "SECRET_KEY": "report-secret-" + "k" * 32,
                "DATABASE": database,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "CLOCK": lambda: self.board.clock(),
                "STORE_SYNC": True,
            }
        )
        self.transport = Recording(self.app)

    def switchboard(self, at: dt.datetime) -> Switchboard:
        self.board = Switchboard(at=at, numbers=[NUMBER, AGENT_LINE])
        return self.board

    def caller(self, number: str, to: str = NUMBER, **options) -> Caller:
        return Caller(
            self.transport, URL, from_number=number, to_number=to, auth_token=TOKEN,
            status_callback=URL + "/status", fetch_audio=False, **options,
        )  # fmt: skip

    def queue_time(self, handle) -> float:
        return float(
            self.transport.posted[handle.call_sid]["/voice/queue"]["QueueTime"]
        )


def known_day(database: str):
    """Seven calls with known outcomes; returns the line and the calls by outcome."""
    line = Line(database)
    board = line.switchboard(MORNING)
    calls = {
        "self_service": board.place(
            line.caller("+8613900000001"), [Press("1"), Press("100001#")]
        ),
        "menu_hangup": board.place(
            line.caller("+8613900000002"), [Silence(), Silence()]
        ),
        "caller_hangup": board.place(line.caller("+8613900000003"), [HangUp()]),
        "abandoned": board.place(
            line.caller("+8613900000004", patience_s=40), [Press("0")]
        ),
        "callback_reached": board.place(
            line.caller("+8613900000005"), [Press("0"), Press("1")], at_s=5
        ),
        "answered": board.place(
            line.caller("+8613900000006"), [Press("0")], at_s=60, talk_s=60
        ),
    }
    board.phone("+8613900000005", Ring(after_s=5, talk_s=30))
    agent = board.place(
        line.caller(ANN, to=AGENT_LINE), [Press("1"), Press("1"), Press("9")], at_s=120
    )
    board.run()
    night = line.switchboard(NIGHT)
    calls["voicemail"] = night.place(line.caller("+8613900000007"), [Press("0")])
    night.run()
    assert agent.result.dial_statuses == ["completed", "completed"]
    assert calls["answered"].result.queue_result == "bridged"
    assert calls["callback_reached"].result.queue_result == "leave"
    assert calls["abandoned"].result.queue_result == "hangup"
    line.app.extensions["ivr"].store.close()
    return line, calls


def report(database: str, *args: str) -> dict:
    result = CliRunner().invoke(
        main, ["report", "--database", database, "--menus", str(LINE), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_report_gives_the_outcomes_shares_and_waits_of_known_calls(database):
    line, calls = known_day(database)
    data = report(database)

    assert data["calls"] == 7 and data["in_progress"] == 0
    assert data["outcomes"] == {
        outcome: {"calls": 1, "share": 1 / 7} for outcome in
        ("self_service", "menu_hangup", "caller_hangup", "answered", "abandoned",
         "callback_reached", "voicemail")
    }  # fmt: skip
    assert data["containment"] == {
        "calls": 7, "self_service": 1, "menu_hangup": 1, "caller_hangup": 1,
        "human_path": 4, "error": 0, "resolved_share": 1 / 7,
    }  # fmt: skip
    assert data["drop_off"] == [
        {
            "menu": "line",
            "node": "main",
            "caller_hangup": 1,
            "self_service": 0,
            "menu_hangup": 1,
            "abandoned": 0,
        },
        {
            "menu": "line",
            "node": "agent",
            "caller_hangup": 0,
            "self_service": 0,
            "menu_hangup": 0,
            "abandoned": 1,
        },
        {
            "menu": "line",
            "node": "more",
            "caller_hangup": 0,
            "self_service": 1,
            "menu_hangup": 0,
            "abandoned": 0,
        },
    ]
    main_options = [o for o in data["options"] if o["node"] == "main"]
    assert [(o["key"], o["goto"], o["chosen"], o["of"], o["share"], o["menu_share"])
            for o in main_options] == [
        ("1", "order_ask", 1, 5, 0.2, 0.5),
        ("2", "hours", 0, 5, 0.0, 0.2),
        ("0", "agent", 4, 5, 0.8, 0.3),
    ]  # fmt: skip

    waits = [line.queue_time(calls[o]) for o in ("abandoned", "callback_reached",
                                                 "answered")]  # fmt: skip
    assert waits[0] == 40 and waits[2] >= 60  # held 40 s; waited for the agent
    (queue,) = data["queues"]
    assert queue["queue"] == "help" and queue["title"] == "Order help"
    figures = {k: queue[k] for k in (
        "offered", "answered", "abandoned", "callbacks_offered", "callbacks_asked",
        "callbacks_placed", "callbacks_reached", "callbacks_failed", "voicemails",
    )}  # fmt: skip
    assert figures == {
        "offered": 3, "answered": 1, "abandoned": 1, "callbacks_offered": 3,
        "callbacks_asked": 1, "callbacks_placed": 1, "callbacks_reached": 1,
        "callbacks_failed": 0, "voicemails": 1,
    }  # fmt: skip
    assert queue["mean_wait_s"] == pytest.approx(sum(waits) / 3)
    assert queue["p90_wait_s"] == pytest.approx(percentile(waits, 0.9))
    assert queue["mean_wait_answered_s"] == waits[2]
    assert queue["service_level"] == 0.0  # the one answered waited past 20 s
    assert queue["p_abandon"] == pytest.approx(1 / 3)

    recorded = line.transport.posted[calls["voicemail"].call_sid]["/voice/recorded"]
    (voicemail,) = data["voicemails"]
    assert voicemail == {
        "at": "2026-11-25T23:00:00+08:00", "menu": "line", "topic": "Order help",
        "queue": "help", "caller": "**********0007",
        "recording_url": recorded["RecordingUrl"], "seconds": 10.0,
    }  # fmt: skip


def test_the_records_say_how_each_call_went_and_keep_no_secret(database):
    _line, calls = known_day(database)
    store = Store(database)
    try:
        records = {r["call_sid"]: r for r in store.call_records()}
        agents = store.call_records(kind="agent")
    finally:
        store.database.dispose()
    answered = records[calls["answered"].call_sid]
    assert answered["agent"] == "ann" and answered["queue_result"] == "answered"
    assert answered["path"] == ["main", "agent"]
    assert answered["choices"] == [["main", "0"]]
    assert answered["caller"] == "+8613900000006" and answered["called"] == NUMBER
    assert answered["status"] == "completed"
    assert answered["announcements"][0]["position"] == 1
    assert answered["announcements"][0]["offer"] is True  # 4 minutes: over 1m
    # The waits the words covered are kept, to score what the caller heard.
    low, high = answered["announcements"][0]["said_s"]
    assert 0 <= low <= high
    menu_hangup = records[calls["menu_hangup"].call_sid]
    assert menu_hangup["gave_up_at"] == "main" and menu_hangup["last_node"] == "bye"
    assert menu_hangup["inputs"] == 2 and menu_hangup["no_input"] == 2
    callback = records[calls["callback_reached"].call_sid]
    assert (callback["callback"], callback["callback_attempts"]) == ("reached", 1)
    self_service = records[calls["self_service"].call_sid]
    assert self_service["served"] is True
    assert "100001" not in json.dumps(list(records.values()))  # digits never kept
    (shift,) = agents
    assert shift["agent"] == "ann" and shift["serves"] == [["line", "help"]]
    assert shift["ended_at"] is not None


def test_numbers_show_in_clear_only_when_asked(database):
    known_day(database)
    assert report(database, "--show-numbers")["voicemails"][0]["caller"] == (
        "+8613900000007"
    )


def test_a_record_is_the_same_whatever_order_or_repeats_its_writes_land_in(
    database, tmp_path
):
    _line, calls = known_day(str(tmp_path / "first.sqlite3"))
    first = Store(str(tmp_path / "first.sqlite3"))
    sid = calls["callback_reached"].call_sid
    events = first.events(sid)
    expected = {r["call_sid"]: r for r in first.call_records()}[sid]
    first.database.dispose()
    ops = [
        {"op": "event", "id": f"op{i}", "call_sid": sid, **event}
        for i, event in enumerate(events)
    ]
    random.Random(7).shuffle(ops)
    store = Store(database)
    try:
        half = len(ops) // 2
        for batch in (ops[half:], ops[:half], ops[:3]):  # out of order, replayed
            with store.database.transaction(write=True) as conn:
                apply_ops(conn, batch)
        (record,) = store.call_records()
    finally:
        store.database.dispose()
    ignore = {"id"}
    assert {k: v for k, v in record.items() if k not in ignore} == {
        k: v for k, v in expected.items() if k not in ignore
    }
    assert record == {**derive(sid, events), "id": record["id"]}


def test_a_record_folded_event_by_event_equals_one_derived_from_them_all(tmp_path):
    _line, calls = known_day(str(tmp_path / "first.sqlite3"))
    first = Store(str(tmp_path / "first.sqlite3"))
    try:
        for handle in calls.values():
            events = first.events(handle.call_sid)
            # The first store folded them one webhook at a time, in order.
            (record,) = [
                r for r in first.call_records() if r["call_sid"] == handle.call_sid
            ]
            assert record == {**derive(handle.call_sid, events), "id": record["id"]}
    finally:
        first.database.dispose()


def test_a_store_of_an_older_version_gets_records_from_the_events_it_kept(database):
    from alembic import command
    from alembic.config import Config

    from ivr.store import database as store_database
    from ivr.store.schema import events

    old = Store.__new__(Store)  # only its Database: no migration to the newest
    old.database = store_database.Database(database)
    config = Config()
    config.set_main_option("script_location", str(store_database._MIGRATIONS))
    with old.database.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            events.insert(),
            [
                {"at": 100.0, "call_sid": "CA1", "menu": "line", "event": "start",
                 "node": "main", "detail": {"from": "+8613900000009", "to": NUMBER,
                 "nodes": ["main"], "action": "gather"}},
                {"at": 104.0, "call_sid": "CA1", "menu": "line", "event": "input",
                 "node": "agent", "detail": {"digits": "0", "nodes": ["agent"],
                 "choice": ["main", "0"], "action": "enqueue"}},
                {"at": 190.0, "call_sid": "CA1", "menu": "line", "event": "queue",
                 "node": "agent", "detail": {"result": "hangup", "waited_s": 86,
                 "nodes": [], "action": "hangup"}},
            ],
        )  # fmt: skip
        conn.commit()
    old.database.dispose()
    store = Store(database)
    try:
        (record,) = store.call_records()
    finally:
        store.database.dispose()
    assert (record["outcome"], record["wait_s"], record["path"], record["caller"]) == (
        "abandoned", 86.0, ["main", "agent"], "+8613900000009",
    )  # fmt: skip


def step(at, event, action, **detail):
    return {"at": at, "event": event, "menu": "line", "node": "n",
            "detail": {"action": action, "nodes": ["n"], **detail}}  # fmt: skip


@pytest.mark.parametrize(
    ("log", "outcome"),
    [
        ([step(1, "start", "gather")], None),  # still going
        ([step(1, "start", "dial"), {"at": 9, "event": "dial", "detail": {
            "status": "completed", "action": "hangup", "nodes": []}}], "transfer"),
        ([step(1, "start", "dial"), {"at": 9, "event": "dial", "detail": {
            "status": "busy", "action": "enqueue", "nodes": []}},
          {"at": 99, "event": "status", "detail": {"status": "completed"}}],
         "abandoned"),  # the transfer failed; hung up holding, no queue action came
        ([step(1, "start", "gather"), step(5, "fault", "hangup")], "error"),
        ([step(1, "start", "gather"),
          {"at": 3, "event": "status", "detail": {"status": "failed"}}], "error"),
        ([step(1, "start", "gather", answer=True),
          {"at": 3, "event": "status", "detail": {"status": "completed"}}],
         "self_service"),
        ([step(1, "start", "hangup")], "self_service"),  # the menu said goodbye
        ([{"at": 1, "event": "agent_on", "detail": {"agent": "ann"}}], None),
    ],
)  # fmt: skip
def test_each_way_a_call_ends_has_its_outcome(log, outcome):
    assert derive("CA1", log)["outcome"] == outcome


def test_the_window_picks_the_calls_that_started_in_it(database):
    known_day(database)
    night = report(database, "--since", "2026-11-25 12:00", "--until", "2026-11-26")
    assert (night["calls"], list(night["outcomes"])) == (1, ["voicemail"])
    morning = report(database, "--until", "2026-11-25 12:00")
    assert morning["calls"] == 6


def _heard(said_s, estimate_s, actual_s):
    """A caller answered ``actual_s`` after hearing one announcement."""
    return {
        "queue_result": "answered", "enqueued_at": 1000.0, "wait_s": actual_s,
        "announcements": [{"at": 1000.0, "estimate_s": estimate_s,
                           "said_s": said_s}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("said_s", "estimate_s", "actual_s", "within", "error_s"),
    [
        ([120.0, 240.0], 180.0, 200.0, True, 0.0),  # inside "2 to 4 minutes"
        ([120.0, 240.0], 180.0, 300.0, True, -60.0),  # 60 s past its top
        ([120.0, 240.0], 180.0, 400.0, False, -160.0),
        ([0.0, 60.0], 20.0, 5.0, True, 0.0),  # "less than a minute"
        ([600.0, None], 900.0, 2000.0, True, 0.0),  # "more than 10 minutes"
        ([600.0, None], 900.0, 100.0, False, 500.0),
        ([180.0, 180.0], 170.0, 400.0, False, -220.0),  # "about 3 minutes"
        (None, 170.0, 400.0, False, -230.0),  # an older record: the seconds
    ],
)
def test_the_report_scores_the_words_callers_heard(
    said_s, estimate_s, actual_s, within, error_s
):
    told = _told([_heard(said_s, estimate_s, actual_s)])
    assert told["announcements"] == 1
    assert told["within_tolerance"] == (1.0 if within else 0.0)
    assert told["mean_error_s"] == pytest.approx(error_s)
