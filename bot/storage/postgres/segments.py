"""Segments and staff tags on PostgreSQL: rules run as one parameterised query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.flows.model import CustomerKey
from bot.flows.segments import Rule
from bot.storage.codec import epoch, moment
from bot.storage.postgres.database import Database
from bot.storage.segment_sql import POSTGRES, compile_rule
from bot.storage.segment_types import Segment, SegmentMember, Tag

__all__ = ["PostgresSegments"]

_SEGMENT = "name, rules, description, author, created_at, updated_at"
LIVE = "c.channel <> 'erased'"


def _segment(row: Any) -> Segment:
    return Segment(row[0], row[1], row[2], row[3], moment(row[4]), moment(row[5]))


class PostgresSegments:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, segment: Segment) -> bool:
        inserted = await self._db.fetchval(
            f"INSERT INTO segments ({_SEGMENT}) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (name) DO UPDATE SET rules = excluded.rules, "
            "description = excluded.description, author = excluded.author, "
            "updated_at = excluded.updated_at RETURNING (xmax = 0)",
            segment.name,
            segment.rules,
            segment.description,
            segment.author,
            epoch(segment.created_at),
            epoch(segment.updated_at),
        )
        return bool(inserted)

    async def get(self, name: str) -> Segment | None:
        row = await self._db.fetchrow(f"SELECT {_SEGMENT} FROM segments WHERE name = $1", name)
        return None if row is None else _segment(row)

    async def all(self) -> list[Segment]:
        rows = await self._db.fetch(f"SELECT {_SEGMENT} FROM segments ORDER BY name")
        return [_segment(row) for row in rows]

    async def delete(self, name: str) -> bool:
        status = await self._db.fetchval(
            "DELETE FROM segments WHERE name = $1 RETURNING true", name
        )
        return bool(status)

    async def count(self, rule: Rule, now: datetime, scale: str) -> int:
        where, params = compile_rule(rule, POSTGRES, now, scale)
        value = await self._db.fetchval(
            f"SELECT count(*) FROM customers c WHERE {LIVE} AND {where}", *params
        )
        return int(value)

    async def sample(
        self, rule: Rule, now: datetime, scale: str, limit: int
    ) -> list[SegmentMember]:
        where, params = compile_rule(rule, POSTGRES, now, scale)
        rows = await self._db.fetch(
            "SELECT c.id, c.first_name, c.stage, c.language, c.created_at FROM customers c "
            f"WHERE {LIVE} AND {where} ORDER BY c.created_at DESC, c.id "
            f"LIMIT ${len(params) + 1}",
            *params,
            limit,
        )
        return [SegmentMember(r[0], r[1], r[2], r[3], moment(r[4])) for r in rows]

    async def tag(self, key: CustomerKey, tag: str, by: str, at: datetime) -> bool:
        inserted = await self._db.fetchval(
            "INSERT INTO customer_tags (customer_id, tag, tagged_by, at) "
            "SELECT id, $1, $2, $3 FROM customers WHERE id = $4 "
            "ON CONFLICT DO NOTHING RETURNING true",
            tag,
            by,
            epoch(at),
            key.id,
        )
        return bool(inserted)

    async def untag(self, key: CustomerKey, tag: str) -> bool:
        removed = await self._db.fetchval(
            "DELETE FROM customer_tags WHERE customer_id = $1 AND tag = $2 RETURNING true",
            key.id,
            tag,
        )
        return bool(removed)

    async def tags(self, key: CustomerKey) -> list[Tag]:
        rows = await self._db.fetch(
            "SELECT tag, tagged_by, at FROM customer_tags WHERE customer_id = $1 ORDER BY tag",
            key.id,
        )
        return [Tag(r[0], r[1], moment(r[2])) for r in rows]
