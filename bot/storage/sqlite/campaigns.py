"""Campaigns on SQLite: planning is two set-based statements in one write transaction."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from bot.flows.campaigns import subject
from bot.flows.model import CampaignInfo
from bot.flows.segments import Rule
from bot.storage.campaign_sql import CAMPAIGN, REPORT_COUNTS, REPORT_OUTCOMES, REPORT_SKIPPED
from bot.storage.campaign_types import Campaign, CampaignReport, NewCampaign
from bot.storage.codec import epoch, moment
from bot.storage.segment_sql import SQLITE, compile_rule
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer

__all__ = ["STATUS_FROM", "SQLiteCampaigns", "campaign_from_row"]

LIVE = "c.channel <> 'erased'"
STATUS_FROM = {
    "running": ("paused",),
    "paused": ("running",),
    "cancelled": ("draft", "running", "paused"),
}
"""The statuses each status may be set from (a draft is started by `plan`)."""


def campaign_from_row(row: Any) -> Campaign:
    return Campaign(
        id=int(row[0]),
        name=row[1],
        segment=row[2],
        template=row[3],
        steps=tuple(int(day) for day in json.loads(row[4])),
        stop_on_purchase=bool(row[5]),
        status=row[6],
        start_at=None if row[7] is None else moment(row[7]),
        started_at=None if row[8] is None else moment(row[8]),
        author=row[9],
        created_at=moment(row[10]),
    )


class SQLiteCampaigns:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def create(self, campaign: NewCampaign) -> Campaign | None:
        def create(db: sqlite3.Connection) -> bool:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO campaigns (name, segment, template, steps, "
                    "stop_on_purchase, start_at, author, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        campaign.name,
                        campaign.segment,
                        campaign.template,
                        json.dumps(list(campaign.steps)),
                        int(campaign.stop_on_purchase),
                        None if campaign.start_at is None else epoch(campaign.start_at),
                        campaign.author,
                        epoch(campaign.at),
                        epoch(campaign.at),
                    ),
                ).rowcount
                > 0
            )

        if not await self._writer.call(create):
            return None
        return await self.get(campaign.name)

    async def get(self, name: str) -> Campaign | None:
        row = await self._reader.one(f"SELECT {CAMPAIGN} FROM campaigns WHERE name = ?", (name,))
        return None if row is None else campaign_from_row(row)

    async def info(self, campaign_id: int) -> CampaignInfo | None:
        row = await self._reader.one(
            f"SELECT {CAMPAIGN} FROM campaigns WHERE id = ?", (campaign_id,)
        )
        return None if row is None else campaign_from_row(row).info()

    async def all(self) -> list[Campaign]:
        rows = await self._reader.rows(f"SELECT {CAMPAIGN} FROM campaigns ORDER BY id DESC")
        return [campaign_from_row(row) for row in rows]

    async def plan(
        self, campaign_id: int, rule: Rule, scale: str, at: datetime, now: datetime
    ) -> int | None:
        where, params = compile_rule(rule, SQLITE, now, scale)

        def plan(db: sqlite3.Connection) -> int | None:
            started = db.execute(
                "UPDATE campaigns SET status = 'running', started_at = ?, updated_at = ? "
                "WHERE id = ? AND status = 'draft'",
                (epoch(now), epoch(now), campaign_id),
            ).rowcount
            if not started:
                return None
            db.execute(
                "INSERT OR IGNORE INTO jobs (customer_id, kind, subject, due_at, payload, "
                "created_at) SELECT c.id, 'campaign', ?, ?, json_object('campaign', ?, "
                "'step', 0, 'start', ?, 'purchases', c.purchases), ? "
                f"FROM customers c WHERE {LIVE} AND {where}",
                [subject(campaign_id), epoch(at), campaign_id, epoch(at), epoch(now), *params],
            )
            return db.execute(
                "INSERT OR IGNORE INTO campaign_targets (campaign_id, customer_id, step, status, "
                f"at) SELECT ?, c.id, 0, 'planned', ? FROM customers c WHERE {LIVE} AND {where}",
                [campaign_id, epoch(now), *params],
            ).rowcount

        return await self._writer.call(plan)

    async def set_status(self, campaign_id: int, status: str, now: datetime) -> bool:
        sources = STATUS_FROM[status]

        def change(db: sqlite3.Connection) -> bool:
            marks = ", ".join("?" * len(sources))
            changed = db.execute(
                f"UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ? "
                f"AND status IN ({marks})",
                (status, epoch(now), campaign_id, *sources),
            ).rowcount
            if not changed:
                return False
            job = subject(campaign_id)
            if status == "paused":
                db.execute(
                    "UPDATE jobs SET status = 'paused' WHERE kind = 'campaign' AND subject = ? "
                    "AND status = 'pending'",
                    (job,),
                )
            elif status == "running":
                db.execute(
                    "UPDATE jobs SET status = 'pending', lease_until = 0 WHERE kind = 'campaign' "
                    "AND subject = ? AND status = 'paused'",
                    (job,),
                )
            else:
                db.execute(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE kind = "
                    "'campaign' AND subject = ? AND status IN ('pending', 'paused')",
                    (epoch(now), job),
                )
                db.execute(
                    "UPDATE campaign_targets SET status = 'skipped', reason = 'cancelled', at = ? "
                    "WHERE campaign_id = ? AND status IN ('planned', 'deferred')",
                    (epoch(now), campaign_id),
                )
            return True

        return await self._writer.call(change)

    async def report(self, campaign_id: int, window: timedelta) -> CampaignReport:
        counts = await self._reader.one(REPORT_COUNTS, (campaign_id,))
        skipped = await self._reader.rows(REPORT_SKIPPED, (campaign_id,))
        seconds = window.total_seconds()
        outcomes = await self._reader.one(
            REPORT_OUTCOMES, (campaign_id, seconds, seconds, seconds, seconds)
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
