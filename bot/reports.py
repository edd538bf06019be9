"""Figures over the journey data: the funnel, NPS (and CSAT), escalations, referrals, badges.

The storage counts (`ReportStore`); the rules that turn counts into NPS, CSAT, conversion and
the K-factor live here and in `bot.flows.policy`, once. `escalator report` prints a
`JourneyReport` and the admin dashboard draws the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise

from bot.durations import format_duration
from bot.flows.model import Json
from bot.flows.policy import score_group
from bot.flows.stages import Stage
from bot.storage.protocols import ReportStore

__all__ = [
    "WEEKS_SHOWN",
    "FunnelStep",
    "JourneyReport",
    "ScoreSummary",
    "WeekScore",
    "desk_summary",
    "funnel_steps",
    "journey_report",
    "score_summary",
    "shown_duration",
    "shown_score",
    "summarise",
    "week_edges",
    "weekly_scores",
]

WEEKS_SHOWN = 260
"""Weeks a report lists at most (the latest ones): five years."""


@dataclass(frozen=True)
class ScoreSummary:
    scale: str
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        """NPS: promoters% - detractors% (-100..100); for CSAT, the % satisfied (4-5)."""
        if not self.responses:
            return None
        if self.scale == "csat":
            return 100.0 * (self.promoters + self.passives) / self.responses
        return 100.0 * (self.promoters - self.detractors) / self.responses

    @property
    def groups(self) -> tuple[str, str, str]:
        """How the three groups are called on this scale."""
        if self.scale == "csat":
            return ("satisfied", "neutral", "dissatisfied")
        return ("promoters", "passives", "detractors")


async def score_summary(
    reports: ReportStore, scale: str, since: datetime | None = None, until: datetime | None = None
) -> ScoreSummary:
    return summarise(scale, await reports.score_histogram(scale, since, until))


def summarise(scale: str, histogram: dict[int, int]) -> ScoreSummary:
    """Ratings by score, grouped into promoters, passives and detractors (or CSAT's groups)."""
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score, count in histogram.items():
        counts[score_group(scale, score)] += count
    return ScoreSummary(
        scale,
        sum(histogram.values()),
        counts["promoter"],
        counts["passive"],
        counts["detractor"],
    )


async def desk_summary(
    reports: ReportStore, scale: str, day_start: datetime, now: datetime
) -> dict[str, Json]:
    """What staff see at a glance: open cases, today's score and the funnel by stage."""
    cases = await reports.open_cases(20)
    funnel = await reports.funnel()
    today = await score_summary(reports, scale, day_start, now)
    recognitions = await reports.recent_badges(5)
    return {
        "open_cases": [
            {
                "id": case.id,
                "status": case.status,
                "reason": case.reason,
                "opened_at": case.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
                "waiting_minutes": round((now - case.opened_at).total_seconds() / 60),
                "claimed_by": case.claimed_by,
                "customer_name": case.customer_name,
                "channel": case.channel,
                "ts": case.ts,
            }
            for case in cases
        ],
        "funnel": [{"stage": stage.value, "count": funnel.get(stage.value, 0)} for stage in Stage],
        "scale": scale,
        "score_today": None if today.score is None else round(today.score, 1),
        "responses_today": today.responses,
        "recognitions": [
            {"badge": b.badge, "at": b.at.strftime("%Y-%m-%d"), "name": b.first_name}
            for b in recognitions
        ],
    }


@dataclass(frozen=True)
class FunnelStep:
    """One step of the escalator in a report."""

    stage: str
    level: int
    now: int
    """Customers at this step now."""
    reached: int
    """Customers at this step or a higher one (stages only move up, and may skip a step)."""
    conversion: float | None
    """`reached` as a share (0..1) of the step below's; None for the first step, or when
    nobody reached the step below."""


def funnel_steps(funnel: dict[str, int]) -> list[FunnelStep]:
    """The funnel (customers by current stage) as steps with conversion between them."""
    steps: list[FunnelStep] = []
    below: int | None = None
    stages = list(Stage)
    for index, stage in enumerate(stages):
        reached = sum(funnel.get(higher.value, 0) for higher in stages[index:])
        conversion = None if not below else reached / below
        steps.append(
            FunnelStep(stage.value, stage.level, funnel.get(stage.value, 0), reached, conversion)
        )
        below = reached
    return steps


@dataclass(frozen=True)
class WeekScore:
    """The ratings given in one week (Monday to Monday in the report's time zone; the first
    and last week are cut to the report's period)."""

    start: datetime
    summary: ScoreSummary


def week_edges(first: datetime, last: datetime, zone: tzinfo) -> list[datetime]:
    """Week boundaries covering [first, last]: Mondays at midnight in `zone`, at most the latest
    `WEEKS_SHOWN` weeks."""
    local = first.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    edges = [monday]
    while edges[-1] <= last:
        # wall-clock arithmetic on an aware time: the next Monday at midnight, whatever DST did
        edges.append(edges[-1] + timedelta(days=7))
    return edges[-(WEEKS_SHOWN + 1) :]


async def weekly_scores(
    reports: ReportStore,
    scale: str,
    since: datetime | None = None,
    until: datetime | None = None,
    zone: tzinfo = UTC,
) -> list[WeekScore]:
    """The score of each week with ratings in [since, until), from the first rating to the last
    (weeks without ratings in between included). The first and the last week are cut to the
    period, so the weeks add up to the period's ratings."""
    span = await reports.score_span(scale, since, until)
    if span is None:
        return []
    mondays = week_edges(*span, zone)
    edges = list(mondays)
    if since is not None and since > edges[0]:
        edges[0] = since
    if until is not None and until < edges[-1]:
        edges[-1] = until
    histograms = await reports.score_histograms(scale, edges)
    return [
        WeekScore(monday, summarise(scale, histogram))
        for monday, histogram in zip(mondays, histograms, strict=False)
    ]


def shown_score(summary: ScoreSummary) -> str:
    """`+12.5` (NPS), `83.3` (CSAT %), `-` without ratings."""
    if summary.score is None:
        return "-"
    return f"{summary.score:+.1f}" if summary.scale == "nps" else f"{summary.score:.1f}"


@dataclass(frozen=True)
class JourneyReport:
    funnel: dict[str, int]
    nps: ScoreSummary
    csat: ScoreSummary
    escalations_opened: int
    escalations_resolved: int
    referrals_joined: int
    referrals_converted: int
    organic_customers: int
    badges: dict[str, int]
    median_time_to_resolve: timedelta | None = None
    """Over the escalations resolved in the period."""
    weeks: tuple[WeekScore, ...] = ()
    """The survey scale's score per week."""
    scale: str = "nps"
    """The survey scale (SURVEY_SCALE) of `weeks`."""

    @property
    def customers(self) -> int:
        return sum(self.funnel.values())

    @property
    def steps(self) -> list[FunnelStep]:
        return funnel_steps(self.funnel)

    @property
    def k_factor(self) -> float:
        """New customers each customer brought on average: referred joins / organic customers."""
        return self.referrals_joined / self.organic_customers if self.organic_customers else 0.0

    def lines(self) -> list[str]:
        out = [f"customers           {self.customers}"]
        out += [f"  {stage:<17} {count}" for stage, count in self.funnel.items()]
        conversions = [
            f"{below.stage}→{step.stage} {100 * step.conversion:.1f}%"
            for below, step in pairwise(self.steps)
            if step.conversion is not None
        ]
        if conversions:
            out.append(f"conversion          {', '.join(conversions)}")
        for summary in (self.nps, self.csat):
            if summary.responses:
                label = "NPS" if summary.scale == "nps" else "CSAT %"
                high, middle, low = summary.groups
                out.append(
                    f"{label:<19} {shown_score(summary)}  ({summary.responses} ratings: "
                    f"{summary.promoters} {high}, {summary.passives} {middle}, "
                    f"{summary.detractors} {low})"
                )
        if self.weeks:
            label = "NPS" if self.scale == "nps" else "CSAT %"
            out.append(f"{label + ' by week':<19} (week of, score, ratings)")
            out += [
                f"  {week.start:%Y-%m-%d}        {shown_score(week.summary):>6}  "
                f"{week.summary.responses}"
                for week in self.weeks
            ]
        median = self.median_time_to_resolve
        took = "" if median is None else f", median time to resolve {shown_duration(median)}"
        out += [
            f"escalations         {self.escalations_opened} opened, "
            f"{self.escalations_resolved} resolved{took}",
            f"referrals           {self.referrals_joined} joined, "
            f"{self.referrals_converted} converted",
            f"K-factor            {self.k_factor:.3f}",
            f"badges awarded      {sum(self.badges.values())}",
        ]
        out += [f"  {badge:<32} {count}" for badge, count in sorted(self.badges.items())]
        return out


def shown_duration(value: timedelta) -> str:
    """`3h 12m`: minutes are as fine as a median of hours needs."""
    if value >= timedelta(minutes=1):
        value = timedelta(minutes=round(value.total_seconds() / 60))
    return format_duration(value)


async def journey_report(
    reports: ReportStore,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    scale: str = "nps",
    zone: tzinfo = UTC,
) -> JourneyReport:
    """Everything that happened in [since, until): the funnel counts the customers captured in
    the period by the stage they have reached now; weeks are `scale`'s, in time zone `zone`."""
    funnel = await reports.funnel(since, until)
    activity = await reports.activity(since, until)
    return JourneyReport(
        funnel={stage.value: funnel.get(stage.value, 0) for stage in Stage},
        nps=await score_summary(reports, "nps", since, until),
        csat=await score_summary(reports, "csat", since, until),
        escalations_opened=activity.cases_opened,
        escalations_resolved=activity.cases_resolved,
        referrals_joined=activity.referrals_joined,
        referrals_converted=activity.referrals_converted,
        organic_customers=activity.organic_customers,
        badges=await reports.badge_counts(since, until),
        median_time_to_resolve=await reports.median_time_to_resolve(since, until),
        weeks=tuple(await weekly_scores(reports, scale, since, until, zone)),
        scale=scale,
    )
