"""Group commit for small writes on PostgreSQL: writes that arrive while one transaction is
being committed wait and go together in the next, so a burst of delivery records costs one
commit (one flush of the server's log) rather than one each, and does not take every
connection of the pool while it lasts."""

from __future__ import annotations

import asyncio

from bot.storage.postgres.database import Connection, Database
from bot.storage.postgres.statements import write_rows
from bot.storage.rows import Rows

__all__ = ["GroupedWrites"]


class GroupedWrites:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[tuple[Rows, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, rows: Rows) -> None:
        """Return once `rows` are committed (with whatever else came meanwhile)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                merged: Rows = {}
                for rows, _ in batch:
                    for kind, items in rows.items():
                        merged.setdefault(kind, []).extend(items)

                async def write(connection: Connection, merged: Rows = merged) -> None:
                    await write_rows(connection, merged)

                try:
                    await self._db.transaction(write)
                except asyncio.CancelledError:
                    for _, future in batch + self._waiting:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._task = None
