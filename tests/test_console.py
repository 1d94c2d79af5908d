"""The console in process: calls played from their plans, menus that follow their
files, and who may open it. (In a real browser: tests/test_console_browser.py.)"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from ivr.caller import Press
from ivr.console.follow import MenuFollower
from ivr.console.plan import Move, PlanError, read_move, read_plan
from ivr.console.replay import replay
from ivr.console.timeline import digest
from ivr.web.menuset import load_menu_set
from tests.conftest import FIXTURES, RECORDINGS, make_app

CONSOLE_MENUS = FIXTURES / "console" / "menus"
AGENT = "+15005550101"  # Amy, in the fixture's agents.yaml
DIAL = {"at": "2026-11-25T10:00", "caller": "+8613800000000"}  # a Wednesday


def console_app(tmp_path: Path, **config):
    """The fixture line copied to tmp_path/menus (tests edit the copy)."""
    menus = tmp_path / "menus"
    if not menus.exists():
        shutil.copytree(CONSOLE_MENUS, menus)
    settings = {"MENUS": str(menus), "RECORDINGS": str(RECORDINGS), "CONSOLE": True}
    settings.update(config)
    return make_app(tmp_path, **settings)


@pytest.fixture
def console(tmp_path):
    return console_app(tmp_path).test_client()


def move(client, data, made=None, menu="desk"):
    body = {"plan": data["plan"], "move": made, "seen": data["seen"]}
    answer = client.post(f"/console/menu/{menu}/call", json=body)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def dial(client, menu="desk", **fields):
    answer = client.post(
        f"/console/menu/{menu}/call", json={"dial": {**DIAL, **fields}}
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def heard(data, who="transcript"):
    return [e["text"] for e in data["detail"].get(who, []) if e["verb"] == "Say"]


def listed_problems(page: str) -> list[str]:
    """The problems a graph fragment lists under the file's name."""
    block = re.search(r'<ul class="problems" id="problems">(.*?)</ul>', page, re.S)
    if block is None:
        return []
    found = re.findall(r"<li><code>(.*?)</code></li>", block[1], re.S)
    return [html.unescape(problem) for problem in found]


def edit(path: Path, old: str, new: str) -> None:
    """Change the file so its modification time moves on, whatever the clock."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    before = path.stat().st_mtime_ns
    # Whole at once, as an editor saves: a follower never reads half a file.
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(fresh, ns=(before + 10**9, before + 10**9))
    os.replace(fresh, path)


# -- a call, move by move --------------------------------------------------------


def test_a_console_call_hears_an_orders_status_and_lights_its_nodes(console):
    data = dial(console)
    assert heard(data) == ["For an order press 1. For a person press 0."]
    assert data["phone"]["mode"] == "keys" and data["phone"]["num_digits"] == 1
    assert data["current"] == "node-main"
    assert data["clock"] == "2026-11-25 10:00:05"  # the prompt took its time

    data = move(console, data, {"kind": "press", "value": "1"})
    assert data["current"] == "node-order_ask"
    assert data["phone"]["finish"] == "#"
    data = move(console, data, {"kind": "press", "value": "123456#"})

    assert data["done"] and data["phone"]["outcome"] == "self_service"
    assert heard(data)[-2:] == [
        "Order 123456 has shipped.",
        "Thank you for calling. Goodbye.",
    ]
    assert data["detail"]["variables"]["order_id"] == "123456"
    assert data["visited"] == [
        "node-bye", "node-main", "node-order_ask", "node-order_lookup",
        "node-order_status",
    ]  # fmt: skip
    assert "presses 123456#" in data["transcript"]
    assert data["notice"] is None


def test_a_console_call_ignores_the_servers_own_twilio_settings(tmp_path, monkeypatch):
    # ivr serve behind Twilio: the token and public URL are the server's, not
    # those of the line the console rings in process.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "the-servers-token")
    monkeypatch.setenv("IVR_PUBLIC_URL", "https://ivr.example.com")
    client = console_app(tmp_path).test_client()
    data = move(client, dial(client), {"kind": "press", "value": "1"})
    assert data["detail"]["outcome"] is None, data["detail"]
    assert heard(data)[-1] == "Enter your order number, then press hash."


def test_an_agent_from_the_roster_takes_the_holding_caller(console):
    data = move(console, dial(console), {"kind": "press", "value": "0"})
    phone = data["phone"]
    assert (phone["mode"], phone["in_queue"], phone["queue"]) == (
        "hold", True, "desk/orders",
    )  # fmt: skip
    assert phone["agents"] == [{"id": "amy", "name": "Amy", "phone": AGENT}]
    assert "hold round 1, position 1" in data["transcript"]

    data = move(console, data, {"kind": "hold"})  # one more round
    assert "hold round 2, position 1, waited" in data["transcript"]
    assert not data["done"]

    data = move(console, data, {"kind": "agent", "value": AGENT, "at_s": data["at_s"]})
    assert data["done"]
    assert data["detail"]["queue_result"] == "bridged"
    assert heard(data)[-1] == "Connecting you to an agent now."
    briefing = heard(data, "agent_transcript")
    assert briefing[0].startswith("Hello Amy. Waiting in your queues: 1 caller")
    assert briefing[1] == "Caller, Orders, waited 3 minutes. Connecting."
    assert "agent Amy" in data["transcript"]
    assert "talks with +15005550101 for 60 s" in data["transcript"]


def test_hanging_up_while_holding_ends_the_call_in_the_queue(console):
    data = move(console, dial(console), {"kind": "press", "value": "0"})
    data = move(console, data, {"kind": "hangup"})
    assert data["done"]
    assert data["detail"]["queue_result"] == "hangup"
    assert data["phone"]["outcome"] == "queue"


def test_a_plan_plays_the_same_call_again_whichever_time(tmp_path):
    menus = load_menu_set([CONSOLE_MENUS], RECORDINGS)
    plan = read_plan(
        {"menu": "desk", "at": "2026-11-25T10:00+08:00", "caller": "+8613800000000"}
    )
    plan = plan.then(Move("press", "0")).then(Move("hold"))
    first, second = replay(menus, plan), replay(menus, plan)
    assert len(first.moments) == len(second.moments) > 8
    assert digest(first.moments) == digest(second.moments)
    assert first.at_s == second.at_s


def test_an_edit_under_a_call_in_progress_is_said_so(tmp_path):
    app = console_app(tmp_path)
    client = app.test_client()
    data = move(client, dial(client), {"kind": "press", "value": "1"})
    edit(tmp_path / "menus" / "desk.yaml", "For an order press 1", "For orders press 1")
    data = move(client, data, {"kind": "press", "value": "123456#"})
    assert data["notice"].startswith("This call now plays differently")
    assert heard(data)[0] == "For orders press 1. For a person press 0."


def test_moves_the_console_cannot_play_are_refused_with_the_reason(console):
    data = dial(console)
    for made, error in [
        ({"kind": "press", "value": "1a"}, "keys must be 0-9, # and *, got '1a'"),
        ({"kind": "agent", "value": "+1999"},
         f"no agent in {console.application.config['MENUS']}/agents.yaml "
         "calls from '+1999'"),
        ({"kind": "dance"},
         "move kind must be one of press, say, silence, hold, agent, hangup, "
         "got 'dance'"),
        ({"kind": "hold", "value": "x"}, "a hold move takes no value"),
    ]:  # fmt: skip
        body = {"plan": data["plan"], "move": made}
        answer = console.post("/console/menu/desk/call", json=body)
        assert (answer.status_code, answer.get_json()) == (400, {"error": error})
    answer = console.post("/console/menu/desk/call", json={"dial": {"at": "soon"}})
    assert answer.get_json() == {
        "error": "clock must look like '2026-11-27 23:30', got 'soon'"
    }
    answer = console.post("/console/menu/desk/call", data="plan=1")
    assert answer.status_code == 400


def test_a_plan_is_checked_before_it_is_played():
    with pytest.raises(PlanError, match="at must carry its offset"):
        read_plan({"menu": "desk", "at": "2026-11-25T10:00", "caller": "+86"})
    with pytest.raises(PlanError, match="at most 200 moves"):
        read_plan(
            {
                "menu": "desk",
                "at": "2026-11-25T10:00+08:00",
                "caller": "+86",
                "moves": [{"kind": "silence"}] * 201,
            }
        )
    assert read_move({"kind": "press", "value": "12#"}).as_input() == Press("12#")


# -- menus that follow their files ---------------------------------------------------


def test_an_edit_shows_on_the_graph_and_the_next_call_hears_it(tmp_path):
    app = console_app(tmp_path)
    client = app.test_client()
    version = client.get("/console/version").get_json()["version"]
    edit(tmp_path / "menus" / "desk.yaml", "For a person press 0.", "Agents press 0.")

    assert client.get("/console/version").get_json()["version"] != version
    graph = client.get("/console/menu/desk/graph").get_data(as_text=True)
    assert "Agents press 0." in graph and "For a person press 0." not in graph
    assert heard(dial(client)) == ["For an order press 1. Agents press 0."]


def test_a_broken_edit_lists_its_problem_while_calls_hear_the_last_good_menu(
    tmp_path,
):
    app = console_app(tmp_path)
    client = app.test_client()
    path = tmp_path / "menus" / "desk.yaml"
    edit(path, '"1": {goto: order_ask,', '"1": {goto: order_aks,')
    edit(path, "For a person press 0.", "Agents press 0.")

    graph = client.get("/console/menu/desk/graph").get_data(as_text=True)
    assert listed_problems(graph) == [
        f"{path}:25: option '1' goes to unknown node 'order_aks' (did you mean 'order_ask'?)"
    ]
    assert "calls hear its last good version" in graph
    marked = (
        'id="node-main" class="node ivr-node kind-menu path-self-service has-problem"'
    )
    assert marked in html.unescape(graph)
    data = move(client, dial(client), {"kind": "press", "value": "1"})
    assert heard(data) == [
        "For an order press 1. For a person press 0.",
        "Enter your order number, then press hash.",
    ]
    page = client.get("/console/").get_data(as_text=True)
    assert "1 problem(s): its last good version is served" in page


def test_the_follower_reloads_only_when_a_file_changed(tmp_path):
    app = console_app(tmp_path)
    runtime = app.extensions["ivr"]
    follower = MenuFollower(runtime, [tmp_path / "menus"])
    served = runtime.menu_set
    assert not follower.check()
    assert runtime.menu_set is served
    (tmp_path / "menus" / "agents.yaml").write_text(
        (CONSOLE_MENUS / "agents.yaml").read_text().replace("name: Amy", "name: Bo")
    )
    os.utime(tmp_path / "menus" / "agents.yaml", ns=(time.time_ns() + 10**9,) * 2)
    assert follower.check()
    assert runtime.roster.agents[0].name == "Bo"
    # SIGHUP reloads whatever the files; then they count as seen.
    os.utime(tmp_path / "menus" / "agents.yaml", ns=(time.time_ns() + 2 * 10**9,) * 2)
    served = runtime.menu_set
    assert follower.reload() == []
    assert runtime.menu_set is not served
    assert not follower.check()


# -- who may open it -----------------------------------------------------------------


def test_the_console_is_off_unless_asked_for(tmp_path):
    client = make_app(tmp_path).test_client()
    assert client.get("/console/").status_code == 404


def test_the_console_needs_no_signature_but_the_webhooks_still_do(console):
    assert console.get("/console/").status_code == 200
    assert console.get("/console/menu/desk").status_code == 200
    assert console.post("/voice", data={"CallSid": "CA1"}).status_code == 403
    rules = console.application.url_map.iter_rules()
    mine = [r.rule for r in rules if r.endpoint.startswith("console.")]
    assert mine and all(rule.startswith("/console/") for rule in mine)


def test_without_a_password_only_plainly_local_requests_are_let_in(console):
    assert console.get("/console/").status_code == 200
    for environ, headers in [
        ({"REMOTE_ADDR": "10.0.0.7"}, {}),
        ({}, {"Host": "ivr.example.com"}),  # a rebound domain
        ({}, {"X-Forwarded-For": "203.0.113.9"}),  # a proxy on this machine
    ]:
        answer = console.get("/console/", environ_base=environ, headers=headers)
        assert answer.status_code == 403
        assert "IVR_CONSOLE_PASSWORD" in answer.get_data(as_text=True)


def test_a_cross_site_post_is_refused(console):
    answer = console.post(
        "/console/menu/desk/call",
        json={"dial": DIAL},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert answer.status_code == 403


def _basic(password: str, user: str = "designer") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_with_a_password_basic_authentication_lets_in_from_anywhere(tmp_path):
    client = console_app(tmp_path, CONSOLE_PASSWORD=12345).test_client()  # JSON env
    far = {"REMOTE_ADDR": "203.0.113.9"}
    answer = client.get("/console/", environ_base=far)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="ivr console"'
    # A browser's page is sent to the form; the page's script gets no challenge
    # (which would open the browser's own dialog).
    answer = client.get("/console/menu/desk", headers={"Accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/login?next=/console/menu/desk?"
    answer = client.get("/console/version", headers={"X-IVR-Console": "1"})
    assert answer.status_code == 401 and "WWW-Authenticate" not in answer.headers
    assert client.get("/console/", headers=_basic("1234")).status_code == 401
    ok = client.get("/console/", environ_base=far, headers=_basic("12345"))
    assert ok.status_code == 200
    call = client.post(
        "/console/menu/desk/call", json={"dial": DIAL}, headers=_basic("12345")
    )
    assert call.status_code == 200


def test_with_a_password_the_login_form_sets_a_cookie_for_the_console(tmp_path):
    app = console_app(tmp_path, CONSOLE_PASSWORD="open sesame")
    client = app.test_client()
    wrong = client.post("/console/login", data={"password": "sesame"})
    assert wrong.status_code == 401
    assert "That is not the password." in wrong.get_data(as_text=True)
    answer = client.post(
        "/console/login", data={"password": "open sesame", "next": "/console/menu/desk"}
    )
    assert (answer.status_code, answer.headers["Location"]) == (
        303, "/console/menu/desk",
    )  # fmt: skip
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    assert client.get("/console/menu/desk").status_code == 200
    # A new password logs everyone out.
    app.config["CONSOLE_PASSWORD"] = "another"
    assert client.get("/console/menu/desk").status_code == 401
    app.config["CONSOLE_PASSWORD"] = "open sesame"
    client.post("/console/logout")
    assert client.get("/console/menu/desk").status_code == 401
    # Never sent on to another site.
    answer = client.post(
        "/console/login", data={"password": "open sesame", "next": "//evil.example/"}
    )
    assert answer.headers["Location"] == "/console/"
