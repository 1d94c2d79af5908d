"""Traps a hotline must not ship: a menu can be valid and still fail its callers.

These are warnings, not problems: ``ivr check`` prints them as
``file:line: warning: message`` and fails on them only with ``--strict``. Each is
a way a real line lets its callers down or helps a fraudster:

- a menu or ``ask`` from which the caller cannot reach a person (no option, no
  ``on_fail`` and no person door leads, without a further choice, to a queue or
  a transfer), and a ``person`` setting whose door does not reach one;
- a prompt that asks for an SMS verification code, a password or a full card or
  ID number: the first thing a fraudster asks for, and what the line promises
  never to ask. A prompt that warns about them ("we will never ask for your
  code") is told apart by its wording, clause by clause;
- an ``ask`` for phone, ID or card digits not marked ``sensitive`` (they would
  be stored and logged in clear);
- a node the caller reaches with nothing said yet (silence, then a beep or hold
  music);
- a prompt that speaks a ``sensitive`` value (``{id_last4}``);
- a ``priority`` that puts nobody ahead: every queue node of its queue has the
  same one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ivr.checks import template_variables, templates
from ivr.menu import (
    AskNode,
    GotoMenuNode,
    LookupNode,
    MenuNode,
    MessageNode,
    Node,
    QueueNode,
    RequestNode,
    RouteNode,
)
from ivr.menugraph import MenuGraph, Opaque

__all__ = ["asks_for_secret", "check_traps"]

Report = Callable[[int, str], None]

# What a fraudster asks for. The SMS code comes first: "code" alone is a secret
# only when the clause also says it came by text message.
_SECRETS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "an SMS verification code",
        re.compile(
            r"验证码|校验码|动态码|短信码|动态密码|verification code|security code"
            r"|confirmation code|one[- ]time (?:pass)?code|one[- ]time password"
            r"|\botp\b|passcode|\bcode\b.*\b(?:text|sms|message)|\b(?:text|sms)\b.*\bcode\b",
            re.IGNORECASE,
        ),
    ),
    ("a password", re.compile(r"密码|口令|password|\bpin\b", re.IGNORECASE)),
    (
        "a full card number",
        re.compile(
            r"银行卡号|信用卡号|卡号|安全码|card number|\bcvv\b|\bcvc\b", re.IGNORECASE
        ),
    ),
    (
        "a full ID number",
        re.compile(
            r"身份证号|证件号|id number|identity (?:card )?number"
            r"|social security number|\bssn\b|passport number",
            re.IGNORECASE,
        ),
    ),
)
_PARTIAL_KINDS = ("a full card number", "a full ID number")
# "the last 4 digits of your card" is a usual identity check, not the number.
_PARTIAL = re.compile(
    r"[后末]\s*[0-9一二三四五六七八]\s*位|尾号|last\s+\w+\s+(?:digits|numbers)",
    re.IGNORECASE,
)
# The caller is asked to give it: key it in, say it, tell it, send it.
_ASKING = re.compile(
    r"输入|告诉|提供|说出|报出|报上|报一下|念出|念一下|读出|读一下|说一下|告知|回复"
    r"|发送|发给|键入|确认"
    r"|\b(?:enter|say|tell|give|provide|read|key|type|share|confirm|send|speak"
    r"|recite|repeat)\b",
    re.IGNORECASE,
)
# A warning about it: a negation, "anyone", a scam, or "only in the app".
_WARNING = re.compile(
    r"不会|不要|不得|不能|绝不|从不|勿|禁止|谨防|防范|诈骗|骗子|冒充"
    r"|别[把将向跟对给告说透]|千万别|可别|任何人|只能|仅限|官网|网站"
    r"|(?<![a-z])app(?![a-z])"
    r"|\bnot\b|n't\b|\bnever\b|\bno one\b|\bnobody\b|\banyone\b|\bscam|\bfraud"
    r"|\bonly\b|\bwebsite\b|\bonline\b",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[。！？；，、,.!?;:：\n]+")

# Digits an ask must mask: phone, ID and card numbers.
_PRIVATE_DIGITS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "phone digits",
        re.compile(r"手机|电话号码|联系电话|\b(?:phone|mobile|telephone)\b", re.I),
    ),
    (
        "ID digits",
        re.compile(
            r"身份证|证件号|\bid (?:number|card)\b|\bidentity (?:card|number)\b"
            r"|passport|social security|\bssn\b",
            re.IGNORECASE,
        ),
    ),
    (
        "card digits",
        re.compile(r"银行卡|信用卡|卡号|\bcard\b", re.IGNORECASE),
    ),
)

# Keys whose presence means the node says something (even if it failed to read).
_SPOKEN_KEYS = {
    "menu": ("say", "play"),
    "ask": ("ask", "play"),
    "lookup": ("say", "play"),
    "queue": ("say", "play"),
    "transfer": ("say", "play"),
    "voicemail": ("voicemail", "play"),
    "feedback": ("feedback", "play"),
    "request": ("say", "play"),
    "goto_menu": ("say", "play"),
    "hangup": ("hangup", "play"),
    "message": ("say", "play"),
}
_TRANSIT = MessageNode | RouteNode | LookupNode | RequestNode


def asks_for_secret(text: str | None) -> str | None:
    """What secret ``text`` asks the caller for ("a password"...), else None.

    A clause asks when it names the secret and a way of giving it (enter, say,
    tell, 输入, 告诉...) and carries no warning (never, not, anyone, scam, 绝不,
    请勿, 任何人, 诈骗, only in the app...). "The last 4 digits" of a card or an
    ID are not the full number.
    """
    if not text:
        return None
    for clause in _CLAUSE.split(text):
        if not _ASKING.search(clause) or _WARNING.search(clause):
            continue
        for what, pattern in _SECRETS:
            if not pattern.search(clause):
                continue
            if what in _PARTIAL_KINDS and _PARTIAL.search(clause):
                continue
            return what
    return None


def check_traps(graph: MenuGraph, warn: Report) -> None:
    """Warn about each trap in the menu, at the line to edit."""
    _no_way_to_a_person(graph, warn)
    _silent_arrival(graph, warn)
    _secret_prompts(graph, warn)
    _spoken_secrets(graph, warn)
    _unmasked_asks(graph, warn)
    _idle_priorities(graph, warn)


def _is_person(node: Node | Opaque) -> bool:
    if isinstance(node, Opaque):
        return node.queue
    return node.kind in ("queue", "transfer")


def _no_way_to_a_person(graph: MenuGraph, warn: Report) -> None:
    """Menus and asks with no option and no ``on_fail`` towards a person.

    ``direct`` are the nodes that lead to a queue or transfer without a further
    choice: through messages, routes and lookups (any branch), and through the
    ``on_fail`` of menus and asks (doing nothing is not a choice).
    """
    count = len(graph.ids)
    fallback: list[int | None] = [None] * count
    for i, node in enumerate(graph.nodes):
        if isinstance(node, MenuNode | AskNode):
            target = node.on_fail
            fallback[i] = graph.resolve(target) if target else graph.human
    incoming: list[list[int]] = [[] for _ in range(count)]
    for i, node in enumerate(graph.nodes):
        if isinstance(node, _TRANSIT | Opaque):
            for j in graph.succ[i]:
                incoming[j].append(i)
        elif fallback[i] is not None:
            incoming[fallback[i]].append(i)  # type: ignore[index]
    direct = [_is_person(node) for node in graph.nodes]
    todo = [i for i in range(count) if direct[i]]
    if not todo:
        first = next(
            (
                i
                for i, node in enumerate(graph.nodes)
                if graph.reachable[i] and isinstance(node, MenuNode | AskNode)
            ),
            None,
        )
        if first is not None:
            warn(
                graph.line(first),
                f"node '{graph.ids[first]}' offers no way to a person, nor does any "
                "other: the menu has no queue or transfer node",
            )
        return
    while todo:
        for i in incoming[todo.pop()]:
            if not direct[i]:
                direct[i] = True
                todo.append(i)
    lines = graph.draft.field_lines
    _person_leads_nowhere(graph, direct, warn)
    for i, node in enumerate(graph.nodes):
        if not graph.reachable[i] or not isinstance(node, MenuNode | AskNode):
            continue
        if fallback[i] is not None and direct[fallback[i]]:  # type: ignore[index]
            continue
        door = graph.resolve(node.person) if node.person else None
        if door is not None and direct[door]:
            continue
        if isinstance(node, MenuNode):
            ways = [graph.resolve(option.goto) for option in node.options]
            if any(j is not None and direct[j] for j in ways):
                continue
            what = "no option and no on_fail leads"
        else:
            j = graph.resolve(node.next)
            if j is not None and direct[j]:
                continue
            what = "neither next nor on_fail leads"
        warn(
            lines.get((node.id, "on_fail"), node.line),
            f"{node.kind} node '{node.id}' offers no way to a person: {what} to "
            "a queue or transfer",
        )


def _person_leads_nowhere(graph: MenuGraph, direct: list[bool], warn: Report) -> None:
    """A person door (the menu's ``person``, a node's own) that reaches nobody."""
    person = graph.menu.person
    if person is None:
        return
    j = graph.resolve(person.goto)
    if j is not None and not direct[j]:
        warn(
            person.line,
            f"person goes to node '{person.goto}', which does not lead to a queue "
            "or transfer without a further choice",
        )
    lines = graph.draft.field_lines
    for node in graph.nodes:
        if not isinstance(node, MenuNode | AskNode) or not node.person:
            continue
        if (node.id, "person") not in lines or node.person == person.goto:
            continue
        j = graph.resolve(node.person)
        if j is not None and not direct[j]:
            warn(
                lines[(node.id, "person")],
                f"person of node '{node.id}' goes to node '{node.person}', which "
                "does not lead to a queue or transfer without a further choice",
            )


def _spoken_secrets(graph: MenuGraph, warn: Report) -> None:
    """A prompt that speaks a sensitive value: the caller's ID digits aloud."""
    hidden = graph.menu.sensitive_variables
    if not hidden:
        return
    for node in graph.nodes:
        if isinstance(node, Opaque | RouteNode):
            continue
        for what, line, text in templates(graph, node):
            if what == "the lookup key" or what == "the data url":
                continue
            for name in dict.fromkeys(template_variables(text)):
                if name in hidden:
                    warn(
                        line,
                        f"{what} of node '{node.id}' speaks '{{{name}}}', which is "
                        "sensitive: it must never be said aloud",
                    )


def _silent_arrival(graph: MenuGraph, warn: Report) -> None:
    """Nodes a call reaches with nothing said on some path from the start."""
    if graph.start is None:
        return
    lines = graph.draft.field_lines
    seen = [False] * len(graph.ids)
    seen[graph.start] = True
    todo = [graph.start]
    while todo:
        i = todo.pop()
        node = graph.nodes[i]
        if isinstance(node, Opaque) or node.prompt:
            continue
        if any((node.id, key) in lines for key in _SPOKEN_KEYS.get(node.kind, ())):
            continue  # a prompt that failed to read is reported as a problem
        if isinstance(node, _TRANSIT):
            for j in graph.succ[i]:
                if not seen[j]:
                    seen[j] = True
                    todo.append(j)
            continue
        if isinstance(node, GotoMenuNode):
            continue  # the other menu speaks first
        warn(
            node.line,
            f"the caller reaches {node.kind} node '{node.id}' with nothing said: "
            "give it a say or play, or say something before it",
        )


def _secret_prompts(graph: MenuGraph, warn: Report) -> None:
    for node in graph.nodes:
        if isinstance(node, Opaque):
            continue
        for what, line, text in templates(graph, node):
            secret = asks_for_secret(text)
            if secret is not None:
                warn(
                    line,
                    f"{what} of node '{node.id}' asks the caller for {secret}, "
                    "which the line must never ask for (fraudsters do)",
                )


def _unmasked_asks(graph: MenuGraph, warn: Report) -> None:
    lines = graph.draft.field_lines
    for node in graph.nodes:
        if not isinstance(node, AskNode) or node.sensitive or not node.prompt.text:
            continue
        for what, pattern in _PRIVATE_DIGITS:
            if pattern.search(node.prompt.text):
                warn(
                    lines.get((node.id, "sensitive"), node.line),
                    f"ask node '{node.id}' collects {what} but is not marked "
                    "'sensitive: true', so they would be logged in clear",
                )
                break


def _idle_priorities(graph: MenuGraph, warn: Report) -> None:
    """A priority that puts nobody ahead: one level for every node of a queue."""
    by_queue: dict[str, list[QueueNode]] = {}
    for node in graph.nodes:
        if isinstance(node, QueueNode):
            by_queue.setdefault(node.queue, []).append(node)
    lines = graph.draft.field_lines
    for queue_id, nodes in by_queue.items():
        given = [n for n in nodes if (n.id, "priority") in lines]
        if not given or len({n.priority for n in nodes}) > 1:
            continue
        first = given[0]
        warn(
            lines[(first.id, "priority")],
            f"priority {first.priority} of node '{first.id}' puts nobody ahead: "
            f"every queue node of queue '{queue_id}' has priority {first.priority}",
        )
