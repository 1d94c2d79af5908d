"""Reading the nodes where the menu hands the call on: a queue (its hand-over),
a transfer, a voicemail, a complaint recorded (feedback), a request recorded,
another menu, a hangup."""

from __future__ import annotations

import re
from typing import Any

from ivr.checks import suggest
from ivr.loader.fields import _E164, FieldReader
from ivr.menu import (
    FeedbackNode,
    GotoMenuNode,
    HangupNode,
    Hours,
    Node,
    Queue,
    QueueNode,
    RequestNode,
    TransferNode,
    VoicemailNode,
)
from ivr.yamlread import LineDict, LineList

_VARIABLE_NAME = re.compile(r"[A-Za-z_]\w*")
_REQUEST_NAME = re.compile(r"[a-z][a-z0-9_]*")


class EndingReader(FieldReader):
    """One reader per kind of node that hands the call on (see ``NodeReader``)."""

    def read_queue(
        self,
        node_id: str,
        spec: LineDict,
        what: str,
        *,
        queues: dict[str, Queue],
        hours: Hours | None,
        **_: Any,
    ) -> Node:
        queue_id = self.text(spec, "queue", what) or ""
        queue = queues.get(queue_id)
        declared = self.declared("queues")
        if queue_id not in declared:
            hint = suggest(queue_id, declared)
            self.p.add(
                spec.line_of("queue"),
                f"{what} names undefined queue '{queue_id}'{hint}",
            )
        closed = self.target(spec, "closed", what, required=False)
        overflow = self.target(spec, "overflow", what, required=False)
        if hours is not None and closed is None:
            self.p.add(
                spec.line,
                f"{what} needs 'closed': the menu has opening hours, so say where "
                "callers go when the line is closed",
            )
        if queue is not None and queue.max_wait_s is not None and overflow is None:
            self.p.add(
                spec.line,
                f"{what} needs 'overflow': queue '{queue_id}' has max_wait, so say "
                "where callers go after it",
            )
        return QueueNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            queue=queue_id,
            priority=self.integer(spec, "priority", what, -100, 100) or 0,
            closed=closed,
            overflow=overflow,
            topic=self.text(spec, "topic", what),
            handover=self.read_handover(spec, what),
        )

    def read_handover(
        self, spec: LineDict, what: str, key: str = "handover", hears: str = "hears"
    ) -> tuple[tuple[str, str], ...] | None:
        """``handover: [order_id]`` or ``{order_id: 订单号}``: variable and label.

        Also reads a feedback or request node's ``facts``, written the same way.
        """
        if key not in spec:
            return None
        raw = spec[key]
        line = spec.line_of(key)
        if raw is None or raw == []:
            return ()
        if isinstance(raw, LineList):
            items = [(item, item, raw.line_of(i)) for i, item in enumerate(raw)]
        elif isinstance(raw, LineDict):
            items = [(k, v, raw.line_of(k)) for k, v in raw.items()]
        else:
            who = "the agent" if key == "handover" else "a person"
            self.p.add(
                line,
                f"{key} of {what} must be a list of variables, or a map of "
                f"variable to the label {who} {hears}",
            )
            return None
        pairs = []
        for name, label, at in items:
            if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
                self.p.add(at, f"{key} of {what}: '{name}' is not a variable name")
                continue
            if not isinstance(label, str | int) or isinstance(label, bool):
                self.p.add(at, f"{key} label of '{name}' in {what} must be text")
                continue
            pairs.append((name, str(label)))
            self.handover_lines[(id(spec), key, name)] = at
        return tuple(pairs)

    def check_handover(self, nodes: dict[str, Node], sensitive: frozenset[str]) -> None:
        """A variable marked ``sensitive`` is never handed over nor recorded."""
        raw = self.doc.get("nodes")
        for node in nodes.values():
            if isinstance(node, QueueNode):
                key, named, why = "handover", node.handover, "spoken to an agent"
            elif isinstance(node, FeedbackNode | RequestNode):
                key, named, why = "facts", node.facts, "recorded"
            else:
                continue
            spec = raw.get(node.id) if isinstance(raw, LineDict) else None
            for name, _ in named or ():
                if name in sensitive:
                    line = self.handover_lines.get((id(spec), key, name), node.line)
                    self.p.add(
                        line,
                        f"{key} of node '{node.id}' names '{name}', which is "
                        f"sensitive: it is never {why}",
                    )

    def read_transfer(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        number = self.text(spec, "transfer", what) or ""
        if not _E164.fullmatch(number):
            self.p.add(
                spec.line_of("transfer"),
                f"transfer number '{number}' of {what} is not in E.164 form like "
                "'+861000000001'",
            )
        timeout = self.seconds(spec, "timeout", what, whole=True, low=5, high=600)
        return TransferNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            number=number,
            next=self.target(spec, "next", what, required=False),
            timeout_s=timeout or 30.0,
        )

    def read_voicemail(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        length = self.seconds(spec, "max_length", what, whole=True, low=1, high=14400)
        return VoicemailNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="voicemail"),
            line=spec.line,
            max_length_s=length or 120.0,
            next=self.target(spec, "next", what, required=False),
        )

    def read_feedback(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        length = self.seconds(spec, "max_length", what, whole=True, low=1, high=14400)
        topic = self.text(spec, "topic", what)
        if not topic:
            self.p.add(
                spec.line,
                f"{what} needs 'topic': what the recording is about (商品质量, "
                "delivery...), for whoever handles it",
            )
        return FeedbackNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="feedback"),
            line=spec.line,
            topic=topic or "",
            facts=self.read_handover(spec, what, "facts", "reads"),
            max_length_s=length or 120.0,
            next=self.target(spec, "next", what, required=False),
        )

    def read_request(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        name = self.text(spec, "request", what) or ""
        if not _REQUEST_NAME.fullmatch(name):
            self.p.add(
                spec.line_of("request"),
                f"request '{name}' of {what} is not a name like 'urge_shipment' "
                "(lower-case letters, digits and _)",
            )
        return RequestNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            request=name,
            topic=self.text(spec, "topic", what) or name,
            facts=self.read_handover(spec, what, "facts", "reads"),
            next=self.target(spec, "next", what, required=True) or "",
        )

    def read_goto_menu(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        target = self.text(spec, "goto_menu", what) or ""
        if not target:
            self.p.add(
                spec.line_of("goto_menu"),
                f"goto_menu of {what} must name a menu of the line (its id)",
            )
        return GotoMenuNode(
            id=node_id, prompt=self.prompt(spec, node_id), line=spec.line, menu=target
        )

    def read_hangup(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        return HangupNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="hangup"),
            line=spec.line,
        )
