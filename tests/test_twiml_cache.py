"""TwiML from stamps equals TwiML from twilio's builder, call after call.

``ivr.twiml_cache`` renders each kind of document once with the builder and fills
in what varies per call (the sealed state in the URLs, the text said). A stale
stamp would tell a caller someone else's order status, yesterday's opening hours
or a wait that has grown since: these tests compare every answer served from a
stamp with the document the builder makes for the same step, on the shop's
scenarios, on fuzzed calls, and on texts built to trip the stamp.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from ivr.engine import CallState, Dial, Enqueue, Gather, Hangup, Record, Step, Switch
from ivr.humanpath import WaitStep
from ivr.menu import Prompt
from ivr.testing.fuzz import fuzz_menu
from ivr.testing.scenarios import menus_with_scenarios, run_scenarios
from ivr.twiml import render_step, render_wait
from ivr.twiml_cache import TwimlCache, _Stamp

ROOT = Path(__file__).resolve().parent.parent
SHOP = menus_with_scenarios([ROOT / "menus"])


class CheckedCache(TwimlCache):
    """The app's cache, each answer compared with what the builder makes."""

    made: ClassVar[list[CheckedCache]] = []

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.differences: list[tuple[bytes, bytes]] = []
        CheckedCache.made.append(self)

    def step(self, step, menu, urls):
        served = super().step(step, menu, urls)
        self._compare(served, str(render_step(step, menu, urls)).encode())
        return served

    def wait(self, wait, state, menu, urls):
        served = super().wait(wait, state, menu, urls)
        self._compare(served, str(render_wait(wait, state, menu, urls)).encode())
        return served

    def _compare(self, served: bytes, built: bytes) -> None:
        self.answers += 1
        if served != built:
            self.differences.append((served, built))

    def stamps(self) -> int:
        return sum(isinstance(s, _Stamp) for s in self._stamps.values())


@pytest.fixture
def checked(monkeypatch):
    """Every app built in the test answers through a ``CheckedCache``."""
    CheckedCache.made = []
    monkeypatch.setattr("ivr.web.TwimlCache", CheckedCache)
    return CheckedCache.made


def _summary(caches: list[CheckedCache]) -> tuple[int, int, int, list]:
    answers = sum(c.answers for c in caches)
    cut = sum(c.cut for c in caches)
    stamps = sum(c.stamps() for c in caches)
    differences = [d for c in caches for d in c.differences]
    return answers, cut, stamps, differences


@pytest.mark.parametrize("menu", SHOP, ids=lambda p: p.stem)
def test_every_scenario_answer_equals_the_builders(checked, menu):
    report = run_scenarios(menu)
    assert report.failures == []
    answers, cut, stamps, differences = _summary(checked)
    assert differences == []
    # Most answers came from a stamp, and every kind of document had one.
    assert answers > 3 * cut and stamps == cut


@pytest.mark.parametrize("menu", SHOP, ids=lambda p: p.stem)
def test_every_fuzzed_answer_equals_the_builders(checked, menu):
    report = fuzz_menu(menu, 40, random.Random(14))
    assert report.findings == []
    answers, cut, stamps, differences = _summary(checked)
    assert differences == []
    assert answers > 3 * cut and stamps == cut


# -- texts and documents built to trip a stamp --------------------------------------

STATE = CallState("hotline", "main", 0, {})


class Urls:
    """URLs that carry the call's variables, as a sealed state does."""

    def __init__(self, extra: str = "") -> None:
        self.extra = extra

    def _of(self, path: str, state: CallState) -> str:
        token = "-".join(f"{k}.{v}" for k, v in sorted(state.variables.items()))
        return f"https://ivr.example.com/voice/{path}?s={token}{self.extra}"

    def input(self, state):
        return self._of("input", state)

    def wait(self, state):
        return self._of("wait", state)

    def callback(self, state):
        return self._of("callback", state)

    def queue_done(self, state):
        return self._of("queue", state)

    def dial_done(self, state):
        return self._of("dial", state)

    def recorded(self, state):
        return self._of("recorded", state)

    def recording(self, name):
        return f"https://ivr.example.com/recordings/{name}"

    def enter(self, menu):
        return f"https://ivr.example.com/voice?menu={menu}"


TEXTS = [
    "您的订单202611250001状态为已发货。",
    "订单 12345 与 67890，共 2 件",
    "20261125000",  # a digit run alone
    'Tom & Jerry\'s <order> "quoted"',
    "line one\nline two\ttab\r",
    "٩٩٩٠٠٠ looks like a blank",  # the stamp's own marker characters
    "\ue000000\ue001 and \ue002001\ue001",
    "",
    "１２３４５６ full-width digits",
]


def _gather(text: str) -> Gather:
    return Gather(Prompt(text=text), speech=True, timeout_s=6, num_digits=1,
                  finish_on_key="#", hints=("退款", "人工"))  # fmt: skip


def test_texts_with_digits_escapes_and_markers_equal_the_builders(hotline):
    cache = TwimlCache()
    rng = random.Random(7)
    plain = replace(hotline, voice=None)
    for _ in range(300):
        menu = rng.choice([hotline, plain])
        said = rng.choice(TEXTS)
        asked = rng.choice(TEXTS)
        state = replace(STATE, variables={"order": rng.choice(["1", "2&3", "<4>"])})
        prompts = [Prompt(text=said)]
        if rng.random() < 0.3:  # a message in another language and voice
            prompts.append(Prompt(text=asked, language="en-US", voice="Polly.Joanna"))
        if rng.random() < 0.3:
            prompts.append(Prompt(text=said, audio="welcome.wav"))
        step = Step(tuple(prompts), _gather(asked), state)
        urls = Urls(rng.choice(["", "&p=3"]))
        built = str(render_step(step, menu, urls)).encode()
        assert cache.step(step, menu, urls) == built
    assert len(cache) < 150  # most answers came from a stamp: texts are blanks


def test_each_call_hears_its_own_text_not_the_first_callers(hotline):
    cache = TwimlCache()
    documents = set()
    for order, status in [("2026110001", "已发货"), ("2026110002", "退款中")]:
        state = replace(STATE, node="order_status", variables={"order_id": order})
        step = Step((Prompt(text=f"您的订单{order}状态为{status}。"),), Hangup(), state)
        served = cache.step(step, hotline, Urls())
        assert served == str(render_step(step, hotline, Urls())).encode()
        documents.add(served)
        root = ET.fromstring(served)
        assert root.find("Say/say-as").text == order
        assert status in "".join(root.find("Say").itertext())
    assert len(documents) == 2 and cache.cut == 1


@pytest.mark.parametrize(
    "action",
    [
        Enqueue(
            "orders", 1, name="hotline.orders.1", topic="订单", facts=(("a", "b"),)
        ),
        Enqueue("orders", 0, workflow_sid="WW1", topic="订单", facts=(("a", "b"),)),
        Dial("+861000000001", 20),
        Record(120),
        Switch("shop-en"),
        Hangup(),
    ],
    ids=["enqueue", "task", "dial", "record", "switch", "hangup"],
)
def test_every_action_equals_the_builders_and_the_task_is_never_stamped(
    hotline, action
):
    cache = TwimlCache()
    for n in range(3):
        state = replace(STATE, variables={"n": str(n)})
        if isinstance(action, Enqueue) and action.workflow_sid:  # facts per call
            action = replace(action, facts=(("order", f"20261100{n}"),))
        step = Step((Prompt(text=f"第{n}位"),), action, state)
        assert (
            cache.step(step, hotline, Urls())
            == str(render_step(step, hotline, Urls())).encode()
        )
    assert cache.cut == (0 if getattr(action, "workflow_sid", None) else 1)


def test_an_edited_menu_never_meets_the_stamp_of_the_old_one(hotline):
    cache = TwimlCache()
    step = Step((), _gather("请按1"), STATE)
    first = cache.step(step, hotline, Urls())
    edited = replace(step, action=replace(step.action, timeout_s=9))
    for menu in (hotline, replace(hotline, language="en-US"), replace(hotline, voice=None)):  # fmt: skip
        for each in (step, edited):
            assert (
                cache.step(each, menu, Urls())
                == str(render_step(each, menu, Urls())).encode()
            )
    assert b'timeout="9"' in cache.step(edited, hotline, Urls())
    assert b'timeout="6"' in first


def test_wait_rounds_equal_the_builders_as_the_wait_grows(hotline):
    menu = replace(hotline, hold="hold.wav", recordings_dir=str(ROOT / "recordings"))
    cache = TwimlCache()
    queue_state = replace(STATE, node="agent_general")
    for position in range(1, 8):
        for offer in (False, True):
            for hold_s in (0, 30, 60):
                wait = WaitStep(
                    (
                        Prompt(
                            text=f"您前面还有{position}位，预计等待{position * 2}分钟"
                        ),
                    ),
                    hold_s,
                    offer_callback=offer,
                    estimated_wait_s=position * 120.0,
                )
                for m in (menu, replace(menu, hold=None)):
                    served = cache.wait(wait, queue_state, m, Urls())
                    built = str(render_wait(wait, queue_state, m, Urls()))
                    assert served == built.encode()
    leave = WaitStep((), 0, leave=True)
    assert (
        cache.wait(leave, queue_state, menu, Urls())
        == str(render_wait(leave, queue_state, menu, Urls())).encode()
    )
    assert len(cache) <= 2 * 2 * 3 + 1  # rounds differ only in their text
