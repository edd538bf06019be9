"""Customers on SQLite: point reads on the event loop's thread, commits through the writer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from bot.flows.model import Customer, CustomerKey, HistoryEntry, LeaderRow
from bot.storage.codec import CUSTOMER_LIST, customer_from_row, history_from_row
from bot.storage.rows import change_rows, narrow_customer
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.records import erase_in
from bot.storage.sqlite.writer import After, Writer
from bot.storage.types import Change, Loaded

__all__ = ["SQLiteJourney"]

_PREFIXED = ", ".join(f"c.{column.strip()}" for column in CUSTOMER_LIST.split(","))
# One statement: whether the event was handled before, the customer's pending outbox rows (an
# empty range of a partial index when there are none) and the customer.
_PENDING = "(SELECT group_concat(id) FROM outbox WHERE customer_id = ?2 AND status = 'pending')"
_BY_INBOUND = (
    f"SELECT (SELECT 1 FROM inbound WHERE key = ?1), {_PENDING}, c.version, {_PREFIXED} "
    "FROM (SELECT 1) LEFT JOIN customers c ON c.id = ?2"
)
_BY_JOB = (
    f"SELECT (SELECT status != 'pending' FROM jobs WHERE id = ?1), {_PENDING}, c.version, "
    f"{_PREFIXED} FROM (SELECT 1) LEFT JOIN customers c ON c.id = ?2"
)

# Many jobs' customers in one statement (one read transaction, one pass over the pages).
_BY_JOBS = (
    "SELECT (SELECT status != 'pending' FROM jobs WHERE id = w.job), "
    "(SELECT group_concat(id) FROM outbox WHERE customer_id = w.cid AND status = 'pending'), "
    f"c.version, {_PREFIXED} FROM (SELECT key AS n, json_extract(value, '$[0]') AS job, "
    "json_extract(value, '$[1]') AS cid FROM json_each(?1)) AS w "
    "LEFT JOIN customers c ON c.id = w.cid ORDER BY w.n"
)


class SQLiteJourney:
    """A primary-key read takes a few microseconds on the loop's own thread: less than the hop
    to a worker thread and back, and in WAL mode it never waits for the writer."""

    def __init__(self, writer: Writer, point: sqlite3.Connection, reader: Reader) -> None:
        self._writer = writer
        self._point = point
        self._reader = reader

    async def load(
        self,
        key: CustomerKey,
        *,
        inbound_id: str | None = None,
        job_id: int | None = None,
        history: int = 0,
    ) -> Loaded:
        if job_id is not None:
            row = self._point.execute(_BY_JOB, (job_id, key.id)).fetchone()
            seen = row[0] is None or bool(row[0])  # a job that does not exist is done
        else:
            row = self._point.execute(_BY_INBOUND, (inbound_id, key.id)).fetchone()
            seen = bool(row[0])
        if row[3] is None:
            return _loaded(row, seen)
        entries = await self.history(key, history) if history else ()
        return _loaded(row, seen, entries)

    async def load_jobs(self, jobs: Sequence[tuple[CustomerKey, int]]) -> list[Loaded]:
        wanted = json.dumps([[job, key.id] for key, job in jobs])
        rows = self._point.execute(_BY_JOBS, (wanted,)).fetchall()
        return [_loaded(row, row[0] is None or bool(row[0])) for row in rows]

    async def commit_many(self, changes: Sequence[Change]) -> list[tuple[int, ...] | Exception]:
        units = []
        for change in changes:
            rows, outbox = change_rows(change)
            narrow_customer(change, rows)
            units.append((rows, ((change.customer.id, change.version),), outbox, _after(change)))
        return await self._writer.rows_many(units)

    async def commit(self, change: Change) -> tuple[int, ...]:
        rows, outbox = change_rows(change)
        narrow_customer(change, rows)
        checks = ((change.customer.id, change.version),)
        return await self._writer.rows(rows, checks, outbox, _after(change))

    async def customer(self, key: CustomerKey, history: int = 0) -> Customer | None:
        row = self._point.execute(
            f"SELECT {CUSTOMER_LIST} FROM customers WHERE id = ?", (key.id,)
        ).fetchone()
        if row is None:
            return None
        entries = await self.history(key, history) if history else ()
        return customer_from_row(row, entries)

    async def customer_by_code(self, code: str) -> Customer | None:
        row = await self._reader.one(
            f"SELECT {CUSTOMER_LIST} FROM customers WHERE referral_code = ?", (code,)
        )
        return None if row is None else customer_from_row(row)

    async def leaderboard(self, limit: int) -> list[LeaderRow]:
        rows = await self._reader.rows(
            "SELECT coalesce(first_name, ''), referrals_converted, referrals_joined "
            "FROM customers WHERE leaderboard_opt_in = 1 AND referrals_joined > 0 "
            "ORDER BY referrals_converted DESC, referrals_joined DESC, created_at, id LIMIT ?",
            (limit,),
        )
        return [LeaderRow(row[0], row[1], row[2]) for row in rows]

    async def history(self, key: CustomerKey, limit: int) -> tuple[HistoryEntry, ...]:
        rows = await self._reader.rows(
            "SELECT at, event, from_stage, to_stage, detail FROM journey "
            "WHERE customer_id = ? ORDER BY id DESC LIMIT ?",
            (key.id, limit),
        )
        return tuple(history_from_row(row) for row in reversed(rows))


def _loaded(row: Sequence[Any], seen: bool, history: tuple[HistoryEntry, ...] = ()) -> Loaded:
    """From (seen, pending outbox ids, version, *customer columns)."""
    pending = () if row[1] is None else tuple(int(i) for i in str(row[1]).split(","))
    if row[3] is None:
        return Loaded(None, seen, pending_outbox=pending)
    return Loaded(customer_from_row(row[3:], history), seen, int(row[2]), pending)


def _after(change: Change) -> After | None:
    """Erasure, in the commit's own transaction, once its rows are written."""
    erase_by = change.erase_by
    if erase_by is None:
        return None

    def after(db: sqlite3.Connection, ids: tuple[int, ...]) -> object:
        return erase_in(db, change.customer.key, erase_by, change.at, ids)

    return after
