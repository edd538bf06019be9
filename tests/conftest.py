"""Cheap, real fixtures: a fresh SQLite file per test, a manual clock, recording channels."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.app import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings, load_settings
from bot.delivery.outbox import Rendered
from bot.errors import DeliveryError
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.storage import Storage
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SQLiteStorage
from bot.storage.types import OutboxRow
from tests.pg import pg_server, pg_url  # noqa: F401 - the PostgreSQL fixtures, for every test
from tests.pg import query as pg_query

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROOT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Sent:
    key: CustomerKey
    audience: str
    template: str
    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...]


@dataclass
class RecordingChannel:
    """A channel that records what it delivers; `failures` are raised first, in order."""

    format: Format = Format.TEXT
    sent: list[Sent] = field(default_factory=list)
    cleared: list[tuple[CustomerKey, str | None]] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(Sent(row.key, row.audience, row.template, message.text, message.buttons))
        return f"m{len(self.sent)}"

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        self.cleared.append((key, platform_message_id))

    def templates(self, key: CustomerKey | None = None) -> list[str]:
        return [s.template for s in self.sent if key is None or s.key == key]


def sql(storage: Storage, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """What the database holds, read straight from it (for checks no protocol offers). Write
    parameters as `?`; on PostgreSQL they become `$1`, `$2`, ..."""
    if isinstance(storage, PostgresStorage):
        assert storage.url.dsn is not None
        numbered = iter(range(1, len(params) + 1))
        text = re.sub(r"\?", lambda _: f"${next(numbered)}", query)
        return pg_query(storage.url.dsn, text, *params)
    assert isinstance(storage, SQLiteStorage), "a raw SQL check needs a known backend"
    return sql_file(storage.path, query, params)


def sql_file(path: Path, query: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """What a SQLite file holds, read straight from it."""
    with closing(sqlite3.connect(path)) as db:
        return [tuple(row) for row in db.execute(query, params)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "escalator.db"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return load_settings(DATABASE_URL=f"sqlite:///{db_path}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest_asyncio.fixture
async def storage(db_path: Path) -> AsyncIterator[SQLiteStorage]:
    store = await SQLiteStorage.open(db_path)
    try:
        yield store
    finally:
        await store.close()


@dataclass
class Harness:
    """Opens runtimes on one database, as many times as a test restarts the bot."""

    settings: Settings
    clock: ManualClock
    customers: RecordingChannel
    staff: RecordingChannel

    def open(self) -> AbstractAsyncContextManager[Runtime]:
        return open_runtime(
            self.settings,
            self.clock,
            {"console": self.customers, "test": self.customers},
            self.staff,
        )


@pytest.fixture
def harness(settings: Settings, clock: ManualClock) -> Harness:
    return Harness(settings, clock, RecordingChannel(), RecordingChannel(format=Format.MRKDWN))


@pytest.fixture
def key_factory() -> Callable[[str], CustomerKey]:
    return lambda external: CustomerKey("test", external)
