"""Durations as designers write them: ``45``, ``45s``, ``4m``, ``1h``, ``1m30s``.

A phone menu is full of waits (key timeouts, handle times, patience), and designers
think of them in seconds and minutes, so every time in a menu file goes through here.
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> float:
    """Return seconds for ``value`` (a number of seconds or a string like ``4m``).

    Raises ``ValueError`` naming the value when it is not a duration or negative.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 45s, 4m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if text[pos : match.start()].strip():
                    break
                seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
                pos = match.end()
            if pos == 0 or text[pos:].strip():
                raise ValueError(
                    f"expected a duration like 45s, 4m or 1h, got {value!r}"
                )
    else:
        raise ValueError(f"expected a duration like 45s, 4m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds the way a designer would write them (``90`` -> ``1m30s``)."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"
