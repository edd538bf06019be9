"""Storage: the protocols by concern (`protocols`), their typed values (`types`), and the one
place a database is opened (`open_storage`)."""

from __future__ import annotations

import logging

from bot.errors import StorageError
from bot.storage.protocols import Storage
from bot.storage.url import DatabaseUrl, parse_database_url

__all__ = ["Storage", "open_storage"]

log = logging.getLogger(__name__)


async def open_storage(
    url: DatabaseUrl | str,
    *,
    create: bool = False,
    synchronous: str = "FULL",
) -> Storage:
    """Open the database `url` names (`DATABASE_URL`), applying pending migrations.

    With `create`, a missing SQLite file is created; without it, a missing file is an error, so
    a mistyped path in a command that only reads never leaves an empty database behind. A
    missing directory is always an error: only `escalator run` and `console` create it, and
    say so (`bot.cli`).
    """
    target = parse_database_url(url) if isinstance(url, str) else url
    if target.backend == "postgresql":
        raise StorageError("DATABASE_URL: only SQLite is supported by this version")
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
