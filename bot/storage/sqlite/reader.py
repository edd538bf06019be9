"""Reads that scan (reports, staff views) run on an aiosqlite connection's own thread, so a
slow query never stalls the event loop. In WAL mode a reader never waits for the writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiosqlite

__all__ = ["Params", "Reader"]

Params = Sequence[object] | Mapping[str, object]


class Reader:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._db.execute_fetchall(sql, params)]

    async def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (None when there is no row)."""
        row = await self.one(sql, params)
        return None if row is None else row[0]

    async def close(self) -> None:
        await self._db.close()
