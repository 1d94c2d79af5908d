"""Reading ``menus/agents.yaml``, the agent roster, with every problem at its line.

The roster names menus and queues, so it is checked against the menus of its
folder: an unknown menu or queue gets a did-you-mean, a phone listed for two
agents (the line could not tell who is calling) and an agent who serves nothing
are refused, like any menu mistake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ivr.checks import suggest
from ivr.loader.fields import _E164
from ivr.menu import Menu
from ivr.roster import Agent, Roster
from ivr.yamlread import LineDict, LineList, YamlProblem, read_yaml

__all__ = ["load_roster"]

_TOP_KEYS = ("numbers", "agents")
_AGENT_KEYS = ("id", "name", "phones", "serves")
_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Twilio Client identities and SIP addresses are what Twilio puts in From.
_CLIENT = re.compile(r"client:[A-Za-z0-9._@-]{1,121}")
_SIP = re.compile(r"sip:[^\s@]+@[^\s@]+")


Add = Callable[[int, str], None]


def load_roster(
    path: str | os.PathLike[str],
    menus: Iterable[Menu],
    shown: str | None = None,
    unchecked: Iterable[str] = (),
) -> tuple[Roster | None, list[str]]:
    """Read and check a roster against ``menus``; (roster or None, problems).

    ``unchecked`` are ids of menus that exist but did not load (they have
    problems of their own): queues named in them are not checked again.
    """
    shown = shown or str(path)
    problems: list[tuple[int, str]] = []

    def add(line: int, message: str) -> None:
        problems.append((line, message))

    def done(roster: Roster | None) -> tuple[Roster | None, list[str]]:
        ordered = sorted(dict.fromkeys(problems), key=lambda item: item[0])
        lines = [f"{shown}:{line}: {message}" for line, message in ordered]
        return (None if lines else roster), lines

    try:
        text = Path(path).read_text(encoding="utf-8")
        doc, yaml_problems = read_yaml(text)
    except YamlProblem as problem:
        add(problem.line, problem.message)
        return done(None)
    except (OSError, UnicodeDecodeError) as error:
        add(1, f"cannot read the file: {error}")
        return done(None)
    for problem in yaml_problems:
        add(problem.line, problem.message)
    if not isinstance(doc, LineDict):
        add(1, "the roster is a map with 'numbers' and 'agents'")
        return done(None)
    for key in doc:
        if key not in _TOP_KEYS:
            add(
                doc.line_of(key),
                f"unknown key '{key}' in the roster{suggest(str(key), _TOP_KEYS)}",
            )
    by_id = {menu.id: menu for menu in menus}
    owners: dict[str, str] = {}  # number -> menu id, to refuse a shared number
    for menu in by_id.values():
        for number in menu.numbers:
            owners[number] = menu.id

    numbers: list[str] = []
    raw_numbers = doc.get("numbers")
    if raw_numbers is None:
        add(doc.line, "the roster needs 'numbers': the agent line agents call")
    elif not isinstance(raw_numbers, LineList):
        add(doc.line_of("numbers"), "numbers must be a list")
    else:
        for i, number in enumerate(raw_numbers):
            line = raw_numbers.line_of(i)
            if not isinstance(number, str) or not _E164.fullmatch(number):
                add(
                    line,
                    f"number '{number}' is not in E.164 form like '+861000000009' "
                    "(quote it so YAML keeps the '+')",
                )
            elif number in owners:
                add(line, f"number '{number}' already reaches menu '{owners[number]}'")
            elif number in numbers:
                add(line, f"number '{number}' is listed twice")
            else:
                numbers.append(number)

    agents: list[Agent] = []
    raw_agents = doc.get("agents")
    if not isinstance(raw_agents, LineList) or not raw_agents:
        add(doc.line_of("agents"), "the roster needs 'agents': a list of agents")
        raw_agents = LineList()
    ids: set[str] = set()
    phone_owner: dict[str, str] = {}
    for index, spec in enumerate(raw_agents):
        line = raw_agents.line_of(index)
        if not isinstance(spec, LineDict):
            add(line, "an agent is a map with id, name, phones and serves")
            continue
        for key in spec:
            if key not in _AGENT_KEYS:
                add(
                    spec.line_of(key),
                    f"unknown key '{key}' in an agent{suggest(str(key), _AGENT_KEYS)}",
                )
        agent_id = spec.get("id")
        if agent_id is None:
            add(spec.line, "agent needs an 'id'")
            agent_id = f"#{index + 1}"
        elif not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
            add(
                spec.line_of("id"),
                f"agent id '{agent_id}' must be letters, digits, '.', '_' or '-'",
            )
        elif agent_id in ids:
            add(spec.line_of("id"), f"agent id '{agent_id}' is used twice")
        ids.add(str(agent_id))
        what = f"agent '{agent_id}'"
        name = spec.get("name", agent_id)
        if not isinstance(name, str | int) or isinstance(name, bool):
            add(spec.line_of("name"), f"name of {what} must be text")
            name = agent_id
        phones = _phones(spec, what, add, phone_owner, str(agent_id))
        serves = _serves(spec, what, add, by_id, set(unchecked))
        agents.append(Agent(str(agent_id), str(name), phones, serves, spec.line))
    return done(Roster(shown, tuple(numbers), tuple(agents)))


def _phones(
    spec: LineDict, what: str, add: Add, owner: dict[str, str], agent_id: str
) -> tuple[str, ...]:
    raw: object = spec.get("phones")
    if raw is None:
        add(spec.line, f"{what} needs 'phones': the numbers they call the line from")
        return ()
    if isinstance(raw, str):
        raw = LineList([raw])
        raw.line, raw.lines = spec.line_of("phones"), [spec.line_of("phones")]
    if not isinstance(raw, LineList):
        add(spec.line_of("phones"), f"phones of {what} must be a list")
        return ()
    phones = []
    for i, phone in enumerate(raw):
        line = raw.line_of(i)
        text = phone if isinstance(phone, str) else str(phone)
        if not (
            isinstance(phone, str)
            and (
                _E164.fullmatch(text) or _CLIENT.fullmatch(text) or _SIP.fullmatch(text)
            )
        ):
            add(
                line,
                f"phone '{text}' of {what} must be an E.164 number like "
                "'+8613800000001', 'client:IDENTITY' or 'sip:user@host'",
            )
            continue
        if text in phones:
            add(line, f"phone '{text}' is listed twice for {what}")
            continue
        if text in owner:
            add(
                line,
                f"phone '{text}' is already listed for agent '{owner[text]}': "
                "the line could not tell who calls",
            )
            continue
        owner[text] = agent_id
        phones.append(text)
    return tuple(phones)


def _serves(
    spec: LineDict, what: str, add: Add, menus: dict[str, Menu], unchecked: set[str]
) -> tuple[tuple[str, str], ...]:
    raw: object = spec.get("serves")
    if raw is None or raw == []:
        add(
            spec.line_of("serves"),
            f"{what} serves nothing: list queues as menu/queue, e.g. shop/orders",
        )
        return ()
    if isinstance(raw, str):
        raw = LineList([raw])
        raw.line, raw.lines = spec.line_of("serves"), [spec.line_of("serves")]
    if not isinstance(raw, LineList):
        add(spec.line_of("serves"), f"serves of {what} must be a list of menu/queue")
        return ()
    serves: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        line = raw.line_of(i)
        menu_id, slash, queue = str(item).partition("/")
        if not isinstance(item, str) or not slash:
            add(
                line,
                f"'{item}' in serves of {what} must be menu/queue, e.g. shop/orders",
            )
            continue
        menu = menus.get(menu_id)
        if menu is None and menu_id in unchecked:
            serves.append((menu_id, queue))
            continue
        if menu is None:
            add(
                line, f"{what} serves unknown menu '{menu_id}'{suggest(menu_id, menus)}"
            )
            continue
        if queue not in menu.queues:
            add(
                line,
                f"{what} serves unknown queue '{queue}' of menu '{menu_id}'"
                f"{suggest(queue, menu.queues)}",
            )
            continue
        if (menu_id, queue) in serves:
            add(line, f"{what} lists {menu_id}/{queue} twice")
            continue
        serves.append((menu_id, queue))
    return tuple(serves)
