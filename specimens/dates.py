"""Darwin Core eventDate: ISO 8601 dates, partial dates, date-times and intervals → start/end dates.

Read: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, a date and a time joined by `T` or a space (`hh:mm`,
`hh:mm:ss`, `hh:mm:ss.s…`, with or without `Z` or `±hh[:mm]`), and ranges `A/B` of these. A time
of exactly midnight means no time was recorded (database timestamps: `1999-06-18 00:00:00.0`);
any other time is returned as Darwin Core eventTime. Stray spaces around `-`, `/` and `:` are
removed (`1986 -06-22`).

Slash dates (`D/M/YYYY`, `M/D/YYYY`, `M/YYYY`) are read only when the caller says how: the form
takes ISO 8601 alone; the importer decides the day/month order for a whole file
(`slash_order_detect`) and never guesses it for one value. Every message quotes the whole value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

DMY, MDY = "dmy", "mdy"
UNKNOWN_ORDER = "unknown"  # slash dates are read, but only those whose order does not matter
DATE_ORDERS = {DMY: "day/month/year", MDY: "month/day/year"}

_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?"
_ISO = re.compile(rf"^(\d{{4}})(?:-(\d{{1,2}})(?:-(\d{{1,2}})(?:[T ]{_TIME})?)?)?$")
_SLASH_DAY = re.compile(rf"^(\d{{1,2}})/(\d{{1,2}})/(\d{{4}})(?:[T ]{_TIME})?$")
_SLASH_MONTH = re.compile(r"^(\d{1,2})/(\d{4})$")

NOT_A_DATE = "'{text}' is not an ISO 8601 date (YYYY, YYYY-MM or YYYY-MM-DD, a time may follow, or a range A/B)."
NOT_A_REAL_DATE = "'{text}' is not a real calendar date."
NOT_A_REAL_TIME = "'{text}' has a time that does not exist."
ENDS_BEFORE_START = "'{text}' ends before it starts."
SLASH_NEEDS_ORDER = (
    "'{text}' could be day/month/year or month/day/year, and the file does not show which; write it as "
    "YYYY-MM-DD, or choose the order of slash dates for this import."
)


class EventDateError(ValueError):
    pass


@dataclass(frozen=True)
class EventDate:
    start: dt.date
    end: dt.date
    year: int | None
    month: int | None
    day: int | None
    time: str = ""  # Darwin Core eventTime as written ("14:07-0600", "10:00/12:30"); "" for none or midnight
    text: str = ""  # the eventDate in ISO 8601, without its time ("1999-06-18", "2014-11-30", "2007-11-13/15")


@dataclass(frozen=True)
class _Part:
    start: dt.date
    end: dt.date
    ymd: tuple[int, int | None, int | None]
    date_text: str  # ISO 8601 date as written (ISO input) or as rebuilt (slash input)
    time: str


def date_tidy(text: str) -> str:
    """Whitespace collapsed, and removed where it touches '-', '/' or ':' ("1986 -06-22")."""
    text = " ".join((text or "").split())
    return re.sub(r"\s*([-/:])\s*", r"\1", text)


def _time(groups: tuple, text: str) -> str:
    """The time as written, "" when absent or exactly midnight; EventDateError if impossible."""
    hour, minute, second, fraction, zone = groups
    if hour is None:
        return ""
    h, m, s = int(hour), int(minute), int(second or 0)
    if h > 23 or m > 59 or s > 59:
        if not (h == 24 and m == 0 and s == 0 and not (fraction or "").strip("0")):
            raise EventDateError(NOT_A_REAL_TIME.format(text=text))
    if h in (0, 24) and m == 0 and s == 0 and not (fraction or "").strip("0"):
        return ""  # midnight: a database timestamp's way of saying "no time"
    written = f"{hour}:{minute}" + (f":{second}" if second is not None else "")
    written += (f".{fraction}" if fraction else "") + (zone or "")
    return written


def _span(year: int, month: int | None, day: int | None, text: str) -> tuple[dt.date, dt.date]:
    try:
        if day is not None:
            start = end = dt.date(year, month, day)
        elif month is not None:
            start = dt.date(year, month, 1)
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
        else:
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        raise EventDateError(NOT_A_REAL_DATE.format(text=text)) from None
    return start, end


def _iso_part(part: str, text: str) -> _Part:
    match = _ISO.match(part)
    if not match:
        raise EventDateError(NOT_A_DATE.format(text=text))
    year, month, day = (int(g) if g else None for g in match.groups()[:3])
    start, end = _span(year, month, day, text)
    time = _time(match.groups()[3:], text)
    date_text = re.split(r"[T ]", part, maxsplit=1)[0]
    return _Part(start, end, (year, month, day), date_text, time)


def _slash_part(part: str, text: str, order: str) -> _Part | None:
    """A slash date (None if `part` is not one)."""
    month_year = _SLASH_MONTH.match(part)
    if month_year:
        month, year = int(month_year.group(1)), int(month_year.group(2))
        if not 1 <= month <= 12:
            raise EventDateError(NOT_A_REAL_DATE.format(text=text))
        start, end = _span(year, month, None, text)
        return _Part(start, end, (year, month, None), f"{year:04d}-{month:02d}", "")
    match = _SLASH_DAY.match(part)
    if not match:
        return None
    first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if order == DMY:
        day, month = first, second
    elif order == MDY:
        month, day = first, second
    elif first == second:
        day = month = first
    else:
        raise EventDateError(SLASH_NEEDS_ORDER.format(text=text))
    start, end = _span(year, month, day, text)
    time = _time(match.groups()[3:], text)
    return _Part(start, end, (year, month, day), f"{year:04d}-{month:02d}-{day:02d}", time)


def parse_event_date(text: str | None, *, order: str | None = None) -> EventDate | None:
    """None for an empty value; EventDateError (quoting the whole value) for one we cannot read.

    `order`: None reads ISO 8601 alone (the form); "dmy" or "mdy" also reads slash dates in that
    order; "unknown" reads slash dates whose order does not matter (`M/YYYY`, `6/6/2009`).
    """
    original = (text or "").strip()
    if not original:
        return None
    tidy = date_tidy(original)
    if order is not None:
        slash = _slash_part(tidy, original, order)
        if slash is not None:
            return EventDate(slash.start, slash.end, *slash.ymd, time=slash.time, text=slash.date_text)
    elif _SLASH_DAY.match(tidy) or _SLASH_MONTH.match(tidy):
        raise EventDateError(NOT_A_DATE.format(text=original))
    if "/" not in tidy:
        part = _iso_part(tidy, original)
        return EventDate(part.start, part.end, *part.ymd, time=part.time, text=part.date_text)
    first_text, _, second_text = tidy.partition("/")
    if not first_text or not second_text or "/" in second_text:
        raise EventDateError(NOT_A_DATE.format(text=original))
    first = _iso_part(first_text, original)
    # "2011-06-23/24" and "2011-06/07": the end may leave out the leading parts of the date.
    # A second part starting with a 4-digit year is complete ("1900-01/1901").
    written, sep, time_text = re.match(r"^([^T ]*)([T ]?)(.*)$", second_text).groups()
    second_date = written
    if len(written) < len(first.date_text) and not re.match(r"\d{4}", written):
        second_date = first.date_text[: len(first.date_text) - len(written)] + written
    second = _iso_part(second_date + sep + time_text, original)
    if second.end < first.start:
        raise EventDateError(ENDS_BEFORE_START.format(text=original))
    (y1, m1, d1), (y2, m2, d2) = first.ymd, second.ymd
    same = y1 == y2
    times = "/".join((first.time, second.time)) if second.time else first.time
    return EventDate(
        first.start, second.end, y1 if same else None, m1 if same and m1 == m2 else None,
        d1 if same and m1 == m2 and d1 == d2 else None, time=times, text=f"{first.date_text}/{written}",
    )


@dataclass(frozen=True)
class SlashOrder:
    """The day/month order of a file's slash dates, and why (a sentence for the curator, or "")."""

    order: str  # "dmy", "mdy" or "unknown"
    note: str = ""
    ambiguous: int = 0  # distinct values that stay unreadable without a chosen order


def slash_order_detect(values: Iterable[str], *, chosen: str = "") -> SlashOrder:
    """Decide the order from the file when the file proves it: some first part above 12 and no
    second part above 12 (day/month/year), or the reverse. Otherwise `chosen` (the import option)
    decides; without it, values whose order matters stay row errors. Never a silent guess."""
    day_first = month_first = None  # an example proving each order
    ambiguous = 0
    for value in values:
        match = _SLASH_DAY.match(date_tidy(value))
        if not match:
            continue
        first, second = int(match.group(1)), int(match.group(2))
        if first > 12 and second <= 12:
            day_first = day_first or value
        elif second > 12 and first <= 12:
            month_first = month_first or value
        elif first != second and first <= 12 and second <= 12:
            ambiguous += 1
    proven = DMY if day_first and not month_first else MDY if month_first and not day_first else ""
    if proven:
        example = day_first or month_first
        note = f"Slash dates were read as {DATE_ORDERS[proven]}, as the file shows ('{example.strip()}')."
        if chosen and chosen != proven:
            note += f" The import was set to {DATE_ORDERS[chosen]}, which the file contradicts; the file's order was used."
        return SlashOrder(proven, note)
    if day_first and month_first:
        both = f"('{day_first.strip()}' and '{month_first.strip()}')"
        if chosen:
            return SlashOrder(chosen, f"The file writes slash dates both ways {both}; they were read as "
                                      f"{DATE_ORDERS[chosen]}, as chosen for this import, and the others reported.")
        return SlashOrder(UNKNOWN_ORDER, f"The file writes slash dates both ways {both}; choose the order for "
                                         "this import, or write the dates as YYYY-MM-DD.", ambiguous)
    if chosen:
        note = f"Slash dates were read as {DATE_ORDERS[chosen]}, as chosen for this import." if ambiguous else ""
        return SlashOrder(chosen, note)
    if ambiguous:
        return SlashOrder(UNKNOWN_ORDER, f"{ambiguous} slash date(s) could be day/month/year or month/day/year and the "
                                         "file does not show which; choose the order for this import (--date-order "
                                         "dmy|mdy, or the choice on the import page) and import again.", ambiguous)
    return SlashOrder(UNKNOWN_ORDER)
