"""The call engine: from (menu, call state, caller input) to the next step.

Picture a guide walking a caller through the menu's rooms. Between two things the
caller does (pressing keys, speaking, waiting in a queue) the guide passes through
any number of rooms that need nothing from the caller (messages, lookups, routes)
and stops at the next room that does. That stretch is one ``Step``: what to say on
the way, what to do at the stop (gather keys, enqueue, dial, record, hang up), and
the ``CallState`` to resume from. The engine keeps nothing between steps: the state
travels with the call (the web layer seals it into the URLs it hands Twilio), so any
process on any machine can serve the next webhook.

The engine does no I/O itself; lookups go through ``CallContext.lookup``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ivr.menu import (
    AskNode,
    DataSource,
    FeedbackNode,
    GotoMenuNode,
    HangupNode,
    LookupNode,
    Menu,
    MenuNode,
    MessageNode,
    Node,
    Prompt,
    QueueNode,
    RequestNode,
    RouteNode,
    TransferNode,
    UrlSource,
    VoicemailNode,
)
from ivr.phrases import dates_phrase, phrase
from ivr.speech import PERSON, understand, wants_person

__all__ = [
    "PERSON",
    "CallContext",
    "CallState",
    "Dial",
    "EngineError",
    "Enqueue",
    "Event",
    "Gather",
    "Hangup",
    "LookupFailed",
    "Record",
    "Reply",
    "Step",
    "Switch",
    "Walk",
    "after_dial",
    "after_record",
    "enqueue_for",
    "fallback",
    "fill",
    "handover_facts",
    "match_speech",
    "recorded_facts",
    "resume",
    "start",
    "twilio_queue_name",
]

MAX_HOPS = 64  # rooms passed without the caller; more means a loop the checks missed

# _VALUES: the engine's values (the context, the state, the reply, a step and its
# action) are made anew for every webhook and never changed once made; they are
# dataclasses that compare and hash by value, as frozen ones would, but are not
# frozen because a frozen dataclass is made three times as slowly (each field
# set through ``object.__setattr__``), a twentieth of a webhook's cost for the six
# made per request (see docs/decisions.md). Do not assign to their fields.


class EngineError(Exception):
    """The menu led the engine somewhere it cannot go (a bug, not a caller error)."""


class LookupFailed(Exception):
    """A data source was down, too slow or answered nonsense."""


Lookup = Callable[[DataSource, str, Mapping[str, str]], Mapping[str, str] | None]


def _no_lookup(source: DataSource, key: str, variables: Mapping[str, str]) -> None:
    raise LookupFailed(f"no lookups configured for data source '{source.id}'")


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class CallContext:
    """What the engine may know of the world for one webhook: time and lookups."""

    now: dt.datetime
    caller: str = ""
    lookup: Lookup = _no_lookup


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class CallState:
    """Where a call stands between two webhooks: the node and what it has gathered.

    ``attempt`` counts no-input/invalid answers at ``node``. ``variables`` hold
    what ``ask`` and ``lookup`` nodes filled in, plus ``caller``. ``since`` is
    when the caller joined the queue of a queue node (seconds since the epoch):
    every later round of that wait names the same moment.
    """

    menu: str
    node: str
    attempt: int = 0
    variables: Mapping[str, str] = field(default_factory=dict)
    since: float | None = None


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Reply:
    """What came back from a gather: keys pressed, or words recognised."""

    digits: str = ""
    speech: str = ""

    @property
    def empty(self) -> bool:
        return not self.digits and not self.speech.strip()


# -- what a step ends on ------------------------------------------------------


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Gather:
    """Wait for keys (and, for menus with keywords, speech) after ``prompt``."""

    prompt: Prompt
    speech: bool
    timeout_s: int
    num_digits: int | None  # menus: 1 key; ask: None (finish key or timeout)
    finish_on_key: str
    hints: tuple[str, ...] = ()


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Enqueue:
    """Hold in the queue of the human path until an agent answers.

    ``name`` is the Twilio queue that holds the caller (one per menu, queue and
    priority level); ``topic`` and ``facts`` are what the agent will hear.
    """

    queue: str
    priority: int = 0
    workflow_sid: str | None = None
    name: str = ""
    topic: str = ""
    facts: tuple[tuple[str, str], ...] = ()


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Dial:
    """Connect the caller to another number."""

    number: str
    timeout_s: int = 30


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Record:
    """Record a voicemail after a beep."""

    max_length_s: int


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Switch:
    """Go on in another menu of the line, at its start (a ``goto_menu`` node)."""

    menu: str


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Hangup:
    """End the call."""


Action = Gather | Enqueue | Dial | Record | Switch | Hangup


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Event:
    """Something the platform must hear of: a complaint recorded, a request made.

    ``name`` is ``feedback`` or ``request``; ``node`` the node that made it;
    ``detail`` what the store keeps (the topic, the facts, the recording). The
    web layer writes each event of a step to the store; the engine only says it
    happened.
    """

    name: str
    node: str
    detail: Mapping[str, object]


@dataclass(unsafe_hash=True)  # a value: see _VALUES
class Step:
    """What happens next on the call, up to the caller's next move.

    ``prompts`` are said or played in order before ``action``; ``state`` is where
    to resume; ``nodes`` are the nodes entered on the way (for logs and coverage);
    ``choice`` is the menu option the input chose, if any (the key ``PERSON``
    for the person door); ``events`` what the platform must hear of.
    ``gave_up`` names the menu or ask whose retries ran out on this step (the
    caller then goes to its ``on_fail``, or the menu hangs up: a *menu hang-up*
    in the call records). ``failed`` is the lookup that took its ``error`` path
    on this step and why (the source was down, too slow, or its answer lacked a
    field a prompt on the way says); a step that hangs up after either is a
    menu hang-up too (see ``ivr.outcomes``).
    """

    prompts: tuple[Prompt, ...]
    action: Action
    state: CallState
    nodes: tuple[str, ...] = ()
    choice: tuple[str, str] | None = None
    callback: bool = False  # the caller asked to be called back
    gave_up: str | None = None
    events: tuple[Event, ...] = ()
    failed: tuple[str, str] | None = None


# -- the human path's hand-over ------------------------------------------------------

TWILIO_QUEUE_MAX = 64  # Twilio's limit on a queue's name


def twilio_queue_name(menu: str, queue: str, priority: int) -> str:
    """The Twilio queue holding callers of ``queue`` at ``priority``.

    Twilio's queues are first come, first served, so each priority level of a
    queue is a queue of its own (``shop.accounts.p1``), and agents are sent to
    the level whose caller is next. Menus never share one: the Chinese and
    English lines' ``orders`` are ``shop.orders.p0`` and ``shop-en.orders.p0``.
    Names past Twilio's 64 characters keep a readable head and a hash.
    """
    name = f"{menu}.{queue}.p{priority}"
    if len(name) <= TWILIO_QUEUE_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: TWILIO_QUEUE_MAX - 11]}~{digest}"


def enqueue_for(menu: Menu, node: QueueNode, variables: Mapping[str, str]) -> Enqueue:
    """The Enqueue step of queue node ``node`` for a call with ``variables``."""
    queue = menu.queues[node.queue]
    return Enqueue(
        queue.id,
        node.priority,
        queue.workflow_sid,
        name=twilio_queue_name(menu.id, queue.id, node.priority),
        topic=node.topic or queue.title,
        facts=handover_facts(menu, node, variables),
    )


def handover_facts(
    menu: Menu, node: QueueNode, variables: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """What the agent hears the menu collected: (label, value) pairs.

    The node's ``handover`` list, or else every variable the menu set, except
    the caller's number (the agent's phone shows it) and anything ``sensitive``,
    which never leaves the menu in clear. Unset or empty values are left out.
    """
    return tuple(
        (label, value) for _, label, value in _facts(menu, node.handover, variables)
    )


def recorded_facts(
    menu: Menu,
    wanted: tuple[tuple[str, str], ...] | None,
    variables: Mapping[str, str],
) -> list[dict[str, str]]:
    """The facts a complaint or request is recorded with, for the store.

    ``wanted`` is the node's ``facts`` ((variable, label) pairs), or None for
    every variable the menu set but the caller's number; sensitive ones and
    empty values are left out. Each fact is ``{"name", "label", "value"}``.
    """
    return [
        {"name": name, "label": label, "value": value}
        for name, label, value in _facts(menu, wanted, variables)
    ]


def _facts(
    menu: Menu,
    wanted: tuple[tuple[str, str], ...] | None,
    variables: Mapping[str, str],
) -> list[tuple[str, str, str]]:
    hidden = menu.sensitive_variables
    if wanted is None:
        wanted = tuple((name, name) for name in variables if name != "caller")
    return [
        (name, label, str(variables[name]))
        for name, label in wanted
        if name not in hidden and str(variables.get(name, "")).strip()
    ]


# -- filling prompts ------------------------------------------------------------

_VARIABLE = re.compile(r"\{([A-Za-z_]\w*)\}")


def fill(text: str | None, variables: Mapping[str, str]) -> str | None:
    """Put call variables into ``{name}`` placeholders; unknown ones become empty."""
    if not text or "{" not in text:
        return text
    return _VARIABLE.sub(lambda m: str(variables.get(m.group(1), "")), text)


def _filled(prompt: Prompt, variables: Mapping[str, str]) -> Prompt:
    if not prompt.text or "{" not in prompt.text:
        return prompt
    return replace(prompt, text=fill(prompt.text, variables))


# -- speech ---------------------------------------------------------------------


def match_speech(
    menu_node: MenuNode, speech: str, menu: Menu | None = None
) -> str | None:
    """The option key that ``speech`` asks for at ``menu_node``, ``PERSON``, or None.

    With the ``menu``, its person words count: a request for a person wins over
    every option. Then a key named as a key ("按2", "press two", "the second
    one"), then an option's keyword anywhere in the utterance (not negated:
    "不要退款" does not pick refunds; the one said first, then the longest),
    then a lone spoken key ("two", "二"). See ``ivr.speech``.
    """
    person = menu.person if menu is not None else None
    return understand(
        speech,
        [(option.key, option.speech) for option in menu_node.options],
        person.speech if person is not None else (),
    )


# -- walking the menu --------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """A lookup of this step that found a record, and the walk as it stood.

    A record can lack a field the menu says after it (a URL service that
    leaves ``eta`` out, a CSV row with an empty cell): the caller would hear
    "arrives ." with a gap. A prompt on the way to the caller's next move that
    would say such a field sends the walk back here and down the lookup's
    ``error`` path instead, as if the source had failed.
    """

    node: LookupNode
    source: DataSource
    record: Mapping[str, str]
    prompts: int
    nodes: int
    events: int
    variables: dict[str, str]


class _Gap(Exception):
    """A prompt would say ``name``, which the lookup ``found`` left empty."""

    def __init__(self, found: _Found, name: str) -> None:
        super().__init__(name)
        self.found = found
        self.name = name


class Walk:
    """Accumulates one step while passing through nodes that need no caller.

    Shared with ``ivr.humanpath``, whose steps (leaving a queue) walk on too.
    """

    def __init__(self, menu: Menu, ctx: CallContext, variables: Mapping[str, str]):
        self.menu = menu
        self.ctx = ctx
        self.variables = dict(variables)
        self.prompts: list[Prompt] = []
        self.nodes: list[str] = []
        self.events: list[Event] = []
        self.failed: tuple[str, str] | None = None  # (lookup node, why)
        self._found: list[_Found] = []  # lookups of this step that found a record
        self._extra: dict[str, object] = {}  # what ``enter`` adds to its step

    def say(self, prompt: Prompt | str | None) -> None:
        if isinstance(prompt, str):
            prompt = Prompt(text=prompt)
        if prompt:
            self.prompts.append(self._fill(prompt))

    def _fill(self, prompt: Prompt) -> Prompt:
        """``prompt`` with the call's variables, unless a lookup of this step
        left one it says out (see ``_Found``)."""
        if self._found and prompt.text and "{" in prompt.text:
            for name in _VARIABLE.findall(prompt.text):
                if not str(self.variables.get(name, "")).strip():
                    found = self._supplier(name)
                    if found is not None:
                        raise _Gap(found, name)
        return _filled(prompt, self.variables)

    def _supplier(self, name: str) -> _Found | None:
        """The latest lookup of this step that should have given ``name``: one
        whose record has it (empty), or a URL source (its fields are not known
        ahead) when the call had no ``name`` before it."""
        for found in reversed(self._found):
            if name in found.record or (
                isinstance(found.source, UrlSource) and name not in found.variables
            ):
                return found
        return None

    def step(
        self, action: Action, node: str, attempt: int = 0, **extra: object
    ) -> Step:
        # To the millisecond, as sealed in the URLs: every write of the wait
        # must name the very same moment.
        since = (
            round(self.ctx.now.timestamp(), 3) if isinstance(action, Enqueue) else None
        )
        # Only what a node from here on reads rides along in the call's URLs.
        variables = self.menu.needed(node, self.variables)
        state = CallState(self.menu.id, node, attempt, variables, since)
        if self.events:
            extra.setdefault("events", tuple(self.events))
        if self.failed is not None:
            extra.setdefault("failed", self.failed)
        if self._extra:  # made for ``enter``, which has the last word
            extra.update(self._extra)
        return Step(tuple(self.prompts), action, state, tuple(self.nodes), **extra)

    def enter(self, node_id: str, **extra: object) -> Step:
        """Enter ``node_id`` and go on until a node that needs the caller.

        ``extra`` are fields of the step it ends on (``choice``, ``gave_up``),
        given to the node that makes it (``step``) rather than copied in after.
        """
        nodes = self.menu.nodes
        self._extra = extra
        try:
            for _ in range(MAX_HOPS):
                node = nodes[node_id]
                self.nodes.append(node_id)
                try:
                    following = self.pass_through(node)
                except _Gap as gap:
                    following = self._rewind(gap)
                if isinstance(following, Step):
                    return following
                node_id = following
        finally:
            self._extra = {}
        raise EngineError(f"more than {MAX_HOPS} nodes without the caller: a loop?")

    def pass_through(self, node: Node) -> str | Step:
        """The next node id for a pass-through node, or the step a stop makes."""
        menu = self.menu
        if isinstance(node, MessageNode):
            self.say(node.prompt)
            return node.next
        if isinstance(node, LookupNode):
            self.say(node.prompt)
            return self.lookup(node)
        if isinstance(node, RouteNode):
            return self.route(node)
        if isinstance(node, (MenuNode, AskNode)):
            return self.gather(node)
        if isinstance(node, QueueNode):
            if node.closed and not menu.is_open(self.ctx.now):
                return node.closed
            self.say(node.prompt)
            return self.step(enqueue_for(menu, node, self.variables), node.id)
        if isinstance(node, TransferNode):
            self.say(node.prompt)
            return self.step(Dial(node.number, int(node.timeout_s)), node.id)
        if isinstance(node, (VoicemailNode, FeedbackNode)):
            self.say(node.prompt)
            return self.step(Record(int(node.max_length_s)), node.id)
        if isinstance(node, RequestNode):
            detail = {
                "request": node.request,
                "topic": node.topic or node.request,
                "facts": recorded_facts(menu, node.facts, self.variables),
            }
            self.events.append(Event("request", node.id, detail))
            self.say(node.prompt)
            return node.next
        if isinstance(node, GotoMenuNode):
            self.say(node.prompt)
            return self.step(Switch(node.menu), node.id)
        if isinstance(node, HangupNode):
            self.say(node.prompt)
            return self.step(Hangup(), node.id)
        raise EngineError(f"node '{node.id}' is of unknown kind {node.kind!r}")

    def _rewind(self, gap: _Gap) -> str:
        """Back to the lookup whose record left ``gap.name`` out: its ``error``
        path, as if the source had failed, and nothing said since."""
        found = gap.found
        at = next(i for i, each in enumerate(self._found) if each is found)
        del self._found[at:]
        del self.prompts[found.prompts :]
        del self.nodes[found.nodes :]
        del self.events[found.events :]
        self.variables = found.variables
        node = found.node
        if gap.name in found.record:
            why = f"{found.source.id}: the answer's '{gap.name}' is empty"
        else:
            why = f"{found.source.id}: the answer has no '{gap.name}'"
        self.failed = (node.id, f"{why}, which a prompt says")
        target = node.error or self.menu.human_path
        if target is None:  # the loader refuses such menus; be safe anyway
            raise EngineError(f"lookup '{node.id}' failed: {why}")
        return target

    def gather(self, node: MenuNode | AskNode, attempt: int = 0) -> Step:
        prompt = self._fill(node.prompt)
        person = self.menu.person
        person_words = person.speech if person is not None else ()
        if isinstance(node, MenuNode):
            hints = _menu_hints(node, person_words)
            action = Gather(
                prompt, bool(hints), int(node.timeout_s), 1, "", hints[:100]
            )
        else:
            # An ask listens for the person words too (nothing else it hears
            # is taken: digits are keyed in).
            speech = bool(person_words and node.person)
            hints = person_words[:100] if speech else ()
            action = Gather(
                prompt, speech, int(node.timeout_s), None, node.finish_on_key, hints
            )
        return self.step(action, node.id, attempt)

    def lookup(self, node: LookupNode) -> str:
        source = self.menu.data[node.data]
        key = fill(node.key, self.variables) or ""
        try:
            record = self.ctx.lookup(source, key, self.variables)
        except LookupFailed as error:
            self.failed = (node.id, str(error))
            target = node.error or self.menu.human_path
            if target is None:  # the loader refuses such menus; be safe anyway
                raise EngineError(f"lookup '{node.id}' failed: {error}") from error
            return target
        if record is None:
            return node.missing
        fields = {str(k): str(v) for k, v in record.items()}
        self._found.append(
            _Found(
                node,
                source,
                fields,
                len(self.prompts),
                len(self.nodes),
                len(self.events),
                dict(self.variables),
            )
        )
        self.variables.update(fields)
        return node.found

    def route(self, node: RouteNode) -> str:
        variables = self.variables
        hours = self.menu.hours
        holiday = hours.holiday(self.ctx.now) if hours is not None else None
        rule = node.rule_for(
            lambda: self.menu.is_open(self.ctx.now),
            lambda name, expected: variables.get(name, "") == fill(expected, variables),
            lambda: holiday is not None,
        )
        if rule is None:
            raise EngineError(f"no rule of route '{node.id}' matched")
        if rule.when == "holiday" and holiday is not None:
            variables["holiday"] = holiday.name
            variables["holiday_dates"] = dates_phrase(
                self.menu.language, holiday.first, holiday.last
            )
        return rule.goto


_HINTS: dict[int, tuple[MenuNode, tuple[str, ...], tuple[str, ...]]] = {}


def _menu_hints(node: MenuNode, person_words: tuple[str, ...]) -> tuple[str, ...]:
    """The words a menu node listens for: the person words, then its options'
    keywords, each once. Worked out once per node (menus do not change while
    loaded; a reload makes new nodes, and the kept ones are checked by identity)."""
    kept = _HINTS.get(id(node))
    if kept is not None and kept[0] is node and kept[1] is person_words:
        return kept[2]
    words = (*person_words, *(w for o in node.options for w in o.speech))
    hints = tuple(dict.fromkeys(words))
    if len(_HINTS) > 4096:  # menus reloaded many times: start over
        _HINTS.clear()
    _HINTS[id(node)] = (node, person_words, hints)
    return hints


def start(menu: Menu, ctx: CallContext) -> Step:
    """The first step of a new call: enter ``start``."""
    return Walk(menu, ctx, {"caller": ctx.caller}).enter(menu.start)


def resume(menu: Menu, state: CallState, reply: Reply, ctx: CallContext) -> Step:
    """The step after the caller answered (or did not answer) a gather."""
    node = menu.nodes[state.node]
    walk = Walk(menu, ctx, state.variables)
    person = menu.person
    if isinstance(node, MenuNode):
        key = reply.digits[:1] if reply.digits else None
        if key is None and reply.speech.strip():
            key = match_speech(node, reply.speech, menu) or "?"
        if key == PERSON and person is not None and person.key is not None:
            key = person.key if node.option(person.key) else key
        if key is not None:
            option = node.option(key)
            if option is not None:
                return walk.enter(option.goto, choice=(node.id, key))
            door = menu.person_door(node)
            if door and (key == PERSON or (person and key == person.key)):
                return walk.enter(door, choice=(node.id, PERSON))
            if key == "*":  # repeat the menu
                walk.nodes.append(node.id)
                return walk.gather(node, state.attempt)
        return _retry(walk, node, state, reply)
    if isinstance(node, AskNode):
        digits = (
            reply.digits.rstrip(node.finish_on_key)
            if node.finish_on_key
            else (reply.digits)
        )
        if node.person and person is not None:
            asked = (person.key is not None and digits == person.key) or (
                not reply.digits and wants_person(reply.speech, person.speech)
            )
            if asked:
                return walk.enter(node.person, choice=(node.id, PERSON))
        if digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits:
            walk.variables[node.save_as] = digits
            return walk.enter(node.next)
        return _retry(walk, node, state, reply)
    raise EngineError(f"node '{node.id}' does not take input")


def _retry(
    walk: Walk, node: MenuNode | AskNode, state: CallState, reply: Reply
) -> Step:
    """No input or a wrong answer: explain, replay, then ``on_fail`` when used up."""
    attempt = state.attempt + 1
    walk.say(node.no_input if reply.empty else node.invalid)
    if attempt > node.retries:
        target = node.on_fail or walk.menu.human_path
        if target is None:
            walk.say(phrase(walk.menu.language, "goodbye"))
            return walk.step(Hangup(), node.id, gave_up=node.id)
        return walk.enter(target, gave_up=node.id)
    walk.nodes.append(node.id)
    return walk.gather(node, attempt)


def after_dial(menu: Menu, state: CallState, status: str, ctx: CallContext) -> Step:
    """The step after a transfer ended: hang up if it was answered, else ``next``."""
    node = menu.nodes[state.node]
    walk = Walk(menu, ctx, state.variables)
    if status in ("completed", "answered"):
        return walk.step(Hangup(), node.id)
    walk.say(phrase(menu.language, "transfer_failed"))
    target = getattr(node, "next", None) or menu.human_path
    if target is None or target == node.id:
        walk.say(phrase(menu.language, "goodbye"))
        return walk.step(Hangup(), node.id)
    return walk.enter(target)


def after_record(
    menu: Menu,
    state: CallState,
    ctx: CallContext,
    recording_url: str | None = None,
    duration_s: float | None = None,
) -> Step:
    """The step after a voicemail or feedback was recorded: ``next``, else goodbye.

    At a feedback node the step carries the ``feedback`` event: its topic, the
    facts and the recording (``recording_url`` and ``duration_s`` from Twilio's
    ``<Record>`` action; None when the caller said nothing).
    """
    node = menu.nodes[state.node]
    walk = Walk(menu, ctx, state.variables)
    if isinstance(node, FeedbackNode):
        detail = {
            "topic": node.topic,
            "facts": recorded_facts(menu, node.facts, state.variables),
            "recording_url": recording_url or None,
            "duration_s": duration_s,
        }
        walk.events.append(Event("feedback", node.id, detail))
    target = getattr(node, "next", None)
    if target:
        return walk.enter(target)
    walk.say(phrase(menu.language, "goodbye"))
    return walk.step(Hangup(), node.id)


def fallback(menu: Menu, variables: Mapping[str, str], ctx: CallContext) -> Step:
    """After an internal fault: apologise and take the caller to the human path.

    Used by the web layer when anything else failed, so it must not fail itself:
    if the human path cannot be entered either, it apologises and hangs up.
    """
    walk = Walk(menu, ctx, variables)
    human = menu.human_path
    if human is not None:
        walk.say(phrase(menu.language, "apology"))
        try:
            return walk.enter(human)
        except Exception:
            walk = Walk(menu, ctx, variables)
    walk.say(phrase(menu.language, "apology_bye"))
    return walk.step(Hangup(), menu.start)
