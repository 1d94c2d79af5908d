"""Outcomes that tell the truth: the menu hanging up on a failure path, and
lookups whose answer leaves out a field a prompt says.

A loopback HTTP service stands in for the shop's order system; a CSV file for
the parcels. The calls go through ``ivr call``, the scenario runner, fuzzing
and the call records of the store.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TOKEN
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ivr.caller import Caller, Press, Silence, WsgiTransport
from ivr.cli import main
from ivr.testing.fuzz import fuzz_menu
from ivr.testing.scenarios import run_scenarios
from ivr.web import create_app

ORDERS = {
    "1001": {"status": "has shipped", "eta": "Friday"},
    "1002": {"status": "has shipped"},  # no eta
    "1003": {"status": "has shipped", "eta": None},
}

MENU = """\
id: truth
title: Truth
numbers: ["+861000000300"]
language: en-US
start: main
data:
  orders: {{url: "{base}/orders/{{order_id}}", timeout: 2s}}
  parcels: {{csv: parcels.csv, key: parcel_id}}
queues:
  general: {{title: General, agents: 2, handle_time: 3m}}
nodes:
  main:
    say: Orders 1, parcels 2, hours 3, a person 0, to end press 9.
    options: {{"1": order_ask, "2": parcel_ask, "3": hours, "4": hours_more,
              "9": bye, "0": agent}}
    retries: 1
    on_fail: bye
  order_ask:
    ask: Enter your order number, then hash.
    digits: {{min: 4, max: 8}}
    save_as: order_id
    next: order_lookup
    on_fail: agent
  order_lookup:
    lookup: {{data: orders, key: "{{order_id}}"}}
    found: order_status
    missing: not_found
    error: sorry
  order_status:
    say: "Your order {{status}} and arrives {{eta}}."
    next: bye
  parcel_ask:
    ask: Enter your parcel number, then hash.
    digits: {{min: 4, max: 8}}
    save_as: parcel_id
    next: parcel_lookup
    on_fail: agent
  parcel_lookup:
    lookup: {{data: parcels, key: "{{parcel_id}}"}}
    found: parcel_status
    missing: not_found
    error: sorry
  parcel_status:
    say: "Your parcel is {{state}} and arrives {{eta}}."
    next: bye
  hours:
    say: We are open from 8 to 8.
    next: bye
  hours_more:
    say: We are open from 8 to 8.
    next: more
  more:
    say: Orders 1.
    options: {{"1": order_ask}}
    retries: 1
    on_fail: bye
  not_found:
    hangup: We found nothing under that number. Goodbye.
  sorry:
    hangup: Sorry, we cannot look that up now. Goodbye.
  bye:
    hangup: Goodbye.
  agent:
    queue: general
    say: Connecting you.
"""

PARCELS = "parcel_id,state,eta\n5001,on its way,Monday\n5002,on its way,\n"


def _orders(environ, start_response):
    order = Request(environ).path.rsplit("/", 1)[-1]
    if order == "1005":
        response = Response("down", status=500)
    elif order in ORDERS:
        response = Response(json.dumps(ORDERS[order]), mimetype="application/json")
    else:
        response = Response("{}", status=404, mimetype="application/json")
    return response(environ, start_response)


@pytest.fixture(scope="module")
def menu(tmp_path_factory) -> Path:
    server = make_server("127.0.0.1", 0, _orders, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    folder = tmp_path_factory.mktemp("truth")
    (folder / "parcels.csv").write_text(PARCELS, encoding="utf-8")
    path = folder / "truth.yaml"
    base = f"http://127.0.0.1:{server.server_port}"
    path.write_text(MENU.format(base=base), encoding="utf-8")
    yield path
    server.shutdown()
    thread.join()


def ivr_call(menu: Path, *inputs: str) -> dict:
    args = ["call", str(menu), "--json"]
    for item in inputs:
        if item == "hangup":
            args += ["--hangup"]
        else:
            args += ["--silence"] if item == "" else ["--press", item]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def said(data: dict) -> list[str]:
    return [e["text"] for e in data["transcript"] if e["verb"] == "Say"]


def test_the_menu_hanging_up_after_retries_is_menu_hangup(menu):
    data = ivr_call(menu, "", "")
    assert data["outcome"] == "menu_hangup"
    assert data["transcript"][-1] == {"verb": "Hangup"}


@pytest.mark.parametrize("key", ["3", "9"])
def test_a_goodbye_the_caller_chose_is_self_service(menu, key):
    assert ivr_call(menu, key)["outcome"] == "self_service"


def test_a_caller_answered_before_the_menu_gave_up_was_served(menu):
    # The opening hours, then silence at "anything else?" until the goodbye:
    # served, like a caller who hangs up after the answer (the call records
    # count both the same way).
    data = ivr_call(menu, "4", "", "")
    assert "We are open from 8 to 8." in said(data)
    assert data["outcome"] == "self_service"
    assert ivr_call(menu, "4", "hangup")["outcome"] == "self_service"
    assert ivr_call(menu, "hangup")["outcome"] == "caller_hangup"


def test_a_complete_answer_is_said_whole(menu):
    data = ivr_call(menu, "1", "1001#")
    assert data["outcome"] == "self_service"
    assert "Your order has shipped and arrives Friday." in said(data)


@pytest.mark.parametrize(
    ("order", "why"),
    [
        ("1002", "orders: the answer has no 'eta', which a prompt says"),
        ("1003", "orders: the answer's 'eta' is empty, which a prompt says"),
    ],
)
def test_a_url_answer_without_a_field_a_prompt_says_takes_the_error_path(
    menu, order, why
):
    data = ivr_call(menu, "1", order + "#")
    assert {"verb": "Lookup", "node": "order_lookup", "failed": why} in data[
        "transcript"
    ]
    assert not any("arrives" in text for text in said(data))
    assert said(data)[-1] == "Sorry, we cannot look that up now. Goodbye."
    assert data["outcome"] == "menu_hangup"


def test_a_source_that_fails_is_named_and_its_hangup_is_menu_hangup(menu):
    data = ivr_call(menu, "1", "1005#")
    notes = [e for e in data["transcript"] if e["verb"] == "Lookup"]
    assert notes == [
        {"verb": "Lookup", "node": "order_lookup", "failed": "orders: HTTP 500"}
    ]
    assert data["outcome"] == "menu_hangup"


def test_no_record_is_an_answer_not_a_failure(menu):
    data = ivr_call(menu, "1", "1004#")
    assert said(data)[-1] == "We found nothing under that number. Goodbye."
    assert data["outcome"] == "self_service"


def test_a_csv_row_with_an_empty_cell_a_prompt_says_takes_the_error_path(menu):
    data = ivr_call(menu, "2", "5002#")
    assert {
        "verb": "Lookup",
        "node": "parcel_lookup",
        "failed": "parcels: the answer's 'eta' is empty, which a prompt says",
    } in data["transcript"]
    assert data["outcome"] == "menu_hangup"
    assert "Your parcel is on its way and arrives Monday." in said(
        ivr_call(menu, "2", "5001#")
    )


def test_scenarios_expect_menu_hangup(menu):
    menu.with_name("truth.calls.yaml").write_text(
        """\
calls:
  - name: silence twice
    inputs: [silence, silence]
    expect: {outcome: menu_hangup}
  - name: the order service leaves the date out
    inputs: [{press: "1"}, {press: "1002#"}]
    expect: {outcome: menu_hangup, not_hears: [arrives], visits: [sorry]}
  - name: hours then goodbye
    inputs: [{press: "3"}]
    expect: {outcome: menu_hangup}
""",
        encoding="utf-8",
    )
    report = run_scenarios(menu)
    assert report.failures == [
        f"{menu.with_name('truth.calls.yaml')}:10: scenario 'hours then goodbye': "
        "expected outcome 'menu_hangup', got 'self_service'"
    ]


def test_fuzzing_counts_menu_hangups_apart(menu):
    report = fuzz_menu(menu, 60, random.Random(7))
    assert report.findings == []
    assert report.outcomes["menu_hangup"] > 0
    assert report.outcomes["self_service"] > 0


def test_call_records_keep_menu_hangups_apart(menu, tmp_path):
    database = str(tmp_path / "ivr.sqlite3")
    app = create_app(
        {
            "MENUS": str(menu.parent),
            "SECRET_KEY": "truth-secret-" + "k" * 32,
            "DATABASE": database,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "STORE_SYNC": True,
        }
    )
    url = "http://localhost/voice"
    scripts = {
        "+8613900000301": [Silence(), Silence()],
        "+8613900000302": [Press("1"), Press("1002#")],
        "+8613900000303": [Press("3")],
        "+8613900000304": [Press("1"), Press("1001#")],
        "+8613900000305": [Press("4"), Silence(), Silence()],  # answered first
    }
    for number, inputs in scripts.items():
        caller = Caller(
            WsgiTransport(app), url, from_number=number, to_number="+861000000300",
            auth_token=TOKEN, status_callback=url + "/status",
        )  # fmt: skip
        assert caller.call(inputs).outcome != "error"
    app.extensions["ivr"].store.close()
    result = CliRunner().invoke(
        main,
        ["report", "--database", database, "--menus", str(menu.parent), "--json"],
    )
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.output)["outcomes"]
    assert {name: row["calls"] for name, row in outcomes.items()} == {
        "menu_hangup": 2,
        "self_service": 3,
    }
