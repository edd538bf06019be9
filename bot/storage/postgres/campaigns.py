"""Campaigns on PostgreSQL: planning is two set-based statements in one transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.flows.campaigns import subject
from bot.flows.model import CampaignInfo
from bot.flows.segments import Rule
from bot.storage.campaign_sql import CAMPAIGN, REPORT_COUNTS, REPORT_OUTCOMES, REPORT_SKIPPED
from bot.storage.campaign_types import Campaign, CampaignReport, NewCampaign
from bot.storage.codec import epoch
from bot.storage.postgres.database import Connection, Database
from bot.storage.records_sql import numbered
from bot.storage.segment_sql import POSTGRES, compile_rule
from bot.storage.sqlite.campaigns import STATUS_FROM, campaign_from_row

__all__ = ["PostgresCampaigns"]

LIVE = "c.channel <> 'erased'"


class PostgresCampaigns:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, campaign: NewCampaign) -> Campaign | None:
        inserted = await self._db.fetchval(
            "INSERT INTO campaigns (name, segment, template, steps, stop_on_purchase, start_at, "
            "author, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (name) DO NOTHING RETURNING id",
            campaign.name,
            campaign.segment,
            campaign.template,
            json.dumps(list(campaign.steps)),
            int(campaign.stop_on_purchase),
            None if campaign.start_at is None else epoch(campaign.start_at),
            campaign.author,
            epoch(campaign.at),
            epoch(campaign.at),
        )
        return None if inserted is None else await self.get(campaign.name)

    async def get(self, name: str) -> Campaign | None:
        row = await self._db.fetchrow(f"SELECT {CAMPAIGN} FROM campaigns WHERE name = $1", name)
        return None if row is None else campaign_from_row(row)

    async def info(self, campaign_id: int) -> CampaignInfo | None:
        row = await self._db.fetchrow(
            f"SELECT {CAMPAIGN} FROM campaigns WHERE id = $1", campaign_id
        )
        return None if row is None else campaign_from_row(row).info()

    async def all(self) -> list[Campaign]:
        rows = await self._db.fetch(f"SELECT {CAMPAIGN} FROM campaigns ORDER BY id DESC")
        return [campaign_from_row(row) for row in rows]

    async def plan(
        self, campaign_id: int, rule: Rule, scale: str, at: datetime, now: datetime
    ) -> int | None:
        where, params = compile_rule(rule, POSTGRES, now, scale)
        n = len(params)

        async def plan(db: Connection) -> int | None:
            started = await db.fetchval(
                "UPDATE campaigns SET status = 'running', started_at = $1, updated_at = $1 "
                "WHERE id = $2 AND status = 'draft' RETURNING true",
                epoch(now),
                campaign_id,
            )
            if not started:
                return None
            await db.execute(
                "INSERT INTO jobs (customer_id, kind, subject, due_at, payload, created_at) "
                f"SELECT c.id, 'campaign', ${n + 1}::text, ${n + 2}::float8, "
                f"json_build_object('campaign', ${n + 3}::bigint, 'step', 0, 'start', "
                f"${n + 2}::float8, 'purchases', c.purchases)::text, ${n + 4}::float8 "
                f"FROM customers c WHERE {LIVE} AND {where} "
                "ON CONFLICT (customer_id, kind, subject) WHERE status = 'pending' DO NOTHING",
                *params,
                subject(campaign_id),
                epoch(at),
                campaign_id,
                epoch(now),
            )
            status = await db.execute(
                "INSERT INTO campaign_targets (campaign_id, customer_id, step, status, at) "
                f"SELECT ${n + 1}::bigint, c.id, 0, 'planned', ${n + 2}::float8 "
                f"FROM customers c WHERE {LIVE} AND {where} ON CONFLICT DO NOTHING",
                *params,
                campaign_id,
                epoch(now),
            )
            return int(status.rsplit(" ", 1)[1])

        return await self._db.transaction(plan)

    async def set_status(self, campaign_id: int, status: str, now: datetime) -> bool:
        sources = list(STATUS_FROM[status])

        async def change(db: Connection) -> bool:
            changed = await db.fetchval(
                "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 "
                "AND status = ANY($4::text[]) RETURNING true",
                status,
                epoch(now),
                campaign_id,
                sources,
            )
            if not changed:
                return False
            job = subject(campaign_id)
            if status == "paused":
                await db.execute(
                    "UPDATE jobs SET status = 'paused' WHERE kind = 'campaign' AND subject = $1 "
                    "AND status = 'pending'",
                    job,
                )
            elif status == "running":
                await db.execute(
                    "UPDATE jobs SET status = 'pending', lease_until = 0 WHERE kind = 'campaign' "
                    "AND subject = $1 AND status = 'paused'",
                    job,
                )
            else:
                await db.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = $1 WHERE kind = "
                    "'campaign' AND subject = $2 AND status IN ('pending', 'paused')",
                    epoch(now),
                    job,
                )
                await db.execute(
                    "UPDATE campaign_targets SET status = 'skipped', reason = 'cancelled', "
                    "at = $1 WHERE campaign_id = $2 AND status IN ('planned', 'deferred')",
                    epoch(now),
                    campaign_id,
                )
            return True

        return await self._db.transaction(change)

    async def report(self, campaign_id: int, window: timedelta) -> CampaignReport:
        counts = await self._db.fetchrow(numbered(REPORT_COUNTS), campaign_id)
        skipped = await self._db.fetch(numbered(REPORT_SKIPPED), campaign_id)
        seconds = window.total_seconds()
        outcomes = await self._db.fetchrow(
            numbered(REPORT_OUTCOMES), campaign_id, seconds, seconds, seconds, seconds
        )
        assert counts is not None and outcomes is not None
        by_reason = {str(reason): int(n) for reason, n in skipped}
        return CampaignReport(
            targeted=int(counts[0]),
            planned=int(counts[1]),
            sent=int(counts[2]),
            deferred=int(counts[3]),
            left=int(counts[4]),
            skipped=by_reason,
            blocked=int(outcomes[0]) + by_reason.get("blocked", 0),
            replies=int(outcomes[1]),
            purchases=int(outcomes[2]),
            referrals=int(outcomes[3]),
        )
