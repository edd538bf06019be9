"""The report's rules: conversion between steps, weeks in a time zone, weekly scores adding up to
the period's, and what `escalator report` prints of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bot.flows.common import new_customer
from bot.flows.model import CaseChanged, CaseOpened, CustomerKey, Profile, ScoreRow
from bot.reports import WEEKS_SHOWN, funnel_steps, journey_report, week_edges, weekly_scores
from bot.storage.sqlite import SQLiteStorage
from bot.storage.types import Change
from tests.conftest import START

BERLIN = ZoneInfo("Europe/Berlin")


def test_conversion_is_the_share_of_the_step_below_that_reached_a_step() -> None:
    steps = funnel_steps({"captured": 2, "engaged": 3, "customer": 4, "advocate": 1})
    assert [(s.stage, s.level, s.now, s.reached) for s in steps] == [
        ("captured", 3, 2, 10),
        ("engaged", 4, 3, 8),
        ("customer", 5, 4, 5),
        ("advocate", 6, 1, 1),
        ("ambassador", 7, 0, 0),
    ]
    assert [s.conversion for s in steps] == [None, 0.8, 0.625, 0.2, 0.0]
    empty = funnel_steps({})
    assert [s.conversion for s in empty] == [None] * 5  # nobody below: no share to speak of


def test_weeks_start_on_local_mondays_across_a_clock_change() -> None:
    # Berlin moves its clocks on Sunday 2026-03-29: a week is then 167 hours long
    first = datetime(2026, 3, 25, 10, 0, tzinfo=UTC)
    last = datetime(2026, 4, 6, 0, 30, tzinfo=UTC)  # Monday 02:30 in Berlin: the third week
    edges = week_edges(first, last, BERLIN)
    local = [edge.astimezone(BERLIN) for edge in edges]
    assert [(e.date().isoformat(), e.hour, e.minute) for e in local] == [
        ("2026-03-23", 0, 0),
        ("2026-03-30", 0, 0),
        ("2026-04-06", 0, 0),
        ("2026-04-13", 0, 0),
    ]
    elapsed = [b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(edges)]
    assert elapsed[:2] == [timedelta(hours=167), timedelta(days=7)]
    assert edges[0] <= first and edges[-1] > last


def test_at_most_the_latest_weeks_are_listed() -> None:
    first = datetime(2000, 1, 3, tzinfo=UTC)
    last = datetime(2026, 3, 2, 12, tzinfo=UTC)
    edges = week_edges(first, last, UTC)
    assert len(edges) == WEEKS_SHOWN + 1
    assert edges[-2] <= last < edges[-1]


@pytest.fixture
async def rated(storage: SQLiteStorage) -> SQLiteStorage:
    """Ann rates over three weeks (Monday 2026-03-02 onwards); a case takes 90 minutes."""
    ann = new_customer(CustomerKey("test", "ann"), Profile("Ann", "en"), START)
    await storage.journey.commit(Change(ann, START))
    ratings = [(0, 10), (0, 2), (1, 9), (9, 8), (16, 9), (17, 10)]
    for version, (days, score) in enumerate(ratings, start=1):
        at = START + timedelta(days=days)
        await storage.journey.commit(Change(ann, at, version, records=(ScoreRow("nps", score),)))
    await storage.journey.commit(
        Change(ann, START, 7, records=(CaseOpened("test:ann#1", "nps score 2", None),))
    )
    resolved = START + timedelta(minutes=90)
    await storage.journey.commit(
        Change(ann, resolved, 8, records=(CaseChanged("test:ann#1", "resolved", "sam"),))
    )
    return storage


async def test_weekly_scores_add_up_to_the_period(rated: SQLiteStorage) -> None:
    weeks = await weekly_scores(rated.reports, "nps")
    assert [f"{w.start:%Y-%m-%d}" for w in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert [w.summary.responses for w in weeks] == [3, 1, 2]
    assert [w.summary.score for w in weeks] == [pytest.approx(100 / 3), 0.0, 100.0]

    since = START + timedelta(days=1)  # the first week is cut to the period
    cut = await weekly_scores(rated.reports, "nps", since, START + timedelta(days=17))
    report = await journey_report(rated.reports, since, START + timedelta(days=17))
    assert [w.summary.responses for w in cut] == [1, 1, 1]
    assert sum(w.summary.responses for w in cut) == report.nps.responses == 3
    assert await weekly_scores(rated.reports, "csat") == []


async def test_the_printed_report_has_conversion_weeks_and_the_median(
    rated: SQLiteStorage,
) -> None:
    report = await journey_report(rated.reports, zone=BERLIN)
    lines = report.lines()
    # nobody went past the first step: one share, none from an empty step
    assert (
        lines[lines.index("  ambassador        0") + 1]
        == "conversion          captured→engaged 0.0%"
    )
    assert report.median_time_to_resolve == timedelta(minutes=90)
    assert "escalations         1 opened, 1 resolved, median time to resolve 1h 30m" in lines
    at = lines.index("NPS by week         (week of, score, ratings)")
    assert lines[at + 1 : at + 4] == [
        "  2026-03-02         +33.3  3",
        "  2026-03-09          +0.0  1",
        "  2026-03-16        +100.0  2",
    ]
