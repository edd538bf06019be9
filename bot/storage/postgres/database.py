"""The connection pool behind every PostgreSQL store, and the one place database errors become
Escalator's errors.

Every query goes through `Database`, so a lost connection, a refused statement or a closed pool
always reaches the caller as a `StorageError` (the runtime retries those; anything else it would
treat as a bug and drop the work). Nothing here ever shows the connection string: it may hold a
password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.errors import DuplicateInbound, StorageError

__all__ = ["DB_ERRORS", "Connection", "Database", "Lock", "Record", "describe"]

T = TypeVar("T")
Record = asyncpg.Record
if TYPE_CHECKING:  # the stubs' generics do not exist at run time
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
else:
    Connection = PoolConnectionProxy

DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
"""What asyncpg raises when the server refuses a statement or the connection is gone."""

_LOCK_CLASS = "hashtext(current_schema())"
_RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
RETRIES = 3
CLOSE_TIMEOUT = 5.0


class Lock:
    """Advisory lock keys: (a hash of the schema, a purpose), so that two Escalator databases
    sharing one PostgreSQL database in different schemas never wait for each other."""

    MIGRATIONS = 1
    INBOX_CLAIM = 2
    TEMPLATE_VERSIONS = 3
    ERASURES = 4

    @staticmethod
    def take(purpose: int) -> str:
        """The statement taking the transaction-scoped lock for `purpose`."""
        return f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, {int(purpose)})"


class Database:
    """A pool of connections; each method takes one for the time of its statement or its
    transaction."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool
        self._closed = False

    async def fetch(self, sql: str, *args: object) -> list[Record]:
        with self._translated():
            return await self._pool.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: object) -> Record | None:
        with self._translated():
            return await self._pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: object) -> Any:
        with self._translated():
            return await self._pool.fetchval(sql, *args)

    async def transaction(
        self, work: Callable[[Connection], Awaitable[T]], *, lock: int | None = None
    ) -> T:
        """Run `work(connection)` in one transaction (taking the advisory lock `lock` first, held
        until it ends); commit if it returns, roll back if it raises.

        A transaction the server aborted to break a deadlock is run again from the start (it
        wrote nothing): two commits scheduling jobs for each other's customers can meet that
        way. `work` must therefore only depend on what it reads in the transaction."""
        for attempt in range(1, RETRIES + 1):
            try:
                with self._translated():
                    async with self._pool.acquire() as connection, connection.transaction():
                        if lock is not None:
                            await connection.execute(Lock.take(lock))
                        return await work(connection)
            except StorageError as exc:
                if attempt == RETRIES or not isinstance(exc.__cause__, _RETRIED):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Wait a few seconds for connections in use to come back, then close them anyway: a
        shutdown never hangs on a statement the server does not answer."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except DB_ERRORS:  # the server went away or took too long: drop the connections
            self._pool.terminate()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        if self._closed:
            raise StorageError("the database is closed")
        try:
            yield
        except StorageError:
            raise
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "inbound_pkey":
                raise DuplicateInbound(str(exc)) from exc
            raise StorageError(f"database write failed: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StorageError(f"database statement failed: {exc}") from exc
        except DB_ERRORS as exc:
            raise StorageError(f"lost the connection to the database: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """What went wrong, in words, for an operator."""
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    return str(exc) or type(exc).__name__
