"""Customers on PostgreSQL: a commit is one transaction that first writes the customer row at the
version the decision was computed from (which takes its row lock), then everything else."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from bot.errors import StaleCustomer
from bot.flows.model import Customer, CustomerKey, HistoryEntry, LeaderRow
from bot.storage.codec import CUSTOMER_LIST, customer_from_row, history_from_row, moment
from bot.storage.postgres.database import Connection, Database
from bot.storage.postgres.records import erase_in
from bot.storage.postgres.statements import (
    INSERT_CUSTOMER,
    INSERT_OUTBOX,
    UPDATE_CUSTOMER,
    write_rows,
)
from bot.storage.rows import change_rows
from bot.storage.types import Change, Loaded

__all__ = ["PostgresJourney"]

_PREFIXED = ", ".join(f"c.{column.strip()}" for column in CUSTOMER_LIST.split(","))
# One statement: whether the event was handled before, the customer's pending outbox rows (an
# empty range of a partial index when there are none) and the customer.
_PENDING = (
    "(SELECT coalesce(array_agg(id), '{}') FROM outbox "
    "WHERE customer_id = $2 AND status = 'pending')"
)
_LAST_SENT = (
    "(SELECT max(sent_at) FROM outbox WHERE customer_id = $2 AND status = 'sent' "
    "AND audience = 'customer')"
)
_BY_INBOUND = (
    f"SELECT (SELECT true FROM inbound WHERE key = $1), {_PENDING}, {_LAST_SENT}, c.version, "
    f"{_PREFIXED} FROM (SELECT 1) AS one LEFT JOIN customers c ON c.id = $2"
)
_BY_JOB = (
    f"SELECT (SELECT status <> 'pending' FROM jobs WHERE id = $1), {_PENDING}, {_LAST_SENT}, "
    f"c.version, {_PREFIXED} FROM (SELECT 1) AS one LEFT JOIN customers c ON c.id = $2"
)

_BY_JOBS = (
    "SELECT (SELECT status <> 'pending' FROM jobs WHERE id = w.job), "
    f"c.version, {_PREFIXED} FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY "
    "AS w(job, cid, n) LEFT JOIN customers c ON c.id = w.cid ORDER BY w.n"
)


class PostgresJourney:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(
        self,
        key: CustomerKey,
        *,
        inbound_id: str | None = None,
        job_id: int | None = None,
        history: int = 0,
    ) -> Loaded:
        if job_id is not None:
            row = await self._db.fetchrow(_BY_JOB, job_id, key.id)
            assert row is not None
            seen = row[0] is None or bool(row[0])  # a job that does not exist is done
        else:
            row = await self._db.fetchrow(_BY_INBOUND, inbound_id, key.id)
            assert row is not None
            seen = bool(row[0])
        pending = tuple(sorted(int(ident) for ident in row[1]))
        last = None if row[2] is None else moment(row[2])
        if row[4] is None:
            return Loaded(None, seen, pending_outbox=pending, last_sent_at=last)
        entries = await self.history(key, history) if history else ()
        customer = customer_from_row(tuple(row)[4:], entries)
        return Loaded(customer, seen, int(row[3]), pending, last)

    async def commit(self, change: Change) -> tuple[int, ...]:
        rows, outbox = change_rows(change)
        (customer,) = rows.pop("customer")

        async def write(db: Connection) -> tuple[int, ...]:
            if change.version is None:
                written = await db.fetchval(INSERT_CUSTOMER, *customer)
            else:
                written = await db.fetchval(
                    UPDATE_CUSTOMER, customer[0], *customer[3:], change.version
                )
            if written is None:
                raise StaleCustomer(change.customer.id)  # rolled back: nothing was written
            await write_rows(db, rows)
            ids: tuple[int, ...] = ()
            if outbox:
                # Executed one after another on this connection, so ids come from the sequence
                # in the order of the items; the customer's row lock orders them after every
                # earlier commit about this customer.
                ids = tuple(int(row[0]) for row in await db.fetchmany(INSERT_OUTBOX, outbox))
            if change.erase_by is not None:
                await erase_in(db, change.customer.key, change.erase_by, change.at, ids)
            return ids

        return await self._db.transaction(write)

    async def load_jobs(self, jobs: Sequence[tuple[CustomerKey, int]]) -> list[Loaded]:
        # one query over the pool's connection; per-row reads (the pool serialises nothing)
        rows = await self._db.fetch(_BY_JOBS, [job for _, job in jobs], [key.id for key, _ in jobs])
        return [
            Loaded(
                None if row[2] is None else customer_from_row(tuple(row)[2:]),
                row[0] is None or bool(row[0]),
                None if row[2] is None else int(row[1]),
            )
            for row in rows
        ]

    async def commit_many(self, changes: Sequence[Change]) -> list[tuple[int, ...] | Exception]:
        # one transaction each (the pool runs them side by side): a stale one fails alone
        results = await asyncio.gather(
            *(self.commit(change) for change in changes), return_exceptions=True
        )
        for result in results:
            if not isinstance(result, tuple | Exception):
                raise result  # cancelled
        return cast(list[tuple[int, ...] | Exception], results)

    async def customer(self, key: CustomerKey, history: int = 0) -> Customer | None:
        row = await self._db.fetchrow(
            f"SELECT {CUSTOMER_LIST} FROM customers WHERE id = $1", key.id
        )
        if row is None:
            return None
        entries = await self.history(key, history) if history else ()
        return customer_from_row(tuple(row), entries)

    async def customer_by_code(self, code: str) -> Customer | None:
        row = await self._db.fetchrow(
            f"SELECT {CUSTOMER_LIST} FROM customers WHERE referral_code = $1", code
        )
        return None if row is None else customer_from_row(tuple(row))

    async def leaderboard(self, limit: int) -> list[LeaderRow]:
        rows = await self._db.fetch(
            "SELECT coalesce(first_name, ''), referrals_converted, referrals_joined "
            "FROM customers WHERE leaderboard_opt_in = 1 AND referrals_joined > 0 "
            "ORDER BY referrals_converted DESC, referrals_joined DESC, created_at, id LIMIT $1",
            limit,
        )
        return [LeaderRow(row[0], row[1], row[2]) for row in rows]

    async def history(self, key: CustomerKey, limit: int) -> tuple[HistoryEntry, ...]:
        rows = await self._db.fetch(
            "SELECT at, event, from_stage, to_stage, detail FROM journey "
            "WHERE customer_id = $1 ORDER BY id DESC LIMIT $2",
            key.id,
            limit,
        )
        return tuple(history_from_row(tuple(row)) for row in reversed(rows))
