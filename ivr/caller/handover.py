"""The verbs that reach other calls, as a call on a switchboard runs them.

Alone, a call can only pretend: an agent "answers" after a few hold rounds, a
transfer "completes". On a :class:`~ivr.caller.switchboard.Switchboard` the
calls are real to each other, and these verbs follow Twilio's documented
semantics:

- ``<Enqueue>name</Enqueue>`` joins the account's queue and holds (the waitUrl
  document in a loop) until another call's ``<Dial><Queue>`` takes the caller,
  the caller's patience runs out, or the wait document says ``<Leave>`` or
  ``<Hangup>``. Taken, the ``<Queue url>`` document runs on the caller's end,
  then both talk; the Enqueue ``action`` is requested when they part.
- ``<Dial><Queue>name</Queue></Dial>`` takes the first caller of the queue or
  waits for one until the Dial ``timeout``; its ``action`` gets DialCallStatus,
  DialCallSid (the caller taken), DialCallDuration, DialBridged and QueueSid.
- ``<Dial callerId=...><Number url=...>`` rings the scripted phone at that
  number; picked up, the ``<Number url>`` whisper runs on the called party's end
  (in that call's own transcript), then both talk. Busy, no answer or a failure
  go to the Dial ``action`` as they are.
"""

from __future__ import annotations

from typing import Any

from ivr.caller.clocks import Dequeued, GaveUp, Party
from ivr.caller.document import Verb
from ivr.caller.flow import LEAVE, Ended, new_sid
from ivr.caller.switchboard import BUSY_AFTER_S, Bridge, CallHandle, Queue, Talk

__all__ = ["Handover"]

DEFAULT_TIME_LIMIT_S = 14400  # Dial timeLimit: four hours


def _number_of(handle: CallHandle) -> str:
    """The other party's own phone: a dialled leg's To, a caller's From."""
    if handle.direction == "outbound-dial":
        return handle.to_number
    return handle.from_number


class Handover:
    """The switchboard verbs of ``ivr.caller.call._Call`` (a mixin: it uses the
    call's ``_event``, ``_fetch``, ``_run``, ``_spend``, ``_resolve`` and
    ``_holds_on``)."""

    board: Any
    party: Party
    holding: Any
    leg: Bridge | None
    _via: Any

    # -- <Enqueue> --------------------------------------------------------

    def _enqueue_on_board(self, verb: Verb, url: str) -> Any:
        board, party = self.board, self.party
        name = verb.text
        self._event({"verb": "Enqueue", "queue": name})
        self.reached.append("queue")
        self.result.queue = name
        member = board.join(name, party, self.c.patience_s)
        if member is None:
            self._queue_result(name, "queue-full")
            return self._queue_done(verb, url, {"QueueResult": "queue-full"}, None)
        outcome: Any = None
        try:
            outcome = self._hold(verb, url, member)
        except GaveUp:
            outcome = GaveUp()
        except Ended as ended:
            outcome = ended
        finally:
            self.holding = None
            if not isinstance(outcome, Bridge):
                taken = board.leave(member)
                if taken is not None:
                    if outcome is LEAVE or isinstance(outcome, GaveUp):
                        outcome = taken  # a Dial took them that very moment
                    else:
                        board.cancel(taken, "failed")  # the dialler goes on
        if isinstance(outcome, Bridge):
            return self._bridged(verb, url, member, outcome)
        result = "leave" if outcome is LEAVE else "hangup"
        params = {
            "QueueResult": result,
            "QueueSid": member.queue.sid,
            "QueueTime": str(int(board.now_s - member.joined_s)),
        }
        self._queue_result(name, result)
        ended = None if outcome is LEAVE else outcome
        if isinstance(ended, GaveUp):
            ended = Ended("caller")
        return self._queue_done(verb, url, params, ended)

    def _hold(self, verb: Verb, url: str, member: Any) -> Any:
        """Hold until taken (returns the ``Bridge``) or ``<Leave>`` (``LEAVE``)."""
        board, party = self.board, self.party
        self.holding = member
        wait_url = verb.get("waitUrl")
        method = verb.get("waitUrlMethod", "POST") or "POST"
        rounds = 0
        try:
            board.spend(party, 0, member)  # a Dial already waiting goes first
            while True:
                patience = self.c.patience_rounds
                if patience is not None and rounds >= patience:
                    raise GaveUp("patience ran out")
                if rounds and not self._holds_on():
                    raise Ended("caller")
                rounds += 1
                self.since_input = 0
                board.pace_round(party, True, member)
                if not wait_url:
                    self._spend(30.0)  # Twilio's hold music
                else:
                    params = board.wait_params(member)
                    target = self._resolve(url, wait_url)
                    verbs, doc = self._fetch(
                        method, target, params, where="wait", hold=True
                    )
                    if self._run(verbs, doc, where="wait") is LEAVE:
                        return LEAVE
                board.pace_round(party, False, member)
        except Dequeued as taken:
            return taken.bridge

    def _bridged(self, verb: Verb, url: str, member: Any, bridge: Bridge) -> Any:
        """Taken from the queue: the ``<Queue url>`` document, then the talk."""
        board = self.board
        queue_sid = member.queue.sid
        taken_s = member.taken_s if member.taken_s is not None else board.now_s
        queue_time = str(int(taken_s - member.joined_s))
        try:
            if bridge.url:
                params = {
                    "QueueSid": queue_sid,
                    "QueueTime": queue_time,
                    "DequeingCallSid": bridge.dialler.handle.call_sid,
                }
                self._via = bridge.via
                try:
                    verbs, doc = self._fetch(
                        bridge.method, bridge.url, params, where="dequeue"
                    )
                    self._run(verbs, doc, where="dequeue")
                finally:
                    self._via = None
            talk = board.meet(bridge, self.party)
        except BaseException:
            board.cancel(bridge, "failed")
            raise
        if talk is None:  # only this side can call it off; kept for safety
            raise Ended("app")
        self._talked(talk)
        self._queue_result(member.queue.name, "bridged")
        params = {
            "QueueResult": "bridged",
            "QueueSid": queue_sid,
            "QueueTime": queue_time,
        }
        return self._queue_done(
            verb, url, params, Ended("caller") if talk.hung_up else None
        )

    def _queue_result(self, name: str, result: str) -> None:
        self.result.queue_result = result
        self._event({"verb": "Enqueue", "queue": name, "result": result})

    def _queue_done(
        self, verb: Verb, url: str, params: dict[str, str], ended: Ended | None
    ) -> Any:
        """Request the Enqueue ``action``; a caller who is gone runs nothing more."""
        if not verb.get("action"):
            if ended is not None:
                raise ended
            return None
        method = verb.get("method", "POST") or "POST"
        handover = self._fetch(
            method, self._resolve(url, verb.get("action")), params, where="call"
        )
        if ended is not None:
            raise ended
        return handover

    def _talked(self, talk: Talk) -> None:
        entry: dict[str, Any] = {
            "verb": "Bridge",
            "with": _number_of(talk.other),
            "call": talk.other.call_sid,
            "seconds": int(talk.seconds),
        }
        if talk.hung_up:
            entry["hangs_up"] = True
        self._event(entry)

    # -- <Dial><Queue> ----------------------------------------------------

    def _dial_queue(self, verb: Verb, noun: Verb, url: str) -> Any:
        board, party = self.board, self.party
        name = noun.text
        timeout = int(verb.get("timeout", "30") or 30)
        target = self._resolve(url, noun.get("url")) if noun.get("url") else None
        method = noun.get("method", "POST") or "POST"
        self._event({"verb": "Dial", "queue": name})
        deadline = board.now_s + timeout
        talk: Talk | None = None
        status, queue_sid, note = "no-answer", None, None
        while talk is None:
            got = board.take(
                name,
                party,
                url=target,
                method=method,
                via=self,
                time_limit_s=self._time_limit(verb),
            )
            if got is None:
                status, note = "failed", f"queue '{name}' does not exist"
                break
            if isinstance(got, Queue):
                queue_sid = got.sid
                left = deadline - board.now_s
                try:
                    if left > 0:
                        board.wait(party, left)
                finally:
                    board.stop_waiting(got, party)
                if left <= 0:
                    break
                continue
            queue_sid = got.queue.sid if got.queue else None
            talk = board.meet(got, party)
        params: dict[str, str] = {}
        if talk is not None:
            status = "completed"
            params["DialCallSid"] = talk.other.call_sid
        if queue_sid:
            params["QueueSid"] = queue_sid
        entry: dict[str, Any] = {"verb": "Dial", "queue": name}
        return self._dial_done(verb, url, entry, status, params, talk, note)

    # -- <Dial><Number> ---------------------------------------------------

    def _dial_numbers(self, verb: Verb, nouns: list[Verb], url: str) -> Any:
        board = self.board
        caller_id = verb.get("callerId") or self.c.from_number
        timeout = int(verb.get("timeout", "30") or 30)
        numbers = ", ".join(n.text for n in nouns)
        entry: dict[str, Any] = {"verb": "Dial", "number": numbers}
        if verb.get("callerId"):
            entry["caller_id"] = caller_id
        self._event(dict(entry))
        if not board.valid_caller_id(caller_id, self.c.from_number, self.c.to_number):
            note = (
                f"callerId '{caller_id}' is neither this call's From or To nor a "
                "number of the account (Twilio error 13214)"
            )
            return self._dial_done(verb, url, entry, "failed", {}, None, note)
        rings = [(noun, *board.ring(noun.text)) for noun in nouns]
        answering = [
            (ring.after_s, index)
            for index, (_, ring, _, _) in enumerate(rings)
            if ring.answer == "picks-up" and ring.after_s < timeout
        ]
        if not answering:
            answers = {ring.answer for _, ring, _, _ in rings}
            if answers & {"no-answer", "picks-up"}:
                status, wait_s = "no-answer", float(timeout)
            elif "busy" in answers:
                status, wait_s = "busy", BUSY_AFTER_S
            else:
                status, wait_s = "failed", 0.0
            self._spend(wait_s)
            params = {"DialCallSid": new_sid("CA")}
            return self._dial_done(verb, url, entry, status, params, None, None)
        after_s, index = min(answering)
        noun, ring, phone, rung = rings[index]
        self._spend(after_s)
        bridge = self._ring_leg(verb, url, noun, ring, phone, rung, caller_id)
        talk = board.meet(bridge, self.party)
        params = {"DialCallSid": bridge.dialled.handle.call_sid}
        status = "completed" if talk is not None else bridge.reason or "failed"
        return self._dial_done(verb, url, entry, status, params, talk, None)

    def _ring_leg(
        self,
        verb: Verb,
        url: str,
        noun: Verb,
        ring: Any,
        phone: Any,
        rung: int,
        caller_id: str,
    ) -> Bridge:
        """The phone picked up: start its call (the leg) on the switchboard."""
        board = self.board
        whisper = self._resolve(url, noun.get("url")) if noun.get("url") else None
        settings = self.c
        leg_caller = type(settings)(
            settings.transport,
            whisper or settings.url,
            from_number=caller_id,
            to_number=noun.text,
            auth_token=settings.auth_token,
            fetch_audio=settings.fetch_audio,
            max_requests=settings.max_requests,
            max_requests_without_input=settings.max_requests_without_input,
        )
        leg = type(self)(
            leg_caller,
            ring.inputs,
            phone.on_event if phone is not None else None,
            board=board,
            direction="outbound-dial",
            parent_sid=self.call_sid,
        )
        handle = CallHandle(
            leg.call_sid,
            caller_id,
            noun.text,
            board.now_s,
            direction="outbound-dial",
            parent_sid=self.call_sid,
        )
        party = Party(handle, leg.run_leg)
        party.talk_s = ring.talk_s
        leg.party = party
        bridge = board.bridge(
            self.party,
            party,
            url=whisper,
            method=noun.get("method", "POST") or "POST",
            via=self,
            time_limit_s=self._time_limit(verb),
        )
        leg.leg = bridge
        board.answered(phone, rung, handle)
        board.start_leg(party)
        return bridge

    def _answer_leg(self) -> None:
        """A dialled phone picked up: the whisper, then the talk."""
        board, bridge = self.board, self.leg
        assert bridge is not None
        self._event({"verb": "Ring", "from": self.c.from_number})
        try:
            if bridge.url:
                verbs, doc = self._fetch(bridge.method, bridge.url, {}, where="whisper")
                self._run(verbs, doc, where="whisper")
        except Ended:
            board.cancel(bridge, "no-answer")  # the called party declined
            raise
        except BaseException:
            board.cancel(bridge, "failed")
            raise
        talk = board.meet(bridge, self.party)
        if talk is None:
            raise Ended("app")
        self.reached.append("transfer")
        self._talked(talk)
        raise Ended("caller" if talk.hung_up else "app")

    # -- shared -----------------------------------------------------------

    def _time_limit(self, verb: Verb) -> float:
        return float(int(verb.get("timeLimit", "0") or 0) or DEFAULT_TIME_LIMIT_S)

    def _dial_done(
        self,
        verb: Verb,
        url: str,
        entry: dict[str, Any],
        status: str,
        params: dict[str, str],
        talk: Talk | None,
        note: str | None,
    ) -> Any:
        """The Dial ended: note it, then request its ``action``."""
        if talk is not None:
            self.reached.append("transfer")
            self._talked(talk)
        entry = {**entry, "status": status}
        if note:
            entry["error"] = note
        self._event(entry)
        ended = Ended("caller") if talk is not None and talk.hung_up else None
        if not verb.get("action"):
            if ended is not None:
                raise ended
            return None
        seconds = int(talk.seconds) if talk is not None else 0
        fields = {
            "DialCallStatus": status,
            **params,
            "DialCallDuration": str(seconds),
            "DialBridged": "true" if talk is not None else "false",
        }
        method = verb.get("method", "POST") or "POST"
        handover = self._fetch(
            method, self._resolve(url, verb.get("action")), fields, where="call"
        )
        if ended is not None:
            raise ended
        return handover
