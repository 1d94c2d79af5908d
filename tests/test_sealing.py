"""Call state sealed with AES-GCM: short, secret, bound to its call, refused cleanly.

The token is the state encrypted under a key derived once a day from the secret,
with the bound request field's value authenticated beside it. What a caller
relies on: a URL never shows the digits they typed, nobody can forge or reuse
one, and a token the app cannot open (another secret after a key change, the
Fernet tokens of earlier versions, a day old) gets the apology and a person,
never an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from conftest import TwilioPost, action_of, make_app, said, twiml
from cryptography.fernet import Fernet

from ivr.engine import CallState
from ivr.web.sealing import MAX_AGE_S, BadState, Binding, Sealer

SECRET = "s" * 40
CALL = {"CallSid": "CA" + "1" * 32}
APOLOGY = "抱歉，系统出现问题，正在为您转接人工服务。"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _state(**variables: str) -> CallState:
    return CallState("shop", "order_ask", 1, variables, since=1764000000.5)


def test_a_state_opens_for_its_call_and_only_for_it():
    sealer = Sealer(SECRET)
    state = _state(order_id="202611250001", caller="+8613800000000")
    token = sealer.seal(state, Binding.for_call(CALL["CallSid"]))
    assert sealer.open(token, CALL) == state
    for fields in [{}, {"CallSid": "CA" + "2" * 32}, {"DequeingCallSid": CALL["CallSid"]}]:  # fmt: skip
        with pytest.raises(BadState, match="sealed for another CallSid"):
            sealer.open(token, fields)


def test_sensitive_digits_never_appear_in_the_token():
    sealer = Sealer(SECRET)
    token = sealer.seal(
        _state(id_last4="4321", order_id="987654"), Binding("CallSid", "CA1")
    )
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in ("4321", "987654", "id_last4", "order_ask"):
        assert secret not in token and secret.encode() not in raw


def test_tokens_are_shorter_than_the_fernet_tokens_they_replace():
    """Fernet (AES-CBC + HMAC, a version byte, a timestamp, an IV, padding and
    base64 of it all) as the app sealed before, against today's token."""
    old = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"ivr-state:" + SECRET.encode()).digest()))  # fmt: skip
    for variables in [{}, {"order_id": "202611250001"}, {"a": "x" * 300}]:
        state = _state(**variables)
        payload = {"m": state.menu, "n": state.node, "v": variables, "a": 1,
                   "q": state.since, "b": ["CallSid", CALL["CallSid"]]}  # fmt: skip
        fernet = old.encrypt(json.dumps(payload, separators=(",", ":")).encode())
        ours = Sealer(SECRET).seal(state, Binding.for_call(CALL["CallSid"]))
        assert len(ours) < len(fernet) - 40


def test_a_state_is_sealed_as_the_compact_json_json_dumps_makes():
    from ivr.web.sealing import _ENCODE  # set up once, not per token

    for payload in [
        ["shop", "order_ask", {"order_id": "202611250001", "caller": "+86138"}],
        [
            "菜单",
            "节点",
            {"说": '引号" 反斜杠\\ 换行\n', "e": "é\u2028"},
            2,
            1764000000.5,
        ],
        ["m", "n", {}, 0, 1e20],
        {"a": "li.na", "w": 17, "p": -1, "t": None, "f": [["x", "y"]]},
    ]:
        expected = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        assert "".join(_ENCODE(payload, 0)) == expected


def test_every_altered_byte_and_every_cut_is_refused():
    sealer = Sealer(SECRET)
    token = sealer.seal(_state(order_id="1"), Binding.for_call(CALL["CallSid"]))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rng = random.Random(3)
    for i in range(len(token)):
        changed = rng.choice(alphabet.replace(token[i], ""))
        altered = token[:i] + changed + token[i + 1 :]
        try:
            opened = sealer.open(altered, CALL)
        except BadState:
            continue
        # The last character may carry only padding bits: the same bytes.
        assert i == len(token) - 1 and opened == sealer.open(token, CALL)
    for cut in range(len(token)):
        with pytest.raises(BadState):
            sealer.open(token[:cut], CALL)
    for junk in ["", "~", "a b", "%%%", "Zm9v", token + "AAAA"]:
        with pytest.raises(BadState):
            sealer.open(junk, CALL)


def test_a_token_opens_across_midnight_until_it_is_a_day_old():
    clock = Clock(86400 * 20000 - 1)  # one second before a UTC midnight
    sealer = Sealer(SECRET, clock=clock)
    state = _state(order_id="1")
    token = sealer.seal(state, Binding.for_call(CALL["CallSid"]))
    clock.now += 2  # the next day's key seals now; the token keeps its own
    assert sealer.open(token, CALL) == state
    assert sealer.open(sealer.seal(state, Binding.for_call("CA9")), {"CallSid": "CA9"})
    clock.now += MAX_AGE_S - 2
    assert sealer.open(token, CALL) == state
    clock.now += 1
    with pytest.raises(BadState, match="too old"):
        sealer.open(token, CALL)
    # Sealed by a machine whose clock runs well ahead: refused too.
    ahead = Sealer(SECRET, clock=Clock(clock.now + 3600))
    with pytest.raises(BadState, match="too old"):
        sealer.open(ahead.seal(state, Binding.for_call("CA9")), {"CallSid": "CA9"})


def test_a_call_state_and_the_agent_lines_fields_never_open_as_each_other():
    sealer = Sealer(SECRET)
    binding = Binding.for_call(CALL["CallSid"])
    fields = sealer.seal_fields("next", {"agent": "li.na"}, binding)
    assert sealer.open_fields(fields, "next", CALL) == {"agent": "li.na"}
    with pytest.raises(BadState):
        sealer.open(fields, CALL)
    with pytest.raises(BadState):
        sealer.open_fields(fields, "bridge", CALL)
    with pytest.raises(BadState):
        sealer.open_fields(sealer.seal(_state(), binding), "state", CALL)
    with pytest.raises(ValueError, match="'state' is the kind of call states"):
        sealer.seal_fields("state", {}, binding)


def test_another_secret_opens_nothing():
    token = Sealer(SECRET).seal(_state(), Binding.for_call(CALL["CallSid"]))
    with pytest.raises(BadState, match="forged, altered"):
        Sealer("t" * 40).open(token, CALL)


# -- through the app: the caller in the middle of a call ------------------------------


@pytest.mark.parametrize("why", ["the secret changed", "a Fernet token of before"])
def test_a_state_the_app_cannot_open_gets_the_apology_and_a_person(tmp_path, why):
    before = make_app(tmp_path / "a", SECRET_KEY="a" * 40).test_client()
    after = make_app(tmp_path / "b", SECRET_KEY="b" * 40).test_client()
    action = action_of(twiml(TwilioPost(before)("/voice")))
    if why == "a Fernet token of before":
        key = base64.urlsafe_b64encode(
            hashlib.sha256(b"ivr-state:" + b"b" * 40).digest()
        )
        payload = {"m": "shop", "n": "main", "v": {}, "b": ["CallSid", "CA" + "0" * 32]}
        fernet = Fernet(key).encrypt(json.dumps(payload).encode()).decode()
        action = action.split("?s=")[0] + "?s=" + fernet
    response = TwilioPost(after)(action, Digits="1")
    assert response.status_code == 200
    root = twiml(response)
    assert said(root)[0] == APOLOGY
    assert root.find("Enqueue") is not None
