"""Backends for the storage contract suite: every test in `test_contract.py` runs on each.

A backend fixture yields an `Opener`: each call opens another connection set on the same
database (another SQLite connection set on one file; another PostgreSQL pool on one schema), as a
second process would, so tests can race two writers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.storage import Storage, open_storage

Opener = Callable[[], Awaitable[Storage]]

BACKENDS = ["sqlite", "postgresql"]


@pytest_asyncio.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[Storage] = []
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))  # a fresh schema, dropped afterwards
    else:
        url = f"sqlite:///{tmp_path / 'contract.db'}"

    async def open_one() -> Storage:
        store = await open_storage(url, create=True)
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()


@pytest_asyncio.fixture
async def store(opener: Opener) -> Storage:
    return await opener()
