"""Business hours: strict parsing, and when the team is back (in its own time zone)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.flows.hours import parse_business_hours

BERLIN = parse_business_hours("mon-fri 09:00-18:00; sat 10:00-14:00 Europe/Berlin")


def test_open_and_the_next_opening() -> None:
    assert BERLIN.is_open(datetime(2026, 3, 2, 8, 30, tzinfo=UTC))  # Monday 09:30 in Berlin
    assert not BERLIN.is_open(datetime(2026, 3, 2, 17, 30, tzinfo=UTC))  # 18:30 in Berlin
    evening = BERLIN.next_opening(datetime(2026, 3, 2, 17, 30, tzinfo=UTC))
    assert (evening.at.weekday(), f"{evening.at:%H:%M}", evening.days_away) == (1, "09:00", 1)
    saturday = BERLIN.next_opening(datetime(2026, 3, 7, 14, 0, tzinfo=UTC))
    assert (saturday.at.weekday(), f"{saturday.at:%H:%M}", saturday.days_away) == (0, "09:00", 2)
    early = BERLIN.next_opening(datetime(2026, 3, 3, 5, 0, tzinfo=UTC))
    assert early.days_away == 0 and f"{early.at:%H:%M}" == "09:00"
    # summer time: 09:00 in Berlin is 07:00 UTC
    assert BERLIN.is_open(datetime(2026, 7, 6, 7, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("weekdays 9-5", "cannot read"),
        ("mon-fry 09:00-18:00", "unknown day"),
        ("fri-mon 09:00-18:00", "backwards"),
        ("mon-fri 18:00-09:00", "closing must be after opening"),
        ("mon-fri 09:00-25:00", "not a time of day"),
        ("mon-fri 09:00-18:00 Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_hours_are_refused_with_what_was_expected(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_business_hours(text)


def test_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="BUSINESS_HOURS"):
        load_settings(BUSINESS_HOURS="mon-fri 9 to 5")
    settings = load_settings(BUSINESS_HOURS="mon-fri 09:00-17:00", TIMEZONE="Europe/Vienna")
    hours = settings.hours()
    assert hours is not None and hours.tz.key == "Europe/Vienna"
    with pytest.raises(ConfigError, match="INBOX_AUTOCLOSE"):
        load_settings(INBOX_AUTOCLOSE="-1d")
    with pytest.raises(ConfigError, match="SLACK_THREAD_DEFAULT"):
        load_settings(SLACK_THREAD_DEFAULT="everyone")
