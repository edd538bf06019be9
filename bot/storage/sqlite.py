"""SQLite storage on aiosqlite: one writer connection with group commit, one reader connection.

Writes never run concurrently: every `commit` becomes a unit on a queue, and a single writer task
takes all units waiting at that moment and writes them in one `BEGIN IMMEDIATE ... COMMIT`, one
`executemany` per statement kind. So the cost of a transaction (the thread hops and the WAL sync)
is shared by every customer whose event is ready at the same time, and each caller still waits
until its own change is durable. If a batch fails (say, one redelivered update), it is rolled back
and its units are retried one by one, so one bad unit cannot sink the others.

WAL lets readers read while the writer writes. `synchronous=NORMAL` in WAL mode survives a
crash of the process; an OS crash or power loss can lose the last transactions.

Reads by primary key (loading the customer an event is about) run on the event loop's own
thread, on a plain `sqlite3` connection: such a read takes a few microseconds, less than the
hop to a worker thread and back, and in WAL mode it never waits for the writer. Everything that
scans (reports, due jobs, the outbox) goes through the aiosqlite reader instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

import aiosqlite

from bot.errors import StorageError
from bot.flows.model import (
    BadgeAwarded,
    CaseChanged,
    CaseOpened,
    Customer,
    CustomerKey,
    HistoryEntry,
    JobKind,
    Json,
    LeaderRow,
    Line,
    PurchaseRow,
    Record,
    ReferralConverted,
    ReferralJoined,
    ScoreComment,
    ScoreRow,
)
from bot.storage.base import (
    Change,
    DeliveryResult,
    DueJob,
    DuplicateInbound,
    Loaded,
    OutboxRow,
)
from bot.storage.codec import (
    CUSTOMER_COLUMNS,
    CUSTOMER_FIELDS,
    buttons_from_json,
    buttons_to_json,
    customer_from_row,
    customer_to_row,
    dump,
    epoch,
    history_from_row,
    load_json,
    moment,
)
from bot.storage.migrations import migrate
from bot.storage.views import case_view

__all__ = ["SQLiteStorage"]

# Statement kinds in the order a unit's rows are written; every unit follows this order, so
# merging many units' rows per kind keeps each unit's own order (cancel jobs before scheduling).
_SQL: dict[str, str] = {
    "customer": (
        f"INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES ({', '.join('?' * CUSTOMER_FIELDS)}) "
        "ON CONFLICT(id) DO UPDATE SET stage=excluded.stage, dialogue=excluded.dialogue, "
        "question_id=excluded.question_id, first_name=excluded.first_name, "
        "language=excluded.language, source=excluded.source, opted_out=excluded.opted_out, "
        "unreachable=excluded.unreachable, updated_at=excluded.updated_at, "
        "reasks=excluded.reasks, last_survey_at=excluded.last_survey_at, "
        "pending_score=excluded.pending_score, case_id=excluded.case_id, "
        "case_claimed_by=excluded.case_claimed_by, cases_opened=excluded.cases_opened, "
        "referral_code=excluded.referral_code, referred_by=excluded.referred_by, "
        "referrals_joined=excluded.referrals_joined, "
        "referrals_converted=excluded.referrals_converted, purchases=excluded.purchases, "
        "promoter_streak=excluded.promoter_streak, badges=excluded.badges, "
        "leaderboard_opt_in=excluded.leaderboard_opt_in"
    ),
    "inbound": "INSERT INTO inbound (key, customer_id, at) VALUES (?, ?, ?)",
    "job_done": "UPDATE jobs SET status='done', finished_at=? WHERE id=? AND status='pending'",
    "cancel": (
        "UPDATE jobs SET status='cancelled', finished_at=? "
        "WHERE customer_id=? AND kind=? AND status='pending'"
    ),
    "jobs": (
        "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) VALUES (?,?,?,?,?)"
    ),
    "journey": (
        "INSERT INTO journey (customer_id, at, event, from_stage, to_stage, detail) "
        "VALUES (?,?,?,?,?,?)"
    ),
    "purchase": "INSERT INTO purchases (order_id, customer_id, amount, at) VALUES (?,?,?,?)",
    "score": "INSERT INTO scores (customer_id, scale, score, at) VALUES (?,?,?,?)",
    "score_comment": (
        "UPDATE scores SET comment=? WHERE id=(SELECT max(id) FROM scores WHERE customer_id=?)"
    ),
    "case_open": (
        "INSERT INTO cases (id, customer_id, status, reason, trigger_text, opened_at) "
        "VALUES (?, ?, 'open', ?, ?, ?)"
    ),
    "case_claimed": "UPDATE cases SET status='claimed', claimed_by=?, claimed_at=? WHERE id=?",
    "case_resolved": "UPDATE cases SET status='resolved', resolved_by=?, resolved_at=? WHERE id=?",
    "case_open_again": (
        "UPDATE cases SET status='open', claimed_by=NULL, claimed_at=NULL, resolved_by=NULL, "
        "resolved_at=NULL, reopened=reopened+1 WHERE id=?"
    ),
    "referral": (
        "INSERT OR IGNORE INTO referrals (referee_id, referrer_id, joined_at) VALUES (?, ?, ?)"
    ),
    "referral_converted": (
        "UPDATE referrals SET converted_at=? WHERE referee_id=? AND converted_at IS NULL"
    ),
    "badge": "INSERT OR IGNORE INTO badges (customer_id, badge, awarded_at) VALUES (?, ?, ?)",
    "line": (
        "INSERT INTO conversation (customer_id, at, author, name, text, case_id) "
        "VALUES (?,?,?,?,?,?)"
    ),
    "outbox": (
        "INSERT INTO outbox (customer_id, audience, kind, template, context, buttons, "
        "question_id, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
    ),
    "sent": (
        "UPDATE outbox SET status='sent', attempts=attempts+1, sent_at=?, platform_message_id=? "
        "WHERE id=?"
    ),
    "retry": "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=? WHERE id=?",
    "failed": "UPDATE outbox SET status='failed', attempts=attempts+1, last_error=? WHERE id=?",
    "inbox_add": "INSERT OR IGNORE INTO inbox (key, body, received_at) VALUES (?, ?, ?)",
    "inbox_remove": "DELETE FROM inbox WHERE id = ?",
    "staff_thread": (
        "INSERT INTO staff_threads (case_id, channel, ts) VALUES (?, ?, ?) "
        "ON CONFLICT(case_id) DO UPDATE SET channel=excluded.channel, ts=excluded.ts"
    ),
    "template_version": (
        "INSERT INTO template_versions (name, locale, version, source, author, comment, "
        "created_at) VALUES (?, ?, (SELECT coalesce(max(version), 1) + 1 FROM template_versions "
        "WHERE name = ? AND locale = ?), ?, ?, ?, ?)"
    ),
    "meta": (
        "INSERT INTO meta (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value=excluded.value"
    ),
}
_ORDER = tuple(_SQL)
_PREFIXED = ", ".join(f"c.{column.strip()}" for column in CUSTOMER_COLUMNS.split(","))

Rows = dict[str, list[tuple[object, ...]]]


@dataclass
class _Unit:
    rows: Rows
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SQLiteStorage:
    """The `Storage` protocol on one SQLite file. Open with `await SQLiteStorage.open(path)`."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        point: sqlite3.Connection,
        max_batch: int,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._point = point
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Unit | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, *, max_batch: int = 512) -> SQLiteStorage:
        target = Path(path)
        if str(path) != ":memory:":
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await _connect(target)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {target}: {exc}") from exc
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await migrate(writer)
            reader = await _connect(target)
        except BaseException:
            await writer.close()
            raise
        point = sqlite3.connect(target, isolation_level=None)
        point.execute("PRAGMA busy_timeout=5000")
        return cls(writer, reader, point, max_batch)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._queue.put(None)
        await self._task
        self._point.close()
        await self._reader.close()
        await self._writer.close()

    # --- writes ---------------------------------------------------------------------------

    async def commit(self, change: Change) -> None:
        await self._submit(_change_rows(change))

    async def record_deliveries(self, results: Sequence[DeliveryResult]) -> None:
        rows: Rows = {"sent": [], "retry": [], "failed": []}
        for result in results:
            if result.outcome == "sent":
                rows["sent"].append(
                    (epoch(result.at), result.platform_message_id, result.outbox_id)
                )
            elif result.outcome == "retry":
                retry_at = result.retry_at or result.at
                rows["retry"].append((epoch(retry_at), result.error, result.outbox_id))
            else:
                rows["failed"].append((result.error, result.outbox_id))
        await self._submit(rows)

    async def inbox_add(self, items: Sequence[tuple[str, str]], at: datetime) -> None:
        """Durably queue raw platform updates `(key, body)`; a key seen before is ignored."""
        await self._submit({"inbox_add": [(key, body, epoch(at)) for key, body in items]})

    async def inbox_remove(self, ids: Sequence[int]) -> None:
        await self._submit({"inbox_remove": [(ident,) for ident in ids]})

    async def inbox_fetch(self, limit: int) -> list[tuple[int, str, str]]:
        rows = await self._reader.execute_fetchall(
            "SELECT id, key, body FROM inbox ORDER BY id LIMIT ?", (limit,)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def schedule_system(
        self,
        jobs: Sequence[tuple[str, str, datetime, dict[str, Json]]],
        meta: tuple[str, str],
    ) -> None:
        """Jobs planned by the system rather than by one customer's event, with the meta value
        that records having planned them, in one transaction."""
        rows: Rows = {
            "jobs": [
                (customer_id, kind, epoch(due), dump(payload), epoch(due))
                for customer_id, kind, due, payload in jobs
            ],
            "meta": [meta],
        }
        await self._submit(rows)

    async def add_template_version(
        self,
        name: str,
        locale: str,
        source: str | None,
        author: str,
        comment: str,
        at: datetime,
    ) -> int:
        """Store the next version of a message (None: back to the shipped text); its number."""
        row = (name, locale, name, locale, source, author, comment, epoch(at))
        await self._submit({"template_version": [row]})
        rows = await self._reader.execute_fetchall(
            "SELECT max(version) FROM template_versions WHERE name = ? AND locale = ?",
            (name, locale),
        )
        return int(next(iter(rows))[0])

    async def template_history(
        self, name: str, locale: str
    ) -> list[tuple[int, str | None, str, str, datetime]]:
        """Stored versions, oldest first: (version, source, author, comment, at)."""
        rows = await self._reader.execute_fetchall(
            "SELECT version, source, author, comment, created_at FROM template_versions "
            "WHERE name = ? AND locale = ? ORDER BY version",
            (name, locale),
        )
        return [(r[0], r[1], r[2], r[3], moment(r[4])) for r in rows]

    async def template_overrides(self) -> tuple[int, dict[str, str]]:
        """The newest stored version of each message, where it is not the shipped text, keyed
        `"<locale>/<name>.j2"`; and a marker that changes whenever a version is added."""
        marker = await self._reader.execute_fetchall("SELECT max(id) FROM template_versions")
        rows = await self._reader.execute_fetchall(
            "SELECT t.locale, t.name, t.source FROM template_versions t JOIN ("
            " SELECT name, locale, max(version) AS v FROM template_versions GROUP BY name, locale"
            ") latest ON latest.name = t.name AND latest.locale = t.locale "
            "AND latest.v = t.version WHERE t.source IS NOT NULL"
        )
        overrides = {f"{r[0]}/{r[1]}.j2": str(r[2]) for r in rows}
        return int(next(iter(marker))[0] or 0), overrides

    async def template_marker(self) -> int:
        rows = await self._reader.execute_fetchall("SELECT max(id) FROM template_versions")
        return int(next(iter(rows))[0] or 0)

    async def set_meta(self, name: str, value: str) -> None:
        await self._submit({"meta": [(name, value)]})

    async def _submit(self, rows: Rows) -> None:
        if self._closed:
            raise StorageError("storage is closed")
        unit = _Unit(rows)
        self._queue.put_nowait(unit)  # unbounded: never waits
        await unit.done

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                unit = self._queue.get_nowait()
                if unit is None:
                    stopping = True
                    break
                batch.append(unit)
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Unit]) -> None:
        try:
            await self._apply(batch)
        except sqlite3.Error as exc:
            if len(batch) == 1:
                _settle(batch[0], _translate(exc))
                return
            for unit in batch:
                try:
                    await self._apply([unit])
                except sqlite3.Error as single:
                    _settle(unit, _translate(single))
                else:
                    _settle(unit, None)
            return
        except BaseException as exc:  # the writer must outlive any one batch
            for unit in batch:
                _settle(unit, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for unit in batch:
            _settle(unit, None)

    async def _apply(self, batch: list[_Unit]) -> None:
        db = self._writer
        await db.execute("BEGIN IMMEDIATE")
        try:
            for kind in _ORDER:
                rows = [row for unit in batch for row in unit.rows.get(kind, ())]
                if rows:
                    await db.executemany(_SQL[kind], rows)
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    # --- reads ----------------------------------------------------------------------------

    async def load(
        self, key: CustomerKey, *, inbound_id: str | None, job_id: int | None, history: int
    ) -> Loaded:
        if job_id is not None:
            seen_sql = "(SELECT status != 'pending' FROM jobs WHERE id = ?)"
            seen_arg: object = job_id
        else:
            seen_sql = "(SELECT 1 FROM inbound WHERE key = ?)"
            seen_arg = inbound_id
        row = self._point.execute(
            f"SELECT {seen_sql}, {_PREFIXED} FROM (SELECT 1) LEFT JOIN customers c ON c.id = ?",
            (seen_arg, key.id),
        ).fetchone()
        seen = bool(row[0]) if job_id is None else row[0] is None or bool(row[0])
        if row[1] is None:
            return Loaded(None, seen)
        entries = await self.history(key, history) if history else ()
        return Loaded(customer_from_row(tuple(row)[1:], entries), seen)

    async def customer(self, key: CustomerKey, history: int = 0) -> Customer | None:
        row = self._point.execute(
            f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?", (key.id,)
        ).fetchone()
        if row is None:
            return None
        entries = await self.history(key, history) if history else ()
        return customer_from_row(row, entries)

    async def customer_by_code(self, code: str) -> Customer | None:
        rows = list(
            await self._reader.execute_fetchall(
                f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE referral_code = ?", (code,)
            )
        )
        return customer_from_row(rows[0]) if rows else None

    async def leaderboard(self, limit: int) -> list[LeaderRow]:
        """Top referrers among those who opted in to appear, by first name only."""
        rows = await self._reader.execute_fetchall(
            "SELECT coalesce(first_name, ''), referrals_converted, referrals_joined "
            "FROM customers WHERE leaderboard_opt_in = 1 AND referrals_joined > 0 "
            "ORDER BY referrals_converted DESC, referrals_joined DESC, created_at LIMIT ?",
            (limit,),
        )
        return [LeaderRow(row[0], row[1], row[2]) for row in rows]

    async def referral_generations(
        self, key: CustomerKey, depth: int = 10
    ) -> list[tuple[int, int, int]]:
        """Per generation below `key`: (generation, people brought, of whom converted)."""
        rows = await self._reader.execute_fetchall(
            "WITH RECURSIVE chain(id, generation, converted) AS ("
            " SELECT referee_id, 1, converted_at IS NOT NULL FROM referrals WHERE referrer_id = ?"
            " UNION ALL"
            " SELECT r.referee_id, c.generation + 1, r.converted_at IS NOT NULL"
            " FROM referrals r JOIN chain c ON r.referrer_id = c.id WHERE c.generation < ?"
            ") SELECT generation, count(*), sum(converted) FROM chain GROUP BY generation "
            "ORDER BY generation",
            (key.id, depth),
        )
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def find_customers(self, pattern: str, limit: int = 20) -> list[Customer]:
        like = f"%{pattern}%"
        rows = await self._reader.execute_fetchall(
            f"SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id LIKE ? OR first_name LIKE ? "
            "ORDER BY created_at LIMIT ?",
            (like, like, limit),
        )
        return [customer_from_row(row) for row in rows]

    async def history(self, key: CustomerKey, limit: int) -> tuple[HistoryEntry, ...]:
        rows = await self._reader.execute_fetchall(
            "SELECT at, event, from_stage, to_stage, detail FROM journey "
            "WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (key.id, limit),
        )
        return tuple(history_from_row(row) for row in reversed(list(rows)))

    async def due_jobs(self, now: datetime, limit: int) -> list[DueJob]:
        rows = await self._reader.execute_fetchall(
            "SELECT id, customer_id, kind, due_at, payload FROM jobs "
            "WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (epoch(now), limit),
        )
        return [
            DueJob(
                id=row[0],
                key=CustomerKey.parse(row[1]),
                kind=JobKind(row[2]),
                due_at=moment(row[3]),
                payload=load_json(row[4]),
            )
            for row in rows
        ]

    async def next_due_at(self) -> datetime | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT min(due_at) FROM jobs WHERE status = 'pending'"
            )
        )
        return None if rows[0][0] is None else moment(rows[0][0])

    async def pending_outbox(self, limit: int) -> list[OutboxRow]:
        rows = await self._reader.execute_fetchall(
            "SELECT o.id, o.customer_id, o.audience, o.kind, o.template, o.context, o.buttons, "
            "o.question_id, c.language, o.attempts, o.next_attempt_at, o.created_at "
            "FROM outbox o LEFT JOIN customers c ON c.id = o.customer_id "
            "WHERE o.status = 'pending' ORDER BY o.id LIMIT ?",
            (limit,),
        )
        return [
            OutboxRow(
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
            )
            for row in rows
        ]

    async def question_message_id(self, key: CustomerKey, question_id: int) -> str | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT platform_message_id FROM outbox WHERE customer_id = ? AND question_id = ? "
                "AND kind = 'message' AND status = 'sent' ORDER BY id DESC LIMIT 1",
                (key.id, question_id),
            )
        )
        return cast(str | None, rows[0][0]) if rows else None

    async def save_staff_thread(self, case_id: str, channel: str, ts: str) -> None:
        await self._submit({"staff_thread": [(case_id, channel, ts)]})

    async def staff_thread(self, case_id: str) -> tuple[str, str] | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT channel, ts FROM staff_threads WHERE case_id = ?", (case_id,)
            )
        )
        return (rows[0][0], rows[0][1]) if rows else None

    async def case_by_thread(self, channel: str, ts: str) -> str | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT case_id FROM staff_threads WHERE channel = ? AND ts = ?", (channel, ts)
            )
        )
        return cast(str, rows[0][0]) if rows else None

    async def case_customer(self, case_id: str) -> CustomerKey | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT customer_id FROM cases WHERE id = ?", (case_id,)
            )
        )
        return CustomerKey.parse(rows[0][0]) if rows else None

    async def latest_case(self) -> str | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT id FROM cases ORDER BY max(opened_at, coalesce(resolved_at, 0)) DESC, "
                "rowid DESC LIMIT 1"
            )
        )
        return cast(str, rows[0][0]) if rows else None

    async def case_view(self, case_id: str) -> dict[str, Json] | None:
        """Everything staff see about a case: customer, scores, the trigger, recent messages."""
        return await case_view(self._reader, case_id)

    async def recent_recognitions(self, limit: int) -> list[Json]:
        """The latest badges awarded (none until recognition rules award some)."""
        exists = await self._reader.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'badges'"
        )
        if not list(exists):
            return []
        rows = await self._reader.execute_fetchall(
            "SELECT b.badge, b.awarded_at, u.first_name FROM badges b "
            "LEFT JOIN customers u ON u.id = b.customer_id ORDER BY b.awarded_at DESC LIMIT ?",
            (limit,),
        )
        return [
            {"badge": r[0], "at": moment(r[1]).strftime("%Y-%m-%d"), "name": r[2] or ""}
            for r in rows
        ]

    async def get_meta(self, name: str) -> str | None:
        rows = list(
            await self._reader.execute_fetchall("SELECT value FROM meta WHERE name = ?", (name,))
        )
        return cast(str, rows[0][0]) if rows else None

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """A read-only query for reports and the CLI."""
        return [tuple(row) for row in await self._reader.execute_fetchall(sql, params)]


async def _connect(path: Path) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, timeout=5.0, isolation_level=None)
    try:
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        await db.close()
        raise
    return db


def _change_rows(change: Change) -> Rows:
    customer = change.customer
    cid = customer.id
    at = epoch(change.at)
    rows: Rows = {"customer": [customer_to_row(customer)]}
    if change.inbound_id is not None:
        rows["inbound"] = [(change.inbound_id, cid, at)]
    if change.job_done is not None:
        rows["job_done"] = [(at, change.job_done)]
    if change.cancel:
        rows["cancel"] = [
            (at, cid, kind.value) for cancel in change.cancel for kind in sorted(cancel.kinds)
        ]
    if change.schedule:
        rows["jobs"] = [
            (
                cid if job.customer is None else job.customer.id,
                job.kind.value,
                epoch(job.due_at),
                dump(dict(job.payload)),
                at,
            )
            for job in change.schedule
        ]
    if change.log:
        rows["journey"] = [
            (
                cid,
                at,
                entry.event,
                None if entry.from_stage is None else entry.from_stage.value,
                None if entry.to_stage is None else entry.to_stage.value,
                entry.detail,
            )
            for entry in change.log
        ]
    for record in change.records:
        kind, row = _record_row(record, cid, at)
        rows.setdefault(kind, []).append(row)
    if change.outbox:
        rows["outbox"] = [
            (
                cid,
                item.audience,
                item.kind,
                item.template,
                dump(dict(item.context)),
                buttons_to_json(item.buttons),
                item.question_id,
                at,
                at,
            )
            for item in change.outbox
        ]
    return rows


def _record_row(record: Record, cid: str, at: float) -> tuple[str, tuple[object, ...]]:
    match record:
        case PurchaseRow(order_id=order_id, amount=amount):
            return "purchase", (order_id, cid, amount, at)
        case ScoreRow(scale=scale, score=score):
            return "score", (cid, scale, score, at)
        case ScoreComment(text=text):
            return "score_comment", (text, cid)
        case CaseOpened(case_id=case_id, reason=reason, trigger=trigger):
            return "case_open", (case_id, cid, reason, trigger, at)
        case CaseChanged(case_id=case_id, status="claimed", by=by):
            return "case_claimed", (by, at, case_id)
        case CaseChanged(case_id=case_id, status="resolved", by=by):
            return "case_resolved", (by, at, case_id)
        case CaseChanged(case_id=case_id):
            return "case_open_again", (case_id,)
        case Line(author=author, text=text, name=name, case_id=case_id):
            return "line", (cid, at, author, name, text, case_id)
        case ReferralJoined(referrer=referrer):
            return "referral", (cid, referrer, at)
        case ReferralConverted():
            return "referral_converted", (at, cid)
        case BadgeAwarded(badge=badge):
            return "badge", (cid, badge, at)
    raise AssertionError(record)  # pragma: no cover


def _translate(exc: sqlite3.Error) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError) and "inbound.key" in str(exc):
        return DuplicateInbound(str(exc))
    return StorageError(f"database write failed: {exc}")


def _settle(unit: _Unit, error: BaseException | None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        if error is None:
            unit.done.set_result(None)
        else:
            unit.done.set_exception(error)
