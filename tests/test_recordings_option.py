"""Every command that loads menus takes the same ``--recordings DIR``.

A menu whose recordings live outside ``recordings/`` beside the menus folder is
accepted by ``ivr check --recordings DIR``; ``ivr call``, ``ivr test`` and
``ivr serve`` must accept it the same way, and play the file from there.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import RECORDINGS

import ivr.cli.serve
from ivr.cli import main

MENU = """\
start: welcome
nodes:
  welcome:
    say: Welcome.
    play: hello.wav
    next: bye
  bye: {hangup: Goodbye.}
"""
CALLS = """\
calls:
  - name: welcome is played
    expect: {outcome: self_service}
"""


@pytest.fixture
def folders(tmp_path):
    menus = tmp_path / "menus"
    menus.mkdir()
    (menus / "line.yaml").write_text(MENU)
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(RECORDINGS / "welcome.wav", audio / "hello.wav")
    return menus, audio


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_without_the_option_the_menu_is_refused(folders):
    menus, _ = folders
    result = run("call", str(menus / "line.yaml"), "--json")
    assert result.exit_code == 1
    assert "recording 'hello.wav' is not in recordings/" in result.stderr


def test_check_call_test_and_serve_all_take_recordings(folders, monkeypatch):
    menus, audio = folders
    menu = str(menus / "line.yaml")
    check = run("check", menu, "--recordings", str(audio))
    assert check.exit_code == 0, check.output

    call = run("call", menu, "--recordings", str(audio), "--json")
    assert call.exit_code == 0, call.output
    result = json.loads(call.stdout)
    assert result["outcome"] == "self_service"
    assert result["transcript"][0]["verb"] == "Play"
    assert result["transcript"][0]["url"].endswith("/recordings/hello.wav")

    (menus / "line.calls.yaml").write_text(CALLS)
    test = run("test", str(menus), "--recordings", str(audio))
    assert test.exit_code == 0, test.output
    assert "1/1 scenarios passed" in test.stdout

    served = {}

    def fake_gunicorn(app, options):
        served["recordings"] = app.config["RECORDINGS"]
        return type("Server", (), {"run": lambda self: None})()

    monkeypatch.setattr(ivr.cli.serve, "_gunicorn_app", fake_gunicorn)
    monkeypatch.chdir(menus.parent)
    serve = run("serve", "--menus", str(menus), "--recordings", str(audio))
    assert serve.exit_code == 0, serve.output
    assert served["recordings"] == str(audio)
