"""Segments and staff tags on SQLite: rules run as one parameterised query on the reader."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from bot.flows.model import CustomerKey
from bot.flows.segments import Rule
from bot.storage.codec import epoch, moment
from bot.storage.segment_sql import SQLITE, compile_rule
from bot.storage.segment_types import Segment, SegmentMember, Tag
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer

__all__ = ["SQLiteSegments"]

_SEGMENT = "name, rules, description, author, created_at, updated_at"
LIVE = "c.channel <> 'erased'"


def _segment(row: tuple[Any, ...]) -> Segment:
    return Segment(row[0], row[1], row[2], row[3], moment(row[4]), moment(row[5]))


class SQLiteSegments:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def save(self, segment: Segment) -> bool:
        def save(db: sqlite3.Connection) -> bool:
            new = db.execute("SELECT 1 FROM segments WHERE name = ?", (segment.name,)).fetchone()
            db.execute(
                f"INSERT INTO segments ({_SEGMENT}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET rules = excluded.rules, "
                "description = excluded.description, author = excluded.author, "
                "updated_at = excluded.updated_at",
                (
                    segment.name,
                    segment.rules,
                    segment.description,
                    segment.author,
                    epoch(segment.created_at),
                    epoch(segment.updated_at),
                ),
            )
            return new is None

        return await self._writer.call(save)

    async def get(self, name: str) -> Segment | None:
        row = await self._reader.one(f"SELECT {_SEGMENT} FROM segments WHERE name = ?", (name,))
        return None if row is None else _segment(row)

    async def all(self) -> list[Segment]:
        rows = await self._reader.rows(f"SELECT {_SEGMENT} FROM segments ORDER BY name")
        return [_segment(row) for row in rows]

    async def delete(self, name: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM segments WHERE name = ?", (name,)).rowcount > 0

        return await self._writer.call(delete)

    async def count(self, rule: Rule, now: datetime, scale: str) -> int:
        where, params = compile_rule(rule, SQLITE, now, scale)
        value = await self._reader.value(
            f"SELECT count(*) FROM customers c WHERE {LIVE} AND {where}", params
        )
        return int(value)

    async def sample(
        self, rule: Rule, now: datetime, scale: str, limit: int
    ) -> list[SegmentMember]:
        where, params = compile_rule(rule, SQLITE, now, scale)
        rows = await self._reader.rows(
            "SELECT c.id, c.first_name, c.stage, c.language, c.created_at FROM customers c "
            f"WHERE {LIVE} AND {where} ORDER BY c.created_at DESC, c.id LIMIT ?",
            [*params, limit],
        )
        return [SegmentMember(r[0], r[1], r[2], r[3], moment(r[4])) for r in rows]

    async def tag(self, key: CustomerKey, tag: str, by: str, at: datetime) -> bool:
        def tag_(db: sqlite3.Connection) -> bool:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO customer_tags (customer_id, tag, tagged_by, at) "
                    "SELECT id, ?, ?, ? FROM customers WHERE id = ?",
                    (tag, by, epoch(at), key.id),
                ).rowcount
                > 0
            )

        return await self._writer.call(tag_)

    async def untag(self, key: CustomerKey, tag: str) -> bool:
        def untag(db: sqlite3.Connection) -> bool:
            return (
                db.execute(
                    "DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?", (key.id, tag)
                ).rowcount
                > 0
            )

        return await self._writer.call(untag)

    async def tags(self, key: CustomerKey) -> list[Tag]:
        rows = await self._reader.rows(
            "SELECT tag, tagged_by, at FROM customer_tags WHERE customer_id = ? ORDER BY tag",
            (key.id,),
        )
        return [Tag(r[0], r[1], moment(r[2])) for r in rows]
