"""Scheduler: the real claim of the next 1,000 due jobs among `--pending` pending ones (the
statements that take them, in their write transaction, through the storage), and a scheduler
tick that runs them: claim, then for each job load the customer, decide (a check-in), commit
the decision with its outbox row; plus the cost of an idle tick in SQL statements.

    python bench/scheduler_claim.py [--pending 1000000] [--due 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, StubChannel, environment, quantile, seed_customers, spread

from bot.app import open_runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.delivery.scheduler import LEASE
from bot.storage.sqlite import SQLiteStorage

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SLOT = timedelta(hours=1)
"""Round r's jobs fall due at NOW + r * SLOT; everything else far later."""


async def run(pending: int, due: int, repeats: int) -> list[Result]:
    rounds = repeats + 1  # the first tick is a warm-up
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "jobs.db"
        await seed_customers(db, due * rounds)
        start = NOW.timestamp()
        with sqlite3.connect(db) as raw:
            raw.execute("PRAGMA synchronous=OFF")

            def due_at(n: int) -> float:
                if n < due * rounds:
                    return start + (n // due) * SLOT.total_seconds() - 1
                return start + 365 * 86400 + n

            raw.executemany(
                "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) "
                "VALUES (?, 'checkin', ?, '{\"reason\": \"periodic\"}', ?)",
                (
                    (
                        f"bench:{n % (due * rounds)}" if n < due * rounds else f"bench:x{n}",
                        due_at(n),
                        start,
                    )
                    for n in range(pending)
                ),
            )
        # the claim alone, on round 0's jobs, each time after the previous leases ended
        store = await SQLiteStorage.open(db)
        claims = []
        try:
            for attempt in range(25):
                t0 = time.perf_counter()
                claimed = await store.jobs.claim(NOW + attempt * 2 * LEASE, due, LEASE)
                claims.append((time.perf_counter() - t0) * 1000)
                assert len(claimed) == due, len(claimed)
            await store.release_claims()
        finally:
            await store.close()
        claims = claims[5:]  # warm-up

        settings = load_settings(
            DATABASE_URL=f"sqlite:///{db}",
            QUIET_HOURS="off",  # NOW is midnight: the ticks must send, not defer
            _env_file=None,
        )
        clock = ManualClock(NOW - timedelta(days=1))  # nothing due yet
        channel = StubChannel()
        async with open_runtime(settings, clock, {"bench": channel}, StubChannel()) as rt:
            statements: list[str] = []
            await rt.scheduler.tick()  # the first tick also checks the monthly awards once
            await rt.storage._reader._db.set_trace_callback(statements.append)
            for _ in range(100):
                await rt.scheduler.tick()
            await rt.storage._reader._db.set_trace_callback(None)
            ticks, cpus = [], []
            for r in range(rounds):
                clock.offset = (NOW + r * SLOT) - (NOW - timedelta(days=1))
                cpu0, t0 = time.process_time(), time.perf_counter()
                ran = await rt.scheduler.tick()
                ticks.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - cpu0) / max(ran, 1))
                assert ran == due, ran
            await rt.outbox.drain()
        ticks, cpus = ticks[1:], cpus[1:]
    claim = statistics.median(claims)
    tick = statistics.median(ticks)
    per_tick = len(statements) / 100
    return [
        Result(
            "scheduler claim, 1,000 due",
            claim,
            "ms",
            "<= 20 ms",
            claim <= 20,
            f"{spread(claims, '.1f')}, p90 {quantile(sorted(claims), 0.9):.1f} ms; the claiming "
            f"UPDATE … RETURNING in its write transaction, among {pending:,} pending",
        ),
        Result(
            "scheduler tick running 1,000 due",
            tick,
            "ms",
            "<= 100 ms",
            tick <= 100,
            f"{spread(ticks, '.0f')}; claim + 1,000 check-in decisions committed (their "
            f"messages queued); CPU {statistics.median(cpus) * 1e6:,.0f} µs/job",
        ),
        Result(
            "scheduler idle tick",
            per_tick,
            "queries/tick",
            "1 indexed query",
            per_tick <= 1,
            f"{len(statements)} statements over 100 idle ticks: {sorted(set(statements))[:1]}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.pending, args.due, args.repeats)):
        print(result.row())


if __name__ == "__main__":
    main()
