"""Safe YAML reading that remembers the line of every key.

PyYAML's ``safe_load`` forgets where things were, keeps the last of two equal keys
without a word, and expands aliases however deep they nest. A designer needs the
line to edit, a duplicate key is almost always a mistake, and an alias bomb must not
hang ``ivr check``. So we compose the YAML into nodes (libyaml when available: the
same parser, in C) and build plain values ourselves: ``LineDict`` and ``LineList``
are a dict and a list that also know the line of each key and item.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = [
    "MAX_BYTES",
    "MAX_VALUES",
    "LineDict",
    "LineList",
    "YamlProblem",
    "read_yaml",
]

MAX_BYTES = 1 << 20  # a menu is a few kilobytes; a megabyte is a generated one
MAX_VALUES = 200_000  # values after alias expansion (a 5,000-node menu has ~40,000)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SAFE_TAGS = {
    _STR,
    _INT,
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
}


class YamlProblem(Exception):
    """A problem that stops reading a file, with the 1-based line it is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class LineDict(dict):
    """A dict that knows its own line and the line of each of its keys.

    ``raw_keys`` keeps each key as written (``01`` reads as the number 1 in YAML,
    and a phone menu needs to tell them apart).
    """

    line: int
    lines: dict[Any, int]
    raw_keys: dict[Any, str]

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LineList(list):
    """A list that knows its own line and the line of each item."""

    line: int
    lines: list[int]

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Builder:
    def __init__(self) -> None:
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[YamlProblem] = []

    def build(self, node: yaml.Node) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise YamlProblem(
                node.start_mark.line + 1,
                f"the file expands to more than {MAX_VALUES} values "
                "(aliases nested inside aliases?); refusing to read it",
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if node.tag not in (_MAP, _SEQ):
            self.problems.append(
                YamlProblem(
                    node.start_mark.line + 1,
                    f"unsupported YAML tag '{node.tag}': menus hold plain values only",
                )
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node)
        if isinstance(node, yaml.SequenceNode):
            items = LineList(self.build(item) for item in node.value)
            items.line = node.start_mark.line + 1
            items.lines = [item.start_mark.line + 1 for item in node.value]
            return items
        raise YamlProblem(node.start_mark.line + 1, "unsupported YAML node")

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SAFE_TAGS:
            self.problems.append(
                YamlProblem(
                    node.start_mark.line + 1,
                    f"unsupported YAML tag '{node.tag}': menus hold plain values only",
                )
            )
            return None
        if node.tag == _INT and node.value.isdigit():
            return int(node.value)
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError):
            # A value that only looks like a date or number (2026-13-40): keep
            # the text, and let the field's own check say what is wrong with it.
            return node.value

    def mapping(self, node: yaml.MappingNode) -> LineDict:
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.lines = {}
        result.raw_keys = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(
                    line, "a key must be a plain value, not a list or map"
                )
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(line, "merge keys ('<<') are not supported in menus")
            key = self.scalar(key_node)
            if key in result:
                self.problems.append(
                    YamlProblem(
                        line,
                        f"duplicate key '{key_node.value}' (first on line "
                        f"{result.lines[key]}); YAML would silently keep only the last",
                    )
                )
                continue
            result[key] = self.build(value_node)
            result.lines[key] = line
            result.raw_keys[key] = key_node.value
        return result


_STAR_KEY = re.compile(r"^\s*\*\s*:")


def read_yaml(text: str) -> tuple[Any, list[YamlProblem]]:
    """Parse one YAML document of a menu into plain values with lines.

    Returns the value and the problems that did not stop reading (duplicate keys,
    which keep the first value; unsafe tags, which read as null). Raises
    ``YamlProblem`` for what stops it: syntax errors, alias bombs, oversized input.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlProblem(1, f"the file is larger than {MAX_BYTES // 1024} KiB")
    try:
        root = yaml.compose(text, Loader=_Loader)
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
    if root is None:
        return None, []
    builder = _Builder()
    value = builder.build(root)
    return value, builder.problems


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (error.context, error.problem) if p]
    return "YAML syntax error: " + ", ".join(parts) if parts else "YAML syntax error"
