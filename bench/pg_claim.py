"""PostgreSQL scheduler claim: taking the next 1,000 due jobs among `--pending` pending ones, with
the production statement (FOR UPDATE SKIP LOCKED under a lease, in its own transaction) through
the storage, beside the same claim on SQLite measured in the same run.

The database is a fresh schema in TEST_DATABASE_URL's database (default the local server),
dropped at the end. Each timed round claims at a later `now`, once the previous round's leases
have ended, so every round takes 1,000 rows; rounds alternate between the engines.

    python bench/pg_claim.py [--pending 1000000] [--due 1000] [--rounds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, environment

import asyncpg

from bot.delivery.scheduler import LEASE
from bot.storage import Storage, open_storage
from bot.storage.url import parse_database_url

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TARGET_MS = 20.0
WARM_UP = 3


def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def in_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("search_path", schema)])))


def jobs(pending: int, due: int) -> list[tuple[object, ...]]:
    start = NOW.timestamp()
    return [
        (f"bench:{n}", "checkin", "", start + (n if n >= due else -1 - n), "{}", start)
        for n in range(pending)
    ]


async def load_postgres(url: str, rows: list[tuple[object, ...]]) -> None:
    await (await open_storage(url, create=True)).close()  # the schema, by its migrations
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table(
            "jobs",
            records=rows,
            columns=["customer_id", "kind", "subject", "due_at", "payload", "created_at"],
        )
        await connection.execute("VACUUM ANALYZE jobs")  # as autovacuum would have by now
    finally:
        await connection.close()


async def load_sqlite(path: Path, rows: list[tuple[object, ...]]) -> None:
    await (await open_storage(f"sqlite:///{path}", create=True)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA synchronous=OFF")
        raw.executemany(
            "INSERT INTO jobs (customer_id, kind, subject, due_at, payload, created_at) "
            "VALUES (?,?,?,?,?,?)",
            rows,
        )


async def timed(store: Storage, round_: int, due: int) -> float:
    t0 = time.perf_counter()
    claimed = await store.jobs.claim(NOW + round_ * 2 * LEASE, 1000, LEASE)
    elapsed = (time.perf_counter() - t0) * 1000
    assert len(claimed) == min(due, 1000), len(claimed)
    return elapsed


async def plan(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        lines = await connection.fetch(
            "EXPLAIN SELECT id FROM jobs WHERE status = 'pending' AND due_at <= $1 "
            "AND lease_until <= $1 ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
            NOW.timestamp(),
        )
    finally:
        await connection.close()
    scans = [str(row[0]).strip() for row in lines if "Scan" in str(row[0])]
    return scans[0].split("  (")[0].lstrip("-> ") if scans else "?"


async def run(pending: int, due: int, rounds: int) -> list[Result]:
    base = server_url()
    schema = f"escalator_bench_{secrets.token_hex(4)}"
    url = in_schema(base, schema)
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = jobs(pending, due)
            loading = time.perf_counter()
            await load_postgres(url, rows)
            loaded_pg = time.perf_counter() - loading
            await load_sqlite(Path(scratch) / "jobs.db", rows)
            del rows
            postgres = await open_storage(url)
            sqlite = await open_storage(f"sqlite:///{Path(scratch) / 'jobs.db'}")
            try:
                for round_ in range(WARM_UP):
                    await timed(postgres, round_, due)
                    await timed(sqlite, round_, due)
                pg_times: list[float] = []
                sqlite_times: list[float] = []
                for round_ in range(WARM_UP, WARM_UP + rounds):  # interleaved
                    pg_times.append(await timed(postgres, round_, due))
                    sqlite_times.append(await timed(sqlite, round_, due))
                scan = await plan(url)
            finally:
                await postgres.close()
                await sqlite.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    median = statistics.median(pg_times)
    peer = statistics.median(sqlite_times)
    deciles = statistics.quantiles(pg_times, n=10)
    version = parse_database_url(base)
    return [
        Result(
            "scheduler claim, PostgreSQL",
            median,
            "ms",
            f"<= {TARGET_MS:.0f} ms median",
            median <= TARGET_MS,
            f"next 1,000 due among {pending:,} pending, {rounds} rounds after {WARM_UP} "
            f"warm-up; p10 {deciles[0]:.1f} / p90 {deciles[-1]:.1f} ms (min {min(pg_times):.1f}, "
            f"max {max(pg_times):.1f}); SQLite in the same run {peer:.1f} ms median "
            f"({median / peer:.2f}x); plan: {scan}; loaded in {loaded_pg:.0f} s on {version}",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    print(environment())
    try:
        results = asyncio.run(run(args.pending, args.due, args.rounds))
    except (OSError, asyncpg.PostgresError) as exc:
        where = urlsplit(server_url()).netloc.rpartition("@")[2]
        print(
            f"| scheduler claim, PostgreSQL | not run | <= {TARGET_MS:.0f} ms median | NO | "
            f"no PostgreSQL at {where} (TEST_DATABASE_URL): {exc} |"
        )
        return
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
