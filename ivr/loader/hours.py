"""Reading opening hours: the weekly hours, closed days and named holidays."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.loader.fields import _HHMM, DAYS, FieldReader
from ivr.menu import Holiday, Hours
from ivr.yamlread import LineDict, LineList


class HoursReader(FieldReader):
    """``hours``: when the human path is open, and the days it is not."""

    def read_hours(self) -> Hours | None:
        hours = self.mapping(self.doc, "hours", "the menu")
        if hours is None:
            return None
        hours = self.checked(
            hours, ("timezone", "weekly", "closed", "holidays"), "hours"
        )
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
        return Hours(
            timezone=tz,
            weekly=weekly,
            closed=frozenset(closed),
            holidays=self.read_holidays(hours),
        )

    def read_holidays(self, hours: LineDict) -> tuple[Holiday, ...]:
        """``holidays``: named days or runs of days, closed or on their own hours."""
        raw = hours.get("holidays")
        if raw is None:
            return ()
        if not isinstance(raw, LineList):
            self.p.add(
                hours.line_of("holidays"),
                "holidays must be a list like [{name: 春节, from: '2027-02-05', "
                "to: '2027-02-11'}]",
            )
            return ()
        found: list[Holiday] = []
        for i, item in enumerate(raw):
            line = raw.line_of(i)
            what = f"holiday {i + 1}"
            if not isinstance(item, LineDict):
                self.p.add(line, f"{what} must be a map with 'name' and 'date'")
                continue
            item = self.checked(item, ("name", "date", "from", "to", "hours"), what)
            name = self.text(item, "name", what)
            if not name:
                self.p.add(line, f"{what} needs 'name': what callers hear it called")
                continue
            what = f"holiday '{name}'"
            days = self.holiday_days(item, line, what)
            ranges: tuple = ()
            if "hours" in item:
                parsed = _parse_ranges(item["hours"])
                if parsed is None:
                    self.p.add(
                        item.line_of("hours"),
                        f"hours '{item['hours']}' of {what} must look like "
                        "'10:00-16:00' (several joined by ',') or 'closed'",
                    )
                else:
                    ranges = parsed
            if days is None:
                continue
            first, last = days
            for other in found:
                if first <= other.last and other.first <= last:
                    self.p.add(
                        line,
                        f"{what} ({first} to {last}) overlaps holiday "
                        f"'{other.name}' ({other.first} to {other.last})",
                    )
            found.append(Holiday(name, first, last, ranges, line))
        return tuple(found)

    def holiday_days(
        self, item: LineDict, line: int, what: str
    ) -> tuple[dt.date, dt.date] | None:
        """A holiday's ``date``, or its ``from`` and ``to`` days."""
        if "date" in item and ("from" in item or "to" in item):
            self.p.add(
                line, f"{what} has 'date' and 'from'/'to': give one or the other"
            )
            return None
        keys = ("date",) if "date" in item else ("from", "to")
        days = []
        for key in keys:
            if key not in item:
                self.p.add(
                    line,
                    f"{what} needs 'date' (one day) or 'from' and 'to' (a run of days)",
                )
                return None
            day = _read_date(item[key])
            if day is None:
                self.p.add(
                    item.line_of(key),
                    f"{key} of {what} is not a date like '2027-02-06'",
                )
                return None
            days.append(day)
        first, last = days[0], days[-1]
        if last < first:
            self.p.add(
                item.line_of("to"), f"{what} ends ({last}) before it starts ({first})"
            )
            return None
        if (last - first).days > 366:
            self.p.add(item.line_of("to"), f"{what} is longer than a year")
            return None
        return first, last


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


def _read_date(value: Any) -> dt.date | None:
    """A date as YAML gives it: a date, or text like '2027-02-06'."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


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
