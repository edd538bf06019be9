"""Storage contract tests on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import StorageError
from bot.flows.common import new_customer
from bot.flows.model import CancelJobs, CustomerKey, JobKind, LogEntry, ScheduleJob
from bot.flows.stages import Stage
from bot.storage.base import Change, DeliveryResult, DuplicateInbound, OutboxItem
from bot.storage.sqlite import SQLiteStorage
from tests.conftest import START


def change(external: str, **fields: object) -> Change:
    customer = new_customer(CustomerKey("test", external), None, START)
    return Change(customer=customer, at=START, **fields)  # type: ignore[arg-type]


async def test_commit_then_load_round_trips_the_customer(storage: SQLiteStorage) -> None:
    await storage.commit(
        change("1", inbound_id="u1", log=(LogEntry("captured", None, Stage.CAPTURED),))
    )
    loaded = await storage.load(CustomerKey("test", "1"), inbound_id="u2", job_id=None, history=5)
    assert loaded.customer is not None
    assert loaded.customer.stage is Stage.CAPTURED
    assert loaded.customer.created_at == START
    assert [h.event for h in loaded.customer.history] == ["captured"]
    assert not loaded.seen
    again = await storage.load(CustomerKey("test", "1"), inbound_id="u1", job_id=None, history=0)
    assert again.seen


async def test_unknown_customer_loads_as_none(storage: SQLiteStorage) -> None:
    loaded = await storage.load(CustomerKey("test", "x"), inbound_id=None, job_id=None, history=5)
    assert loaded.customer is None and not loaded.seen


async def test_duplicate_inbound_is_refused_and_writes_nothing(storage: SQLiteStorage) -> None:
    await storage.commit(change("1", inbound_id="u1"))
    with pytest.raises(DuplicateInbound):
        await storage.commit(change("1", inbound_id="u1", log=(LogEntry("again", None, None),)))
    assert await storage.history(CustomerKey("test", "1"), 10) == ()


async def test_one_bad_unit_does_not_sink_its_batch(storage: SQLiteStorage) -> None:
    await storage.commit(change("0", inbound_id="dup"))
    results = await asyncio.gather(
        *(storage.commit(change(str(n), inbound_id=f"u{n}")) for n in range(1, 50)),
        storage.commit(change("0", inbound_id="dup")),
        return_exceptions=True,
    )
    assert [r for r in results if r is not None] and isinstance(results[-1], DuplicateInbound)
    assert all(r is None for r in results[:-1])
    rows = await storage.fetch_all("SELECT count(*) FROM customers")
    assert rows == [(50,)]


async def test_jobs_are_due_cancelled_and_finished(storage: SQLiteStorage) -> None:
    soon = ScheduleJob(JobKind.CHECKIN, START + timedelta(hours=1))
    await storage.commit(change("1", schedule=(soon,)))
    assert await storage.due_jobs(START, 10) == []
    assert await storage.next_due_at() == START + timedelta(hours=1)
    (job,) = await storage.due_jobs(START + timedelta(hours=1), 10)
    assert job.key == CustomerKey("test", "1") and job.kind is JobKind.CHECKIN
    key = CustomerKey("test", "1")
    assert not (await storage.load(key, inbound_id=None, job_id=job.id, history=0)).seen
    await storage.commit(change("1", job_done=job.id))
    assert (await storage.load(key, inbound_id=None, job_id=job.id, history=0)).seen
    await storage.commit(change("1", schedule=(ScheduleJob(JobKind.CHECKIN, START),)))
    await storage.commit(change("1", cancel=(CancelJobs(frozenset({JobKind.CHECKIN})),)))
    assert await storage.due_jobs(START + timedelta(days=9), 10) == []


async def test_cancel_then_schedule_in_one_change_keeps_the_new_job(
    storage: SQLiteStorage,
) -> None:
    await storage.commit(change("1", schedule=(ScheduleJob(JobKind.CHECKIN, START),)))
    await storage.commit(
        change(
            "1",
            cancel=(CancelJobs(frozenset({JobKind.CHECKIN})),),
            schedule=(ScheduleJob(JobKind.CHECKIN, START + timedelta(days=1)),),
        )
    )
    due = await storage.due_jobs(START + timedelta(days=2), 10)
    assert [job.due_at for job in due] == [START + timedelta(days=1)]


async def test_outbox_rows_keep_order_and_record_delivery(storage: SQLiteStorage) -> None:
    items = tuple(
        OutboxItem(kind="message", audience="customer", template=f"t{n}", context={"n": n})
        for n in range(3)
    )
    await storage.commit(change("1", outbox=items))
    rows = await storage.pending_outbox(10)
    assert [r.template for r in rows] == ["t0", "t1", "t2"]
    assert rows[1].context == {"n": 1}
    await storage.record_deliveries(
        [
            DeliveryResult(rows[0].id, "sent", START, platform_message_id="77"),
            DeliveryResult(rows[1].id, "retry", START, "flood", retry_at=START + timedelta(5)),
            DeliveryResult(rows[2].id, "failed", START, "bad request"),
        ]
    )
    (pending,) = await storage.pending_outbox(10)
    assert pending.template == "t1" and pending.attempts == 1
    assert pending.next_attempt_at == START + timedelta(days=5)


async def test_migrations_are_recorded_and_reopening_is_idempotent(db_path: Path) -> None:
    first = await SQLiteStorage.open(db_path)
    await first.close()
    second = await SQLiteStorage.open(db_path)
    try:
        rows = await second.fetch_all("SELECT version, name FROM migrations")
        assert rows == [
            (1, "initial schema"),
            (2, "durable inbox"),
            (3, "cases, scores and purchases"),
            (4, "staff threads"),
            (5, "referrals and badges"),
            (6, "template versions"),
        ]
        mode = await second.fetch_all("PRAGMA journal_mode")
        assert mode == [("wal",)]
    finally:
        await second.close()


async def test_a_newer_schema_is_refused_clearly(db_path: Path) -> None:
    store = await SQLiteStorage.open(db_path)
    await store.close()
    with sqlite3.connect(db_path) as raw:
        raw.execute("INSERT INTO migrations VALUES (99, 'future', 'x')")
    with pytest.raises(StorageError, match="newer than this Escalator"):
        await SQLiteStorage.open(db_path)


async def test_meta_values_persist(db_path: Path) -> None:
    store = await SQLiteStorage.open(db_path)
    await store.set_meta("k", "v1")
    await store.set_meta("k", "v2")
    await store.close()
    store = await SQLiteStorage.open(db_path)
    try:
        assert await store.get_meta("k") == "v2"
        assert await store.get_meta("missing") is None
    finally:
        await store.close()
