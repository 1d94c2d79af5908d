"""Reading single fields of a menu: text, times, numbers, prompts, recordings.

The shared base of the loader's readers, and the format's fixed vocabulary: which
keys each part of a menu may have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.checks import Opaque, close_match, suggest
from ivr.durations import parse_duration
from ivr.menu import (
    Person,
    Prompt,
)
from ivr.yamlread import LineDict

if TYPE_CHECKING:
    from ivr.loader import Problems

TOP_KEYS = [
    "id",
    "title",
    "numbers",
    "language",
    "voice",
    "start",
    "hours",
    "data",
    "queues",
    "hold",
    "person",
    "nodes",
]
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "menu": ("say", "play", "options", "timeout", "retries", "no_input", "invalid",
             "on_fail", "person"),
    "ask": ("ask", "play", "digits", "save_as", "sensitive", "next", "timeout",
            "retries", "no_input", "invalid", "on_fail", "person"),
    "lookup": ("lookup", "say", "play", "found", "missing", "error"),
    "route": ("route",),
    "queue": ("queue", "say", "play", "priority", "closed", "overflow", "topic",
              "handover"),
    "transfer": ("transfer", "say", "play", "next", "timeout"),
    "voicemail": ("voicemail", "play", "max_length", "next"),
    "feedback": ("feedback", "play", "topic", "facts", "max_length", "next"),
    "request": ("request", "say", "play", "topic", "facts", "next"),
    "goto_menu": ("goto_menu", "say", "play"),
    "hangup": ("hangup", "play"),
    "message": ("say", "play", "next", "language", "voice"),
}  # fmt: skip
MARKERS = {"options": "menu", "ask": "ask", "lookup": "lookup", "route": "route",
           "queue": "queue", "transfer": "transfer", "voicemail": "voicemail",
           "feedback": "feedback", "request": "request", "goto_menu": "goto_menu",
           "hangup": "hangup"}  # fmt: skip
QUEUE_KEYS = (
    "title",
    "agents",
    "handle_time",
    "patience",
    "callback_after",
    "announce_every",
    "max_wait",
    "workflow_sid",
    "hold",
    "callback_attempts",
    "callback_retry",
)
PHONE_KEYS = frozenset("0123456789*#")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AUDIO_SUFFIXES = (".wav", ".mp3")
COMPANION_SUFFIXES = (".calls.yaml", ".traffic.yaml", ".calls.yml", ".traffic.yml")

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?")
_HHMM = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
_OPTION_HASH = re.compile(r"^\s*#\s*:")
_WORKFLOW = re.compile(r"WW[0-9a-f]{32}")


class FieldReader:
    """Reads the fields of one parsed menu document, noting problems as it goes.

    Besides the values, it keeps what the whole-menu checks need to go on past a
    mistake (see ``ivr.checks.Draft``): the line of every key and door, nodes
    that could not be read, and doors of options that could not be read.
    """

    def __init__(
        self,
        path: Path,
        text: str,
        doc: LineDict,
        recordings: Path,
        problems: Problems,
    ) -> None:
        self.path = path
        self.text_lines = text.splitlines()
        self.doc = doc
        self.recordings = recordings
        self.p = problems
        self.csv_fields: dict[str, frozenset[str]] = {}
        self.field_lines: dict[tuple[str, str], int] = {}
        self.door_lines: dict[tuple[str, str], int] = {}
        self.ghost_doors: dict[str, list[str]] = {}
        self.unsure: set[str] = set()
        self.opaque: dict[str, Opaque] = {}
        self.order: list[str] = []
        self.node_id = ""  # the node being read, for door lines
        self._declared: dict[str, dict[str, None]] = {}
        # (id of a node's spec, key, variable) -> line of its handover/facts entry
        self.handover_lines: dict[tuple[int, str, str], int] = {}
        self.person: Person | None = None  # read before the nodes

    # -- small readers -------------------------------------------------------

    def checked(self, where: LineDict, allowed: Sequence[str], what: str) -> LineDict:
        """``where`` with each unknown key reported and left out of the reading.

        A near miss is read as the key it resembles (``nxet: bye`` still leads to
        ``bye``), so one typo is one problem, not also "needs 'next'" and a node
        nobody reaches.
        """
        unknown = [key for key in where if key not in allowed]
        if not unknown:
            return where
        renamed: dict[Any, str] = {}
        for key in unknown:
            close = close_match(key, allowed)
            hint = f" (did you mean '{close}'?)" if close else ""
            self.p.add(where.line_of(key), f"unknown key '{key}' in {what}{hint}")
            taken = close in where or close in renamed.values()
            if close is not None and not taken:
                renamed[key] = close
        kept = LineDict()
        kept.line, kept.lines, kept.raw_keys = where.line, {}, where.raw_keys
        for key, value in where.items():
            name = key if key in allowed else renamed.get(key)
            if name is not None:
                kept[name] = value
                kept.lines[name] = where.line_of(key)
        return kept

    def text(self, where: LineDict, key: str, what: str) -> str | None:
        value = where.get(key)
        if value is None:
            return None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        self.p.add(where.line_of(key), f"{key} of {what} must be text")
        return None

    def seconds(
        self, where: LineDict, key: str, what: str, *, whole: bool = False,
        low: float = 0.0, high: float | None = None,
    ) -> float | None:  # fmt: skip
        if key not in where or where[key] is None:
            return None
        try:
            value = parse_duration(where[key])
        except ValueError as error:
            self.p.add(where.line_of(key), f"{key} of {what}: {error}")
            return None
        if whole and value != int(value):
            self.p.add(where.line_of(key), f"{key} of {what} must be whole seconds")
        if value < low or (high is not None and value > high):
            limit = (
                f"from {low:g}s to {high:g}s" if high is not None else f">= {low:g}s"
            )
            self.p.add(where.line_of(key), f"{key} of {what} must be {limit}")
            return None
        return value

    def integer(
        self, where: LineDict, key: str, what: str, low: int, high: int
    ) -> int | None:
        if key not in where:
            return None
        value = where[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.p.add(where.line_of(key), f"{key} of {what} must be a whole number")
            return None
        if not low <= value <= high:
            self.p.add(
                where.line_of(key),
                f"{key} of {what} must be from {low} to {high}, got {value}",
            )
            return None
        return value

    def mapping(self, where: LineDict, key: str, what: str) -> LineDict | None:
        value = where.get(key)
        if value is None:
            return None
        if not isinstance(value, LineDict):
            self.p.add(where.line_of(key), f"{key} of {what} must be a map")
            return None
        return value

    def prompt(self, node: LineDict, node_id: str, text_key: str = "say") -> Prompt:
        text = self.text(node, text_key, f"node '{node_id}'")
        audio = None
        if "play" in node:
            audio = self.recording(node, node_id)
        language = self.text(node, "language", f"node '{node_id}'")
        if language is not None and not _LANGUAGE.fullmatch(language):
            self.p.add(
                node.line_of("language"),
                f"language '{language}' of node '{node_id}' is not a language tag "
                "like 'zh-CN' or 'en-US'",
            )
            language = None
        voice = self.text(node, "voice", f"node '{node_id}'")
        return Prompt(text=text, audio=audio, language=language, voice=voice)

    def recording(
        self, node: LineDict, node_id: str, key: str = "play", what: str = ""
    ) -> str | None:
        name = node[key]
        line = node.line_of(key)
        if not isinstance(name, str) or not name:
            self.p.add(
                line, f"{key} of {what or f'node {node_id!r}'} must be a file name"
            )
            return None
        if "/" in name or "\\" in name or name.startswith("."):
            self.p.add(
                line, f"recording '{name}' must be a plain file name in recordings/"
            )
            return None
        if not name.lower().endswith(AUDIO_SUFFIXES):
            self.p.add(line, f"recording '{name}' must be a .wav or .mp3 file")
            return None
        if not (self.recordings / name).is_file():
            there = (
                [p.name for p in self.recordings.iterdir()]
                if self.recordings.is_dir()
                else []
            )
            self.p.add(
                line, f"recording '{name}' is not in recordings/{suggest(name, there)}"
            )
            return None
        return name

    # -- the whole menu ------------------------------------------------------

    def target(
        self, spec: LineDict, key: str, what: str, required: bool, door: str = ""
    ) -> str | None:
        """The node id a door names; its line is kept as the door's line."""
        value = spec.get(key)
        if value is None:
            if required:
                self.p.add(spec.line, f"{what} needs '{key}': the node to go to next")
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.p.add(spec.line_of(key), f"{key} of {what} must be a node id")
            return None
        self.door_lines[(self.node_id, door or key)] = spec.line_of(key)
        return str(value)

    def retry_fields(self, spec: LineDict, what: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "no_input": self.text(spec, "no_input", what),
            "invalid": self.text(spec, "invalid", what),
            "on_fail": self.target(spec, "on_fail", what, required=False),
        }
        timeout = self.seconds(spec, "timeout", what, whole=True, low=1, high=60)
        retries = self.integer(spec, "retries", what, 0, 10)
        if timeout is not None:
            fields["timeout_s"] = timeout
        if retries is not None:
            fields["retries"] = retries
        return fields


def _raw(value: Any) -> str:
    """How a YAML scalar was most likely written, for a quoting hint."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))
