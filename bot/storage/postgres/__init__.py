"""The storage protocols on PostgreSQL (asyncpg, a pool of connections per process).

Any number of processes may share one database. What a commit promises: when `commit` returns,
the change is committed in one transaction (durable as the server's `synchronous_commit` makes
it: on by default, i.e. flushed to the server's WAL on disk), and it was written only because the
customer was still at the version the decision was computed from, checked under the customer's
row lock inside that transaction. Work rows are claimed with `FOR UPDATE SKIP LOCKED` under a
lease. Every database error reaches callers as a `StorageError`.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from bot.errors import StorageError
from bot.storage.postgres.admin import PostgresAdmin
from bot.storage.postgres.campaigns import PostgresCampaigns
from bot.storage.postgres.cases import PostgresCases
from bot.storage.postgres.database import DB_ERRORS, Connection, Database, describe
from bot.storage.postgres.experiments import PostgresExperiments
from bot.storage.postgres.journey import PostgresJourney
from bot.storage.postgres.migrations import migrate
from bot.storage.postgres.records import PostgresRecords
from bot.storage.postgres.reports import PostgresReports
from bot.storage.postgres.segments import PostgresSegments
from bot.storage.postgres.shop import PostgresShop
from bot.storage.postgres.templates import PostgresMeta, PostgresTemplates
from bot.storage.postgres.work import PostgresInbox, PostgresJobs, PostgresOutbox
from bot.storage.url import DatabaseUrl

__all__ = ["PostgresStorage", "connect_pool"]

log = logging.getLogger(__name__)

POOL_SIZE = 10
CONNECT_TIMEOUT = 10.0
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*DB_ERRORS, ValueError)
SERVER_SETTINGS = {
    "application_name": "escalator",
    # Our statements are short point and index reads: compiling them would cost more than it
    # saves, and a misestimated report query must not stall for a JIT compile.
    "jit": "off",
}


class PostgresStorage:
    """Open with `await PostgresStorage.open(url)`; close with `await storage.close()`."""

    def __init__(self, url: DatabaseUrl, db: Database, schema_version: int) -> None:
        self.url = url
        self.schema_version = schema_version
        self._db = db
        self.journey = PostgresJourney(db)
        self.outbox = PostgresOutbox(db)
        self.jobs = PostgresJobs(db)
        self.inbox = PostgresInbox(db)
        self.cases = PostgresCases(db)
        self.templates = PostgresTemplates(db)
        self.meta = PostgresMeta(db)
        self.reports = PostgresReports(db)
        self.records = PostgresRecords(db)
        self.shop = PostgresShop(db)
        self.admin = PostgresAdmin(db)
        self.segments = PostgresSegments(db)
        self.campaigns = PostgresCampaigns(db)
        self.experiments = PostgresExperiments(db)

    @classmethod
    async def open(
        cls, url: DatabaseUrl, *, create: bool = True, pool_size: int = POOL_SIZE
    ) -> PostgresStorage:
        """Connect and apply pending migrations (without `create`, a database that holds no
        Escalator tables yet is refused)."""
        pool = await connect_pool(url, pool_size)
        db = Database(pool)
        try:
            async with pool.acquire() as connection:
                version = await migrate(connection, create=create)
        except DB_ERRORS as exc:
            await db.close()
            raise StorageError(f"cannot prepare the database at {url}: {describe(exc)}") from exc
        except BaseException:
            await db.close()
            raise
        log.info("opened the database %s (schema version %d)", url, version)
        return cls(url, db, version)

    async def release_claims(self) -> int:
        async def release(db: Connection) -> int:
            total = 0
            for table in ("outbox", "jobs", "inbox"):
                status = await db.execute(
                    f"UPDATE {table} SET lease_until = 0 WHERE lease_until > 0"
                )
                total += int(status.rsplit(" ", 1)[1])
            return total

        return await self._db.transaction(release)

    async def close(self) -> None:
        await self._db.close()


async def _keep_session(connection: asyncpg.Connection[asyncpg.Record]) -> None:
    """Our statements leave no session state behind (asyncpg rolls back an unfinished
    transaction itself), so a connection goes back to the pool without a reset round trip."""


async def connect_pool(url: DatabaseUrl, size: int = POOL_SIZE) -> asyncpg.Pool[asyncpg.Record]:
    """A pool on `url`, with one connection made now: an unreachable server or a refused login
    is a `StorageError` naming DATABASE_URL (without its password), not a traceback."""
    assert url.dsn is not None
    given = {name for name, _ in parse_qsl(urlsplit(url.dsn).query)}
    settings = {name: value for name, value in SERVER_SETTINGS.items() if name not in given}
    try:
        return await asyncpg.create_pool(
            url.dsn,
            min_size=1,
            max_size=size,
            timeout=CONNECT_TIMEOUT,
            reset=_keep_session,
            server_settings=settings,
        )
    except _CONNECT_ERRORS as exc:
        reason = _without_password(describe(exc), url.dsn)
        raise StorageError(
            f"cannot connect to the database at {url} (DATABASE_URL): {reason}"
        ) from None


def _without_password(text: str, dsn: str) -> str:
    password = urlsplit(dsn).password
    return text.replace(password, "***") if password else text
