"""The console on a real `ivr serve` with two workers: any worker plays any move
of a console call, and every worker follows the menu files, also for Twilio."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator

from tests.conftest import serving
from tests.test_console import AGENT, CONSOLE_MENUS, DIAL, edit

TOKEN = "serve-console-token"


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def _all_workers_play(url: str, body: dict, workers: set[int]) -> dict:
    """Send the same move until two workers have played it; they agree."""
    answers = []
    for _ in range(40):
        answers.append(_post_json(url, body))
        workers.add(answers[-1]["worker"])
        if len({a["worker"] for a in answers}) == 2:
            break
    assert len({a["worker"] for a in answers}) == 2, "one worker took every request"
    first = answers[0]
    for other in answers[1:]:
        assert other["seen"] == first["seen"]
        assert other["transcript"] == first["transcript"]
        assert other["plan"] == first["plan"]
    return first


def test_two_workers_play_the_moves_of_one_console_call(tmp_path):
    menus = tmp_path / "menus"
    shutil.copytree(CONSOLE_MENUS, menus)
    workers: set[int] = set()
    with serving(tmp_path, TOKEN, workers=2, menus=menus) as base:
        url = base + "/console/menu/desk/call"
        data = _all_workers_play(url, {"dial": DIAL}, workers)
        for made in ({"kind": "press", "value": "0"}, {"kind": "hold"}):
            body = {"plan": data["plan"], "move": made, "seen": data["seen"]}
            data = _all_workers_play(url, body, workers)
            assert data["notice"] is None
        agent = {"kind": "agent", "value": AGENT, "at_s": data["at_s"]}
        body = {"plan": data["plan"], "move": agent, "seen": data["seen"]}
        data = _all_workers_play(url, body, workers)
    assert data["done"], data["detail"]
    assert data["detail"].get("queue_result") == "bridged", data["detail"]
    assert data["notice"] is None
    assert len(workers) == 2


def _signed_voice(base: str) -> list[str]:
    """What a call to the line hears first, asked as Twilio asks (signed)."""
    url = base + "/voice"
    fields = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800000000",
        "To": "+861000000200",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    signature = RequestValidator(TOKEN).compute_signature(url, fields)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"X-Twilio-Signature": signature, "Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        root = ET.fromstring(answer.read())
    return ["".join(say.itertext()) for say in root.iter("Say")]


def test_every_worker_follows_an_edit_and_twilio_calls_hear_it(tmp_path):
    menus = tmp_path / "menus"
    shutil.copytree(CONSOLE_MENUS, menus)
    processes: list = []
    with serving(tmp_path, TOKEN, workers=2, menus=menus, processes=processes) as base:
        assert _signed_voice(base) == ["For an order press 1. For a person press 0."]
        edit(menus / "desk.yaml", "For a person press 0.", "Agents press 0.")
        new = ["For an order press 1. Agents press 0."]
        # No console request: the workers' own followers see the edit, each
        # within a second or so; then every call hears it, whoever answers.
        deadline = time.monotonic() + 30
        streak = 0
        while streak < 12 and time.monotonic() < deadline:
            streak = streak + 1 if _signed_voice(base) == new else 0
            time.sleep(0.05)
    assert streak == 12
    reloads = re.findall(
        r"menus reloaded from their files \(process (\d+)\)", processes[0].log
    )
    assert len(set(reloads)) == 2  # each worker reloaded by itself
