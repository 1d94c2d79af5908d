"""TwiML rendered once per kind of document, then filled in for each call.

``ivr.twiml`` builds every document with twilio's ``VoiceResponse``, which is
correct and slow: building the element tree and serialising it is most of what
a webhook costs. Yet the documents of one node differ from call to call only in
a few strings: the sealed state in the URLs, and the text a prompt says once
its ``{variables}`` are filled in. Think of a rubber stamp with blanks: it is cut
once (the builder renders the document with markers in the blanks), then each
call inks it and writes its own values in the blanks.

The stamp is keyed by everything the builder reads except the blanks: the menu's
id, language and voice, the prompts with each text replaced by a marker (and an
SSML voice's digit runs, which the builder turns into ``<say-as>``, by a marker
of digits), the action or wait round with its prompt masked the same way, and
for a wait round the hold music and its length. A menu edited and reloaded
therefore never meets a stale stamp: what changed is part of the key, whichever
``MenuSet`` serves it. The blanks are filled with the XML escaping
``ElementTree`` applies (text or attribute, by where the blank sits).

A stamp is checked once when it is cut: filled with the values of the call that
needed it, it must equal that call's document rendered by the builder, or the
kind of document is rendered by the builder every time (a marker character in a
menu's own text, say). Documents the stamp cannot hold (a TaskRouter
``<Task>``, whose JSON carries the call's facts) are always built.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import threading
from collections.abc import Callable
from typing import Any

from ivr.engine import CallState, Enqueue, Gather, Step
from ivr.humanpath import WaitStep
from ivr.menu import Menu, Prompt
from ivr.twiml import (
    Urls,
    digit_runs,
    hold_music,
    render_step,
    render_wait,
    speaks_ssml,
    spoken_in,
)

__all__ = ["TwimlCache"]

MAX_DOCUMENTS = 4096  # kinds of documents kept; then the cache starts over
MAX_SLOTS = 1000  # blanks in one document (the markers number them in 3 digits)

# Blanks: a text (private-use characters, which no prompt or URL holds), a URL,
# and a digit run (Arabic-Indic digits: ``\d`` in the builder's digit-run test,
# never in a menu's number or queue name).
_TEXT = "\ue000{:03d}\ue001"
_URL = "\ue002{:03d}\ue001"
_ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_ASCII = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
_DIGITS = "٩٩٩"  # then the blank's number in Arabic-Indic digits
_BLANK = re.compile("([\ue000\ue002])([0-9]{3})\ue001|٩٩٩([٠-٩]{3})")
_UNCACHEABLE = object()
# Fields a cached document does not show: the Task's (never cached) and the
# figure a wait round's text already says.
_TASK_ONLY = frozenset({"topic", "facts"})
_SAID_ONLY = frozenset({"estimated_wait_s", "said_s"})


def escape_text(text: str) -> str:
    """Character data as ``ElementTree`` writes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def escape_attribute(text: str) -> str:
    """An attribute value as ``ElementTree`` writes it."""
    text = escape_text(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text


class _Masked:
    """One document's inputs with each text replaced by a blank, and its texts.

    A text said by an SSML voice (the menu's, or a prompt's own) is cut at its
    digit runs as the builder cuts it, each run a blank of digits.
    """

    def __init__(self, menu: Menu, own: bool = True) -> None:
        self.menu = menu
        self.texts: list[str] = []
        # Whether the menu's own voice reads SSML, and its own prompts shaped
        # once (``_own_shapes``).
        if own:
            self.ssml, self.own = _own_shapes(menu)
        else:
            self.ssml, self.own = speaks_ssml(menu.voice), {}

    def text(self, text: str | None, ssml: bool) -> str | None:
        if not text:  # the builder leaves an empty text out: not a blank
            return text
        parts = digit_runs(text) if ssml else []
        if parts:
            return "".join(
                self._blank(part, digits=index % 2 == 1)
                for index, part in enumerate(parts)
                if part
            )
        return self._blank(text)

    def _blank(self, text: str, digits: bool = False) -> str:
        number = len(self.texts)
        self.texts.append(text)
        if digits:
            return _DIGITS + f"{number:03d}".translate(_ARABIC)
        return _TEXT.format(number)

    def prompt(self, prompt: Prompt) -> Prompt:
        if not prompt.text:
            return prompt
        _, voice = spoken_in(self.menu, prompt.language, prompt.voice)
        return dataclasses.replace(
            prompt, text=self.text(prompt.text, speaks_ssml(voice))
        )

    def prompts(self, prompts: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        return tuple(self.prompt(prompt) for prompt in prompts)

    # The same, cheaper, for the key: the texts noted in the same order, and in
    # their place only which blanks they make (what ``prompt`` would write).

    def shape(self, prompt: Prompt) -> tuple:
        """``prompt`` as the key holds it: its fields, its text by its blanks."""
        kept = self.own.get(id(prompt))
        if kept is not None and kept[0] is prompt:
            self.texts.extend(kept[2])
            return kept[1]
        return self.shaped(prompt)

    def shaped(self, prompt: Prompt) -> tuple:
        """``shape``, worked out."""
        text = prompt.text
        if text:
            if prompt.language is None:  # ``spoken_in``, without the call
                ssml = speaks_ssml(prompt.voice) if prompt.voice else self.ssml
            else:
                ssml = speaks_ssml(prompt.voice)
            parts = digit_runs(text) if ssml else []
            if parts:
                kinds = []
                for index, part in enumerate(parts):
                    if part:
                        self.texts.append(part)
                        kinds.append(index % 2)
                text = tuple(kinds)  # text, digits, text...: the say-as between
            else:
                self.texts.append(text)
                text = ()
        return (text, _prompt_rest(prompt))

    def fields(self, thing: Any, left_out: frozenset[str]) -> tuple:
        """An action or a wait round as the key holds it: its type and fields,
        prompts by ``shape``, without the fields the document does not show."""
        kind = type(thing)
        get, prompts_at = _plan(kind, left_out)
        shape = self.shape
        values = [shape(v) if isinstance(v, Prompt) else v for v in get(thing)]
        if prompts_at is not None:
            values[prompts_at] = tuple(map(shape, values[prompts_at]))
        return (kind, *values)


# Per menu (by identity): whether its voice reads SSML, and its own prompts'
# shapes: prompt id -> (the prompt, its shape, the texts it notes).
_Shapes = dict[int, tuple[Prompt, tuple, tuple[str, ...]]]
_OWN: dict[int, tuple[Menu, bool, _Shapes]] = {}
_OWN_MENUS = 64  # menus kept; then the shapes are worked out again


def _own_shapes(menu: Menu) -> tuple[bool, _Shapes]:
    """Whether ``menu``'s voice reads SSML, and the shapes of the prompts in its
    nodes, worked out once per menu.

    Most prompts a step says are the menu's own objects (a prompt with
    ``{variables}`` is a new one once filled in), and the shape of a long text
    (its digit runs, for an SSML voice) costs more than the rest of the key. A
    menu does not change while loaded; a reloaded one is another object. Found
    by identity, so a prompt made for one call (filled in, or a phrase the
    engine says) is shaped anew every time and never kept.
    """
    kept = _OWN.get(id(menu))
    if kept is not None and kept[0] is menu:
        return kept[1], kept[2]
    shapes = {}
    for node in menu.nodes.values():
        for field in dataclasses.fields(node):
            prompt = getattr(node, field.name)
            if isinstance(prompt, Prompt):
                masked = _Masked(menu, own=False)
                shapes[id(prompt)] = (
                    prompt,
                    masked.shaped(prompt),
                    tuple(masked.texts),
                )
    ssml = speaks_ssml(menu.voice)
    if len(_OWN) >= _OWN_MENUS:
        _OWN.clear()
    _OWN[id(menu)] = (menu, ssml, shapes)
    return ssml, shapes


# A prompt's fields but its text, as the key holds them.
_prompt_rest = operator.attrgetter(
    *(f.name for f in dataclasses.fields(Prompt) if f.name != "text")
)


@functools.cache
def _plan(
    kind: type, left_out: frozenset[str]
) -> tuple[Callable[[Any], tuple], int | None]:
    """How to read the fields of dataclass ``kind`` the key holds, in order (a
    getter giving them as a tuple), and where its ``prompts`` field is among
    them, if it has one: worked out once per kind."""
    names = [f.name for f in dataclasses.fields(kind) if f.name not in left_out]
    prompts_at = names.index("prompts") if "prompts" in names else None
    if len(names) > 1:
        return operator.attrgetter(*names), prompts_at
    return (lambda thing: tuple(getattr(thing, name) for name in names)), prompts_at


class _CannotStamp(Exception):
    """The document depends on something a stamp cannot fill in."""


class _UrlBlanks:
    """``Urls`` for cutting a stamp: each URL asked for becomes a blank, noted as
    (method, argument); the call's own state is noted as None. A URL for any
    other state cannot be filled in from the next call's."""

    def __init__(self, state: CallState) -> None:
        self.state = state
        self.asked: list[tuple[str, Any]] = []

    def __getattr__(self, method: str) -> Callable[[Any], str]:
        def blank(argument: Any) -> str:
            if argument is not self.state and not isinstance(argument, str):
                raise _CannotStamp(f"a URL of {method} for {argument!r}")
            noted = (method, None if argument is self.state else argument)
            if noted not in self.asked:
                self.asked.append(noted)
            return _URL.format(self.asked.index(noted))

        return blank


class _Stamp:
    """A document cut into literal pieces and the blanks between them.

    The pieces are kept as UTF-8, as the response sends them: a document in
    Chinese is otherwise joined as wide text and encoded whole on every
    request, when only its blanks change (about 9,000 instructions of a
    webhook, counted).
    """

    def __init__(self, document: str, urls: list[tuple[str, Any]]) -> None:
        self.pieces: list[str] = []
        # (is a URL, blank's number, escape) per blank, between the pieces.
        self.blanks: list[tuple[bool, int, Callable[[str], str]]] = []
        self.urls = urls
        last = 0
        for found in _BLANK.finditer(document):
            piece = document[last : found.start()]
            self.pieces.append(piece)
            in_tag = document.rfind("<", 0, found.start()) > document.rfind(
                ">", 0, found.start()
            )
            escape = escape_attribute if in_tag else escape_text
            if found.group(3) is not None:
                self.blanks.append(
                    (False, int(found.group(3).translate(_ASCII)), escape)
                )
            else:
                is_url = found.group(1) == "\ue002"
                self.blanks.append((is_url, int(found.group(2)), escape))
            last = found.end()
        self.pieces.append(document[last:])
        # Each blank with the piece after it, as ``fill`` walks them.
        self._first = self.pieces[0].encode()
        self._walk = [
            (*blank, piece.encode())
            for blank, piece in zip(self.blanks, self.pieces[1:], strict=True)
        ]

    def fill(self, texts: list[str], state: CallState, urls: Urls) -> bytes:
        """The document for ``texts`` and the URLs of ``state``, as UTF-8."""
        made: dict[int, str] = {}
        out = [self._first]
        append = out.append
        for is_url, number, escape, piece in self._walk:
            if is_url:
                value = made.get(number)
                if value is None:
                    method, argument = self.urls[number]
                    value = getattr(urls, method)(
                        state if argument is None else argument
                    )
                    made[number] = value
            else:
                value = texts[number]
            append(escape(value).encode())
            append(piece)
        return b"".join(out)


class TwimlCache:
    """Renders steps and wait rounds like ``ivr.twiml``, from stamps kept here."""

    def __init__(self, max_documents: int = MAX_DOCUMENTS) -> None:
        self.max_documents = max_documents
        self._stamps: dict[tuple, _Stamp | object] = {}
        self._lock = threading.Lock()
        self.cut = 0  # stamps cut (for tests: how often the builder ran)

    def __len__(self) -> int:
        return len(self._stamps)

    def step(self, step: Step, menu: Menu, urls: Urls) -> bytes:
        """``str(render_step(step, menu, urls))`` as UTF-8, the response body."""
        action = step.action
        if isinstance(action, Enqueue) and action.workflow_sid:
            # The Task's JSON holds the call's facts: built every time.
            return str(render_step(step, menu, urls)).encode()
        masked = _Masked(menu)
        key = (
            "step",
            menu.id,
            menu.language,
            menu.voice,
            tuple(map(masked.shape, step.prompts)),
            masked.fields(action, _TASK_ONLY),
        )

        def build_blank(blanks: _UrlBlanks) -> Any:
            again = _Masked(menu)  # the same texts, now as markers
            prompts = again.prompts(step.prompts)
            blank_action = action
            if isinstance(action, Gather):
                blank_action = dataclasses.replace(
                    action, prompt=again.prompt(action.prompt)
                )
            blank = dataclasses.replace(step, prompts=prompts, action=blank_action)
            return render_step(blank, menu, blanks)

        return self._render(
            key,
            masked.texts,
            step.state,
            urls,
            lambda: render_step(step, menu, urls),
            build_blank,
        )

    def wait(self, wait: WaitStep, state: CallState, menu: Menu, urls: Urls) -> bytes:
        """``str(render_wait(wait, state, menu, urls))`` as UTF-8."""
        masked = _Masked(menu)
        key = (
            "wait",
            menu.id,
            menu.language,
            menu.voice,
            masked.fields(wait, _SAID_ONLY),
            *hold_music(state, menu),
        )

        def build_blank(blanks: _UrlBlanks) -> Any:
            again = _Masked(menu)
            blank = dataclasses.replace(wait, prompts=again.prompts(wait.prompts))
            return render_wait(blank, state, menu, blanks)

        return self._render(
            key,
            masked.texts,
            state,
            urls,
            lambda: render_wait(wait, state, menu, urls),
            build_blank,
        )

    def _render(
        self,
        key: tuple,
        texts: list[str],
        state: CallState,
        urls: Urls,
        build: Callable[[], Any],
        build_blank: Callable[[_UrlBlanks], Any],
    ) -> bytes:
        stamp = self._stamps.get(key)
        if isinstance(stamp, _Stamp):
            return stamp.fill(texts, state, urls)
        document = str(build()).encode()
        if stamp is None and len(texts) < MAX_SLOTS:
            self._cut(key, texts, state, urls, document, build_blank)
        return document

    def _cut(
        self,
        key: tuple,
        texts: list[str],
        state: CallState,
        urls: Urls,
        document: bytes,
        build_blank: Callable[[_UrlBlanks], Any],
    ) -> None:
        blanks = _UrlBlanks(state)
        stamp: _Stamp | object = _UNCACHEABLE
        try:
            cut = _Stamp(str(build_blank(blanks)), blanks.asked)
            if (
                len(blanks.asked) < MAX_SLOTS
                and cut.fill(texts, state, urls) == document
            ):
                stamp = cut
        except (_CannotStamp, IndexError, ValueError, TypeError):
            pass
        with self._lock:
            if len(self._stamps) >= self.max_documents:
                self._stamps.clear()
            self._stamps[key] = stamp
            self.cut += 1
