"""The caller against `ivr serve` for real: gunicorn on loopback, signed calls."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import serving

from ivr.cli.call import command as ivr_call

TOKEN = "caller-serve-token"


@pytest.fixture
def served(tmp_path):
    """`ivr serve` with TWILIO_AUTH_TOKEN set; yields its voice URL."""
    with serving(tmp_path, TOKEN) as base:
        yield base + "/voice"


def test_wrong_token_is_refused_by_ivr_serve_and_reported_as_403(served):
    result = CliRunner().invoke(
        ivr_call, [served, "--token", "not-the-token", "--press", "0", "--json"]
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["outcome"] == "error"
    assert data["error"] == (
        f"POST {served} answered 403 Forbidden: the webhook refused the request "
        "(wrong auth token or X-Twilio-Signature?)"
    )


def test_right_token_walks_the_served_menu_to_a_person(served):
    result = CliRunner().invoke(
        ivr_call,
        [served, "--token", TOKEN, "--to", "+861000000000", "--press", "0", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # Open hours reach the queue; at night the same key reaches voicemail.
    assert data["outcome"] in ("queue", "voicemail")
    assert data["transcript"][0]["verb"] == "Play"
