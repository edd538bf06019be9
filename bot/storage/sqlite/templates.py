"""Template versions and small named values on SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.storage.codec import epoch, moment
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.statements import WRITES
from bot.storage.sqlite.writer import Writer
from bot.storage.types import StoredVersion

__all__ = ["SQLiteMeta", "SQLiteTemplates"]


class SQLiteTemplates:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def add_version(
        self, name: str, locale: str, source: str | None, author: str, comment: str, at: datetime
    ) -> int:
        row = (name, locale, name, locale, source, author, comment, epoch(at))

        def add(db: sqlite3.Connection) -> int:
            # The number is read back in the same transaction: another process saving a version
            # of this message right after cannot make us report its number.
            return int(
                db.execute(WRITES["template_version"] + " RETURNING version", row).fetchone()[0]
            )

        return await self._writer.call(add)

    async def versions(self, name: str, locale: str) -> list[StoredVersion]:
        rows = await self._reader.rows(
            "SELECT version, source, author, comment, created_at FROM template_versions "
            "WHERE name = ? AND locale = ? ORDER BY version",
            (name, locale),
        )
        return [StoredVersion(r[0], r[1], r[2], r[3], moment(r[4])) for r in rows]

    async def overrides(self) -> tuple[int, dict[str, str]]:
        marker = await self.marker()
        rows = await self._reader.rows(
            "SELECT t.locale, t.name, t.source FROM template_versions t JOIN ("
            " SELECT name, locale, max(version) AS v FROM template_versions GROUP BY name, locale"
            ") latest ON latest.name = t.name AND latest.locale = t.locale "
            "AND latest.v = t.version WHERE t.source IS NOT NULL"
        )
        return marker, {f"{r[0]}/{r[1]}.j2": str(r[2]) for r in rows}

    async def marker(self) -> int:
        return int(await self._reader.value("SELECT max(id) FROM template_versions") or 0)


class SQLiteMeta:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def get(self, name: str) -> str | None:
        value = await self._reader.value("SELECT value FROM meta WHERE name = ?", (name,))
        return None if value is None else str(value)

    async def set(self, name: str, value: str) -> None:
        await self._writer.rows({"meta": [(name, value)]})

    async def setdefault(self, name: str, value: str) -> str:
        def write(db: sqlite3.Connection) -> str:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            return str(db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0])

        return await self._writer.call(write)
