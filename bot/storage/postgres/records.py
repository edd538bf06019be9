"""Customer records on PostgreSQL: the shared queries (`bot.storage.records_read`) with
numbered placeholders; erasure in one transaction under the customer's row lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.flows.model import CustomerKey, Json
from bot.storage import records_read
from bot.storage.codec import epoch, moment
from bot.storage.postgres.database import Connection, Database, Lock
from bot.storage.postgres.statements import WRITES
from bot.storage.records_sql import erase_statements, numbered
from bot.storage.types import CustomerFilter, CustomerRecord, CustomerView

__all__ = ["PostgresRecords", "erase_in"]


async def erase_in(
    db: Connection, key: CustomerKey, by: str, at: datetime, keep: tuple[int, ...] = ()
) -> str | None:
    """Erase `key` inside the caller's transaction; the tombstone id (None: unknown)."""
    await db.execute(Lock.take(Lock.ERASURES))  # tombstone numbers are given out one at a time
    await db.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", key.id)
    results = []
    for sql in records_read.PLAN_QUERIES:
        params = () if "erasures" in sql else (key.id,)
        results.append([tuple(row) for row in await db.fetch(numbered(sql), *params)])
    plan = records_read.plan_from(key, results, by, at, keep)
    if plan is None:
        return None
    for sql, values in erase_statements(plan):
        await db.execute(numbered(sql), *values)
    return plan.tombstone


class PostgresRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._db.fetch(numbered(sql), *params)]

    async def customers(self, where: CustomerFilter, limit: int) -> list[CustomerRecord]:
        return await records_read.customers(self._fetch, where, limit, "postgres")

    async def find(self, query: str, limit: int) -> list[CustomerRecord]:
        return await records_read.find(self._fetch, query, limit, "postgres")

    async def view(self, key: CustomerKey, people: int = 25) -> CustomerView | None:
        return await records_read.view(self._fetch, key, people)

    async def export(self, key: CustomerKey) -> dict[str, Json] | None:
        return await records_read.export(self._fetch, key)

    async def erase(self, key: CustomerKey, by: str, at: datetime) -> str | None:
        async def erase(db: Connection) -> str | None:
            return await erase_in(db, key, by, at)

        return await self._db.transaction(erase)

    async def remember_post(self, key: CustomerKey, channel: str, ts: str, at: datetime) -> None:
        async def remember(db: Connection) -> None:
            await db.execute(WRITES["staff_post"], key.id, channel, ts, epoch(at))

        await self._db.transaction(remember)

    async def erasures(self) -> list[tuple[str, str, datetime]]:
        rows = await self._db.fetch("SELECT tombstone, erased_by, at FROM erasures ORDER BY id")
        return [(str(r[0]), str(r[1]), moment(r[2])) for r in rows]
