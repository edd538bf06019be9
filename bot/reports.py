"""Figures over the journey data: NPS (and CSAT) over any period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.flows.model import Json
from bot.flows.stages import Stage
from bot.storage.codec import epoch, moment
from bot.storage.sqlite import SQLiteStorage

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


async def score_summary(
    storage: SQLiteStorage, scale: str, since: datetime | None = None, until: datetime | None = None
) -> ScoreSummary:
    promoter, passive = (9, 7) if scale == "nps" else (5, 4)
    rows = await storage.fetch_all(
        "SELECT count(*), coalesce(sum(score >= ?), 0), coalesce(sum(score >= ? AND score < ?), 0) "
        "FROM scores WHERE scale = ? AND at >= ? AND at < ?",
        (
            promoter,
            passive,
            promoter,
            scale,
            epoch(since) if since else float("-inf"),
            epoch(until) if until else float("inf"),
        ),
    )
    total, promoters, passives = (int(v) for v in rows[0])
    return ScoreSummary(scale, total, promoters, passives, total - promoters - passives)


async def desk_summary(
    storage: SQLiteStorage, scale: str, day_start: datetime, now: datetime
) -> dict[str, Json]:
    """What staff see at a glance: open cases, today's score and the funnel by stage."""
    cases = await storage.fetch_all(
        "SELECT c.id, c.status, c.reason, c.opened_at, c.claimed_by, u.first_name, t.channel, t.ts "
        "FROM cases c LEFT JOIN customers u ON u.id = c.customer_id "
        "LEFT JOIN staff_threads t ON t.case_id = c.id "
        "WHERE c.status != 'resolved' ORDER BY c.opened_at LIMIT 20"
    )
    funnel = dict(await storage.fetch_all("SELECT stage, count(*) FROM customers GROUP BY stage"))
    today = await score_summary(storage, scale, day_start, now)
    recognitions = await storage.recent_recognitions(5)
    return {
        "open_cases": [
            {
                "id": row[0],
                "status": row[1],
                "reason": row[2],
                "opened_at": moment(row[3]).strftime("%Y-%m-%d %H:%M UTC"),
                "waiting_minutes": round((epoch(now) - row[3]) / 60),
                "claimed_by": row[4],
                "customer_name": row[5] or "",
                "channel": row[6],
                "ts": row[7],
            }
            for row in cases
        ],
        "funnel": [
            {"stage": stage.value, "count": int(funnel.get(stage.value, 0))} for stage in Stage
        ],
        "scale": scale,
        "score_today": None if today.score is None else round(today.score, 1),
        "responses_today": today.responses,
        "recognitions": recognitions,
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
                out.append(
                    f"{label:<19} {value}  ({summary.responses} ratings: {summary.promoters} "
                    f"promoters, {summary.passives} passives, {summary.detractors} detractors)"
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
    storage: SQLiteStorage, since: datetime | None = None, until: datetime | None = None
) -> JourneyReport:
    """The funnel now, and everything that happened in [since, until)."""
    low = epoch(since) if since else float("-inf")
    high = epoch(until) if until else float("inf")
    funnel = dict(await storage.fetch_all("SELECT stage, count(*) FROM customers GROUP BY stage"))
    opened = await storage.fetch_all(
        "SELECT count(*) FROM cases WHERE opened_at >= ? AND opened_at < ?", (low, high)
    )
    resolved = await storage.fetch_all(
        "SELECT count(*) FROM cases WHERE status = 'resolved' AND resolved_at >= ? "
        "AND resolved_at < ?",
        (low, high),
    )
    joined = await storage.fetch_all(
        "SELECT count(*) FROM referrals WHERE joined_at >= ? AND joined_at < ?", (low, high)
    )
    converted = await storage.fetch_all(
        "SELECT count(*) FROM referrals WHERE converted_at >= ? AND converted_at < ?", (low, high)
    )
    organic = await storage.fetch_all(
        "SELECT count(*) FROM customers WHERE referred_by IS NULL AND created_at >= ? "
        "AND created_at < ?",
        (low, high),
    )
    badges = await storage.fetch_all(
        "SELECT badge, count(*) FROM badges WHERE awarded_at >= ? AND awarded_at < ? "
        "GROUP BY badge",
        (low, high),
    )
    return JourneyReport(
        funnel={stage.value: int(funnel.get(stage.value, 0)) for stage in Stage},
        nps=await score_summary(storage, "nps", since, until),
        csat=await score_summary(storage, "csat", since, until),
        escalations_opened=int(opened[0][0]),
        escalations_resolved=int(resolved[0][0]),
        referrals_joined=int(joined[0][0]),
        referrals_converted=int(converted[0][0]),
        organic_customers=int(organic[0][0]),
        badges={str(b): int(n) for b, n in badges},
    )
