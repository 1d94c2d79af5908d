"""Faults a live line meets: a broken answer where Twilio allows few verbs, slow
and dead data sources, menus edited while calls go on.
"""

from __future__ import annotations

import pytest
from conftest import TwilioPost, action_of, twiml

from ivr import humanpath
from ivr.caller.document import parse_twiml
from ivr.engine import CallState
from ivr.web.sealing import Binding

# -- 10. the fallback is valid for the document it answers ----------------------------


def _sealed(client, post, node: str) -> str:
    runtime = client.application.extensions["ivr"]
    state = CallState("hotline", node, 0, {"caller": post.fields["From"]})
    return runtime.sealer.seal(state, Binding.for_call(post.fields["CallSid"]))


def _holds(response) -> list:
    """The waitUrl document of ``response``, checked as Twilio checks one."""
    assert response.status_code == 200 and response.mimetype == "text/xml"
    verbs = parse_twiml(response.data, wait=True)
    assert [v.name for v in verbs] == ["Pause"]
    return verbs


@pytest.mark.parametrize("path", ["/voice/wait", "/voice/callback"])
def test_a_forged_state_in_a_wait_document_keeps_the_caller_holding(client, path):
    post = TwilioPost(client)
    verbs = _holds(post(f"{path}?s=forged", QueuePosition="3", Digits="1"))
    assert verbs[0].get("length") == "30"
    events = client.application.extensions["ivr"].store.events(post.fields["CallSid"])
    assert [e["event"] for e in events] == ["fault"]


def test_a_node_renamed_by_a_deploy_keeps_a_holding_caller_in_the_queue(client):
    post = TwilioPost(client)
    token = _sealed(client, post, "agent_orders_old_name")
    _holds(post(f"/voice/wait?s={token}", QueuePosition="3", QueueTime="40"))


def test_a_fault_while_holding_holds_for_the_queues_announcement_interval(
    client, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("estimate failed")

    monkeypatch.setattr(humanpath, "queue_wait", broken)
    post = TwilioPost(client)
    token = _sealed(client, post, "agent_orders_queue")
    verbs = _holds(post(f"/voice/wait?s={token}", QueuePosition="3"))
    assert verbs[0].get("length") == "60"  # the orders queue's announce_every


def test_a_fault_in_the_status_callback_answers_an_empty_document(client, monkeypatch):
    runtime = client.application.extensions["ivr"]

    def broken(*args, **kwargs):
        raise RuntimeError("log broken")

    monkeypatch.setattr(runtime.store, "record", broken)
    root = twiml(TwilioPost(client)("/voice/status", CallStatus="completed"))
    assert len(root) == 0


def test_a_fault_after_the_queue_still_apologises_and_takes_the_human_path(client):
    post = TwilioPost(client)
    root = twiml(post("/voice/queue?s=forged", QueueResult="error"))
    assert root.find("Enqueue") is not None  # a call document: Enqueue is allowed
    assert action_of(root, "Enqueue").startswith("/voice/queue?s=")
