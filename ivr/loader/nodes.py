"""Reading nodes: one reader per kind (menu, ask, lookup, route; the kinds that
hand the call on are in ``ivr.loader.endings``)."""

from __future__ import annotations

import re
from typing import Any

from ivr.checks import Opaque, close_match, suggest
from ivr.loader.endings import EndingReader
from ivr.loader.fields import (
    _OPTION_HASH,
    KIND_KEYS,
    MARKERS,
    PHONE_KEYS,
    _indent,
    _raw,
)
from ivr.menu import (
    AskNode,
    DataSource,
    Hours,
    LookupNode,
    MenuNode,
    MessageNode,
    Node,
    Option,
    Person,
    Prompt,
    Queue,
    RouteNode,
    Rule,
)
from ivr.yamlread import LineDict, LineList

DOOR_KEYS = ("next", "on_fail", "found", "missing", "error", "closed", "overflow",
             "person")  # fmt: skip
_NODE_KEYS = frozenset(key for keys in KIND_KEYS.values() for key in keys)
_GOTO_IN_COMMENT = re.compile(r"#\s*:\s*(?:\{.*?\bgoto\s*:\s*)?([\w.-]+)")


class NodeReader(EndingReader):
    """The nodes of a menu, each read by the reader of its kind."""

    def read_nodes(
        self, queues: dict[str, Queue], data: dict[str, DataSource], hours: Hours | None
    ) -> dict[str, Node]:
        raw = self.mapping(self.doc, "nodes", "the menu")
        if raw is None:
            if "nodes" not in self.doc:
                self.p.add(self.doc.line, "the menu needs 'nodes'")
            return {}
        nodes: dict[str, Node] = {}
        seen: set[str] = set()
        for node_id, spec in raw.items():
            line = raw.line_of(node_id)
            if str(node_id) in seen:
                self.p.add(line, f"node id '{node_id}' is given twice")
                continue
            node_id = str(node_id)
            seen.add(node_id)
            self.order.append(node_id)
            self.node_id = node_id
            if not isinstance(spec, LineDict):
                self.p.add(line, f"node '{node_id}' must be a map of its keys")
                self.opaque[node_id] = Opaque(node_id, line)
                continue
            spec.line = line  # report node-level problems on its id line
            for key in spec:
                self.field_lines[(node_id, key)] = spec.line_of(key)
            node = self.read_node(node_id, spec, queues, data, hours)
            if node is not None:
                nodes[node_id] = node
        for node_id, spec, _ in raw.dropped():
            # A node given twice (reported): the second one's doors still count,
            # so what only it leads to is not also "never reached".
            if isinstance(spec, LineDict) and str(node_id) in seen:
                self.node_id = str(node_id)
                for door in _opaque(str(node_id), spec).doors:
                    self.ghost(door)
        return nodes

    def read_node(
        self,
        node_id: str,
        spec: LineDict,
        queues: dict[str, Queue],
        data: dict[str, DataSource],
        hours: Hours | None,
    ) -> Node | None:
        markers = [m for m in MARKERS if m in spec]
        if len(markers) > 1:
            self.p.add(
                spec.line,
                f"node '{node_id}' has both '{markers[0]}' and '{markers[1]}': "
                "a node is one kind",
            )
            self.opaque[node_id] = _opaque(node_id, spec)
            return None
        if not markers:
            spec = self.misspelt_marker(node_id, spec)
        kind = next((MARKERS[m] for m in MARKERS if m in spec), "message")
        what = f"node '{node_id}'"
        spec = self.checked(spec, KIND_KEYS[kind], f"{kind} {what}")
        for key in spec:
            self.field_lines[(node_id, key)] = spec.line_of(key)
        if kind == "message" and not ({"say", "play"} & spec.keys()):
            self.p.add(
                spec.line,
                f"{what} has no kind: give it options, ask, lookup, route, queue, "
                "transfer, voicemail, feedback, request, goto_menu, hangup, or "
                "say/play with next",
            )
            self.opaque[node_id] = _opaque(node_id, spec)
            return None
        reader = getattr(self, f"read_{kind}")
        return reader(node_id, spec, what, queues=queues, data=data, hours=hours)

    def misspelt_marker(self, node_id: str, spec: LineDict) -> LineDict:
        """A node whose kind key is misspelt (``optoins:``) is read as that kind.

        The misspelling is reported once, with the key it resembles; without
        this the node would read as a message with no ``say`` and every door out
        of it would be lost.
        """
        for key in spec:
            if key in _NODE_KEYS:
                continue
            close = close_match(key, [*MARKERS, "say", "play", "next"])
            if close is None or close not in MARKERS:
                continue
            kind = MARKERS[close]
            self.p.add(
                spec.line_of(key),
                f"unknown key '{key}' in {kind} node '{node_id}' (did you mean "
                f"'{close}'?)",
            )
            fixed = LineDict()
            fixed.line, fixed.lines, fixed.raw_keys = spec.line, {}, spec.raw_keys
            for name, value in spec.items():
                fixed[close if name == key else name] = value
                fixed.lines[close if name == key else name] = spec.line_of(name)
            return fixed
        return spec

    def read_message(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        return MessageNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            next=self.target(spec, "next", what, required=True) or "",
        )

    def read_menu(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        options = []
        raw = spec["options"]
        self.check_hash_comments(spec)
        if not isinstance(raw, LineDict) or not raw:
            self.p.add(spec.line_of("options"), f"options of {what} must be a map")
            raw = LineDict()
            raw.line, raw.lines, raw.raw_keys = spec.line, {}, {}
        shares = 0.0
        keywords: dict[str, str] = {}
        for key, value in raw.items():
            line = raw.line_of(key)
            key_text = raw.raw_keys.get(key, str(key))
            if key_text not in PHONE_KEYS:
                self.p.add(
                    line,
                    f"option key '{key_text}' is not a phone key: use one of 0-9, * "
                    "or # (quoted)",
                )
                self.ghost(_goto_of(value))
                continue
            option = self.read_option(key_text, value, line, what)
            if option is None:
                continue
            for word in option.speech:
                if word in keywords:
                    self.p.add(
                        line,
                        f"speech keyword '{word}' of option '{key_text}' is also "
                        f"a keyword of option '{keywords[word]}'",
                    )
                keywords.setdefault(word, key_text)
            shares += option.share or 0.0
            options.append(option)
        if shares > 1 + 1e-9:
            self.p.add(
                spec.line_of("options"),
                f"option shares of {what} add up to {shares:g}, more than 1",
            )
        self.check_person_words(options)
        return MenuNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            options=tuple(options),
            person=self.person_door(spec, what, options),
            **self.retry_fields(spec, what),
        )

    def person_door(
        self, spec: LineDict, what: str, options: list[Option] | None = None
    ) -> str | None:
        """Where the person key and words lead from a menu or an ask.

        The node's own ``person``, else the menu's ``person.goto``; at a menu
        whose option uses the person key, that option (no separate door).
        """
        person: Person | None = self.person
        explicit = self.target(spec, "person", what, required=False)
        if person is None:
            if explicit is not None:
                self.p.add(
                    spec.line_of("person"),
                    f"{what} sets 'person' but the menu has no 'person' (the key and "
                    "words that reach a person from every menu and ask)",
                )
            return explicit
        covered = next(
            (
                o
                for o in options or ()
                if person.key is not None and o.key == person.key
            ),
            None,
        )
        if covered is not None:
            if explicit is not None:
                self.p.add(
                    spec.line_of("person"),
                    f"{what} sets 'person' but its option '{covered.key}' (the person "
                    "key) already leads to a person: give one or the other",
                )
            return None
        return explicit or person.goto

    def check_person_words(self, options: list[Option]) -> None:
        """An option's keyword may not be a person word (but on the person key)."""
        person: Person | None = self.person
        if person is None:
            return
        words = set(person.speech)
        for option in options:
            if option.key == person.key:
                continue
            for word in option.speech:
                if word in words:
                    self.p.add(
                        option.line,
                        f"speech keyword '{word}' of option '{option.key}' is also a "
                        "person word of the menu: saying it asks for a person",
                    )

    def read_option(self, key: str, value: Any, line: int, what: str) -> Option | None:
        door = f"option '{key}'"
        if isinstance(value, str | int) and not isinstance(value, bool):
            self.door_lines[(self.node_id, door)] = line
            return Option(key=key, goto=str(value), line=line)
        if not isinstance(value, LineDict):
            self.p.add(line, f"option '{key}' of {what} must be a node id or a map")
            return None
        value = self.checked(value, ("goto", "speech", "share"), f"option '{key}'")
        goto = self.target(value, "goto", door, required=True, door=door)
        speech = value.get("speech") or []
        if isinstance(speech, str):
            speech = [speech]
        if not isinstance(speech, list) or not all(
            isinstance(word, str | int) for word in speech
        ):
            self.p.add(
                value.line_of("speech"),
                f"speech of option '{key}' must be a list of words",
            )
            speech = []
        share = value.get("share")
        if share is not None and (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 <= share <= 1
        ):
            self.p.add(
                value.line_of("share"),
                f"share of option '{key}' must be a number from 0 to 1, got {share!r}",
            )
            share = None
        if goto is None:
            return None
        return Option(
            key=key,
            goto=goto,
            speech=tuple(str(word) for word in speech),
            share=float(share) if share is not None else None,
            line=line,
        )

    def check_hash_comments(self, spec: LineDict) -> None:
        """An unquoted ``#:`` key is a YAML comment: the option silently vanishes."""
        options = spec.get("options")
        first = spec.line_of("options")
        last = max(
            [first]
            + (list(options.lines.values()) if isinstance(options, LineDict) else [])
        )
        # Scan from the options key to the next line at the node's indent or less.
        indent = _indent(self.text_lines[first - 1]) if first else 0
        for number in range(first + 1, len(self.text_lines) + 1):
            text = self.text_lines[number - 1]
            if (
                text.strip()
                and not text.lstrip().startswith("#")
                and _indent(text) <= indent
                and number > last
            ):
                break
            if _OPTION_HASH.match(text):
                self.p.add(
                    number,
                    "an unquoted '#' starts a YAML comment, so this option is "
                    'ignored: write the key as "#"',
                )
                door = _GOTO_IN_COMMENT.match(text.strip())
                self.ghost(door.group(1) if door else None)

    def declared(self, key: str) -> dict[str, None]:
        """The names given under a top-level map (queues, data), read or not."""
        if key not in self._declared:
            value = self.doc.get(key)
            names = [str(name) for name in value] if isinstance(value, dict) else []
            self._declared[key] = dict.fromkeys(names)
        return self._declared[key]

    def ghost(self, target: str | None) -> None:
        """A door of an option that could not be read, for the graph checks."""
        if target:
            self.ghost_doors.setdefault(self.node_id, []).append(target)

    def read_ask(self, node_id: str, spec: LineDict, what: str, **_: Any) -> Node:
        digits = self.mapping(spec, "digits", what) or LineDict()
        if not hasattr(digits, "line"):
            digits.line, digits.lines, digits.raw_keys = spec.line, {}, {}
        digits = self.checked(digits, ("min", "max", "finish"), f"digits of {what}")
        low = self.integer(digits, "min", f"digits of {what}", 1, 64) or 1
        high = self.integer(digits, "max", f"digits of {what}", 1, 64) or max(low, 20)
        if low > high:
            self.p.add(
                digits.line_of("min"),
                f"digits of {what}: min {low} is more than max {high}",
            )
        finish = digits.get("finish", "#")
        finish = "" if finish is None else str(finish)
        if finish not in PHONE_KEYS and finish != "":
            self.p.add(
                digits.line_of("finish"),
                f"finish key of {what} must be one of 0-9, * or # (or null), got "
                f"'{finish}'",
            )
        save_as = self.text(spec, "save_as", what)
        if save_as is None:
            self.p.add(spec.line, f"{what} needs 'save_as': the variable to fill")
            self.unsure.add(node_id)
        elif not re.fullmatch(r"[A-Za-z_]\w*", save_as):
            self.p.add(
                spec.line_of("save_as"),
                f"save_as '{save_as}' of {what} is not a variable name",
            )
            self.unsure.add(node_id)
        sensitive = spec.get("sensitive", False)
        if not isinstance(sensitive, bool):
            self.p.add(
                spec.line_of("sensitive"), f"sensitive of {what} must be true or false"
            )
            sensitive = True  # when in doubt, mask
        return AskNode(
            id=node_id,
            prompt=self.prompt(spec, node_id, text_key="ask"),
            line=spec.line,
            save_as=save_as or "",
            min_digits=low,
            max_digits=high,
            finish_on_key=finish,
            sensitive=sensitive,
            next=self.target(spec, "next", what, required=True) or "",
            person=self.person_door(spec, what),
            **self.retry_fields(spec, what),
        )

    def read_lookup(
        self, node_id: str, spec: LineDict, what: str, *, data: dict, **_: Any
    ) -> Node:
        raw = spec["lookup"]
        source_id, key = "", ""
        if not isinstance(raw, LineDict):
            self.p.add(
                spec.line_of("lookup"), f"lookup of {what} must be {{data, key}}"
            )
        else:
            raw = self.checked(raw, ("data", "key"), f"lookup of {what}")
            source_id = self.text(raw, "data", what) or ""
            key = self.text(raw, "key", what) or ""
            declared = self.declared("data")
            if not source_id or not key:
                self.p.add(raw.line, f"lookup of {what} needs 'data' and 'key'")
            elif source_id not in declared:
                self.p.add(
                    raw.line_of("data"),
                    f"lookup of {what} names undefined data '{source_id}'"
                    f"{suggest(source_id, declared)}",
                )
        if source_id not in data:
            # Unknown or unreadable: its fields are unknown, so are its variables.
            self.unsure.add(node_id)
        return LookupNode(
            id=node_id,
            prompt=self.prompt(spec, node_id),
            line=spec.line,
            data=source_id,
            key=key,
            found=self.target(spec, "found", what, required=True) or "",
            missing=self.target(spec, "missing", what, required=True) or "",
            error=self.target(spec, "error", what, required=False),
        )

    def read_route(
        self, node_id: str, spec: LineDict, what: str, *, hours: Hours | None, **_: Any
    ) -> Node:
        raw = spec["route"]
        rules: list[Rule] = []
        if not isinstance(raw, LineList) or not raw:
            self.p.add(
                spec.line_of("route"), f"route of {what} must be a list of rules"
            )
            return RouteNode(id=node_id, prompt=Prompt(), line=spec.line)
        for i, item in enumerate(raw):
            line = raw.line_of(i)
            if not isinstance(item, LineDict):
                self.p.add(line, f"rule {i + 1} of {what} must be {{when, goto}}")
                continue
            item = self.checked(item, ("when", "goto"), f"rule {i + 1} of {what}")
            goto = self.target(
                item,
                "goto",
                f"rule {i + 1} of {what}",
                required=True,
                door=f"route rule {len(rules) + 1}",
            )
            when = self.read_when(item, i, what, hours)
            if goto is not None:
                rules.append(Rule(goto=goto, when=when, line=line))
            if "when" not in item and i < len(raw) - 1:
                self.p.add(
                    line,
                    f"rule {i + 1} of {what} has no 'when', so the rules after it "
                    "are never used",
                )
        if "when" in raw[-1]:
            self.p.add(
                raw.line_of(len(raw) - 1),
                f"the last rule of {what} needs no 'when': it is the default when "
                "nothing else matches",
            )
        return RouteNode(
            id=node_id, prompt=Prompt(), line=spec.line, rules=tuple(rules)
        )

    def read_when(
        self, item: LineDict, index: int, what: str, hours: Hours | None
    ) -> str | tuple[str, str, str] | None:
        when = item.get("when")
        line = item.line_of("when")
        if when is None:
            return None
        if when in ("open", "closed"):
            if hours is None:
                self.p.add(
                    line,
                    f"rule {index + 1} of {what} tests '{when}' but the menu has no "
                    "'hours'",
                )
            return str(when)
        if when == "holiday":
            if hours is None or not hours.holidays:
                self.p.add(
                    line,
                    f"rule {index + 1} of {what} tests 'holiday' but the menu's hours "
                    "name no holidays",
                )
            return "holiday"
        if isinstance(when, LineDict) and set(when) == {"var", "equals"}:
            expected = when["equals"]
            if not isinstance(expected, str):
                # YAML reads yes as true and 0042 as 42: the route would never match.
                self.p.add(
                    when.line_of("equals"),
                    f"equals of rule {index + 1} of {what} must be quoted text, e.g. "
                    f'"{_raw(expected)}"',
                )
            return ("equals", str(when["var"]), str(expected))
        self.p.add(
            line,
            f"when of rule {index + 1} of {what} must be 'open', 'closed', "
            "'holiday' or {var: NAME, equals: VALUE}",
        )
        return None


def _goto_of(value: Any) -> str | None:
    """Where an option leads, read from its raw YAML value."""
    if isinstance(value, LineDict):
        value = value.get("goto")
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def _opaque(node_id: str, spec: LineDict) -> Opaque:
    """A node that could not be read, with the doors its raw YAML names."""
    doors = [str(spec[key]) for key in DOOR_KEYS if _goto_of(spec.get(key))]
    options = spec.get("options")
    if isinstance(options, LineDict):
        doors += [door for door in map(_goto_of, options.values()) if door]
    rules = spec.get("route")
    if isinstance(rules, LineList):
        doors += [door for door in map(_goto_of, rules) if door]
    return Opaque(node_id, spec.line, tuple(doors), queue="queue" in spec)
