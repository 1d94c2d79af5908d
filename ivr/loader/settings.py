"""Reading the menu-wide settings: numbers, opening hours, data sources, queues."""

from __future__ import annotations

import csv
import datetime as dt

from ivr.checks import close_match, suggest
from ivr.loader.fields import (
    _E164,
    _WORKFLOW,
    PHONE_KEYS,
    QUEUE_KEYS,
)
from ivr.loader.hours import HoursReader, _parse_hhmm
from ivr.menu import (
    CsvSource,
    DataSource,
    Person,
    Queue,
    UrlSource,
)
from ivr.yamlread import LineDict, LineList


class SettingsReader(HoursReader):
    """The parts of a menu outside its nodes (opening hours: ``HoursReader``)."""

    def read_numbers(self) -> tuple[str, ...]:
        raw = self.doc.get("numbers")
        if raw is None:
            return ()
        if isinstance(raw, str):
            raw = LineList([raw])
            raw.line, raw.lines = (
                self.doc.line_of("numbers"),
                [self.doc.line_of("numbers")],
            )
        if not isinstance(raw, LineList):
            self.p.add(self.doc.line_of("numbers"), "numbers must be a list")
            return ()
        numbers = []
        for i, number in enumerate(raw):
            if not isinstance(number, str) or not _E164.fullmatch(number):
                self.p.add(
                    raw.line_of(i),
                    f"number '{number}' is not in E.164 form like '+861000000000' "
                    "(quote it so YAML keeps the '+')",
                )
            else:
                numbers.append(number)
        return tuple(numbers)

    def read_person(self) -> Person | None:
        """``person``: the key and words that reach a person from everywhere."""
        raw = self.mapping(self.doc, "person", "the menu")
        if raw is None:
            return None
        raw = self.checked(raw, ("key", "speech", "goto"), "person")
        key = raw.get("key")
        key_text = None
        if key is not None:
            key_text = str(key)
            if isinstance(key, bool) or key_text not in PHONE_KEYS:
                self.p.add(
                    raw.line_of("key"),
                    f"key of person must be one phone key: 0-9, * or # (quoted), got "
                    f"'{key}'",
                )
                key_text = None
        speech = raw.get("speech") or []
        if isinstance(speech, str):
            speech = [speech]
        if not isinstance(speech, list) or not all(
            isinstance(word, str | int) and not isinstance(word, bool)
            for word in speech
        ):
            self.p.add(
                raw.line_of("speech"), "speech of person must be a list of words"
            )
            speech = []
        at = self.doc.line_of("person")
        if key is None and not speech:
            self.p.add(at, "person needs 'key' or 'speech': how a caller asks for one")
        goto = raw.get("goto")
        names = self.raw_node_ids()
        line = raw.line_of("goto") if "goto" in raw else at
        if goto is None:
            self.p.add(at, "person needs 'goto': the node that reaches a person")
            return None
        if not isinstance(goto, str | int) or isinstance(goto, bool):
            self.p.add(line, "goto of person must be a node id")
            return None
        goto = str(goto)
        if goto not in names:
            self.p.add(
                line, f"person goes to unknown node '{goto}'{suggest(goto, names)}"
            )
            goto = close_match(goto, names) or ""
        if not goto:
            return None
        return Person(
            goto=goto,
            key=key_text,
            speech=tuple(dict.fromkeys(str(word) for word in speech)),
            line=line,
        )

    def raw_node_ids(self) -> list[str]:
        """The node ids the file gives, read or not."""
        nodes = self.doc.get("nodes")
        return [str(name) for name in nodes] if isinstance(nodes, dict) else []

    def read_data(self) -> dict[str, DataSource]:
        raw = self.mapping(self.doc, "data", "the menu")
        if raw is None:
            return {}
        sources: dict[str, DataSource] = {}
        for source_id, spec in raw.items():
            line = raw.line_of(source_id)
            what = f"data source '{source_id}'"
            if not isinstance(spec, LineDict):
                self.p.add(line, f"{what} must be a map with 'csv' or 'url'")
                continue
            if "csv" not in spec and "url" not in spec:
                spec = self.checked(
                    spec, ("csv", "key", "url", "timeout", "sensitive"), what
                )
            if "csv" in spec:
                spec = self.checked(spec, ("csv", "key", "sensitive"), what)
                source = self.read_csv_source(str(source_id), spec, what)
            elif "url" in spec:
                spec = self.checked(spec, ("url", "timeout", "sensitive"), what)
                source = self.read_url_source(str(source_id), spec, what)
            else:
                self.p.add(
                    line, f"{what} needs 'csv' (a file) or 'url' (a JSON service)"
                )
                continue
            if source is not None:
                sources[str(source_id)] = source
        return sources

    def read_csv_source(
        self, source_id: str, spec: LineDict, what: str
    ) -> CsvSource | None:
        file_name = self.text(spec, "csv", what)
        key = self.text(spec, "key", what)
        if key is None:
            self.p.add(
                spec.line, f"{what} needs 'key': the column to look records up by"
            )
        if file_name is None:
            return None
        full = (self.path.parent / file_name).resolve()
        try:
            with full.open(newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle), [])
        except OSError:
            self.p.add(
                spec.line_of("csv"),
                f"csv file '{file_name}' of {what} does not exist "
                "(the path is relative to the menu file)",
            )
            return None
        fields = [h.strip() for h in header]
        if key is not None and key not in fields:
            self.p.add(
                spec.line_of("key"),
                f"key column '{key}' is not in {file_name} (columns: "
                f"{', '.join(fields)}){suggest(key, fields)}",
            )
            return None
        self.csv_fields[source_id] = frozenset(fields)
        sensitive = self.sensitive_fields(spec, what, fields)
        return CsvSource(
            id=source_id, path=str(full), key=key or "", sensitive=sensitive
        )

    def sensitive_fields(
        self, spec: LineDict, what: str, fields: list[str] | None
    ) -> frozenset[str]:
        """``sensitive``: the fields of a source never spoken, stored or logged."""
        raw = spec.get("sensitive")
        if raw is None:
            return frozenset()
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
            self.p.add(
                spec.line_of("sensitive"),
                f"sensitive of {what} must be a list of field names",
            )
            return frozenset()
        if fields is not None:
            for name in raw:
                if name not in fields:
                    self.p.add(
                        spec.line_of("sensitive"),
                        f"sensitive field '{name}' of {what} is not a column of its "
                        f"file{suggest(name, fields)}",
                    )
        return frozenset(raw)

    def read_url_source(
        self, source_id: str, spec: LineDict, what: str
    ) -> UrlSource | None:
        url = self.text(spec, "url", what)
        timeout = self.seconds(spec, "timeout", what, low=0.1, high=10)
        if url is None:
            return None
        if not url.startswith(("http://", "https://")):
            self.p.add(spec.line_of("url"), f"url of {what} must start with http(s)://")
            return None
        return UrlSource(
            id=source_id,
            url=url,
            timeout_s=timeout or 2.0,
            sensitive=self.sensitive_fields(spec, what, None),
        )

    def read_queues(self) -> dict[str, Queue]:
        raw = self.mapping(self.doc, "queues", "the menu")
        if raw is None:
            return {}
        queues: dict[str, Queue] = {}
        for queue_id, spec in raw.items():
            line = raw.line_of(queue_id)
            what = f"queue '{queue_id}'"
            if not isinstance(spec, LineDict):
                self.p.add(line, f"{what} must be a map with at least 'agents'")
                continue
            spec = self.checked(spec, QUEUE_KEYS, what)
            agents = self.read_agents(spec, what)
            handle = self.seconds(spec, "handle_time", what, low=1)
            workflow = self.text(spec, "workflow_sid", what)
            if workflow is not None and not _WORKFLOW.fullmatch(workflow):
                self.p.add(
                    spec.line_of("workflow_sid"),
                    f"workflow_sid '{workflow}' of {what} is not a TaskRouter "
                    "workflow SID (WW followed by 32 hex digits)",
                )
            announce = self.seconds(spec, "announce_every", what, whole=True, low=10)
            queues[str(queue_id)] = Queue(
                id=str(queue_id),
                title=self.text(spec, "title", what) or str(queue_id),
                agents=agents,
                handle_time_s=handle or 240.0,
                patience_s=self.seconds(spec, "patience", what, low=1),
                callback_after_s=self.seconds(spec, "callback_after", what),
                announce_every_s=announce or 60.0,
                max_wait_s=self.seconds(spec, "max_wait", what, low=1),
                workflow_sid=workflow,
                hold=self.recording(spec, "", "hold", what) if "hold" in spec else None,
                callback_attempts=self.integer(spec, "callback_attempts", what, 1, 10)
                or 3,
                callback_retry_s=self.seconds(spec, "callback_retry", what, low=30)
                or 300.0,
                line=line,
            )
        return queues

    def read_agents(self, spec: LineDict, what: str) -> tuple[tuple[dt.time, int], ...]:
        raw = spec.get("agents")
        line = spec.line_of("agents")
        if raw is None:
            self.p.add(spec.line, f"{what} needs 'agents': a number or a day plan")
            return ((dt.time(0), 1),)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 0:
                self.p.add(line, f"agents of {what} must be >= 0, got {raw}")
            return ((dt.time(0), max(raw, 0)),)
        if not isinstance(raw, LineDict) or not raw:
            self.p.add(
                line,
                f"agents of {what} must be a number or a day plan like "
                '{"08:00": 20, "12:00": 45}',
            )
            return ((dt.time(0), 1),)
        plan = []
        for start, count in raw.items():
            if isinstance(start, int):
                # YAML 1.1 reads an unquoted 12:00 as 720 (base 60).
                self.p.add(
                    raw.line_of(start),
                    f"'{raw.raw_keys.get(start, start)}' in the day plan of {what} "
                    'must be quoted, like "12:00", or YAML reads it as a number',
                )
                continue
            at = _parse_hhmm(str(start))
            if at is None or at == dt.time.max:
                self.p.add(
                    raw.line_of(start),
                    f"'{start}' in the day plan of {what} is not a time like '08:00'",
                )
                continue
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.p.add(
                    raw.line_of(start),
                    f"agents at {start} of {what} must be a whole number >= 0",
                )
                continue
            plan.append((at, count))
        return tuple(sorted(plan)) or ((dt.time(0), 1),)
