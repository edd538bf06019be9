"""Segments and campaigns: the production paths, on SQLite files on disk (WAL, synchronous=FULL).

1. **Segment count** of "promoters who have not referred anyone" (and a wider rule over stage,
   language and days since capture) among `--segment-customers` customers: `SegmentStore.count`,
   the query the CLI's preview and a campaign's planning run.
2. **Campaign planning** for `--plan-customers` customers: `campaign_service.start` on a draft,
   i.e. the segment evaluated and every customer's first job and target row written, in one
   transaction; each repeat on a fresh copy of the seeded file.
3. **Campaign delivery**: `--deliver-customers` customers in a campaign that starts at once,
   delivered by the real bot (`run_service`, python-telegram-bot over HTTP) to the local Bot API
   stand-in, which answers 429 to a 31st unprompted message in any one-second window and to a
   second message within a second to one chat. The steady rate is taken from the 31st arrival
   to the last (the first window's burst of 30 would flatter an average). QUIET_HOURS is off
   here so the figure does not depend on the hour the benchmark runs at.

    python bench/campaign.py [--segment-customers 1000000] [--plan-customers 100000]
                             [--deliver-customers 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, bot_api_stand_in, environment, seed_customers, spread

FakeBotApi = bot_api_stand_in()

from bot import campaign_service
from bot.app import Runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.flows.segments import parse
from bot.messages.catalog import Catalog
from bot.service import run_service
from bot.storage.segment_types import Segment
from bot.storage.sqlite import SQLiteStorage

PROMOTERS = {"score_group": "promoter", "referrals_made": 0}
WIDER = {
    "stage": {"in": ["engaged", "customer"]},
    "language": {"ne": "de"},
    "days_since_capture": {"gte": 30},
    "stopped": False,
}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "messages"


def seed_varied(path: Path, count: int) -> None:
    """`count` customers written in one SQL statement, with varied stages, languages, ratings,
    referrals and capture times (a database grown over a year, roughly)."""
    asyncio.run(_migrate(path))
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA synchronous=OFF")
        db.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO customers (id, channel, external_id, stage, dialogue, first_name,
                language, opted_out, unreachable, created_at, updated_at, referral_code,
                referrals_joined, purchases, last_score, last_scale, contacts)
            SELECT 'bench:' || i, 'bench', CAST(i AS TEXT),
                CASE i % 5 WHEN 0 THEN 'captured' WHEN 1 THEN 'engaged' WHEN 2 THEN 'customer'
                    WHEN 3 THEN 'advocate' ELSE 'customer' END,
                'idle', 'C' || i, CASE i % 3 WHEN 0 THEN 'de' ELSE 'en' END,
                CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, 0,
                ? - (i % 365) * 86400.0, ?, 'ref-' || i,
                CASE WHEN i % 7 = 0 THEN 1 + i % 3 ELSE 0 END, i % 4,
                CASE WHEN i % 4 = 3 THEN NULL ELSE i % 11 END,
                CASE WHEN i % 4 = 3 THEN NULL ELSE 'nps' END, '[]'
            FROM n
            """,
            (count, now, now),
        )
        db.execute("ANALYZE")


async def _migrate(path: Path) -> None:
    store = await SQLiteStorage.open(path)
    await store.close()


async def segment_counts(path: Path, repeats: int) -> tuple[list[float], list[float], int, int]:
    store = await SQLiteStorage.open(path)
    try:
        now = datetime.now(UTC)
        rules = (parse(PROMOTERS), parse(WIDER))
        found = [await store.segments.count(rule, now, "nps") for rule in rules]  # warm-up
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            for index, rule in enumerate(rules):  # interleaved
                started = time.perf_counter()
                assert await store.segments.count(rule, now, "nps") == found[index]
                times[index].append(time.perf_counter() - started)
    finally:
        await store.close()
    return times[0], times[1], found[0], found[1]


async def plan_once(path: Path) -> tuple[float, int]:
    store = await SQLiteStorage.open(path)
    try:
        now = datetime.now(UTC)
        await store.segments.save(Segment("everyone", '{"stopped": false}', "", "bench", now, now))
        catalog = Catalog.load(TEMPLATES / "catalog.toml")
        request = campaign_service.CampaignRequest("bench", "everyone", "campaign_message")
        await campaign_service.create(store, catalog, request, now)
        started = time.perf_counter()
        said = await campaign_service.start(store, "bench", "nps", now)
        elapsed = time.perf_counter() - started
        jobs = await asyncio.to_thread(_count, path, "SELECT count(*) FROM jobs")
    finally:
        await store.close()
    assert said.startswith("campaign bench started"), said
    return elapsed, jobs


def _count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


async def deliver_once(customers: int) -> tuple[float, int, bool, float]:
    api = FakeBotApi(bulk_limit=30, chat_limit=1)
    await api.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            db = Path(scratch) / "deliver.db"
            await seed_customers(db, customers, channel="telegram")
            settings = load_settings(
                DATABASE_URL=f"sqlite:///{db}",
                TELEGRAM_BOT_TOKEN=api.token,
                TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{api.port}",
                LOG_LEVEL="WARNING",
                QUIET_HOURS="off",
                _env_file=None,
            )
            store = await SQLiteStorage.open(db)
            try:
                now = datetime.now(UTC)
                rule = '{"stopped": false}'
                await store.segments.save(Segment("everyone", rule, "", "bench", now, now))
                catalog = Catalog.load(TEMPLATES / "catalog.toml")
                request = campaign_service.CampaignRequest("go", "everyone", "campaign_message")
                await campaign_service.create(store, catalog, request, now)
                await campaign_service.start(store, "go", "nps", now)
            finally:
                await store.close()
            stop = asyncio.Event()
            ready = asyncio.Event()

            async def started(_: Runtime) -> None:
                ready.set()

            service = asyncio.create_task(run_service(settings, stop, SystemClock(), started))
            await asyncio.wait_for(ready.wait(), 30)
            cpu0 = time.process_time()
            await api.wait_for(lambda: len(api.send_times) >= customers, timeout=600)
            cpu = time.process_time() - cpu0
            stop.set()
            await asyncio.wait_for(service, 30)
        sends = sorted(api.send_times)[30:]
        rate = (len(sends) - 1) / (sends[-1] - sends[0])
        exactly_once = all(len(api.sent_to(n)) == 1 for n in range(customers))
    finally:
        await api.stop()
    return rate, api.flood_hits, exactly_once, cpu / customers


def run(segment_customers: int, plan_customers: int, deliver: int, repeats: int) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        big = Path(scratch) / "segments.db"
        seed_varied(big, segment_customers)
        promoters, wider, found, found_wider = asyncio.run(segment_counts(big, repeats))
        big.unlink()
        for name, times, count, rule in (
            ("promoters who have not referred anyone", promoters, found, PROMOTERS),
            ("stage, language, days since capture, /stop", wider, found_wider, WIDER),
        ):
            figure = statistics.median(times) * 1000
            results.append(
                Result(
                    f"segment count, {segment_customers:,} customers: {name}",
                    figure,
                    "ms",
                    "< 1 s on SQLite",
                    figure < 1000,
                    f"{spread([t * 1000 for t in times], ',.0f')} ms; {count:,} match; rule {rule}",
                )
            )

        seeded = Path(scratch) / "plan-seed.db"
        asyncio.run(seed_customers(seeded, plan_customers))
        plans: list[float] = []
        jobs = 0
        for attempt in range(repeats + 1):  # the first is a warm-up
            copy = Path(scratch) / f"plan-{attempt}.db"
            shutil.copy(seeded, copy)
            elapsed, jobs = asyncio.run(plan_once(copy))
            copy.unlink()
            if attempt:
                plans.append(elapsed)
        figure = statistics.median(plans)
        results.append(
            Result(
                f"campaign planned, {plan_customers:,} customers",
                figure,
                "s",
                "< 5 s",
                figure < 5 and jobs >= plan_customers,
                f"{spread(plans, '.2f')} s; segment evaluated, {jobs:,} jobs and target rows "
                "written in one transaction (synchronous=FULL)",
            )
        )

    runs = [asyncio.run(deliver_once(deliver)) for _ in range(repeats)]
    rates = [r[0] for r in runs]
    floods = sum(r[1] for r in runs)
    once_each = all(r[2] for r in runs)
    rate = statistics.median(rates)
    results.append(
        Result(
            "campaign delivered to the Bot API stand-in",
            rate,
            "msg/s",
            ">= 28 msg/s, 0 HTTP 429",
            rate >= 28 and floods == 0 and once_each,
            f"{spread(rates, '.1f')}; {deliver:,} customers per run (about "
            f"{deliver / 30:.0f} s of sending); {floods} HTTP 429 in all runs; "
            f"{'each customer exactly once' if once_each else 'NOT once each'}; "
            f"CPU {statistics.median(r[3] for r in runs) * 1e6:,.0f} µs/msg (incl. stand-in)",
        )
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segment-customers", type=int, default=1_000_000)
    parser.add_argument("--plan-customers", type=int, default=100_000)
    parser.add_argument("--deliver-customers", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(environment())
    figures = run(args.segment_customers, args.plan_customers, args.deliver_customers, args.repeats)
    for result in figures:
        print(result.row())


if __name__ == "__main__":
    main()
