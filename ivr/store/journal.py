"""One write as one line of a journal: JSON, UTF-8, ending in a newline.

The writer appends a line per write to its journal (``ivr.store.writer``); the
filer, or the writer's own thread, reads the lines back and files them
(``ivr.store.filer``). orjson does both at a fraction of the standard library's
cost (a webhook writes at least one line); what orjson refuses (keys that are
not text, integers past 64 bits) is written by the standard library, and a line
orjson cannot read (the ``NaN`` of a journal from before) is read by it too.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["line", "read"]


def line(op: dict[str, Any]) -> bytes:
    """``op`` as one journal line."""
    try:
        return orjson.dumps(op) + b"\n"
    except TypeError:
        return (json.dumps(op, ensure_ascii=False) + "\n").encode()


def read(raw: bytes | str) -> Any:
    """The write a journal line holds; ``ValueError`` for a torn line."""
    try:
        return orjson.loads(raw)
    except ValueError:
        return json.loads(raw)
