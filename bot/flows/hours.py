"""Business hours: when a person is there to answer, and when they are back.

`BUSINESS_HOURS` reads like `mon-fri 09:00-18:00 Europe/Berlin`: one or more spans separated by
`;` (`mon-fri 09:00-18:00; sat 10:00-14:00 Europe/Berlin`), each a list of days or day ranges
and a time range, and one IANA time zone at the end (the deployment's `TIMEZONE` without it).
Parsing is strict: anything not understood is refused with what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BusinessHours", "Opening", "parse_business_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<open>\d{2}:\d{2})-(?P<close>\d{2}:\d{2})$")


@dataclass(frozen=True)
class Opening:
    """When the team is next there: the local day and time, and how many days away that is."""

    at: datetime
    """In the business's own time zone."""
    days_away: int
    """0 today, 1 tomorrow, ... (local calendar days)."""


@dataclass(frozen=True)
class BusinessHours:
    spans: tuple[tuple[frozenset[int], time, time], ...]
    """(weekdays 0=Monday, opening, closing); closing after opening on the same day."""
    tz: ZoneInfo

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        moment = local.time().replace(tzinfo=None)
        return any(
            local.weekday() in days and start <= moment < end for days, start, end in self.spans
        )

    def next_opening(self, now: datetime) -> Opening:
        """The next time the team opens after `now` (now itself when open)."""
        local = now.astimezone(self.tz)
        if self.is_open(now):
            return Opening(local, 0)
        for offset in range(8):
            day: date = local.date() + timedelta(days=offset)
            starts = sorted(start for days, start, _ in self.spans if day.weekday() in days)
            for start in starts:
                at = datetime.combine(day, start, self.tz)
                if at > local:
                    return Opening(at, offset)
        raise AssertionError("business hours with no opening in a week")  # parse prevents it

    def describe(self) -> str:
        parts = []
        for days, start, end in self.spans:
            names = ",".join(DAYS[d] for d in sorted(days))
            parts.append(f"{names} {start:%H:%M}-{end:%H:%M}")
        return f"{'; '.join(parts)} {self.tz.key}"


def parse_business_hours(text: str, default_tz: str = "UTC") -> BusinessHours:
    """Parse `text`; `ValueError` says what is wrong and what is expected."""
    expected = "expected e.g. 'mon-fri 09:00-18:00 Europe/Berlin'"
    words = text.strip().lower().split()
    if not words:
        raise ValueError(f"is empty; {expected}")
    zone = default_tz
    last = text.strip().split()[-1]
    if "/" in last or last.upper() == "UTC":
        zone = last
        words = words[:-1]
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    spans = []
    for chunk in " ".join(words).split(";"):
        spans.append(_span(chunk.strip(), expected))
    return BusinessHours(tuple(spans), tz)


def _span(chunk: str, expected: str) -> tuple[frozenset[int], time, time]:
    match = _SPAN.match(chunk)
    if match is None:
        raise ValueError(f"cannot read {chunk!r}; {expected}")
    days: set[int] = set()
    for part in match["days"].split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day in {part!r} (use {', '.join(DAYS)})")
        low, high = DAYS.index(first), DAYS.index(last or first)
        if high < low:
            raise ValueError(f"day range {part!r} runs backwards (write e.g. mon-fri)")
        days.update(range(low, high + 1))
    opening, closing = _clock(match["open"]), _clock(match["close"])
    if closing <= opening:
        raise ValueError(f"{match['open']}-{match['close']}: closing must be after opening")
    return frozenset(days), opening, closing


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)
