"""Read-only figures on PostgreSQL, for reports, the staff desk and the monthly awards."""

from __future__ import annotations

from datetime import datetime

from bot.flows.model import Customer, CustomerKey
from bot.storage.codec import CUSTOMER_LIST, customer_from_row, epoch, moment
from bot.storage.postgres.database import Database
from bot.storage.types import ActivityCounts, Generation, OpenCase, RecentBadge

__all__ = ["PostgresReports"]


def _span(since: datetime | None, until: datetime | None) -> tuple[float, float]:
    return (
        epoch(since) if since else float("-inf"),
        epoch(until) if until else float("inf"),
    )


class PostgresReports:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def funnel(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT stage, count(*) FROM customers WHERE created_at >= $1 AND created_at < $2 "
            "GROUP BY stage",
            *_span(since, until),
        )
        return {str(stage): int(count) for stage, count in rows}

    async def score_histogram(
        self, scale: str, since: datetime | None = None, until: datetime | None = None
    ) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT score, count(*) FROM scores WHERE scale = $1 AND at >= $2 AND at < $3 "
            "GROUP BY score",
            scale,
            *_span(since, until),
        )
        return {int(score): int(count) for score, count in rows}

    async def activity(self, since: datetime | None, until: datetime | None) -> ActivityCounts:
        row = await self._db.fetchrow(
            "SELECT"
            " (SELECT count(*) FROM cases WHERE kind = 'case' AND opened_at >= $1"
            "  AND opened_at < $2),"
            " (SELECT count(*) FROM cases WHERE kind = 'case' AND status = 'resolved'"
            "  AND resolved_at >= $1"
            "  AND resolved_at < $2),"
            " (SELECT count(*) FROM referrals WHERE joined_at >= $1 AND joined_at < $2),"
            " (SELECT count(*) FROM referrals WHERE converted_at >= $1 AND converted_at < $2),"
            " (SELECT count(*) FROM customers WHERE referred_by IS NULL AND created_at >= $1"
            "  AND created_at < $2)",
            *_span(since, until),
        )
        assert row is not None
        return ActivityCounts(*(int(value) for value in row))

    async def badge_counts(self, since: datetime | None, until: datetime | None) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT badge, count(*) FROM badges WHERE awarded_at >= $1 AND awarded_at < $2 "
            "GROUP BY badge",
            *_span(since, until),
        )
        return {str(badge): int(count) for badge, count in rows}

    async def open_cases(self, limit: int) -> list[OpenCase]:
        rows = await self._db.fetch(
            "SELECT c.id, c.status, c.reason, c.opened_at, c.claimed_by, u.first_name, "
            "t.channel, t.ts FROM cases c LEFT JOIN customers u ON u.id = c.customer_id "
            "LEFT JOIN staff_threads t ON t.case_id = c.id "
            "WHERE c.kind = 'case'"
            " AND c.status <> 'resolved' ORDER BY c.opened_at, c.id LIMIT $1",
            limit,
        )
        return [
            OpenCase(r[0], r[1], r[2], moment(r[3]), r[4], r[5] or "", r[6], r[7]) for r in rows
        ]

    async def recent_badges(self, limit: int) -> list[RecentBadge]:
        rows = await self._db.fetch(
            "SELECT b.badge, b.awarded_at, u.first_name FROM badges b "
            "LEFT JOIN customers u ON u.id = b.customer_id "
            "ORDER BY b.awarded_at DESC, b.customer_id, b.badge LIMIT $1",
            limit,
        )
        return [RecentBadge(r[0], moment(r[1]), r[2] or "") for r in rows]

    async def top_referrer(self, since: datetime, until: datetime) -> str | None:
        value = await self._db.fetchval(
            "SELECT referrer_id FROM referrals WHERE converted_at >= $1 AND converted_at < $2 "
            "GROUP BY referrer_id ORDER BY count(*) DESC, min(converted_at), referrer_id LIMIT 1",
            epoch(since),
            epoch(until),
        )
        return None if value is None else str(value)

    async def generations(self, key: CustomerKey, depth: int = 10) -> list[Generation]:
        rows = await self._db.fetch(
            "WITH RECURSIVE chain(id, generation, converted) AS ("
            " SELECT referee_id, 1, (converted_at IS NOT NULL)::int FROM referrals"
            " WHERE referrer_id = $1"
            " UNION ALL"
            " SELECT r.referee_id, c.generation + 1, (r.converted_at IS NOT NULL)::int"
            " FROM referrals r JOIN chain c ON r.referrer_id = c.id WHERE c.generation < $2"
            ") SELECT generation, count(*), sum(converted) FROM chain GROUP BY generation "
            "ORDER BY generation",
            key.id,
            depth,
        )
        return [Generation(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def find_customers(self, pattern: str, limit: int = 20) -> list[Customer]:
        like = "%" + pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._db.fetch(
            f"SELECT {CUSTOMER_LIST} FROM customers WHERE id ILIKE $1 ESCAPE '\\' "
            "OR first_name ILIKE $1 ESCAPE '\\' ORDER BY created_at, id LIMIT $2",
            like,
            limit,
        )
        return [customer_from_row(tuple(row)) for row in rows]

    async def count_customers(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM customers"))
