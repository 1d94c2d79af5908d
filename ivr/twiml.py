"""Turn engine steps into TwiML, the XML Twilio reads to run a call.

TwiML is a script of verbs: ``<Say>`` speaks text, ``<Play>`` plays a recording,
``<Gather>`` listens for keys or words and posts them to an ``action`` URL,
``<Enqueue>`` holds the caller for an agent, ``<Dial>`` connects another number,
``<Record>`` takes a voicemail, ``<Redirect>`` goes on in another menu,
``<Hangup>`` ends the call. We build it only with
twilio's own ``VoiceResponse`` builder; the URLs come from the web layer through
the ``Urls`` protocol, so this module stays free of Flask.
"""

from __future__ import annotations

import functools
import json
import re
import wave
from pathlib import Path
from typing import Protocol

from twilio.twiml.voice_response import VoiceResponse

from ivr.engine import (
    CallState,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    Record,
    Step,
    Switch,
)
from ivr.humanpath import WaitStep
from ivr.menu import Menu, Prompt
from ivr.phrases import phrase

__all__ = [
    "Urls",
    "digit_runs",
    "hold_music",
    "render_apology",
    "render_leave",
    "render_say",
    "render_step",
    "render_wait",
    "speaks_ssml",
    "spoken_in",
]

# Voices that read SSML: long digit runs (order numbers) are read digit by digit.
_SSML_VOICES = ("Polly.", "Google.")
_DIGIT_RUN = re.compile(r"(\d{5,})")


class Urls(Protocol):
    """Where Twilio should post next; each URL carries the sealed call state."""

    def input(self, state: CallState) -> str: ...
    def wait(self, state: CallState) -> str: ...
    def callback(self, state: CallState) -> str: ...
    def queue_done(self, state: CallState) -> str: ...
    def dial_done(self, state: CallState) -> str: ...
    def recorded(self, state: CallState) -> str: ...
    def recording(self, name: str) -> str: ...
    def enter(self, menu: str) -> str: ...


def spoken_in(
    menu: Menu, language: str | None = None, voice: str | None = None
) -> tuple[str, str | None]:
    """The language and voice a text is said in: the menu's, or those of a
    message in another language than the menu's (``Prompt.language``)."""
    if language is None:
        return menu.language, voice or menu.voice
    return language, voice


def speaks_ssml(voice: str | None) -> bool:
    """Whether ``voice`` reads SSML (Polly and Google voices)."""
    return bool(voice and voice.startswith(_SSML_VOICES))


def digit_runs(text: str) -> list[str]:
    """``text`` split around its runs of five or more digits, which an SSML voice
    reads digit by digit: the runs at odd places, the text between at even ones
    (empty where two meet the ends); no parts when there is no run."""
    parts = _DIGIT_RUN.split(text)
    return parts if len(parts) > 1 else []


def _say(
    parent, text: str, menu: Menu, language: str | None = None, voice: str | None = None
) -> None:
    """Say ``text`` in the menu's voice, or in ``language`` and ``voice`` when a
    message is in another language than the menu's."""
    language, voice = spoken_in(menu, language, voice)
    # A Polly or Google voice speaks one language (Polly.Zhiyu is cmn-CN, not
    # zh-CN): name the voice alone rather than risk a pair Twilio refuses.
    ssml_voice = speaks_ssml(voice)
    language = None if ssml_voice else language
    parts = digit_runs(text) if ssml_voice else []
    if parts:
        say = parent.say(voice=voice)
        for index, part in enumerate(parts):
            if index % 2:
                say.say_as(part, interpret_as="digits")
            elif part:
                say.append(part)
        return
    parent.say(text, language=language, voice=voice)


def _prompt(parent, prompt: Prompt, menu: Menu, urls: Urls) -> None:
    if prompt.audio:
        parent.play(urls.recording(prompt.audio))
    elif prompt.text:
        _say(parent, prompt.text, menu, prompt.language, prompt.voice)


def render_step(step: Step, menu: Menu, urls: Urls) -> VoiceResponse:
    """The TwiML document for one engine step."""
    response = VoiceResponse()
    for prompt in step.prompts:
        _prompt(response, prompt, menu, urls)
    action = step.action
    state = step.state
    if isinstance(action, Gather):
        url = urls.input(state)
        gather = response.gather(
            input="dtmf speech" if action.speech else "dtmf",
            action=url,
            method="POST",
            timeout=action.timeout_s,
            num_digits=action.num_digits,
            finish_on_key=action.finish_on_key,
            language=menu.language if action.speech else None,
            hints=", ".join(action.hints) if action.speech and action.hints else None,
            speech_timeout="auto" if action.speech else None,
            action_on_empty_result=True,
        )
        _prompt(gather, action.prompt, menu, urls)
        # Should Twilio fall through on silence after all, treat it as no input.
        response.redirect(url, method="POST")
    elif isinstance(action, Enqueue):
        enqueue = response.enqueue(
            None if action.workflow_sid else (action.name or action.queue),
            action=urls.queue_done(state),
            method="POST",
            wait_url=urls.wait(state),
            wait_url_method="POST",
            workflow_sid=action.workflow_sid,
        )
        if action.workflow_sid:
            # TaskRouter routes on these; the agent's app shows them.
            attributes = {
                "queue": action.queue,
                "menu": menu.id,
                "topic": action.topic,
                "language": menu.language,
                "priority": action.priority,
                "facts": dict(action.facts),
            }
            enqueue.task(
                json.dumps(attributes, ensure_ascii=False),
                priority=action.priority or None,
            )
    elif isinstance(action, Dial):
        response.dial(
            action.number,
            action=urls.dial_done(state),
            method="POST",
            timeout=action.timeout_s,
        )
    elif isinstance(action, Record):
        url = urls.recorded(state)
        response.record(
            action=url,
            method="POST",
            max_length=action.max_length_s,
            play_beep=True,
            finish_on_key="#",
        )
        # Twilio skips the action when nothing was recorded; carry on regardless.
        response.redirect(url, method="POST")
    elif isinstance(action, Switch):
        response.redirect(urls.enter(action.menu), method="POST")
    elif isinstance(action, Hangup):
        response.hangup()
    return response


def render_wait(
    wait: WaitStep, state: CallState, menu: Menu, urls: Urls
) -> VoiceResponse:
    """The TwiML for one round of holding in a queue (Twilio's waitUrl)."""
    response = VoiceResponse()
    if wait.leave:
        response.leave()
        return response
    for prompt in wait.prompts:
        _prompt(response, prompt, menu, urls)
    if wait.offer_callback:
        gather = response.gather(
            input="dtmf",
            action=urls.callback(state),
            method="POST",
            num_digits=1,
            timeout=5,
        )
        _say(gather, phrase(menu.language, "callback_offer"), menu)
    if wait.hold_s > 0:
        hold, length = hold_music(state, menu)
        if hold and length:
            # As many plays of the music as fill the time to the next round.
            loops = max(1, round(wait.hold_s / length))
            response.play(urls.recording(hold), loop=loops)
        else:
            response.pause(length=wait.hold_s)
    return response


def hold_music(state: CallState, menu: Menu) -> tuple[str | None, float | None]:
    """The hold music of the queue of node ``state.node``, else the menu's, and
    how long it plays (None: an MP3, or no music)."""
    node = menu.nodes.get(state.node)
    queue = menu.queues.get(getattr(node, "queue", ""))
    hold = (queue.hold if queue else None) or menu.hold
    return hold, _length_s(menu.recordings_dir, hold) if hold else None


@functools.lru_cache(maxsize=64)
def _length_s(folder: str, name: str) -> float | None:
    """How long a WAV recording plays (None for an MP3 or an unreadable file)."""
    try:
        with wave.open(str(Path(folder) / name)) as audio:
            return audio.getnframes() / float(audio.getframerate())
    except (OSError, wave.Error, EOFError, ZeroDivisionError):
        return None


def render_leave(accept: bool, wait_url: str) -> VoiceResponse:
    """Answer to the callback offer: ``<Leave/>`` when accepted, else hold on."""
    response = VoiceResponse()
    if accept:
        response.leave()
    else:
        response.redirect(wait_url, method="POST")
    return response


def render_apology(language: str) -> VoiceResponse:
    """The last-resort answer when not even the menu is known: apologise, hang up."""
    response = VoiceResponse()
    response.say(phrase(language, "apology_bye"), language=language)
    response.hangup()
    return response


def render_say(text: str, menu: Menu) -> VoiceResponse:
    """A document that only speaks ``text`` in the menu's voice (a ``<Queue url>``
    or ``<Number url>`` document, where few verbs are allowed)."""
    response = VoiceResponse()
    _say(response, text, menu)
    return response


def render_agent_prompt(
    text: str, menu: Menu, *, next_url: str, again_url: str, pause_s: int = 0
) -> VoiceResponse:
    """The agent line's prompt: ``text``, one key to ``next_url``; silence asks again.

    ``pause_s`` of silence inside the gather (nobody waiting: the agent holds a
    moment before the line looks again).
    """
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        action=next_url,
        method="POST",
        num_digits=1,
        timeout=10,
        action_on_empty_result=False,
    )
    _say(gather, text, menu)
    if pause_s > 0:
        gather.pause(length=pause_s)
    response.redirect(again_url, method="POST")
    return response


def render_take_caller(
    briefing: str, menu: Menu, *, queue: str, bridge_url: str, done_url: str
) -> VoiceResponse:
    """Brief the agent, then take the first caller of Twilio queue ``queue``."""
    response = VoiceResponse()
    _say(response, briefing, menu)
    # hangupOnStar: the agent ends a conversation with * and stays on the line.
    dial = response.dial(
        action=done_url, method="POST", timeout=20, hangup_on_star=True
    )
    dial.queue(queue, url=bridge_url, method="POST")
    return response


def render_call_back(
    briefing: str,
    menu: Menu,
    *,
    number: str,
    caller_id: str | None,
    whisper_url: str,
    done_url: str,
) -> VoiceResponse:
    """Brief the agent, then ring the customer from the line's own number."""
    response = VoiceResponse()
    _say(response, briefing, menu)
    dial = response.dial(
        action=done_url,
        method="POST",
        timeout=30,
        caller_id=caller_id,
        hangup_on_star=True,
    )
    dial.number(number, url=whisper_url, method="POST")
    return response


def render_say_hangup(text: str, menu: Menu) -> VoiceResponse:
    """Say ``text`` and end the call."""
    response = render_say(text, menu)
    response.hangup()
    return response
