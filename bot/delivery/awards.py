"""Monthly recognition: when a calendar month ends, its top referrer gets a badge.

A month's winner is the customer whose referrals converted most in it (ties go to whoever got
there first). Deciding is idempotent: the month is recorded in `meta` in the same transaction
that schedules the award job, so a restart never awards a month twice or skips one.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from bot.flows.model import CustomerKey, JobKind
from bot.flows.policy import FlowPolicy
from bot.storage.protocols import JobStore, MetaStore, ReportStore
from bot.storage.types import SystemJob

__all__ = ["MonthlyAwards", "month_bounds"]

log = logging.getLogger(__name__)

DONE = "awards.last_month"


def month_bounds(year: int, month: int, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start, end


class MonthlyAwards:
    def __init__(
        self,
        jobs: JobStore,
        meta: MetaStore,
        reports: ReportStore,
        policy: FlowPolicy,
        tz: tzinfo,
    ) -> None:
        self._jobs = jobs
        self._meta = meta
        self._reports = reports
        self._templates = [r for r in policy.recognition_rules if r.metric is None]
        self._tz = tz
        self._checked: str | None = None  # derived: saves a query per tick, rebuilt on start

    async def run(self, now: datetime) -> int:
        """Award the month that just ended, once; return how many awards were planned."""
        local = now.astimezone(self._tz)
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        key = f"{year:04d}-{month:02d}"
        if not self._templates or self._checked == key:
            return 0
        done = await self._meta.get(DONE)
        if done is not None and done >= key:
            self._checked = key
            return 0
        start, end = month_bounds(year, month, self._tz)
        winner = await self._reports.top_referrer(start, end)
        jobs: list[SystemJob] = []
        for rule in self._templates:
            if winner is not None:
                badge = rule.badge.format(month=start.strftime("%B %Y"))
                jobs.append(
                    SystemJob(
                        CustomerKey.parse(winner), JobKind.AWARD, now, {"badge": badge}, badge
                    )
                )
        await self._jobs.plan(jobs, (DONE, key))
        self._checked = key
        if jobs:
            log.info("top referrer of %s: %s", key, winner)
        return len(jobs)
