"""Figures over the journey data: the funnel, NPS (and CSAT), escalations, referrals, badges.

The storage counts (`ReportStore`); the rules that turn counts into NPS, CSAT and the K-factor
live here and in `bot.flows.policy`, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.flows.model import Json
from bot.flows.policy import score_group
from bot.flows.stages import Stage
from bot.storage.protocols import ReportStore

__all__ = ["JourneyReport", "ScoreSummary", "desk_summary", "journey_report", "score_summary"]


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
    histogram = await reports.score_histogram(scale, since, until)
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

    @property
    def customers(self) -> int:
        return sum(self.funnel.values())

    @property
    def k_factor(self) -> float:
        """New customers each customer brought on average: referred joins / organic customers."""
        return self.referrals_joined / self.organic_customers if self.organic_customers else 0.0

    def lines(self) -> list[str]:
        out = [f"customers           {self.customers}"]
        out += [f"  {stage:<17} {count}" for stage, count in self.funnel.items()]
        for summary in (self.nps, self.csat):
            if summary.responses:
                label = "NPS" if summary.scale == "nps" else "CSAT %"
                value = (
                    f"{summary.score:+.1f}" if summary.scale == "nps" else f"{summary.score:.1f}"
                )
                high, middle, low = summary.groups
                out.append(
                    f"{label:<19} {value}  ({summary.responses} ratings: {summary.promoters} "
                    f"{high}, {summary.passives} {middle}, {summary.detractors} {low})"
                )
        out += [
            f"escalations         {self.escalations_opened} opened, "
            f"{self.escalations_resolved} resolved",
            f"referrals           {self.referrals_joined} joined, "
            f"{self.referrals_converted} converted",
            f"K-factor            {self.k_factor:.3f}",
            f"badges awarded      {sum(self.badges.values())}",
        ]
        out += [f"  {badge:<32} {count}" for badge, count in sorted(self.badges.items())]
        return out


async def journey_report(
    reports: ReportStore, since: datetime | None = None, until: datetime | None = None
) -> JourneyReport:
    """Everything that happened in [since, until): the funnel counts the customers captured in
    the period by the stage they have reached now."""
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
    )
