"""Two schedulers on one database (two workers' runtimes, each with a pool of its own) with
every job due at the same instant: each job fires once; and the one that took a job and died
leaves it to the other once its lease ends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest

from bot.app import Runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.delivery.engine import Outcome
from bot.flows.model import CustomerKey, JobDue, Start
from tests.conftest import START, Harness, RecordingChannel, sql
from tests.storage.conftest import BACKENDS

PEOPLE = [CustomerKey("test", str(n)) for n in range(60)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_jobs_due_at_one_instant_fire_once_across_two_schedulers(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{request.getfixturevalue('db_path')}"
    clock = ManualClock(START)
    settings = load_settings(DATABASE_URL=url, CHECKIN_DELAY="1d")
    first = Harness(settings, clock, RecordingChannel(), RecordingChannel())
    second = Harness(settings, clock, RecordingChannel(), RecordingChannel())
    async with first.open() as one, second.open() as two:
        for n, person in enumerate(PEOPLE):
            await one.engine.handle(Start(key=person, inbound_id=f"s{n}"))
        await one.outbox.drain()
        clock.advance(timedelta(days=1))  # every check-in is due now, at the same instant
        taken = [watch(one), watch(two)]
        ran = await asyncio.gather(one.scheduler.tick(), two.scheduler.tick())
        assert sum(ran) == len(PEOPLE)
        # shared out, never both: each job was handed to one engine only
        assert not set(taken[0]) & set(taken[1])
        assert sorted(taken[0] + taken[1]) == sorted(set(taken[0] + taken[1]))
        assert len(taken[0]) + len(taken[1]) == len(PEOPLE)
        await asyncio.gather(one.outbox.drain(), two.outbox.drain())
        checkins = Counter(
            s.key for s in first.customers.sent + second.customers.sent if s.template == "checkin"
        )
        assert checkins == Counter({person: 1 for person in PEOPLE})
        assert await one.scheduler.tick() == 0 and await two.scheduler.tick() == 0
        pending = "SELECT count(*) FROM jobs WHERE kind = 'checkin' AND status = 'pending'"
        assert sql(one.storage, pending) == [(0,)]


def watch(runtime: Runtime) -> list[int]:
    """The ids of the jobs this runtime's scheduler hands its engine (as one batch per tick)."""
    seen: list[int] = []
    handle_jobs = runtime.engine.handle_jobs

    async def handled(jobs: Sequence[JobDue]) -> list[Outcome | BaseException]:
        seen.extend(job.job_id for job in jobs)
        return await handle_jobs(jobs)

    runtime.engine.handle_jobs = handled  # type: ignore[method-assign]
    return seen
