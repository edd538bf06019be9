"""The storage protocols on one SQLite file (WAL): a writer thread with group commit, point
reads on the event loop's thread, scans on an aiosqlite reader.

What a commit promises depends on `synchronous`: with `FULL` (the default) a commit has reached
the disk before the caller hears of it, and survives a crash of the machine; with `NORMAL` it
survives a crash of the process, but a power loss can undo the last transactions.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Literal

import aiosqlite

from bot.errors import StorageError
from bot.storage.sqlite.admin import SQLiteAdmin
from bot.storage.sqlite.campaigns import SQLiteCampaigns
from bot.storage.sqlite.cases import SQLiteCases
from bot.storage.sqlite.checkpoint import BACKSTOP_PAGES, Checkpointer
from bot.storage.sqlite.experiments import SQLiteExperiments
from bot.storage.sqlite.journey import SQLiteJourney
from bot.storage.sqlite.migrations import migrate
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.records import SQLiteRecords
from bot.storage.sqlite.reports import SQLiteReports
from bot.storage.sqlite.roles import SQLiteRoles
from bot.storage.sqlite.segments import SQLiteSegments
from bot.storage.sqlite.shop import SQLiteShop
from bot.storage.sqlite.statements import WRITES
from bot.storage.sqlite.templates import SQLiteMeta, SQLiteTemplates
from bot.storage.sqlite.work import SQLiteInbox, SQLiteJobs, SQLiteOutbox
from bot.storage.sqlite.writer import Writer

__all__ = ["SQLiteStorage", "Synchronous"]

Synchronous = Literal["FULL", "NORMAL"]
BUSY_TIMEOUT_MS = 5000


class SQLiteStorage:
    """Open with `await SQLiteStorage.open(path)`; close with `await storage.close()`."""

    def __init__(
        self,
        path: Path,
        writer: Writer,
        point: sqlite3.Connection,
        reader: Reader,
        schema_version: int = 0,
    ) -> None:
        self.path = path
        self.schema_version = schema_version
        self._writer = writer
        self._point = point
        self._reader = reader
        self.journey = SQLiteJourney(writer, point, reader)
        self.outbox = SQLiteOutbox(writer, reader)
        self.jobs = SQLiteJobs(writer, reader)
        self.inbox = SQLiteInbox(writer)
        self.cases = SQLiteCases(writer, reader)
        self.templates = SQLiteTemplates(writer, reader)
        self.meta = SQLiteMeta(writer, reader)
        self.reports = SQLiteReports(reader)
        self.records = SQLiteRecords(writer, reader)
        self.shop = SQLiteShop(writer, reader)
        self.admin = SQLiteAdmin(writer, reader)
        self.roles = SQLiteRoles()
        self.segments = SQLiteSegments(writer, reader)
        self.campaigns = SQLiteCampaigns(writer, reader)
        self.experiments = SQLiteExperiments(writer, reader)
        self._closed = False

    @classmethod
    async def open(
        cls, path: Path | str, *, synchronous: Synchronous = "FULL", max_batch: int = 1024
    ) -> SQLiteStorage:
        target = Path(path)
        try:
            db, version = await asyncio.to_thread(_open_writer, target, synchronous)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {target}: {exc}") from exc
        writer = Writer(db, WRITES, max_batch, Checkpointer(target, synchronous, BUSY_TIMEOUT_MS))
        try:
            reader = Reader(await _open_reader(target))
            point = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            point.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException:
            await writer.close()
            raise
        return cls(target, writer, point, reader, version)

    async def release_claims(self) -> int:
        def release(db: sqlite3.Connection) -> int:
            return sum(
                db.execute(f"UPDATE {table} SET lease_until = 0 WHERE lease_until > 0").rowcount
                for table in ("outbox", "jobs", "inbox")
            )

        return await self._writer.call(release)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        self._point.close()
        await self._reader.close()


def _open_writer(path: Path, synchronous: Synchronous) -> tuple[sqlite3.Connection, int]:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        # checkpoints run beside the commits (`checkpoint.py`); this one only bounds the log
        db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        db.execute("PRAGMA foreign_keys=ON")
        # Erased text must not linger in freed space of the file: deleted and overwritten
        # content is zeroed (a little more writing; erasure is a promise to keep).
        db.execute("PRAGMA secure_delete=ON")
        version = migrate(db)
    except BaseException:
        db.close()
        raise
    return db, version


async def _open_reader(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except BaseException:
        await db.close()
        raise
    return db
