"""Template versions and small named values on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from bot.storage.codec import epoch, moment
from bot.storage.postgres.database import Connection, Database, Lock
from bot.storage.postgres.statements import WRITES
from bot.storage.types import StoredVersion

__all__ = ["PostgresMeta", "PostgresTemplates"]

_ADD_VERSION = (
    "INSERT INTO template_versions (name, locale, version, source, author, comment, created_at) "
    "VALUES ($1, $2, (SELECT coalesce(max(version), 1) + 1 FROM template_versions "
    "WHERE name = $1 AND locale = $2), $3, $4, $5, $6) RETURNING version"
)


class PostgresTemplates:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_version(
        self, name: str, locale: str, source: str | None, author: str, comment: str, at: datetime
    ) -> int:
        async def add(db: Connection) -> int:
            return int(
                await db.fetchval(_ADD_VERSION, name, locale, source, author, comment, epoch(at))
            )

        # One version at a time: two admins saving at once get consecutive numbers, and ids are
        # committed in the order they are given out, so `marker()` (the highest id) never passes
        # over a version another process has yet to commit.
        return await self._db.transaction(add, lock=Lock.TEMPLATE_VERSIONS)

    async def versions(self, name: str, locale: str) -> list[StoredVersion]:
        rows = await self._db.fetch(
            "SELECT version, source, author, comment, created_at FROM template_versions "
            "WHERE name = $1 AND locale = $2 ORDER BY version",
            name,
            locale,
        )
        return [StoredVersion(r[0], r[1], r[2], r[3], moment(r[4])) for r in rows]

    async def overrides(self) -> tuple[int, dict[str, str]]:
        marker = await self.marker()
        rows = await self._db.fetch(
            "SELECT DISTINCT ON (name, locale) locale, name, source FROM template_versions "
            "ORDER BY name, locale, version DESC"
        )
        return marker, {f"{r[0]}/{r[1]}.j2": str(r[2]) for r in rows if r[2] is not None}

    async def marker(self) -> int:
        return int(await self._db.fetchval("SELECT coalesce(max(id), 0) FROM template_versions"))


class PostgresMeta:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM meta WHERE name = $1", name)
        return None if value is None else str(value)

    async def set(self, name: str, value: str) -> None:
        async def write(db: Connection) -> None:
            await db.execute(WRITES["meta"], name, value)

        await self._db.transaction(write)

    async def setdefault(self, name: str, value: str) -> str:
        async def write(db: Connection) -> str:
            await db.execute(
                "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                name,
                value,
            )
            # A statement of its own: its snapshot sees the row a concurrent writer committed.
            return str(await db.fetchval("SELECT value FROM meta WHERE name = $1", name))

        return await self._db.transaction(write)
