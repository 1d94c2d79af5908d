"""The agent line: agents call in, hear who waits, and take the next one.

A call to one of the roster's ``numbers`` reaches ``POST /voice`` like any call;
``voice.incoming`` recognises the number and hands it here. The agent is known
by the call's ``From``; anyone else is told the line is for staff. A known agent
is marked on shift and hears how many callers and callbacks wait in the queues
they serve: 1 takes the next one (``ivr.store.lines.claim_next`` chooses it), 9
ends the shift. After each conversation Twilio requests the Dial's action and
the agent is back at the same prompt.

Every URL carries the agent's id sealed like a call's state; the store's
transactions make sure two agents never get the same caller or callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response
from twilio.twiml.voice_response import VoiceResponse

from ivr import agentline
from ivr.menu import Menu
from ivr.phrases import phrase
from ivr.roster import Agent
from ivr.store import Work
from ivr.twiml import (
    render_agent_prompt,
    render_call_back,
    render_say_hangup,
    render_take_caller,
)
from ivr.web.hooks import Hook, webhook, xml
from ivr.web.sealing import Binding

bp = Blueprint("agent", __name__, url_prefix="/agent")
log = logging.getLogger(__name__)

NOBODY_PAUSE_S = 15  # with nobody waiting, the line looks again after this


def _agent(hook: Hook) -> tuple[Agent, Menu]:
    """The agent whose id is sealed in the URL, and the menu they hear."""
    runtime = hook.runtime
    fields = hook.fields("agent")
    agent = runtime.roster.agent(str(fields.get("a"))) if runtime.roster else None
    if agent is None:
        raise LookupError(f"agent {fields.get('a')!r} is not on the roster")
    return agent, agentline.agent_menu(agent, runtime.menus) or runtime.default


def _fault(hook: Hook) -> Response:
    """The dispatch failed (the store is down...): say so, and ask again later."""
    runtime = hook.runtime
    menu = runtime.default
    try:
        agent, menu = _agent(hook)
    except Exception:
        agent = runtime.roster.agent_for(hook.get("From")) if runtime.roster else None
        if agent is not None:
            menu = agentline.agent_menu(agent, runtime.menus) or menu
    text = phrase(menu.language, "agent_fault")
    if agent is None:
        return xml(render_say_hangup(text, menu))
    response = render_agent_prompt(
        text,
        menu,
        next_url=hook.link("/agent/next", "agent", a=agent.id),
        again_url=hook.link("/agent/menu", "agent", a=agent.id),
        pause_s=5,
    )
    return xml(response)


def _open_queues(hook: Hook, agent: Agent) -> list[tuple[str, str]]:
    """The (menu, queue) pairs the agent serves whose line is open now."""
    now = hook.runtime.clock()
    menus = hook.runtime.menus
    return [
        (menu_id, queue)
        for menu_id, queue in agent.serves
        if menu_id in menus and menus[menu_id].is_open(now)
    ]


def _prompt(hook: Hook, agent: Agent, menu: Menu, *, hello: bool) -> Response:
    """The agent is ready: who waits, then 1 for the next or 9 to stop.

    The shift starts with the first prompt (``hello``); later prompts only read
    (after a conversation, ``finish`` has made the agent ready again).
    """
    runtime = hook.runtime
    if hello:
        runtime.store.agent_ready(agent.id, hook.get("CallSid"), agent.serves)
    callers, callbacks = runtime.store.waiting_counts(_open_queues(hook, agent))
    text = agentline.greeting(menu.language, agent, callers, callbacks, hello=hello)
    return xml(
        render_agent_prompt(
            text,
            menu,
            next_url=hook.link("/agent/next", "agent", a=agent.id),
            again_url=hook.link("/agent/menu", "agent", a=agent.id),
            pause_s=0 if callers or callbacks else NOBODY_PAUSE_S,
        )
    )


def answer_agent_line(hook: Hook) -> Response:
    """A call to the agent line: staff are greeted, anyone else turned away."""
    runtime = hook.runtime
    agent = runtime.roster.agent_for(hook.get("From")) if runtime.roster else None
    if agent is None:
        menu = runtime.default
        hook.record("agent_refused", detail={"from": hook.get("From")})
        refused = render_say_hangup(phrase(menu.language, "agent_not_staff"), menu)
        return hook.traced(xml(refused), "refused")
    menu = agentline.agent_menu(agent, runtime.menus) or runtime.default
    hook.record(
        "agent_on",
        detail={"agent": agent.id, "serves": [list(pair) for pair in agent.serves]},
    )
    try:
        return hook.traced(_prompt(hook, agent, menu, hello=True), "on_shift")
    except Exception:
        log.exception("agent line: could not put %s on shift", agent.id)
        return _fault(hook)


def _agent_webhook(handler: Callable[[Hook], Response]) -> Callable[[], Response]:
    """``webhook`` with the agent line's fault answer instead of the caller's."""
    return webhook(handler, fallback=_fault)


@bp.route("/menu", methods=["GET", "POST"])
@_agent_webhook
def menu(hook: Hook) -> Response:
    """The agent's prompt again (after silence, a conversation, or nobody waiting)."""
    agent, menu = _agent(hook)
    return _prompt(hook, agent, menu, hello=False)


@bp.route("/next", methods=["GET", "POST"])
@_agent_webhook
def next_work(hook: Hook) -> Response:
    """1: the next caller or callback, briefed then connected; 9: end the shift."""
    agent, menu = _agent(hook)
    runtime = hook.runtime
    digits = hook.get("Digits")
    if digits == "9":
        runtime.store.agent_off(agent=agent.id)
        hook.record("agent_off", detail={"agent": agent.id})
        bye = render_say_hangup(phrase(menu.language, "agent_bye"), menu)
        return hook.traced(xml(bye), "stop")
    if digits != "1":
        return _prompt(hook, agent, menu, hello=False)
    work = runtime.store.claim_next(agent.id, _open_queues(hook, agent))
    if work is None:
        return hook.traced(_prompt(hook, agent, menu, hello=False), "nobody")
    hook.record("agent_take", detail={"agent": agent.id, "work": work.ref})
    return hook.traced(xml(_connect(hook, agent, menu, work)), f"take_{work.kind}")


def _connect(hook: Hook, agent: Agent, menu: Menu, work: Work) -> VoiceResponse:
    """The TwiML that briefs the agent on ``work`` and connects them."""
    runtime = hook.runtime
    line = runtime.menus.get(work.menu, menu)
    title = line.queues[work.queue].title if work.queue in line.queues else work.queue
    now = runtime.clock().timestamp()
    done_url = hook.link("/agent/done", "agent", a=agent.id, w=work.ref)
    text = agentline.briefing(
        menu.language,
        kind=work.kind,
        topic=work.topic or title,
        facts=work.facts,
        waited_s=now - (work.asked_at if work.asked_at is not None else work.since),
        attempt=work.attempt,
    )
    if work.kind == "callback":
        return render_call_back(
            text,
            menu,
            number=work.number or "",
            caller_id=(line.numbers or runtime.roster.numbers or (None,))[0],
            # Requested by the customer's new call, whose parent is the agent's.
            whisper_url=hook.link(
                "/voice/whisper",
                "whisper",
                Binding("ParentCallSid", hook.get("CallSid")),
                m=line.id,
                t=work.topic or title,
            ),
            done_url=done_url,
        )
    return render_take_caller(
        text,
        menu,
        queue=work.twilio_queue or "",
        # Requested with the dequeued caller's CallSid, the agent's as dequeuer.
        bridge_url=hook.link(
            "/voice/bridge",
            "bridge",
            Binding("DequeingCallSid", hook.get("CallSid")),
            a=agent.id,
            m=work.menu,
            q=work.queue,
            t=work.twilio_queue,
            p=work.priority,
        ),
        done_url=done_url,
    )


@bp.route("/done", methods=["GET", "POST"])
@_agent_webhook
def done(hook: Hook) -> Response:
    """The agent's Dial ended: settle the work, then the same prompt again."""
    agent, menu = _agent(hook)
    fields = hook.fields("agent")
    status = hook.get("DialCallStatus", "failed")
    result = hook.runtime.store.finish(
        agent=agent.id, work=str(fields.get("w", "")), dial_status=status
    )
    hook.record(
        "agent_done",
        detail={"agent": agent.id, "work": fields.get("w"), "status": status,
                "callback": result},
    )  # fmt: skip
    response = _prompt(hook, agent, menu, hello=False)
    if result is None:
        return response
    move = {"pending": "callback_retry"}.get(result, f"callback_{result}")
    return hook.traced(response, move)
