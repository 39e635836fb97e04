"""Darwin Core eventDate: ISO 8601 dates, partial dates and intervals → start/end dates."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_PART = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


class EventDateError(ValueError):
    pass


@dataclass(frozen=True)
class EventDate:
    start: dt.date
    end: dt.date
    year: int | None
    month: int | None
    day: int | None


def _bounds(text: str) -> tuple[dt.date, dt.date, tuple[int, int | None, int | None]]:
    match = _PART.match(text.strip())
    if not match:
        raise EventDateError(f"'{text}' is not an ISO 8601 date (YYYY, YYYY-MM, YYYY-MM-DD or a range A/B).")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        if day is not None:
            start = end = dt.date(year, month, day)
        elif month is not None:
            start = dt.date(year, month, 1)
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
        else:
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        raise EventDateError(f"'{text}' is not a real calendar date.") from None
    return start, end, (year, month, day)


def parse_event_date(text: str) -> EventDate | None:
    """None for an empty value; EventDateError for one we cannot read."""
    text = (text or "").strip()
    if not text:
        return None
    if "/" in text:
        first, _, second = text.partition("/")
        start, _, (y1, m1, d1) = _bounds(first)
        second = second.strip()
        # "2011-06-23/24" and "2011-06/07": the end may leave out the leading parts.
        # A second part starting with a 4-digit year is complete ("1900-01/1901").
        if second and len(second) < len(first.strip()) and not re.match(r"\d{4}", second):
            prefix = first.strip()[: len(first.strip()) - len(second)]
            second = prefix + second
        _, end, (y2, m2, d2) = _bounds(second)
        if end < start:
            raise EventDateError(f"'{text}' ends before it starts.")
        same = y1 == y2
        return EventDate(
            start, end, y1 if same else None, m1 if same and m1 == m2 else None, d1 if same and m1 == m2 and d1 == d2 else None
        )
    start, end, (year, month, day) = _bounds(text)
    return EventDate(start, end, year, month, day)
