"""What the line itself says, in the menu's language: apologies, waits, callbacks.

Designers write their own prompts; these few sentences belong to the engine (the
hold announcement, the callback offer, the apology after a fault). Chinese and
English are built in; other languages fall back to English.
"""

from __future__ import annotations

import math

__all__ = ["phrase", "wait_minutes"]

_PHRASES = {
    "zh": {
        "apology": "抱歉，系统出现问题，正在为您转接人工服务。",
        "apology_bye": "抱歉，系统出现问题，请稍后再拨。再见。",
        "position": "您前面还有{ahead}位客户在等待，",
        "estimate": "预计等待约{minutes}分钟。",
        "no_estimate": "请耐心等待，客服人员将尽快为您服务。",
        "callback_offer": "如需我们稍后回电，请按1。",
        "callback_confirm": (
            "好的，客服人员将尽快回电至您的来电号码。感谢您的耐心，再见。"
        ),
        "overflow": "抱歉，目前等待时间较长。",
        "transfer_failed": "抱歉，转接未能接通。",
        "goodbye": "感谢您的来电，再见。",
    },
    "en": {
        "apology": "Sorry, something went wrong. Connecting you to an agent.",
        "apology_bye": "Sorry, something went wrong. Please call again later. Goodbye.",
        "position": "There are {ahead} callers ahead of you. ",
        "estimate": "Your estimated wait is about {minutes} minutes.",
        "no_estimate": "Please hold, an agent will be with you as soon as possible.",
        "callback_offer": "To have us call you back instead, press 1.",
        "callback_confirm": (
            "Thank you. An agent will call you back at the number you are calling "
            "from. Goodbye."
        ),
        "overflow": "Sorry, the wait is longer than usual.",
        "transfer_failed": "Sorry, we could not connect that call.",
        "goodbye": "Thank you for calling. Goodbye.",
    },
}


def phrase(language: str, name: str, **values: object) -> str:
    """The built-in sentence ``name`` in ``language`` (e.g. ``zh-CN``)."""
    table = _PHRASES.get(language.split("-")[0].lower(), _PHRASES["en"])
    return table[name].format(**values)


def wait_minutes(seconds: float) -> int:
    """Round an estimated wait up to whole minutes, at least one."""
    return max(1, math.ceil(seconds / 60))
