"""Reading the menu-wide settings: numbers, opening hours, data sources, queues."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.checks import suggest
from ivr.loader.fields import _E164, _HHMM, _WORKFLOW, DAYS, QUEUE_KEYS, FieldReader
from ivr.menu import (
    CsvSource,
    DataSource,
    Hours,
    Queue,
    UrlSource,
)
from ivr.yamlread import LineDict, LineList


class SettingsReader(FieldReader):
    """The parts of a menu outside its nodes."""

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

    def read_hours(self) -> Hours | None:
        hours = self.mapping(self.doc, "hours", "the menu")
        if hours is None:
            return None
        hours = self.checked(hours, ("timezone", "weekly", "closed"), "hours")
        tz = self.text(hours, "timezone", "hours") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self.p.add(
                hours.line_of("timezone"),
                f"unknown timezone '{tz}' (use a name like 'Asia/Shanghai')",
            )
            tz = "UTC"
        weekly: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
        raw_weekly = self.mapping(hours, "weekly", "hours")
        if raw_weekly is None:
            self.p.add(hours.line, "hours needs 'weekly', e.g. {mon-fri: 08:00-22:00}")
        else:
            for days_text, ranges_text in raw_weekly.items():
                line = raw_weekly.line_of(days_text)
                days = _parse_days(str(days_text))
                if days is None:
                    self.p.add(
                        line,
                        f"'{days_text}' is not a day or day range "
                        "(use mon..sun, e.g. 'mon-fri', 'sat,sun' or 'daily')",
                    )
                    continue
                ranges = _parse_ranges(ranges_text)
                if ranges is None:
                    self.p.add(
                        line,
                        f"opening hours '{ranges_text}' of '{days_text}' must look "
                        "like '08:00-22:00' (several joined by ',') or 'closed'",
                    )
                    continue
                for day in days:
                    if day in weekly:
                        self.p.add(
                            line, f"'{DAYS[day]}' is given twice in weekly hours"
                        )
                    weekly[day] = ranges
        closed: set[dt.date] = set()
        raw_closed = hours.get("closed") or []
        if not isinstance(raw_closed, list):
            self.p.add(hours.line_of("closed"), "closed must be a list of dates")
            raw_closed = []
        for i, day in enumerate(raw_closed):
            if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
                closed.add(day)
                continue
            try:
                closed.add(dt.date.fromisoformat(str(day)))
            except ValueError:
                self.p.add(
                    raw_closed.line_of(i),
                    f"closed day '{day}' is not a date like '2027-02-06'",
                )
        return Hours(timezone=tz, weekly=weekly, closed=frozenset(closed))

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
                spec = self.checked(spec, ("csv", "key", "url", "timeout"), what)
            if "csv" in spec:
                spec = self.checked(spec, ("csv", "key"), what)
                source = self.read_csv_source(str(source_id), spec, what)
            elif "url" in spec:
                spec = self.checked(spec, ("url", "timeout"), what)
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
        return CsvSource(id=source_id, path=str(full), key=key or "")

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
        return UrlSource(id=source_id, url=url, timeout_s=timeout or 2.0)

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

    # -- nodes ---------------------------------------------------------------


def _parse_days(text: str) -> list[int] | None:
    text = text.strip().lower()
    if text in ("daily", "every day", "mon-sun"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first.strip() not in DAYS or last.strip() not in DAYS:
                return None
            a, b = DAYS.index(first.strip()), DAYS.index(last.strip())
            days.extend((a + i) % 7 for i in range((b - a) % 7 + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            return None
    return days


def _parse_hhmm(text: str) -> dt.time | None:
    match = _HHMM.fullmatch(text.strip())
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        return dt.time.max if minute == 0 else None
    return dt.time(hour, minute)


def _parse_ranges(value: Any) -> tuple[tuple[dt.time, dt.time], ...] | None:
    if not isinstance(value, str):
        return None
    if value.strip().lower() == "closed":
        return ()
    ranges = []
    for part in value.split(","):
        start_text, sep, end_text = part.partition("-")
        start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
        if not sep or start is None or end is None or start == end:
            return None
        ranges.append((start, end))
    return tuple(ranges)
