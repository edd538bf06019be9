"""The overview: the `escalator report` of a period, drawn.

The figures come from `bot.reports.journey_report` and `bot.revenue.revenue_report`, the very
code `escalator report` prints from; the page shows them as numbers and hands the charts their
data as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.flows.model import Json
from bot.flows.orders import format_money
from bot.handlers.admin.site import Site
from bot.reports import JourneyReport, journey_report, shown_duration, shown_score
from bot.revenue import revenue_report

__all__ = ["chart_data", "routes"]

PERIODS = (("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "a year"), ("", "all"))


def chart_data(report: JourneyReport) -> dict[str, Json]:
    """The charts' numbers: the funnel and the score per week."""
    steps = report.steps
    return {
        "scale": report.scale,
        "funnel": {
            "labels": [step.stage for step in steps],
            "now": [step.now for step in steps],
            "reached": [step.reached for step in steps],
            "conversion": [
                None if step.conversion is None else round(100 * step.conversion, 1)
                for step in steps
            ],
        },
        "weeks": {
            "labels": [f"{week.start:%Y-%m-%d}" for week in report.weeks],
            "score": [
                None if week.summary.score is None else round(week.summary.score, 1)
                for week in report.weeks
            ],
            "responses": [week.summary.responses for week in report.weeks],
        },
    }


def _date(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{name} is not a date: use YYYY-MM-DD") from None


def routes(site: Site) -> list[web.RouteDef]:
    async def overview(request: web.Request) -> web.StreamResponse:
        query = request.query
        problem = ""
        since = until = None
        days = query.get("days", "")
        try:
            since = _date(query.get("since", ""), "From")
            until = _date(query.get("until", ""), "Until")
            if days and since is None:
                if not days.isdigit() or not 0 < int(days) <= 3650:
                    raise ValueError("the period must be between 1 and 3650 days")
                since = site.parts.clock.now() - timedelta(days=int(days))
            if since is not None and until is not None and since >= until:
                raise ValueError("From must be before Until")
        except ValueError as exc:
            problem, since, until = str(exc), None, None
        report = await journey_report(
            site.parts.storage.reports,
            since,
            until,
            scale=site.options.scale,
            zone=site.options.zone,
        )
        revenue = await revenue_report(site.parts.storage.shop, since, until)
        return site.views.page(
            request,
            "overview.html",
            status=400 if problem else 200,
            section="overview",
            report=report,
            charts=chart_data(report),
            revenue=revenue,
            money=format_money,
            shown_score=shown_score,
            median=""
            if report.median_time_to_resolve is None
            else shown_duration(report.median_time_to_resolve),
            since=query.get("since", "") if not problem else "",
            until=query.get("until", "") if not problem else "",
            days=days if not problem else "",
            periods=PERIODS,
            problem=problem,
        )

    return [web.get("/", overview), web.get("", overview)]
