"""PostgreSQL for tests: the server at TEST_DATABASE_URL (default the local one), a fresh schema
per test, dropped afterwards; no other schema or database is touched.

Under CI=true an unreachable server fails the run; elsewhere the tests that need it are skipped,
with the reason printed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

T = TypeVar("T")

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
RUN = secrets.token_hex(4)
"""This test run: every schema it creates is named escalator_test_<RUN>_<n>."""

_counter = iter(range(1, 1_000_000))


def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)


def with_search_path(url: str, schema: str) -> str:
    """`url` with its connections' search_path set to `schema` (a server setting in the query)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def blocking(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work()` to completion on a loop of its own in another thread: usable from sync
    fixtures and from inside a running loop alike."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_awaited(work)))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


def query(url: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows of `sql` on a connection of its own (for checks no protocol offers)."""

    async def run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return blocking(run)


def unreachable_reason() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(server_url(), timeout=5)
        await connection.close()

    try:
        blocking(probe)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        parts = urlsplit(server_url())
        where = parts.netloc.rpartition("@")[2]
        return f"PostgreSQL at {where}{parts.path} (TEST_DATABASE_URL) is unreachable: {exc}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server's URL; skips (fails under CI=true) when it cannot be reached."""
    reason = unreachable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return server_url()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A DATABASE_URL on a fresh, empty schema of its own, dropped after the test."""
    schema = f"escalator_test_{RUN}_{next(_counter)}"
    query(pg_server, f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(pg_server, schema)
    finally:
        query(pg_server, f'DROP SCHEMA "{schema}" CASCADE')
