"""Customer records on SQLite: lists and views on the reader, erasure in one write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.flows.model import CustomerKey, Json
from bot.storage import records_read
from bot.storage.codec import epoch, moment
from bot.storage.records_sql import erase_statements
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import CustomerFilter, CustomerRecord, CustomerView

__all__ = ["SQLiteRecords", "erase_in"]


def erase_in(
    db: sqlite3.Connection, key: CustomerKey, by: str, at: datetime, keep: tuple[int, ...] = ()
) -> str | None:
    """Erase `key` inside the caller's write transaction; the tombstone id (None: unknown)."""
    results = [
        db.execute(sql, () if "erasures" in sql else (key.id,)).fetchall()
        for sql in records_read.PLAN_QUERIES
    ]
    plan = records_read.plan_from(key, results, by, at, keep)
    if plan is None:
        return None
    for sql, params in erase_statements(plan):
        db.execute(sql, params)
    return plan.tombstone


class SQLiteRecords:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return await self._reader.rows(sql, tuple(params))

    async def customers(self, where: CustomerFilter, limit: int) -> list[CustomerRecord]:
        return await records_read.customers(self._fetch, where, limit, "sqlite")

    async def find(self, query: str, limit: int) -> list[CustomerRecord]:
        return await records_read.find(self._fetch, query, limit, "sqlite")

    async def view(self, key: CustomerKey, people: int = 25) -> CustomerView | None:
        return await records_read.view(self._fetch, key, people)

    async def export(self, key: CustomerKey) -> dict[str, Json] | None:
        return await records_read.export(self._fetch, key)

    async def erase(self, key: CustomerKey, by: str, at: datetime) -> str | None:
        return await self._writer.call(lambda db: erase_in(db, key, by, at))

    async def remember_post(self, key: CustomerKey, channel: str, ts: str, at: datetime) -> None:
        await self._writer.rows({"staff_post": [(key.id, channel, ts, epoch(at))]})

    async def erasures(self) -> list[tuple[str, str, datetime]]:
        rows = await self._reader.rows("SELECT tombstone, erased_by, at FROM erasures ORDER BY id")
        return [(str(r[0]), str(r[1]), moment(r[2])) for r in rows]
