"""Work rows on SQLite: the outbox, scheduled jobs and the durable inbox, each taken with a
lease (`claim`) in a write transaction of its own, so a row is never handed out twice at once
and a row whose claimer died is handed out again when its lease ends."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from bot.flows.model import CustomerKey, JobKind
from bot.storage.codec import buttons_from_json, dump, epoch, load_json, moment
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import (
    DeliveryResult,
    DueJob,
    InboxItem,
    OutboxRow,
    PendingJob,
    QueuedUpdate,
    SystemJob,
)

__all__ = ["SQLiteInbox", "SQLiteJobs", "SQLiteOutbox"]

# Only the oldest pending row of each recipient is handed out: one recipient's messages go out
# one at a time in commit order, whichever process delivers them.
_CLAIM_OUTBOX = (
    "UPDATE outbox SET lease_until = :until WHERE id IN ("
    " SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= :now"
    " AND o.lease_until <= :now AND NOT EXISTS ("
    "  SELECT 1 FROM outbox e WHERE e.status = 'pending' AND e.customer_id = o.customer_id"
    "  AND e.audience = o.audience AND e.id < o.id)"
    " ORDER BY o.id LIMIT :limit) RETURNING id"
)
_OUTBOX_ROWS = (
    "SELECT o.id, o.customer_id, o.audience, o.kind, o.template, o.context, o.buttons, "
    "o.question_id, c.language, o.attempts, o.next_attempt_at, o.created_at, o.prompted "
    "FROM outbox o LEFT JOIN customers c ON c.id = o.customer_id "
    "WHERE o.id IN (SELECT value FROM json_each(?)) ORDER BY o.id"
)
_CLAIM_JOBS = (
    "UPDATE jobs SET lease_until = :until WHERE id IN ("
    " SELECT id FROM jobs WHERE status = 'pending' AND due_at <= :now AND lease_until <= :now"
    " ORDER BY due_at LIMIT :limit) RETURNING id, customer_id, kind, due_at, payload"
)
_CLAIM_INBOX = (
    "UPDATE inbox SET lease_until = :until WHERE id IN ("
    " SELECT i.id FROM inbox i WHERE i.lease_until <= :now AND NOT EXISTS ("
    "  SELECT 1 FROM inbox e WHERE i.grp != '' AND e.grp = i.grp AND e.lease_until > :now"
    "  AND (e.seq < i.seq OR (e.seq = i.seq AND e.id < i.id)))"
    " ORDER BY i.seq, i.id LIMIT :limit) RETURNING id, key, grp, body, seq"
)


def _lease(now: datetime, limit: int, lease: timedelta) -> dict[str, object]:
    return {"now": epoch(now), "until": epoch(now + lease), "limit": limit}


class SQLiteOutbox:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        params = _lease(now, limit, lease)

        def take(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            ids = [row[0] for row in db.execute(_CLAIM_OUTBOX, params)]
            return db.execute(_OUTBOX_ROWS, (dump(ids),)).fetchall() if ids else []

        return [_outbox_row(row) for row in await self._writer.call(take)]

    async def record(self, results: Sequence[DeliveryResult]) -> None:
        rows: dict[str, list[tuple[object, ...]]] = {
            "sent": [],
            "retry": [],
            "failed": [],
            "exposure": [],
        }
        for result in results:
            if result.outcome == "sent":
                rows["sent"].append(
                    (epoch(result.at), result.platform_message_id, result.outbox_id)
                )
                if result.exposure is not None:
                    shown = result.exposure
                    rows["exposure"].append(
                        (shown.experiment, shown.customer_id, shown.variant, epoch(result.at))
                    )
            elif result.outcome == "retry":
                retry_at = result.retry_at or result.at
                rows["retry"].append((epoch(retry_at), result.error, result.outbox_id))
            else:
                rows["failed"].append((result.error, result.outbox_id))
        await self._writer.rows(rows)

    async def question_message_id(self, key: CustomerKey, question_id: int) -> str | None:
        value = await self._reader.value(
            "SELECT platform_message_id FROM outbox WHERE customer_id = ? AND question_id = ? "
            "AND kind = 'message' AND status = 'sent' ORDER BY id DESC LIMIT 1",
            (key.id, question_id),
        )
        return cast(str | None, value)


def _outbox_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        id=row[0],
        key=CustomerKey.parse(row[1]),
        audience=cast(Literal["customer", "staff"], row[2]),
        kind=cast(Literal["message", "clear_buttons"], row[3]),
        template=row[4],
        context=load_json(row[5]),
        buttons=buttons_from_json(row[6]),
        question_id=row[7],
        language=row[8],
        attempts=row[9],
        next_attempt_at=moment(row[10]),
        created_at=moment(row[11]),
        prompted=bool(row[12]),
    )


class SQLiteJobs:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[DueJob]:
        params = _lease(now, limit, lease)

        def take(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return db.execute(_CLAIM_JOBS, params).fetchall()

        jobs = [
            DueJob(
                id=row[0],
                key=CustomerKey.parse(row[1]),
                kind=JobKind(row[2]),
                due_at=moment(row[3]),
                payload=load_json(row[4]),
            )
            for row in await self._writer.call(take)
        ]
        return sorted(jobs, key=lambda job: (job.due_at, job.id))

    async def next_due_at(self) -> datetime | None:
        value = await self._reader.value("SELECT min(due_at) FROM jobs WHERE status = 'pending'")
        return None if value is None else moment(value)

    async def finish(self, job_ids: Sequence[int], at: datetime) -> None:
        await self._writer.rows({"job_done": [(epoch(at), ident) for ident in job_ids]})

    async def pending(self, after: int, limit: int) -> list[PendingJob]:
        rows = await self._reader.rows(
            "SELECT id, customer_id, kind, subject, due_at FROM jobs "
            "WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [
            PendingJob(row[0], CustomerKey.parse(row[1]), JobKind(row[2]), row[3], moment(row[4]))
            for row in rows
        ]

    async def plan(self, jobs: Sequence[SystemJob], meta: tuple[str, str]) -> None:
        rows: dict[str, list[tuple[object, ...]]] = {
            "jobs": [
                (
                    job.key.id,
                    job.kind.value,
                    job.subject,
                    epoch(job.due_at),
                    dump(dict(job.payload)),
                    epoch(job.due_at),
                )
                for job in jobs
            ],
            "meta": [meta],
        }
        await self._writer.rows(rows)


class SQLiteInbox:
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    async def add(self, items: Sequence[InboxItem], at: datetime) -> None:
        stamp = epoch(at)
        rows: list[tuple[object, ...]] = [
            (item.key, item.group, item.seq, item.body, stamp) for item in items
        ]
        await self._writer.rows({"inbox_add": rows})

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[QueuedUpdate]:
        params = _lease(now, limit, lease)

        def take(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return db.execute(_CLAIM_INBOX, params).fetchall()

        rows = sorted(await self._writer.call(take), key=lambda row: (row[4], row[0]))
        return [QueuedUpdate(row[0], row[1], row[2], row[3]) for row in rows]

    async def remove(self, ids: Sequence[int]) -> None:
        await self._writer.rows({"inbox_remove": [(ident,) for ident in ids]})
