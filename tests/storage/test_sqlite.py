"""What is specific to the SQLite backend: its file, pragmas and migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from bot.errors import StorageError
from bot.flows.model import CustomerKey
from bot.storage import open_storage
from bot.storage.sqlite import SQLiteStorage
from bot.storage.sqlite.migrations import MIGRATIONS


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return [tuple(row) for row in db.execute(query)]


async def test_migrations_are_recorded_and_reopening_is_idempotent(db_path: Path) -> None:
    await (await SQLiteStorage.open(db_path)).close()
    await (await SQLiteStorage.open(db_path)).close()
    assert rows(db_path, "SELECT version, name FROM migrations ORDER BY version") == [
        (version, name) for version, name, _ in MIGRATIONS
    ]
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_commits_are_durable_on_disk_by_default(db_path: Path) -> None:
    store = await SQLiteStorage.open(db_path)
    relaxed = await SQLiteStorage.open(db_path, synchronous="NORMAL")
    try:

        def level(storage: SQLiteStorage) -> int:
            return int(storage._writer._db.execute("PRAGMA synchronous").fetchone()[0])

        assert level(store) == 2  # FULL: the WAL is synced at every commit
        assert level(relaxed) == 1  # NORMAL
    finally:
        await store.close()
        await relaxed.close()


async def test_a_newer_schema_is_refused_clearly(db_path: Path) -> None:
    await (await SQLiteStorage.open(db_path)).close()
    with closing(sqlite3.connect(db_path)) as raw, raw:
        raw.execute("INSERT INTO migrations VALUES (99, 'future', 'x')")
    with pytest.raises(StorageError, match="newer than this Escalator"):
        await SQLiteStorage.open(db_path)


async def test_a_missing_file_is_created_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "deeper" / "new.db"
    with pytest.raises(StorageError, match="no database at"):
        await open_storage(f"sqlite:///{target}")
    assert not target.parent.exists()
    # only `escalator run` and `console` create a missing directory (bot.cli), and say so
    with pytest.raises(StorageError, match=r"no directory .*deeper for the database new\.db"):
        await open_storage(f"sqlite:///{target}", create=True)
    assert not target.parent.exists()
    target.parent.mkdir()
    await (await open_storage(f"sqlite:///{target}", create=True)).close()
    assert target.exists()
    with pytest.raises(StorageError, match="is a directory"):
        await open_storage(f"sqlite:///{tmp_path}", create=True)


OPEN = """
import asyncio, sys
from bot.storage.sqlite import SQLiteStorage
async def main():
    store = await SQLiteStorage.open(sys.argv[1])
    await store.close()
asyncio.run(main())
"""


def test_processes_opening_a_fresh_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    target = tmp_path / "race.db"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, str(target)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=60)[1] for process in starts]
    assert [process.returncode for process in starts] == [0, 0, 0, 0], errors
    assert len(rows(target, "SELECT version FROM migrations")) == len(MIGRATIONS)


async def test_an_existing_install_keeps_its_data_and_loses_duplicate_jobs(
    db_path: Path,
) -> None:
    with closing(sqlite3.connect(db_path)) as raw:
        raw.execute(
            "CREATE TABLE migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for version, name, function in MIGRATIONS[:6]:
            raw.execute("BEGIN")
            function(raw)
            raw.execute("INSERT INTO migrations VALUES (?, ?, 'then')", (version, name))
            raw.execute("COMMIT")
        raw.execute(
            "INSERT INTO customers (id, channel, external_id, stage, dialogue, created_at, "
            "updated_at) VALUES ('telegram:1', 'telegram', '1', 'engaged', 'idle', 0, 0)"
        )
        raw.executemany(
            "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) VALUES (?,?,?,?,0)",
            [
                ("telegram:1", "survey", 10, "{}"),
                ("telegram:1", "survey", 20, "{}"),  # the twin a past bug left behind
                ("telegram:1", "sla", 30, '{"case_id": "telegram:1#1"}'),
                ("telegram:1", "sla", 40, '{"case_id": "telegram:1#2"}'),
                ("telegram:2", "referral_joined", 50, '{"friend": "Ann"}'),
                ("telegram:2", "referral_joined", 60, '{"friend": "Ann"}'),
            ],
        )
        raw.commit()
    store = await SQLiteStorage.open(db_path)
    try:
        loaded = await store.journey.load(CustomerKey("telegram", "1"))
        assert loaded.customer is not None and loaded.version == 0
    finally:
        await store.close()
    pending = rows(
        db_path,
        "SELECT kind, subject, due_at FROM jobs WHERE status = 'pending' ORDER BY due_at",
    )
    assert [(kind, due) for kind, _, due in pending] == [
        ("survey", 20.0),
        ("sla", 30.0),
        ("sla", 40.0),
        ("referral_joined", 50.0),
        ("referral_joined", 60.0),
    ]
    assert pending[1][1] == "telegram:1#1" and pending[2][1] == "telegram:1#2"
