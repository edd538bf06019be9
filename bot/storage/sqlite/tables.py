"""Whole tables of a SQLite file, for `bot.storage.transfer` (`escalator db copy`): a reader on
one snapshot, a writer in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bot.storage.sqlite import BUSY_TIMEOUT_MS

__all__ = ["SQLiteTables"]

Row = tuple[object, ...]

_INSERTION_ORDER = {"cases"}
"""Tables whose rows are listed in the order they were written (rowid), not by primary key."""


class SQLiteTables:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    async def reader(cls, path: Path) -> SQLiteTables:
        def open_() -> sqlite3.Connection:
            db = _connect(path)
            db.execute("BEGIN")  # one snapshot for every table (WAL: writers go on meanwhile)
            return db

        return cls(await asyncio.to_thread(open_))

    @classmethod
    async def writer(cls, path: Path) -> SQLiteTables:
        def open_() -> sqlite3.Connection:
            db = _connect(path)
            db.execute("BEGIN IMMEDIATE")
            return db

        return cls(await asyncio.to_thread(open_))

    async def columns(self, table: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]

    async def count(self, table: str) -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    async def batches(
        self, table: str, columns: Sequence[str], size: int
    ) -> AsyncIterator[list[Row]]:
        if table in _INSERTION_ORDER:
            order = "rowid"
        else:
            keys = sorted(
                (row[5], row[1])
                for row in self._db.execute(f"PRAGMA table_info({table})")
                if row[5]
            )
            order = ", ".join(name for _, name in keys)
        cursor = self._db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
        while rows := await asyncio.to_thread(cursor.fetchmany, size):
            yield [tuple(row) for row in rows]

    async def write(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        await asyncio.to_thread(self._db.executemany, sql, rows)

    async def finish(self) -> None:
        # Ids continue from the highest copied one by themselves (max(rowid) + 1).
        await asyncio.to_thread(self._db.execute, "COMMIT")
        self._db.close()

    async def abort(self) -> None:
        self._db.execute("ROLLBACK")
        self._db.close()

    async def close(self) -> None:
        self._db.execute("ROLLBACK")
        self._db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db
