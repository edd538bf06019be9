"""Scheduler: claiming the next 1,000 due jobs among `--pending` pending ones, and the cost of a
tick when nothing is due (counted in SQL statements).

    python bench/scheduler_claim.py [--pending 1000000] [--due 1000]
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

from common import (
    Result,
    StubChannel,
    environment,
)

from bot.app import open_runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.delivery.scheduler import LEASE
from bot.storage.sqlite import SQLiteStorage

NOW = datetime(2026, 6, 1, tzinfo=UTC)


async def run(pending: int, due: int) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "jobs.db"
        store = await SQLiteStorage.open(db)
        await store.close()
        start = NOW.timestamp()
        with sqlite3.connect(db) as raw:
            raw.execute("PRAGMA synchronous=OFF")
            rows = (
                (f"bench:{n}", "checkin", start + (n if n >= due else -1 - n), "{}", start)
                for n in range(pending)
            )
            raw.executemany(
                "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) "
                "VALUES (?,?,?,?,?)",
                rows,
            )
        store = await SQLiteStorage.open(db)
        try:
            timings = []
            for round_ in range(25):
                t0 = time.perf_counter()
                # each round claims anew once the previous round's leases have ended
                claimed = await store.jobs.claim(NOW + round_ * 2 * LEASE, 1000, LEASE)
                timings.append((time.perf_counter() - t0) * 1000)
            assert len(claimed) == min(due, 1000)
        finally:
            await store.close()

        settings = load_settings(DATABASE_URL=f"sqlite:///{db}", _env_file=None)
        clock = ManualClock(NOW - timedelta(days=365))  # nothing is due
        async with open_runtime(settings, clock, {"bench": StubChannel()}, StubChannel()) as rt:
            statements: list[str] = []
            await rt.scheduler.tick()  # the first tick also checks the monthly awards once
            await rt.storage._reader._db.set_trace_callback(statements.append)
            for _ in range(100):
                await rt.scheduler.tick()
            await rt.storage._reader._db.set_trace_callback(None)
    median = statistics.median(timings)
    per_tick = len(statements) / 100
    return [
        Result(
            "scheduler claim",
            median,
            "ms",
            "<= 20 ms median",
            median <= 20,
            f"next 1,000 due among {pending:,} pending (partial index on due_at); "
            f"p90 {sorted(timings)[int(len(timings) * 0.9)]:.1f} ms",
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
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.pending, args.due)):
        print(result.row())


if __name__ == "__main__":
    main()
