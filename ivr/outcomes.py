"""How a call ended, and what each step of it tells the call's record.

A call record (``ivr.store.records``) is written from the webhooks of a call, so
each step says what the report will need and only the menu knows: whether the
menu *answered* the caller on this step, whether it *gave up* on them (their
retries ran out), and which queue and topic they were heading to.

An **answer** is a message node (``say``/``play`` then ``next``) on the
self-service path, after the caller's first choice: the order's status, the
refund's progress, the opening hours. A caller who hangs up after an answer was
served by the menu; one who hangs up before it gave up on the menu. Think of a
shop assistant: a customer who walks out after being told where the shoes are
was helped; one who walks out while waiting to be asked was not.

The outcomes, one per call (``OUTCOMES``):

- ``self_service``: ended in the menu, by the menu's goodbye or by the caller
  after an answer;
- ``menu_hangup``: the menu hung up on a failure path before any answer: the
  step that hung up began with the caller's retries running out
  (``Step.gave_up``) or a lookup taking its error door (``Step.failed``), and
  no earlier step answered the caller;
- ``caller_hangup``: the caller hung up in the menu before any answer;
- ``answered`` (by an agent, with the wait) and ``abandoned`` (hung up while
  holding, with the wait);
- ``callback_asked``, ``callback_placed`` (dialled, not reached yet),
  ``callback_reached`` and ``callback_failed`` (attempts used up);
- ``voicemail`` (with the recording), ``transfer`` (another number answered),
  ``error`` (the call failed, or ended in the apology after a fault).
"""

from __future__ import annotations

from typing import Any

from ivr.engine import Enqueue, Step
from ivr.graph.paths import human_path_nodes, lead_in
from ivr.menu import Menu, MessageNode, QueueNode

__all__ = ["HUMAN_OUTCOMES", "MENU_OUTCOMES", "OUTCOMES", "answer_nodes", "step_facts"]

MENU_OUTCOMES = ("self_service", "menu_hangup", "caller_hangup")
HUMAN_OUTCOMES = (
    "answered",
    "abandoned",
    "callback_asked",
    "callback_placed",
    "callback_reached",
    "callback_failed",
    "voicemail",
    "transfer",
)
OUTCOMES = (*MENU_OUTCOMES, *HUMAN_OUTCOMES, "error")

_ANSWERS: dict[int, tuple[Menu, frozenset[str]]] = {}


def answer_nodes(menu: Menu) -> frozenset[str]:
    """The menu's answer nodes (see the module's docstring); computed once."""
    cached = _ANSWERS.get(id(menu))
    if cached is not None and cached[0] is menu:
        return cached[1]
    human = human_path_nodes(menu)
    before_choice = set(lead_in(menu))
    answers = frozenset(
        node_id
        for node_id, node in menu.nodes.items()
        if isinstance(node, MessageNode)
        and node_id not in human
        and node_id not in before_choice
    )
    _ANSWERS[id(menu)] = (menu, answers)
    return answers


def step_facts(menu: Menu, step: Step) -> dict[str, Any]:
    """What ``step`` tells the call record, as event detail (only what is set).

    ``answer``: the step passed an answer node; ``gave_up``: the node whose
    retries ran out; ``lookup_failed``: the lookup that took its error path;
    ``queue``, ``topic``: the queue the caller joins, or whose node they passed
    while the line was closed.
    """
    facts: dict[str, Any] = {}
    if answer_nodes(menu).intersection(step.nodes):
        facts["answer"] = True
    if step.gave_up:
        facts["gave_up"] = step.gave_up
    if step.failed:
        facts["lookup_failed"] = step.failed[0]
    if isinstance(step.action, Enqueue):
        facts["queue"] = step.action.queue
        facts["topic"] = step.action.topic
        return facts
    for node_id in reversed(step.nodes):
        node = menu.nodes.get(node_id)
        if isinstance(node, QueueNode):
            facts["queue"] = node.queue
            facts["topic"] = node.topic or menu.queues[node.queue].title
            break
    return facts
