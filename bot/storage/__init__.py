"""Storage: the protocols by concern (`protocols`), their typed values (`types`), and the one
place a database is opened (`open_storage`)."""

from __future__ import annotations

import logging

from bot.errors import StorageError
from bot.storage.protocols import Storage
from bot.storage.url import DatabaseUrl, parse_database_url

__all__ = ["Storage", "open_storage", "upgrade"]

log = logging.getLogger(__name__)


async def open_storage(
    url: DatabaseUrl | str,
    *,
    create: bool = False,
    synchronous: str = "FULL",
) -> Storage:
    """Open the database `url` names (`DATABASE_URL`), applying pending migrations.

    With `create`, a missing SQLite file is created and an empty PostgreSQL database gets its
    tables; without it, either is an error, so a mistyped URL in a command that only reads never
    leaves an empty database behind. A missing directory is always an error: only `escalator
    run` and `console` create it, and say so (`bot.cli`).
    """
    target = parse_database_url(url) if isinstance(url, str) else url
    if target.backend == "postgresql":
        from bot.storage.postgres import PostgresStorage

        return await PostgresStorage.open(target, create=create)
    from bot.storage.sqlite import SQLiteStorage

    path = target.path
    assert path is not None
    if path.is_dir():
        raise StorageError(f"DATABASE_URL names {path}, which is a directory, not a file")
    if not path.exists():
        if not create:
            raise StorageError(
                f"no database at {path} (DATABASE_URL): start the bot once to create it, "
                "or point DATABASE_URL at the existing file"
            )
        if not path.parent.is_dir():
            raise StorageError(
                f"no directory {path.parent} for the database {path.name} (DATABASE_URL)"
            )
    if synchronous not in {"FULL", "NORMAL"}:
        raise StorageError(f"SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {synchronous!r}")
    return await SQLiteStorage.open(path, synchronous="FULL" if synchronous == "FULL" else "NORMAL")


async def upgrade(url: DatabaseUrl | str) -> int:
    """Apply pending migrations to the database `url` names (creating a missing SQLite file, or
    the tables of an empty PostgreSQL database); return its schema version."""
    from bot.storage.postgres import PostgresStorage
    from bot.storage.sqlite import SQLiteStorage

    storage = await open_storage(url, create=True)
    try:
        assert isinstance(storage, SQLiteStorage | PostgresStorage)
        return storage.schema_version
    finally:
        await storage.close()
