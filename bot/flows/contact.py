"""What keeps the bot from becoming a spammer: one contact budget and quiet hours, for every
unprompted message that asks for attention (check-ins, surveys, nurture steps, campaigns).

- **Budget** (`CONTACT_BUDGET=3/7d`): at most `budget` such messages to one customer in any
  `window`. The times they were sent are kept on the customer (`Customer.contacts`), so every
  flow sees the same count whatever sent them. Replies to the customer, staff answers and
  notices the customer's own actions caused (a friend joined, a badge) are not counted.
- **Quiet hours** (`QUIET_HOURS=21:00-09:00`) in the customer's own time zone: the zone they
  set, else the one of their language (`DEFAULT_TIMEZONES`), else the deployment's `TIMEZONE`;
  the zone used is kept on the customer the first time it is needed.

`check` says whether a message may go now, and if not, why and from when it could. Each flow
decides by its own rule what a refusal means (a check-in waits; a campaign message may be
skipped); `spend` records a message that goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import InvalidInput
from bot.flows.model import Customer

__all__ = [
    "ContactRules",
    "Verdict",
    "check",
    "daytime",
    "known_zone",
    "parse_budget",
    "parse_quiet_hours",
    "parse_zones",
    "quiet_span",
    "spend",
    "zone_of",
]

Reason = Literal["ok", "quiet_hours", "budget"]


@dataclass(frozen=True)
class ContactRules:
    budget: int = 3
    window: timedelta = timedelta(days=7)
    quiet: tuple[time, time] | None = (time(21, 0), time(9, 0))
    """(start, end) local times; a span over midnight when start > end; None: no quiet hours."""
    default_zones: tuple[tuple[str, str], ...] = ()
    """(language, IANA zone) pairs."""
    fallback_zone: str = "UTC"
    _zones: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zones", dict(self.default_zones))

    def zone_for(self, language: str | None) -> str:
        if language:
            base = language.split("-")[0].lower()
            return self._zones.get(language.lower()) or self._zones.get(base, self.fallback_zone)
        return self.fallback_zone


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    until: datetime | None = None
    """When the message could go (the end of the quiet hours, or of the budget's window)."""

    @property
    def allowed(self) -> bool:
        return self.reason == "ok"


def zone_of(customer: Customer, rules: ContactRules) -> str:
    return customer.timezone or rules.zone_for(customer.language)


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def known_zone(text: str) -> str | None:
    """The IANA zone a customer typed (`europe/berlin` is `Europe/Berlin`), or None."""
    return _zones().get(text.strip().lower().replace(" ", "_"))


def quiet_span(rules: ContactRules) -> str | None:
    """The quiet hours as people read them (`21:00–09:00`), or None when there are none."""
    if rules.quiet is None:
        return None
    start, end = rules.quiet
    return f"{start:%H:%M}–{end:%H:%M}"


def _tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def recent(customer: Customer, now: datetime, rules: ContactRules) -> tuple[datetime, ...]:
    """The counted contacts still inside the window, oldest first."""
    return tuple(sorted(at for at in customer.contacts if now - rules.window < at <= now))


def check(customer: Customer, now: datetime, rules: ContactRules) -> Verdict:
    """May an unprompted message go to `customer` at `now`? Quiet hours first: a message
    deferred to the morning is then checked against the budget again."""
    quiet_end = _quiet_end(now, _tz(zone_of(customer, rules)), rules.quiet)
    if quiet_end is not None:
        return Verdict("quiet_hours", quiet_end)
    counted = recent(customer, now, rules)
    if len(counted) >= rules.budget:
        # a slot frees when the oldest of the last `budget` contacts leaves the window
        return Verdict("budget", counted[-rules.budget] + rules.window)
    return Verdict("ok")


def spend(customer: Customer, now: datetime, rules: ContactRules) -> Customer:
    """The customer after one counted message at `now` (the zone used is kept)."""
    return customer.evolve(
        contacts=(*recent(customer, now, rules), now)[-max(rules.budget, 1) :],
        timezone=zone_of(customer, rules),
    )


def daytime(
    now: datetime, zone: str, rules: ContactRules, *, ahead: timedelta = timedelta(hours=3)
) -> datetime:
    """`now` when quiet hours in `zone` are at least `ahead` away; else an hour after the next
    quiet hours end. Where a demonstration of scheduled messages should start its clock, so
    that what it shows is not held back for the night."""
    tz = _tz(zone)
    end = _quiet_end(now, tz, rules.quiet) or _quiet_end(now + ahead, tz, rules.quiet)
    return now if end is None else end + timedelta(hours=1)


def _quiet_end(now: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None) -> datetime | None:
    """The end of the quiet hours `now` falls in (None: not quiet)."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(tz)
    moment = local.time().replace(tzinfo=None)
    if start <= end:
        inside = start <= moment < end
        day = local.date()
    else:  # over midnight: evening to next morning
        inside = moment >= start or moment < end
        day = local.date() + timedelta(days=1) if moment >= start else local.date()
    if not inside:
        return None
    # A wall time that does not exist (a DST gap) resolves forward, as zoneinfo does.
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """`21:00-09:00`; empty or `off`: none."""
    value = text.strip().lower()
    if value in ("", "off", "none"):
        return None
    try:
        first, second = (part.strip() for part in value.split("-"))
        start, end = time.fromisoformat(first), time.fromisoformat(second)
    except ValueError:
        raise InvalidInput(
            f"QUIET_HOURS={text!r}: expected a local time span like 21:00-09:00, or off"
        ) from None
    if start == end:
        raise InvalidInput(f"QUIET_HOURS={text!r}: the span is empty")
    return start, end


def parse_budget(text: str) -> tuple[int, timedelta]:
    """`3/7d`: at most 3 unprompted messages in any 7 days."""
    count, slash, span = text.strip().partition("/")
    units = {"d": timedelta(days=1), "h": timedelta(hours=1), "w": timedelta(weeks=1)}
    try:
        number = int(count)
        amount, unit = int(span[:-1]), units[span[-1:].lower()]
    except (ValueError, KeyError):
        number = amount = -1
        unit = timedelta(0)
    if not slash or number < 1 or amount < 1:
        raise InvalidInput(
            f"CONTACT_BUDGET={text!r}: expected messages per period, like 3/7d (d, h or w)"
        )
    return number, amount * unit


def parse_zones(text: str) -> tuple[tuple[str, str], ...]:
    """`de=Europe/Berlin,en=Europe/London`: the time zone for each language."""
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        language, sep, zone = (side.strip() for side in item.partition("="))
        if not sep or not language or not zone:
            raise InvalidInput(
                f"DEFAULT_TIMEZONES: {item!r} is not language=Zone (e.g. de=Europe/Berlin)"
            )
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"DEFAULT_TIMEZONES: unknown time zone {zone!r}") from None
        pairs.append((language.lower(), zone))
    return tuple(pairs)
