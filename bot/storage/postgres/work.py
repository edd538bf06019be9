"""Work rows on PostgreSQL: the outbox, scheduled jobs and the durable inbox, each taken with a
lease in one statement (`FOR UPDATE SKIP LOCKED`), so processes claiming at the same moment never
wait for each other and never get the same row, and a row whose claimer died is taken over once
its lease ends.

The per-recipient and per-group ordering rules are those of the SQLite statements
(`bot/storage/sqlite/work.py`). The outbox rule (only the oldest pending row of a recipient) holds
under concurrent claims by itself: a row being claimed elsewhere is still pending, so the rows
after it are not eligible. The inbox rule (none while an earlier update of the group is leased)
would not: a claim cannot see a lease another claim has not committed yet. Inbox claims therefore
take a transaction-scoped advisory lock; they are short, and the inbox holds only what is in hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, cast

from bot.flows.model import CustomerKey, JobKind
from bot.storage.codec import buttons_from_json, dump, epoch, load_json, moment
from bot.storage.postgres.database import Connection, Database, Lock, Record
from bot.storage.postgres.statements import write_rows
from bot.storage.rows import Rows
from bot.storage.types import (
    DeliveryResult,
    DueJob,
    InboxItem,
    OutboxRow,
    PendingJob,
    QueuedUpdate,
    SystemJob,
)

__all__ = ["PostgresInbox", "PostgresJobs", "PostgresOutbox"]

# $1: now, $2: lease until, $3: limit. The rows are chosen (and locked) by a subquery whose ids
# the UPDATE looks up by primary key: a join with the subquery would be planned as a hash join
# over the whole table, which at a million pending jobs costs more than everything else.
_CLAIM_OUTBOX = (
    "WITH leased AS ("
    " UPDATE outbox SET lease_until = $2 WHERE id = ANY(ARRAY("
    "  SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $1"
    "  AND o.lease_until <= $1 AND NOT EXISTS ("
    "   SELECT 1 FROM outbox e WHERE e.status = 'pending' AND e.customer_id = o.customer_id"
    "   AND e.audience = o.audience AND e.id < o.id)"
    "  ORDER BY o.id LIMIT $3 FOR UPDATE OF o SKIP LOCKED))"
    " RETURNING id, customer_id, audience, kind, template, context, buttons, question_id,"
    " attempts, next_attempt_at, created_at, prompted"
    ") SELECT l.id, l.customer_id, l.audience, l.kind, l.template, l.context, l.buttons,"
    " l.question_id, c.language, l.attempts, l.next_attempt_at, l.created_at, l.prompted"
    " FROM leased l LEFT JOIN customers c ON c.id = l.customer_id ORDER BY l.id"
)
_CLAIM_JOBS = (
    "UPDATE jobs SET lease_until = $2 WHERE id = ANY(ARRAY("
    " SELECT id FROM jobs WHERE status = 'pending' AND due_at <= $1 AND lease_until <= $1"
    " ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED"
    ")) RETURNING id, customer_id, kind, due_at, payload"
)
_CLAIM_INBOX = (
    "UPDATE inbox SET lease_until = $2 WHERE id = ANY(ARRAY("
    " SELECT i.id FROM inbox i WHERE i.lease_until <= $1 AND NOT EXISTS ("
    "  SELECT 1 FROM inbox e WHERE i.grp <> '' AND e.grp = i.grp AND e.lease_until > $1"
    "  AND (e.seq < i.seq OR (e.seq = i.seq AND e.id < i.id)))"
    " ORDER BY i.seq, i.id LIMIT $3 FOR UPDATE OF i SKIP LOCKED"
    ")) RETURNING id, key, grp, body, seq"
)


def _lease(now: datetime, limit: int, lease: timedelta) -> tuple[float, float, int]:
    return epoch(now), epoch(now + lease), limit


class PostgresOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        return [
            _outbox_row(row)
            for row in await self._db.fetch(_CLAIM_OUTBOX, *_lease(now, limit, lease))
        ]

    async def record(self, results: Sequence[DeliveryResult]) -> None:
        rows: Rows = {"sent": [], "retry": [], "failed": [], "exposure": []}
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
        await _write(self._db, rows)

    async def question_message_id(self, key: CustomerKey, question_id: int) -> str | None:
        value = await self._db.fetchval(
            "SELECT platform_message_id FROM outbox WHERE customer_id = $1 AND question_id = $2 "
            "AND kind = 'message' AND status = 'sent' ORDER BY id DESC LIMIT 1",
            key.id,
            question_id,
        )
        return cast(str | None, value)


def _outbox_row(row: Record) -> OutboxRow:
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


class PostgresJobs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[DueJob]:
        jobs = [
            DueJob(
                id=row[0],
                key=CustomerKey.parse(row[1]),
                kind=JobKind(row[2]),
                due_at=moment(row[3]),
                payload=load_json(row[4]),
            )
            for row in await self._db.fetch(_CLAIM_JOBS, *_lease(now, limit, lease))
        ]
        return sorted(jobs, key=lambda job: (job.due_at, job.id))

    async def next_due_at(self) -> datetime | None:
        value = await self._db.fetchval("SELECT min(due_at) FROM jobs WHERE status = 'pending'")
        return None if value is None else moment(value)

    async def finish(self, job_ids: Sequence[int], at: datetime) -> None:
        await _write(self._db, {"job_done": [(epoch(at), ident) for ident in job_ids]})

    async def pending(self, after: int, limit: int) -> list[PendingJob]:
        rows = await self._db.fetch(
            "SELECT id, customer_id, kind, subject, due_at FROM jobs "
            "WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [
            PendingJob(row[0], CustomerKey.parse(row[1]), JobKind(row[2]), row[3], moment(row[4]))
            for row in rows
        ]

    async def plan(self, jobs: Sequence[SystemJob], meta: tuple[str, str]) -> None:
        rows: Rows = {
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
        await _write(self._db, rows)


class PostgresInbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, items: Sequence[InboxItem], at: datetime) -> None:
        stamp = epoch(at)
        rows: list[tuple[object, ...]] = [
            (item.key, item.group, item.seq, item.body, stamp) for item in items
        ]
        await _write(self._db, {"inbox_add": rows})

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[QueuedUpdate]:
        params = _lease(now, limit, lease)

        async def take(db: Connection) -> list[Record]:
            return await db.fetch(_CLAIM_INBOX, *params)

        rows = await self._db.transaction(take, lock=Lock.INBOX_CLAIM)
        ordered = sorted(rows, key=lambda row: (row[4], row[0]))
        return [QueuedUpdate(row[0], row[1], row[2], row[3]) for row in ordered]

    async def remove(self, ids: Sequence[int]) -> None:
        await _write(self._db, {"inbox_remove": [(ident,) for ident in ids]})


async def _write(db: Database, rows: Rows) -> None:
    if not any(rows.values()):
        return

    async def write(connection: Connection) -> None:
        await write_rows(connection, rows)

    await db.transaction(write)
