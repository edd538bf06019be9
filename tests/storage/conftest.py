"""Backends for the storage contract suite: every test in `test_contract.py` runs on each.

A backend fixture yields an `Opener`: each call opens another connection set on the same
database, as a second process would, so tests can race two writers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.storage import Storage, open_storage

Opener = Callable[[], Awaitable[Storage]]

BACKENDS = ["sqlite"]


@pytest_asyncio.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    opened: list[Storage] = []
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
