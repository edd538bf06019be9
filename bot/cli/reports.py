"""`escalator report` (the funnel and everything else over a period) and `escalator nps`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import DONE, add_command, open_existing
from bot.config import Settings
from bot.errors import InvalidInput
from bot.reports import journey_report, score_summary
from bot.revenue import revenue_report

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    report = add_command(
        commands,
        "report",
        report_command,
        help="funnel, conversion, NPS (also by week), escalations, referrals, badges, revenue",
    )
    nps = add_command(commands, "nps", nps_command, help="NPS (or CSAT, per SURVEY_SCALE)")
    for parser in (report, nps):
        parser.add_argument("--since", type=_date, help="YYYY-MM-DD (inclusive)")
        parser.add_argument("--until", type=_date, help="YYYY-MM-DD (exclusive)")


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _period(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    since, until = args.since, args.until
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            f"--since {since:%Y-%m-%d} is not before --until {until:%Y-%m-%d}: the period is empty"
        )
    return since, until


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_report(settings, *_period(args)))


async def _report(settings: Settings, since: datetime | None, until: datetime | None) -> int:
    storage = await open_existing(settings)
    try:
        result = await journey_report(
            storage.reports, since, until, scale=settings.survey_scale, zone=settings.tz
        )
        revenue = await revenue_report(storage.shop, since, until)
    finally:
        await storage.close()
    print("\n".join(result.lines() + revenue.lines()))
    return DONE


def nps_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_nps(settings, *_period(args)))


async def _nps(settings: Settings, since: datetime | None, until: datetime | None) -> int:
    storage = await open_existing(settings)
    try:
        summary = await score_summary(storage.reports, settings.survey_scale, since, until)
    finally:
        await storage.close()
    label = "NPS" if summary.scale == "nps" else "CSAT"
    if summary.score is None:
        print(f"{label}: no responses in this period")
        return DONE
    print(f"NPS {summary.score:+.1f}" if label == "NPS" else f"CSAT {summary.score:.1f}%")
    high, middle, low = summary.groups  # CSAT answers are satisfied, not promoters
    print(
        f"responses {summary.responses}: {high} {summary.promoters}, "
        f"{middle} {summary.passives}, {low} {summary.detractors}"
    )
    return DONE
