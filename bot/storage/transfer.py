"""Copy every table of one Escalator database into another, empty one (`escalator db copy`):
SQLite to PostgreSQL to move an install over, or any other pair of backends.

Both databases are first brought to the current schema. The source is read in one snapshot (a
bot still running on it may go on writing; what it writes after the snapshot is not copied, so
stop it first); the target is written in one transaction, and each table's count is checked
against the source before it commits: a copy that fails or miscounts leaves the target empty.
Identity sequences are moved past the copied ids, so new rows never collide with copied ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.errors import StorageError
from bot.storage import open_storage
from bot.storage.url import DatabaseUrl

__all__ = ["TABLES", "Copied", "TableReader", "TableWriter", "copy_database"]

TABLES = (
    "customers",
    "journey",
    "jobs",
    "outbox",
    "inbound",
    "inbox",
    "purchases",
    "scores",
    "cases",
    "conversation",
    "staff_threads",
    "staff_posts",
    "erasures",
    "referrals",
    "badges",
    "template_versions",
    "meta",
    "shop_orders",
    "shop_refunds",
    "shop_events",
    "shop_links",
    "shop_tokens",
    "shop_customers",
    "admin_accounts",
    "admin_sessions",
    "admin_login_failures",
    "segments",
    "customer_tags",
    "campaigns",
    "campaign_targets",
    "experiments",
    "experiment_variants",
    "experiment_exposures",
)
"""Every table that holds data (not `migrations`: each backend keeps its own history)."""

Row = tuple[object, ...]


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


class TableReader(Protocol):
    """One consistent snapshot of a database, read table by table."""

    async def columns(self, table: str) -> list[str]: ...

    async def count(self, table: str) -> int: ...

    def batches(self, table: str, columns: Sequence[str], size: int) -> AsyncIterator[list[Row]]:
        """The rows, in the order they were written (ids, or insertion order)."""

    async def close(self) -> None: ...


class TableWriter(Protocol):
    """One transaction on a database, committed by `finish` only."""

    async def columns(self, table: str) -> list[str]: ...

    async def count(self, table: str) -> int: ...

    async def write(self, table: str, columns: Sequence[str], rows: list[Row]) -> None: ...

    async def finish(self) -> None:
        """Move identity sequences past the copied ids, and commit."""

    async def abort(self) -> None: ...


async def copy_database(
    source: DatabaseUrl,
    target: DatabaseUrl,
    *,
    batch: int = 5000,
    progress: Callable[[Copied], None] | None = None,
) -> list[Copied]:
    """Copy every table of `source` into the empty database `target`; return the counts."""
    if _same(source, target):
        raise StorageError("the source and the target are the same database")
    # Bring both to the current schema (the source must exist; the target is created).
    await (await open_storage(source)).close()
    await (await open_storage(target, create=True)).close()
    reader = await _reader(source)
    try:
        writer = await _writer(target)
        try:
            copied = await _copy(reader, writer, batch, progress)
        except BaseException:
            await writer.abort()
            raise
        await writer.finish()
    finally:
        await reader.close()
    return copied


async def _copy(
    reader: TableReader,
    writer: TableWriter,
    batch: int,
    progress: Callable[[Copied], None] | None,
) -> list[Copied]:
    filled = [(table, n) for table in TABLES if (n := await writer.count(table))]
    if filled:
        listed = ", ".join(f"{table} ({n:,})" for table, n in filled)
        raise StorageError(
            f"the target database is not empty: {listed}; copy only into an empty database"
        )
    copied: list[Copied] = []
    for table in TABLES:
        present = set(await reader.columns(table))
        columns = [column for column in await writer.columns(table) if column in present]
        expected = await reader.count(table)
        written = 0
        async for rows in reader.batches(table, columns, batch):
            await writer.write(table, columns, rows)
            written += len(rows)
        stored = await writer.count(table)
        if not expected == written == stored:
            raise StorageError(
                f"{table}: {expected:,} rows in the source, {written:,} read, {stored:,} in the "
                "target; nothing was copied"
            )
        copied.append(Copied(table, stored))
        if progress is not None:
            progress(copied[-1])
    return copied


def _same(one: DatabaseUrl, other: DatabaseUrl) -> bool:
    if one.backend != other.backend:
        return False
    if one.path is not None and other.path is not None:
        return one.path.resolve() == other.path.resolve()
    return one.dsn == other.dsn


async def _reader(url: DatabaseUrl) -> TableReader:
    if url.backend == "postgresql":
        from bot.storage.postgres.tables import PostgresTables

        return await PostgresTables.reader(url)
    from bot.storage.sqlite.tables import SQLiteTables

    assert url.path is not None
    return await SQLiteTables.reader(url.path)


async def _writer(url: DatabaseUrl) -> TableWriter:
    if url.backend == "postgresql":
        from bot.storage.postgres.tables import PostgresTables

        return await PostgresTables.writer(url)
    from bot.storage.sqlite.tables import SQLiteTables

    assert url.path is not None
    return await SQLiteTables.writer(url.path)
