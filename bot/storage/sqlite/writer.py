"""The SQLite writer: one thread, one `sqlite3` connection, group commit.

Writes never run concurrently. Every write is a unit on a queue; the writer thread takes all
units waiting at that moment and applies them in one `BEGIN IMMEDIATE ... COMMIT`, one
`executemany` per statement kind, then settles every unit's future with one wake-up of the
event loop. So the cost of a transaction (the WAL sync, the thread hand-offs) is shared by every
customer whose event is ready at the same time, and each caller still waits until its own change
is durable. SQLite releases the GIL while it works, so the disk and the B-trees use the second
core while the event loop goes on deciding.

Inside the transaction, before anything is written, the versions of the customers the units
change are read (the write lock is already held, so no other process can change them until
COMMIT); a unit computed from an older version is left out and fails with `StaleCustomer`. If
a batch fails as a whole (a redelivered update), it is rolled back and its units are applied one
by one, so one bad unit cannot sink the others.

A unit can also be a function of the connection (claims that read what they update): it runs
alone, in a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from bot.errors import DuplicateInbound, StaleCustomer, StorageError
from bot.storage.codec import CUSTOMER_COLUMNS
from bot.storage.rows import ORDER, Rows
from bot.storage.sqlite.checkpoint import Checkpointer

__all__ = ["After", "Writer"]

T = TypeVar("T")

After = Callable[[sqlite3.Connection, tuple[int, ...]], object]
"""Runs in a unit's transaction once its rows are written, given its outbox ids."""
Checks = tuple[tuple[str, int | None], ...]

_CHECK = "SELECT id, version FROM customers WHERE id IN (SELECT value FROM json_each(?))"


@dataclass(eq=False)
class _Unit:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    rows: Rows = field(default_factory=dict)
    checks: tuple[tuple[str, int | None], ...] = ()
    """(customer id, the version the change was computed from; None: must not exist yet)."""
    outbox: list[tuple[object, ...]] = field(default_factory=list)
    """Outbox rows without their id: ids are given out under the write lock."""
    call: Callable[[sqlite3.Connection], Any] | None = None
    after: Callable[[sqlite3.Connection, tuple[int, ...]], object] | None = None
    """Runs in the same transaction once the unit's rows are written (given its outbox ids)."""


class Writer:
    def __init__(
        self,
        connection: sqlite3.Connection,
        sql: dict[str, str],
        max_batch: int = 1024,  # a scheduler tick's 1,000 jobs: one transaction, one sync
        checkpointer: Checkpointer | None = None,
    ):
        self._db = connection
        self._checkpointer = checkpointer
        self._sql = sql
        self._max_batch = max_batch
        self._queue: deque[_Unit] = deque()
        self._ready = threading.Condition()
        self._closing = False
        # A daemon: an interpreter that exits without closing us must not hang (what is not
        # committed then is lost as in a crash, and the callers were never told it was done).
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def rows(
        self,
        rows: Rows,
        checks: tuple[tuple[str, int | None], ...] = (),
        outbox: list[tuple[object, ...]] | None = None,
        after: Callable[[sqlite3.Connection, tuple[int, ...]], object] | None = None,
    ) -> tuple[int, ...]:
        """Write `rows` (and `outbox` rows, given ids) atomically, then run `after` in the same
        transaction; return the outbox ids."""
        loop = asyncio.get_running_loop()
        unit = _Unit(loop, loop.create_future(), rows, checks, outbox or [], after=after)
        self._put(unit)
        result: tuple[int, ...] = await unit.future
        return result

    async def rows_many(
        self,
        units: Sequence[tuple[Rows, Checks, list[tuple[object, ...]], After | None]],
    ) -> list[tuple[int, ...] | Exception]:
        """`rows` for each (rows, checks, outbox, after), independently, queued at once (so
        they usually share one transaction); each unit's outbox ids or its exception."""
        loop = asyncio.get_running_loop()
        queued = [
            _Unit(loop, loop.create_future(), rows, checks, outbox, after=after)
            for rows, checks, outbox, after in units
        ]
        with self._ready:
            if self._closing:
                raise StorageError("the database is closed")
            self._queue.extend(queued)
            self._ready.notify()
        results = await asyncio.gather(*(unit.future for unit in queued), return_exceptions=True)
        return [
            result if isinstance(result, tuple | Exception) else _unexpected(result)
            for result in results
        ]

    async def call(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run `function(connection)` in a write transaction of its own; return its result."""
        loop = asyncio.get_running_loop()
        unit = _Unit(loop, loop.create_future(), call=function)
        self._put(unit)
        result: T = await unit.future
        return result

    async def close(self) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify()
        await asyncio.to_thread(self._thread.join)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.close)
        self._db.close()

    def _put(self, unit: _Unit) -> None:
        with self._ready:
            if self._closing:
                raise StorageError("the database is closed")
            self._queue.append(unit)
            self._ready.notify()

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                if not self._queue:
                    return
                take = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(take)]
            outcomes = self._apply(batch)
            if self._checkpointer is not None:
                self._checkpointer.committed()
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Unit, object]]] = {}
            for unit, outcome in outcomes:
                by_loop.setdefault(unit.loop, []).append((unit, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    loop.call_soon_threadsafe(_settle, settled)

    def _apply(self, batch: list[_Unit]) -> list[tuple[_Unit, object]]:
        outcomes: list[tuple[_Unit, object]] = []
        writes = [unit for unit in batch if unit.call is None]
        if writes:
            try:
                outcomes.extend(self._write(writes))
            except Exception as exc:
                if len(writes) == 1:
                    outcomes.append((writes[0], _translate(exc)))
                else:
                    for unit in writes:
                        try:
                            outcomes.extend(self._write([unit]))
                        except Exception as single:
                            outcomes.append((unit, _translate(single)))
        for unit in batch:
            if unit.call is not None:
                try:
                    outcomes.append((unit, self._transaction(unit.call)))
                except Exception as exc:
                    outcomes.append((unit, _translate(exc)))
        return outcomes

    def _transaction(self, function: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = function(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _write(self, units: list[_Unit]) -> list[tuple[_Unit, object]]:
        def apply(db: sqlite3.Connection) -> list[tuple[_Unit, object]]:
            accepted, refused = _check_versions(db, units)
            outcomes: list[tuple[_Unit, object]] = list(refused)
            ids = _outbox_ids(db, accepted)
            for kind in ORDER:
                if kind == "outbox":
                    rows = [
                        (ident, *row)
                        for unit in accepted
                        for ident, row in zip(ids[unit], unit.outbox, strict=True)
                    ]
                elif kind == "customer_set":
                    _set_customers(
                        db, [row for unit in accepted for row in unit.rows.get(kind, ())]
                    )
                    continue
                else:
                    rows = [row for unit in accepted for row in unit.rows.get(kind, ())]
                if rows:
                    db.executemany(self._sql[kind], rows)
            for unit in accepted:
                if unit.after is not None:
                    unit.after(db, ids[unit])
            outcomes.extend((unit, ids[unit]) for unit in accepted)
            return outcomes

        return self._transaction(apply)


def _set_customers(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    """Rows of `rows.narrow_customer`: one `executemany` per set of changed columns. Only the
    indexes of changed columns are touched (a full-row upsert rewrote all nine)."""
    groups: dict[tuple[int, ...], list[tuple[object, ...]]] = {}
    for changed, values in rows:
        groups.setdefault(cast(tuple[int, ...], changed), []).append(
            cast(tuple[object, ...], values)
        )
    for changed, values in groups.items():
        db.executemany(_set_sql(changed), values)


@functools.lru_cache(maxsize=256)
def _set_sql(changed: tuple[int, ...]) -> str:
    assigned = "".join(f"{CUSTOMER_COLUMNS[n]} = ?, " for n in changed)
    return f"UPDATE customers SET {assigned}version = version + 1 WHERE id = ?"


def _check_versions(
    db: sqlite3.Connection, units: Sequence[_Unit]
) -> tuple[list[_Unit], list[tuple[_Unit, object]]]:
    wanted = [customer for unit in units for customer, _ in unit.checks]
    if not wanted:
        return list(units), []
    current: dict[str, int | None] = dict(db.execute(_CHECK, (json.dumps(wanted),)).fetchall())
    accepted: list[_Unit] = []
    refused: list[tuple[_Unit, object]] = []
    for unit in units:
        stale = next(
            (customer for customer, version in unit.checks if current.get(customer) != version),
            None,
        )
        if stale is not None:
            refused.append((unit, StaleCustomer(stale)))
            continue
        for customer, version in unit.checks:
            current[customer] = 1 if version is None else version + 1
        accepted.append(unit)
    return accepted, refused


def _outbox_ids(db: sqlite3.Connection, units: list[_Unit]) -> dict[_Unit, tuple[int, ...]]:
    # Ids are given out here, under the write lock, so the committing process knows them
    # without reading its rows back (and no other process can take the same ids meanwhile).
    total = sum(len(unit.outbox) for unit in units)
    if not total:
        return {unit: () for unit in units}
    next_id = 1 + int(db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0])
    ids: dict[_Unit, tuple[int, ...]] = {}
    for unit in units:
        count = len(unit.outbox)
        ids[unit] = tuple(range(next_id, next_id + count))
        next_id += count
    return ids


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError) and "inbound.key" in str(exc):
        return DuplicateInbound(str(exc))
    if isinstance(exc, sqlite3.Error):
        return StorageError(f"database write failed: {exc}")
    return exc


def _unexpected(result: object) -> Exception:
    if isinstance(result, BaseException):
        raise result  # cancelled: not a unit's own failure
    raise AssertionError(result)  # pragma: no cover


def _settle(settled: list[tuple[_Unit, object]]) -> None:
    for unit, outcome in settled:
        if unit.future.done():  # the caller gave up (cancelled)
            continue
        if isinstance(outcome, BaseException):
            unit.future.set_exception(outcome)
        else:
            unit.future.set_result(outcome)
