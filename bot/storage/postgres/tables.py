"""Whole tables of a PostgreSQL database, for `bot.storage.transfer` (`escalator db copy`): a
reader on one snapshot (REPEATABLE READ), a writer in one transaction using COPY."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from asyncpg.transaction import Transaction

from bot.errors import StorageError
from bot.storage.postgres import connect_pool
from bot.storage.postgres.database import DB_ERRORS, Connection, describe
from bot.storage.url import DatabaseUrl

__all__ = ["PostgresTables"]

Row = tuple[object, ...]
T = TypeVar("T")

_INSERTION_ORDER = {"cases": "seq"}
"""Tables listed in the order their rows were written rather than by primary key."""

_COERCE: dict[str, Callable[[Any], object]] = {
    # SQLite stores what it is given; COPY's binary format wants exactly the column's type.
    "text": str,
    "integer": int,
    "bigint": int,
    "double precision": float,
}


class PostgresTables:
    def __init__(
        self,
        url: DatabaseUrl,
        pool: asyncpg.Pool[asyncpg.Record],
        connection: Connection,
        transaction: Transaction,
    ) -> None:
        self._url = url
        self._pool = pool
        self._db = connection
        self._transaction = transaction
        self._types: dict[str, dict[str, str]] = {}

    @classmethod
    async def reader(cls, url: DatabaseUrl) -> PostgresTables:
        return await cls._open(url, isolation="repeatable_read", readonly=True)

    @classmethod
    async def writer(cls, url: DatabaseUrl) -> PostgresTables:
        return await cls._open(url, isolation="read_committed", readonly=False)

    @classmethod
    async def _open(cls, url: DatabaseUrl, isolation: str, readonly: bool) -> PostgresTables:
        pool = await connect_pool(url, 1)
        try:
            connection = await pool.acquire()
            transaction = connection.transaction(isolation=isolation, readonly=readonly)  # type: ignore[arg-type]
            await transaction.start()
        except DB_ERRORS as exc:
            await pool.close()
            raise StorageError(f"cannot read or write {url}: {describe(exc)}") from exc
        return cls(url, pool, connection, transaction)

    async def columns(self, table: str) -> list[str]:
        return list(await self._column_types(table))

    async def count(self, table: str) -> int:
        return int(await self._call(self._db.fetchval(f"SELECT count(*) FROM {table}")))

    async def batches(
        self, table: str, columns: Sequence[str], size: int
    ) -> AsyncIterator[list[Row]]:
        order = _INSERTION_ORDER.get(table) or ", ".join(await self._primary_key(table))
        cursor = await self._call(
            self._db.cursor(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
        )
        while rows := await self._call(cursor.fetch(size)):
            yield [tuple(row) for row in rows]

    async def write(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        types = await self._column_types(table)
        coerce = [_COERCE.get(types[column], _same) for column in columns]
        records = [
            tuple(
                None if value is None else fix(value)
                for fix, value in zip(coerce, row, strict=True)
            )
            for row in rows
        ]
        await self._call(
            self._db.copy_records_to_table(table, records=records, columns=list(columns))
        )

    async def finish(self) -> None:
        identities = await self._call(
            self._db.fetch(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND is_identity = 'YES'"
            )
        )
        for table, column in identities:
            await self._call(
                self._db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
                )
            )
        await self._call(self._transaction.commit())
        await self._release()

    async def abort(self) -> None:
        await self.close()

    async def close(self) -> None:
        with contextlib.suppress(*DB_ERRORS):  # the connection is gone: so is the transaction
            await self._transaction.rollback()
        await self._release()

    async def _release(self) -> None:
        await self._pool.release(self._db)
        await self._pool.close()

    async def _column_types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            rows = await self._call(
                self._db.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = $1 "
                    "ORDER BY ordinal_position",
                    table,
                )
            )
            self._types[table] = {str(row[0]): str(row[1]) for row in rows}
        return self._types[table]

    async def _primary_key(self, table: str) -> list[str]:
        rows = await self._call(
            self._db.fetch(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = $1::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                table,
            )
        )
        return [str(row[0]) for row in rows]

    async def _call(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except DB_ERRORS as exc:
            raise StorageError(f"copy failed on {self._url}: {describe(exc)}") from exc


def _same(value: object) -> object:
    return value
