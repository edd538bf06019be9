"""Process-wide roles on PostgreSQL: a session advisory lock on a connection of its own, held
for as long as the holder lives.

The server ends the session, and with it the lock, when the holder's connection goes, however
the process ended (SIGKILL, a lost host): the next candidate takes it within its next try. The
connection is named after the holder (`application_name`: role, pid, host), so a refused
candidate can say who holds the role. Nothing here shows the connection string.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

import asyncpg

from bot.errors import StorageError
from bot.storage.postgres.database import DB_ERRORS, describe
from bot.storage.url import DatabaseUrl

__all__ = ["PostgresRoles", "SessionLock"]

PURPOSES = {"poller": 5, "sender": 6}
"""The advisory lock key of each role (second key; the first is the schema's, see `Lock`)."""

_KEY = "hashtext(current_schema()), $1::int"
_HOLDER = (
    "SELECT a.application_name, a.backend_start FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.objid = $1::int "
    "AND l.classid::bigint = (hashtext(current_schema())::bigint & 4294967295) "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "LIMIT 1"
)
CONNECT_TIMEOUT = 10.0


class SessionLock:
    """A role held by this process (see `bot.storage.protocols.RoleStore`)."""

    def __init__(self, connection: asyncpg.Connection[asyncpg.Record]) -> None:
        self._connection = connection

    async def alive(self) -> bool:
        if self._connection.is_closed():
            return False
        try:
            await self._connection.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)
        except DB_ERRORS:
            return False
        return True

    async def release(self) -> None:
        if self._connection.is_closed():
            return
        try:
            # closing the session releases the lock
            await self._connection.close(timeout=CONNECT_TIMEOUT)
        except DB_ERRORS:
            self._connection.terminate()


class PostgresRoles:
    def __init__(self, url: DatabaseUrl) -> None:
        self._url = url

    async def try_hold(self, role: str) -> SessionLock | None:
        assert self._url.dsn is not None
        name = f"escalator {role} pid {os.getpid()} on {socket.gethostname()}"[:63]
        connection = await _connect(self._url.dsn, name)
        try:
            held = await connection.fetchval(f"SELECT pg_try_advisory_lock({_KEY})", PURPOSES[role])
        except BaseException:
            await connection.close()
            raise
        if not held:
            await connection.close()
            return None
        return SessionLock(connection)

    async def holder(self, role: str) -> str | None:
        assert self._url.dsn is not None
        connection = await _connect(self._url.dsn, "escalator")
        try:
            row = await connection.fetchrow(_HOLDER, PURPOSES[role])
        finally:
            await connection.close()
        if row is None:
            return None
        name, since = str(row[0] or "a process"), row[1]
        if isinstance(since, datetime):
            return f"{name}, since {since.isoformat(timespec='seconds')}"
        return name


async def _connect(dsn: str, name: str) -> asyncpg.Connection[asyncpg.Record]:
    try:
        return await asyncpg.connect(
            dsn, timeout=CONNECT_TIMEOUT, server_settings={"application_name": name}
        )
    except DB_ERRORS as exc:
        raise StorageError(f"lost the connection to the database: {describe(exc)}") from None
