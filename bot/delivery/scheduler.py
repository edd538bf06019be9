"""The durable scheduler: jobs live in the database and are claimed when due.

A job is finished in the same transaction as the decision it causes, so a job that fell due
while the process was down runs once after start: not twice (the engine ignores a job that is
no longer pending), not never (it stays pending until its decision commits). Due jobs are
claimed with a lease, so two schedulers (two workers) never run one job at once, and a job
whose runner died runs again when the lease ends. When nothing is due, a tick costs one
indexed statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.delivery.engine import Engine, Outcome
from bot.delivery.loops import nap
from bot.flows.model import JobDue
from bot.storage.protocols import JobStore
from bot.storage.types import DueJob

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""Longer than running one batch of jobs takes."""


class Scheduler:
    def __init__(
        self,
        storage: JobStore,
        engine: Engine,
        clock: Clock,
        *,
        batch: int = 1000,
        periodic: Sequence[Callable[[datetime], Awaitable[int]]] = (),
        lease: timedelta = LEASE,
    ) -> None:
        self.lease = lease
        self._in_hand: list[int] = []
        self._periodic = periodic
        self._storage = storage
        self._engine = engine
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job fell due now (a referrer to tell): run it without waiting for the next tick."""
        self._wake.set()

    async def tick(self) -> int:
        """Hand every job due now to the engine; return how many ran."""
        for task in self._periodic:  # system work that plans jobs (monthly awards)
            await task(self._clock.now())
        now = self._clock.now()
        first = await self._storage.next_due_at()  # idle: this one indexed read, no write
        if first is None or first > now:
            return 0
        due = await self._storage.claim(now, self._batch, self.lease)
        if not due:
            return 0
        self._in_hand = [job.id for job in due]
        try:
            return await self._run(due, now)
        finally:
            self._in_hand = []

    def held_ids(self) -> list[int]:
        """Jobs claimed and not yet decided (their leases must outlive their stay here)."""
        return list(self._in_hand)

    async def _run(self, due: list[DueJob], now: datetime) -> int:
        outcomes = await self._engine.handle_jobs(
            [JobDue(key=job.key, job_id=job.id, kind=job.kind, payload=job.payload) for job in due]
        )
        ran = 0
        orphans = []
        for job, outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.error("job %s (%s) failed: %r", job.id, job.kind.value, outcome)
            elif outcome is Outcome.DONE:
                ran += 1
            elif outcome is Outcome.IGNORED:
                orphans.append(job.id)  # its customer is gone: it would be claimed forever
        if orphans:
            await self._storage.finish(orphans, now)
        return ran

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                while await self.tick():
                    pass
            except Exception:
                log.exception("scheduler tick failed; retrying")
            await nap(self._wake, stop, interval)
