"""The agent line: what agents and the people they talk to hear, and who may call.

An agent starts work by ringing one of the roster's numbers from a phone listed
for them. The line greets them, says how many callers and callbacks wait in the
queues they serve, and asks for 1 (take the next) or 9 (stop). Before each
conversation the agent is *briefed*: a live caller's topic, how long they waited
and the facts the menu collected; or, for a callback, that it is a callback, when
it was asked for and which attempt this is. Then the app connects them (the web
layer renders ``<Dial><Queue>`` or ``<Dial><Number>``). The caller hears a short
"connecting you now"; a customer called back first hears who is calling and why.

This module is pure: texts and decisions only. The web layer (``ivr.web.agent``)
asks the store for the next piece of work and renders TwiML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ivr.menu import Menu
from ivr.phrases import duration_phrase, phrase
from ivr.roster import Agent

__all__ = [
    "MOVES",
    "agent_menu",
    "briefing",
    "greeting",
    "usable_number",
    "whisper",
]

# What the agent line does, by name: the trace of each answer names its move, so
# scenario coverage can say which ones no scenario exercised.
MOVES = {
    "refused": "a number not on the roster turned away",
    "on_shift": "an agent starting a shift",
    "nobody": "an agent told that nobody waits",
    "take_caller": "an agent taking a waiting caller",
    "bridge": "a caller connected to an agent",
    "take_callback": "an agent calling a customer back",
    "whisper": "a customer called back hearing who calls",
    "callback_reached": "a callback reaching the customer",
    "callback_retry": "a callback not answered, back in line",
    "callback_failed": "a callback given up after its attempts",
    "stop": "an agent ending the shift",
}

# What Twilio puts in From when the caller's number is withheld or unknown:
# words, and the numbers some carriers send for anonymous, restricted and
# unavailable callers. None can be called back.
_WITHHELD = {"anonymous", "restricted", "unknown", "unavailable", "private"}
_WITHHELD_NUMBERS = {"+266696687", "+86282452253", "+7378742833", "+2562533"}
_DIALLABLE = re.compile(r"\+[1-9]\d{6,14}")


def usable_number(number: str | None) -> bool:
    """Whether a caller can be called back on ``number`` (the call's ``From``).

    An E.164 phone number, not one of the stand-ins carriers send for withheld
    numbers. A Twilio Client or SIP caller has no number to dial back.
    """
    number = (number or "").strip()
    if number.lower() in _WITHHELD or number in _WITHHELD_NUMBERS:
        return False
    return bool(_DIALLABLE.fullmatch(number))


def agent_menu(agent: Agent, menus: Mapping[str, Menu]) -> Menu | None:
    """The menu whose language and voice the agent hears: their first queue's."""
    for menu_id, _ in agent.serves:
        if menu_id in menus:
            return menus[menu_id]
    return None


def _count(language: str, n: int, noun: str) -> str:
    if language.split("-")[0].lower() == "zh":
        return str(n)
    return phrase(language, f"n_{noun}" if n == 1 else f"n_{noun}s", n=n)


def greeting(
    language: str, agent: Agent, callers: int, callbacks: int, *, hello: bool
) -> str:
    """The agent's prompt: hello (on the first one), who waits, 1 or 9."""
    text = phrase(language, "agent_hello", agent=agent.name) if hello else ""
    if callers or callbacks:
        text += phrase(
            language,
            "agent_waiting",
            callers=_count(language, callers, "caller"),
            callbacks=_count(language, callbacks, "callback"),
        )
    else:
        text += phrase(language, "agent_nobody")
    return text + phrase(language, "agent_choices")


def _facts(language: str, facts: Sequence[tuple[str, str]]) -> str:
    if not facts:
        return ""
    items = [phrase(language, "agent_fact", label=k, value=v) for k, v in facts]
    joined = phrase(language, "agent_facts_join").join(items)
    return joined + phrase(language, "agent_facts_end")


def briefing(
    language: str,
    *,
    kind: str,
    topic: str,
    facts: Sequence[tuple[str, str]],
    waited_s: float,
    attempt: int = 1,
) -> str:
    """What the agent hears before the bridge: who, about what, and the facts.

    ``waited_s`` is how long the caller has waited (a live caller) or how long
    ago the callback was asked for (its place in line is older: when the
    caller first queued).
    """
    waited = duration_phrase(language, waited_s)
    if kind == "callback":
        text = phrase(
            language, "agent_callback", topic=topic, asked=waited, attempt=attempt
        )
        return text + _facts(language, facts) + phrase(language, "agent_dialing")
    text = phrase(language, "agent_caller", topic=topic, waited=waited)
    return text + _facts(language, facts) + phrase(language, "agent_connect")


def whisper(menu: Menu, topic: str) -> str:
    """What a customer called back hears on answering, before the agent."""
    return phrase(menu.language, "whisper", line=menu.title, topic=topic)
