"""Safe YAML reading that remembers the line of every key.

PyYAML's ``safe_load`` forgets where things were, keeps the last of two equal keys
without a word, and expands aliases however deep they nest. A designer needs the
line to edit, a duplicate key is almost always a mistake, and a hostile file must
not hang or crash ``ivr check`` or ``ivr serve``. So we read the parser's events
(libyaml when available: the same parser, in C) and build plain values ourselves:
``LineDict`` and ``LineList`` are a dict and a list that also know the line of each
key and item.

Building from events rather than from PyYAML's node tree keeps one copy of the file
in memory instead of two, needs no recursion however deep the file nests, and lets
every limit stop the reading at the line that breaks it: files larger than
``MAX_BYTES`` (read no further than that), more than ``MAX_DEPTH`` levels of
nesting, more than ``MAX_VALUES`` values, or aliases that copy more than
``MAX_ALIAS_VALUES`` values (an alias bomb).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "LineDict",
    "LineList",
    "YamlProblem",
    "read_text_file",
    "read_yaml",
    "read_yaml_file",
]

# A hand-written menu is a few kilobytes; a generated 50,000-node menu is ~8 MiB.
MAX_BYTES = 16 << 20
# A 50,000-node menu holds about 900,000 values; a file that holds more is dense
# junk, refused before it fills memory.
MAX_VALUES = 2_000_000
# Values copied by aliases: a menu that shares a few option maps copies hundreds.
MAX_ALIAS_VALUES = 100_000
# A menu nests six or seven levels (nodes, a node, options, an option, speech).
MAX_DEPTH = 50

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVERS: dict[Any, list[tuple[str, re.Pattern[str]]]] = (
    _Loader.yaml_implicit_resolvers
)
_WILDCARD = _RESOLVERS.get(None, [])
_CONSTRUCTORS = yaml.constructor.SafeConstructor.yaml_constructors

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SAFE_TAGS = {
    _STR,
    _INT,
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
}


class _NoKeys(dict):
    """The ``raw_keys`` shared by maps whose keys are all text: read-only."""

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("shared and empty: assign a dict of your own")


_NO_RAW_KEYS: dict[Any, str] = _NoKeys()


class YamlProblem(Exception):
    """A problem that stops reading a file, with the 1-based line it is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class LineDict(dict):
    """A dict that knows its own line and the line of each of its keys.

    ``raw_keys`` keeps a key as written when YAML read it as something other than
    text (``01`` reads as the number 1, and a phone menu needs to tell them apart);
    text keys are their own raw form. ``duplicates`` lists the (key, value, line)
    of keys given a second time, which are reported and left out.
    """

    __slots__ = ("duplicates", "line", "lines", "raw_keys")

    line: int
    lines: dict[Any, int]
    raw_keys: dict[Any, str]
    duplicates: list[tuple[Any, Any, int]]

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)

    def dropped(self) -> list[tuple[Any, Any, int]]:
        """The (key, value, line) of keys given a second time (left out)."""
        return getattr(self, "duplicates", [])


class LineList(list):
    """A list that knows its own line and the line of each item."""

    __slots__ = ("line", "lines")

    line: int
    lines: list[int]

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Frame:
    """A map or list being read: where its items go, and what it has seen."""

    __slots__ = (
        "anchor",
        "count_at",
        "height",
        "is_map",
        "key",
        "key_line",
        "skip",
        "tag_ok",
        "value",
    )  # fmt: skip

    def __init__(self, value: Any, is_map: bool, anchor: str | None, tag_ok: bool,
                 count_at: int) -> None:  # fmt: skip
        self.value = value
        self.is_map = is_map
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.skip = False  # the value of a duplicate key: read, then dropped
        self.anchor = anchor
        self.tag_ok = tag_ok
        self.height = 1
        self.count_at = count_at


_NO_KEY = object()
_PENDING = object()


class _Reader:
    """Builds one document's values from parser events, without recursion."""

    def __init__(self) -> None:
        self.count = 0
        self.copied = 0
        self.problems: list[YamlProblem] = []
        # anchor -> (value, height, values in it)
        self.anchors: dict[str, Any] = {}

    def read(self, loader: Any) -> Any:
        get = loader.get_event
        event = get()  # StreamStart
        event = get()
        if isinstance(event, StreamEndEvent):
            return None
        stack: list[_Frame] = []
        root: Any = None
        while True:
            event = get()
            kind = event.__class__
            if kind is ScalarEvent:
                line = event.start_mark.line + 1
                self.counted(line, 1)
                if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                    self.take_key(stack[-1], event, line)
                    continue
                value = self.scalar(event, line)
                if event.anchor is not None:
                    self.anchor(event.anchor, line, (value, 0, 1))
                root = self.place(stack, value, 0, line, root)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                line = event.start_mark.line + 1
                self.counted(line, 1)
                if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                    raise YamlProblem(
                        line, "a key must be a plain value, not a list or map"
                    )
                if len(stack) >= MAX_DEPTH:
                    raise YamlProblem(line, _too_deep())
                is_map = kind is MappingStartEvent
                value = LineDict() if is_map else LineList()
                value.line = line
                value.lines = {} if is_map else []
                if is_map:
                    value.raw_keys = _NO_RAW_KEYS
                tag = event.tag
                tag_ok = tag is None or tag == "!" or tag == (_MAP if is_map else _SEQ)
                if not tag_ok:
                    self.problems.append(YamlProblem(line, _unsupported(tag)))
                if event.anchor is not None:
                    self.anchor(event.anchor, line, _PENDING)
                stack.append(_Frame(value, is_map, event.anchor, tag_ok, self.count))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value = frame.value if frame.tag_ok else None
                if frame.anchor is not None:
                    size = self.count - frame.count_at + 1
                    self.anchors[frame.anchor] = (value, frame.height, size)
                root = self.place(stack, value, frame.height, frame.value.line, root)
            elif kind is AliasEvent:
                line = event.start_mark.line + 1
                if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
                    raise YamlProblem(line, "a key must be a plain value, not an alias")
                value, height = self.alias(event.anchor, line, len(stack))
                root = self.place(stack, value, height, line, root)
            elif kind is DocumentEndEvent:
                break
        event = get()
        if isinstance(event, DocumentStartEvent):
            raise YamlProblem(
                event.start_mark.line + 1,
                "a menu file holds one YAML document: remove the '---' and what "
                "follows, or split the file",
            )
        return root

    def counted(self, line: int, values: int) -> None:
        self.count += values
        if self.count > MAX_VALUES:
            raise YamlProblem(
                line,
                f"the file holds more than {MAX_VALUES:,} values (a 50,000-node menu "
                "holds under a million); refusing to read it",
            )

    def anchor(self, name: str, line: int, entry: Any) -> None:
        if name in self.anchors:
            raise YamlProblem(
                line, f"YAML syntax error: found duplicate anchor '{name}'"
            )
        self.anchors[name] = entry

    def alias(self, name: str, line: int, depth: int) -> tuple[Any, int]:
        entry = self.anchors.get(name)
        if entry is None:
            raise YamlProblem(
                line, f"YAML syntax error: found undefined alias '{name}'"
            )
        if entry is _PENDING:
            raise YamlProblem(line, f"alias '*{name}' refers to the value it is inside")
        value, height, size = entry
        if depth + height > MAX_DEPTH:
            raise YamlProblem(line, _too_deep())
        self.copied += size
        if self.copied > MAX_ALIAS_VALUES:
            raise YamlProblem(
                line,
                f"the file expands to more than {MAX_ALIAS_VALUES:,} values through "
                "aliases (aliases nested inside aliases?); refusing to read it",
            )
        self.counted(line, size)
        return _copy(value), height

    def place(
        self, stack: list[_Frame], value: Any, height: int, line: int, root: Any
    ) -> Any:
        """Put a finished value into the map or list being read (or make it root)."""
        if not stack:
            return value
        frame = stack[-1]
        if height + 1 > frame.height:
            frame.height = height + 1
        if frame.is_map:
            if not frame.skip:
                frame.value[frame.key] = value
                frame.value.lines[frame.key] = frame.key_line
            else:
                if not hasattr(frame.value, "duplicates"):
                    frame.value.duplicates = []
                frame.value.duplicates.append((frame.key, value, frame.key_line))
            frame.key = _NO_KEY
            frame.skip = False
        else:
            frame.value.append(value)
            frame.value.lines.append(line)
        return root

    def take_key(self, frame: _Frame, event: ScalarEvent, line: int) -> None:
        if event.tag is None and event.implicit[0] and event.value == "<<":
            raise YamlProblem(line, "merge keys ('<<') are not supported in menus")
        key = self.scalar(event, line)
        if event.anchor is not None:
            self.anchor(event.anchor, line, (key, 0, 1))
        mapping = frame.value
        frame.key, frame.key_line = key, line
        try:
            seen = key in mapping
        except TypeError:  # an unhashable key (bytes of !!binary are fine)
            raise YamlProblem(line, "a key must be a plain value") from None
        if seen:
            frame.skip = True
            self.problems.append(
                YamlProblem(
                    line,
                    f"duplicate key '{event.value}' (first on line "
                    f"{mapping.lines[key]}); YAML would silently keep only the last",
                )
            )
        elif not isinstance(key, str):
            if mapping.raw_keys is _NO_RAW_KEYS:
                mapping.raw_keys = {}
            mapping.raw_keys[key] = event.value

    def scalar(self, event: ScalarEvent, line: int) -> Any:
        value = event.value
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:  # quoted: always text
                return value
            tag = _resolve(value)
        if tag == _STR:
            return value
        if tag not in _SAFE_TAGS:
            self.problems.append(YamlProblem(line, _unsupported(tag)))
            return None
        if tag == _INT and value.isdigit():  # as before: "0123" reads as 123
            return int(value)
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
        try:
            return _CONSTRUCTORS[tag](_CONSTRUCTOR, node)
        except (ValueError, OverflowError, yaml.YAMLError):
            # A value that only looks like a date or number (2026-13-40): keep
            # the text, and let the field's own check say what is wrong with it.
            return value


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _resolve(value: str) -> str:
    """The tag YAML gives a plain scalar (``yes`` is a bool, ``12`` an int...)."""
    for tag, pattern in _RESOLVERS.get(value[:1], ()):
        if pattern.match(value):
            return tag
    for tag, pattern in _WILDCARD:
        if pattern.match(value):
            return tag
    return _STR


def _copy(value: Any) -> Any:
    """A deep copy of a value an alias repeats (its depth is already bounded)."""
    if isinstance(value, LineDict):
        copy = LineDict((key, _copy(item)) for key, item in value.items())
        copy.line, copy.lines = value.line, dict(value.lines)
        copy.raw_keys = value.raw_keys
        return copy
    if isinstance(value, LineList):
        copy = LineList(_copy(item) for item in value)
        copy.line, copy.lines = value.line, list(value.lines)
        return copy
    return value


def _unsupported(tag: str) -> str:
    return f"unsupported YAML tag '{tag}': menus hold plain values only"


def _too_deep() -> str:
    return (
        f"the file nests more than {MAX_DEPTH} levels deep (a menu needs about "
        "seven); refusing to read it"
    )


_STAR_KEY = re.compile(r"^\s*\*\s*:")


def read_yaml(text: str) -> tuple[Any, list[YamlProblem]]:
    """Parse one YAML document of a menu into plain values with lines.

    Returns the value and the problems that did not stop reading (duplicate keys,
    which keep the first value; unsafe tags, which read as null). Raises
    ``YamlProblem`` for what stops it: syntax errors, alias bombs, deep nesting,
    oversized input.
    """
    if len(text) > MAX_BYTES or (
        len(text) * 4 > MAX_BYTES
        and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES
    ):
        raise YamlProblem(1, _too_large())
    reader = _Reader()
    loader = _Loader(text)
    try:
        value = reader.read(loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        message = _syntax_message(error)
        lines = text.splitlines()
        if 0 < line <= len(lines) and _STAR_KEY.match(lines[line - 1]):
            message = "an unquoted '*' starts a YAML alias: write the key as \"*\""
        raise YamlProblem(line, message) from None
    except yaml.YAMLError as error:
        raise YamlProblem(1, f"YAML syntax error: {error}") from None
    finally:
        loader.dispose()
    return value, reader.problems


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The text of a YAML file, reading no more than ``MAX_BYTES`` + 1 bytes.

    Only regular files are read: a device (``/dev/zero``), a pipe or a folder is
    refused without being opened, so it cannot hang or fill memory. Raises
    ``OSError`` when the file cannot be opened (``FileNotFoundError`` when it does
    not exist) and ``YamlProblem`` for a file that is not regular, larger than
    ``MAX_BYTES``, or not UTF-8 text.
    """
    path = Path(path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise YamlProblem(1, f"cannot read the file: it is {what}")
    with path.open("rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlProblem(1, _too_large())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise YamlProblem(
            line,
            f"the file is not UTF-8 text (byte {error.start + 1}): save it as UTF-8",
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_yaml_file(path: str | os.PathLike[str]) -> tuple[Any, list[YamlProblem]]:
    """``read_yaml`` of ``read_text_file(path)``: a YAML file, read safely."""
    return read_yaml(read_text_file(path))


def _too_large() -> str:
    return f"the file is larger than {MAX_BYTES >> 20} MiB; refusing to read it"


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (error.context, error.problem) if p]
    return "YAML syntax error: " + ", ".join(parts) if parts else "YAML syntax error"
