"""Fuzzing: random calls through menus, every failing call with its replay."""

from __future__ import annotations

import random
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from twilio.twiml.voice_response import VoiceResponse

from ivr.cli.call import command as ivr_call
from ivr.cli.test import command as ivr_test
from ivr.testing.fuzz import fuzz_menu

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def hotline(tmp_path, monkeypatch) -> Path:
    shutil.copytree(FIXTURES / "menus", tmp_path / "menus")
    shutil.copytree(FIXTURES / "recordings", tmp_path / "recordings")
    monkeypatch.chdir(tmp_path)
    return Path("menus/hotline.yaml")


@pytest.mark.parametrize("name", ["shop", "shop-en"])
def test_fuzzing_a_default_menu_finds_no_failing_call(name):
    report = fuzz_menu(ROOT / "menus" / f"{name}.yaml", 150, random.Random(2026))
    assert [f.error for f in report.findings] == []
    assert report.calls == 150
    # The random calls really walk the menu, not just hang up at the welcome.
    assert report.outcomes["queue"] > 0
    assert report.outcomes["voicemail"] > 0
    assert len(report.coverage.nodes) > len(report.coverage.menu.nodes) // 2


def test_same_seed_makes_the_same_calls(hotline):
    first = fuzz_menu(hotline, 15, random.Random(5))
    second = fuzz_menu(hotline, 15, random.Random(5))
    assert first.outcomes == second.outcomes
    assert first.coverage.nodes == second.coverage.nodes


def test_fuzz_reports_invalid_twiml_with_a_command_that_replays_it(
    hotline, monkeypatch
):
    import ivr.twiml_cache

    def bad_wait(*args, **kwargs):
        response = VoiceResponse()
        response.dial("+15005550006")  # Twilio refuses <Dial> in a waitUrl
        return response

    monkeypatch.setattr(ivr.twiml_cache, "render_wait", bad_wait)
    result = CliRunner().invoke(ivr_test, ["menus", "--fuzz", "60", "--seed", "1"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if "ended in error" in line]
    assert errors and "<Dial> is not allowed in a waitUrl document" in errors[0]
    replay = next(
        line.split("reproduce: ", 1)[1]
        for line in result.output.splitlines()
        if "reproduce: " in line
    )
    args = shlex.split(replay)
    assert args[:3] == ["ivr", "call", "menus/hotline.yaml"]
    again = CliRunner().invoke(ivr_call, [*args[2:], "--json"])
    assert again.exit_code == 1
    assert '"outcome": "error"' in again.output
    assert "<Dial> is not allowed in a waitUrl document" in again.output


def test_fuzz_reports_an_app_fault_hidden_behind_an_apology(hotline, monkeypatch):
    import ivr.engine

    real = ivr.engine.resume

    def flaky(menu, state, reply, ctx):
        if reply.digits.startswith("2"):
            raise ZeroDivisionError("refund bug")
        return real(menu, state, reply, ctx)

    monkeypatch.setattr(ivr.engine, "resume", flaky)
    report = fuzz_menu(hotline, 40, random.Random(9))
    assert report.findings
    assert all("ZeroDivisionError: refund bug" in f.error for f in report.findings)


def test_clean_fuzz_run_exits_0_and_says_so(hotline):
    result = CliRunner().invoke(ivr_test, ["menus", "--fuzz", "30", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "menus/hotline.yaml: no errors found" in result.output.splitlines()


def test_fuzz_count_must_be_positive(hotline):
    result = CliRunner().invoke(ivr_test, ["menus", "--fuzz", "0"])
    assert result.exit_code == 2
    assert "0 is not in the range x>=1" in result.output
