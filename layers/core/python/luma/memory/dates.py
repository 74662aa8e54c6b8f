"""Relative dates in what people say ("yesterday", "last Friday", "two weeks ago"), anchored to the day
the message was written, so a memory read months later still says when things happened.

English expressions only; text in other languages is left as it is (the item still carries its date).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ABBR = {name[:3]: i for i, name in enumerate(_WEEKDAYS)} | {"tues": 1, "thur": 3, "thurs": 3}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
    "several": 3,
}
_DAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|rsday|urday|sday)?\.?"
_COUNT = (
    r"(?:\d+|a couple of|a couple|couple of|a few|few|several|an?"
    r"|one|two|three|four|five|six|seven|eight|nine|ten)"
)

# "feels like (just) yesterday" is a figure of speech, not a date.
_PATTERN = re.compile(
    rf"""(?<!like\s)(?<!like\sjust\s)\b(?:
        (?P<yesterday>yesterday|last\s+night)
      | (?P<today>today|tonight|this\s+(?:morning|afternoon|evening))
      | (?P<tomorrow>tomorrow)
      | (?P<lastwd>last\s+(?P<lastday>{_DAY}))
      | (?P<nextwd>next\s+(?P<nextday>{_DAY}))
      | (?P<lastweekend>(?:last|this\s+past)\s+weekend)
      | (?P<lastweek>last\s+week|the\s+(?:other|past)\s+week)
      | (?P<nextweek>next\s+week)
      | (?P<lastmonth>last\s+month)
      | (?P<thismonth>this\s+month)
      | (?P<nextmonth>next\s+month)
      | (?P<lastyear>last\s+year)
      | (?P<thisyear>this\s+year)
      | (?P<nextyear>next\s+year)
      | (?P<ago>(?P<count>{_COUNT})\s+(?P<unit>day|week|month|year)s?\s+ago)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)


def day_label(day: date) -> str:
    """``7 May 2023``."""
    return f"{day.day} {day.strftime('%B %Y')}"


def _month_label(day: date) -> str:
    return day.strftime("%B %Y")


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _weekday(token: str) -> int:
    word = token.lower().rstrip(".")
    for i, name in enumerate(_WEEKDAYS):
        if word == name:
            return i
    return _WEEKDAY_ABBR.get(word[:5], _WEEKDAY_ABBR.get(word[:4], _WEEKDAY_ABBR.get(word[:3], -1)))


def _resolve(match: re.Match[str], day: date) -> str | None:
    group = match.lastgroup
    if group == "yesterday":
        return day_label(day - timedelta(days=1))
    if group == "today":
        return day_label(day)
    if group == "tomorrow":
        return day_label(day + timedelta(days=1))
    if group in ("lastwd", "nextwd"):
        wd = _weekday(match.group("lastday") or match.group("nextday"))
        if wd < 0:
            return None
        if group == "lastwd":
            back = (day.weekday() - wd) % 7 or 7
            return day_label(day - timedelta(days=back))
        ahead = (wd - day.weekday()) % 7 or 7
        return day_label(day + timedelta(days=ahead))
    if group == "lastweekend":
        saturday = day - timedelta(days=(day.weekday() - 5) % 7 or 7)
        return f"weekend of {day_label(saturday)}"
    if group == "lastweek":
        return f"week before {day_label(day)}"
    if group == "nextweek":
        return f"week after {day_label(day)}"
    if group == "lastmonth":
        return _month_label(_shift_months(day, -1))
    if group == "thismonth":
        return _month_label(day)
    if group == "nextmonth":
        return _month_label(_shift_months(day, 1))
    if group in ("lastyear", "thisyear", "nextyear"):
        return str(day.year + {"lastyear": -1, "thisyear": 0, "nextyear": 1}[group])
    if group == "ago":
        count = match.group("count").lower()
        n = int(count) if count.isdigit() else _NUMBERS.get(count, 1)
        unit = match.group("unit").lower()
        approximate = count in ("a few", "few", "several", "a couple", "a couple of", "couple of")
        if unit == "day":
            label = day_label(day - timedelta(days=n))
        elif unit == "week":
            label = day_label(day - timedelta(weeks=n))
        elif unit == "month":
            label = _month_label(_shift_months(day, -n))
        else:
            label = str(day.year - n)
        return f"about {label}" if approximate else label
    return None


def anchor_dates(text: str, written_at: datetime | date) -> str:
    """``text`` with each relative date followed by its calendar date in parentheses.

    >>> anchor_dates("I went there yesterday.", date(2023, 5, 8))
    'I went there yesterday (7 May 2023).'
    """
    day = written_at.date() if isinstance(written_at, datetime) else written_at

    def replace(match: re.Match[str]) -> str:
        label = _resolve(match, day)
        return f"{match.group(0)} ({label})" if label else match.group(0)

    return _PATTERN.sub(replace, text)
