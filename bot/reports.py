"""Figures over the journey data: NPS (and CSAT) over any period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage.codec import epoch
from bot.storage.sqlite import SQLiteStorage

__all__ = ["ScoreSummary", "score_summary"]


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
