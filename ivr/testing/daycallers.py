"""How the callers of a simulated day behave, decided call by call on the engine.

``ivr.testing.daycalls`` rings a day of calls through a menu's webhooks; this
module decides what each caller does, the way the traffic file says callers
behave (``ivr.traffic``): at a menu an option by its ``share`` (or the file's
``branches``), silence at the ``no_input`` rate, a hang-up at the next menu at
the ``satisfied`` rate once a lookup found their record. What they type at an
``ask`` is chosen by trying candidates on the pure engine (real keys of the
menu's CSV data, their own record, random digits) and picking a way on by the
file's shares: ``found`` for lookups, ``branches`` for routes (a route rule the
file does not share out is taken as often as the others, as the walk takes it
half the time). The plan is made on the engine at the moment the call starts;
the call itself then goes through the real webhooks.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ivr import engine
from ivr.caller import HangUp, Input, Press, Silence
from ivr.engine import CallContext, Dial, Enqueue, Gather, Reply
from ivr.lookup import Lookups
from ivr.menu import AskNode, CsvSource, LookupNode, Menu, MenuNode, RouteNode
from ivr.report import expected_shares
from ivr.traffic import TrafficPlan

__all__ = ["CallPlan", "DayCallers"]


@dataclass
class CallPlan:
    """One caller's inputs in the menu, and the queue or transfer they reach."""

    inputs: list[Input]
    queue: str | None = None
    transfer: str | None = None


class DayCallers:
    """Chooses each caller's number and inputs by walking the pure engine."""

    def __init__(self, menu: Menu, plan: TrafficPlan, rng: np.random.Generator):
        self.menu, self.plan, self.rng = menu, plan, rng
        self.lookups = Lookups()
        self.keys: dict[str, list[str]] = {}
        self.digits: dict[str, list[str]] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {}
        for source in menu.data.values():
            if isinstance(source, CsvSource):
                with open(source.path, newline="", encoding="utf-8-sig") as handle:
                    rows = [
                        {k.strip(): (v or "").strip() for k, v in row.items() if k}
                        for row in csv.DictReader(handle)
                    ]
                self.rows[source.id] = {row.get(source.key, ""): row for row in rows}
                self.keys[source.id] = [r.get(source.key, "") for r in rows]
                self.digits[source.id] = sorted(
                    {v for r in rows for v in r.values() if v.isdigit()}
                )
        self.by_caller = [
            node.data
            for node in menu.nodes.values()
            if isinstance(node, LookupNode)
            and node.key.strip() == "{caller}"
            and node.data in self.keys
        ]

    def number(self) -> str:
        """A caller's number: one the data knows at the ``found`` rate."""
        if self.by_caller and self.rng.random() < self.plan.found:
            keys = self.keys[self.by_caller[0]]
            if keys:
                return keys[int(self.rng.integers(len(keys)))]
        return "+86139" + "".join(str(d) for d in self.rng.integers(0, 10, 8))

    def share(self, node_id: str, target: str) -> float:
        """How often the traffic file sends callers from ``node_id`` to ``target``."""
        node = self.menu.nodes[node_id]
        given = self.plan.branches.get(node_id)
        if given is not None:
            return given.get(target, 0.0)
        if isinstance(node, LookupNode):
            found = self.plan.found
            return found if target == node.found else 1 - found
        return 1.0  # a route rule the file does not share out

    def call(self, when: dt.datetime, number: str) -> CallPlan:
        menu, rng, plan = self.menu, self.rng, self.plan
        ctx = CallContext(now=when, caller=number, lookup=self.lookups)
        step = engine.start(menu, ctx)
        inputs: list[Input] = []
        answered = False
        replay = False
        for _ in range(60):
            answered = answered or self._found(step.nodes)
            action = step.action
            if isinstance(action, Enqueue):
                return CallPlan(inputs, queue=action.queue)
            if isinstance(action, Dial):
                return CallPlan(inputs, transfer=action.number)
            if not isinstance(action, Gather):
                return CallPlan(inputs)  # a voicemail or the goodbye: nothing to do
            node = menu.nodes[step.state.node]
            content = answered and not replay and isinstance(node, MenuNode)
            if content and rng.random() < plan.satisfied:
                inputs.append(HangUp())
                return CallPlan(inputs)
            if rng.random() < plan.no_input:
                reply, item = Reply(), Silence()
            elif isinstance(node, MenuNode):
                key = self._option(node)
                reply, item = Reply(digits=key), Press(key)
            else:
                assert isinstance(node, AskNode)
                typed = self._typed(node, step.state, ctx) + node.finish_on_key
                reply, item = Reply(digits=typed), Press(typed)
            inputs.append(item)
            step = engine.resume(menu, step.state, reply, ctx)
            replay = isinstance(item, Silence) and step.state.node == node.id
        return CallPlan(inputs)

    def _found(self, nodes: tuple[str, ...]) -> bool:
        for here, there in itertools.pairwise(nodes):
            node = self.menu.nodes[here]
            if isinstance(node, LookupNode) and there == node.found:
                return True
        return False

    def _option(self, node: MenuNode) -> str:
        given = self.plan.branches.get(node.id)
        if given is not None:
            weights = [given.get(o.goto, 0.0) for o in node.options]
        else:
            expected = expected_shares(node)
            weights = [expected[o.key] for o in node.options]
        total = sum(weights)
        if total <= 0:
            weights, total = [1.0] * len(node.options), float(len(node.options))
        pick = self.rng.random() * total
        for option, weight in zip(node.options, weights, strict=True):
            pick -= weight
            if pick < 0:
                return option.key
        return node.options[-1].key

    def _typed(self, node: AskNode, state: engine.CallState, ctx: CallContext) -> str:
        """Digits for an ask: try candidates on the engine, pick a way on by share."""
        rng = self.rng
        low, high = node.min_digits, node.max_digits
        length = int(rng.integers(low, high + 1)) if high - low < 4 else high
        candidates = {"".join(str(d) for d in rng.integers(0, 10, length))}
        if low <= 1:
            candidates.update(str(d) for d in range(10))
        for source_id, keys in self.keys.items():
            for pool in (keys, self.digits[source_id]):
                fit = [k for k in pool if k.isdigit() and low <= len(k) <= high]
                for index in rng.permutation(len(fit))[:12]:
                    candidates.add(fit[index])
        for source_id in self.by_caller:
            own = self.rows[source_id].get(ctx.caller, {})
            candidates.update(
                v for v in own.values() if v.isdigit() and low <= len(v) <= high
            )
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        weight: dict[tuple[str, ...], float] = {}
        for typed in sorted(candidates):
            step = engine.resume(
                self.menu, state, Reply(digits=typed + node.finish_on_key), ctx
            )
            if step.state.node == node.id and step.nodes[-1:] == (node.id,):
                continue  # refused: the ask asks again
            groups[step.nodes].append(typed)
            weight[step.nodes] = math.prod(
                self.share(a, b)
                for a, b in itertools.pairwise(step.nodes)
                if isinstance(self.menu.nodes[a], LookupNode | RouteNode)
            )
        if not groups:
            return next(iter(candidates))
        paths = sorted(groups)
        weights = np.array([weight[p] for p in paths], float)
        if weights.sum() <= 0:
            weights = np.ones(len(paths))
        chosen = paths[int(rng.choice(len(paths), p=weights / weights.sum()))]
        options = groups[chosen]
        return options[int(rng.integers(len(options)))]
