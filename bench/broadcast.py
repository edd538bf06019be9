"""Broadcast pacing: `--customers` customers whose check-ins fall due at the same moment,
delivered by the real bot (`run_service`, polling mode, python-telegram-bot over HTTP) to the
local Bot API stand-in, which answers 429 (with retry_after) to a 31st unprompted message in any
one-second window and to a second message within a second to one chat. Run at 0 and at 100 ms
of added round trip, `--repeats` times each, interleaved. Reports the steady rate reached
(from the 31st arrival to the last: the first window's burst of 30 would flatter an average),
the 429s provoked, whether every customer got exactly one message, and CPU per message.

    python bench/broadcast.py [--customers 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, bot_api_stand_in, environment, seed_customers, spread

FakeBotApi = bot_api_stand_in()

from bot.app import Runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.service import run_service


async def once(customers: int, latency: float) -> tuple[float, int, bool, float]:
    api = FakeBotApi(bulk_limit=30, chat_limit=1, latency=latency)
    await api.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            db = Path(scratch) / "broadcast.db"
            await seed_customers(db, customers, channel="telegram")
            now = time.time()
            with sqlite3.connect(db) as raw:
                raw.executemany(
                    "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) "
                    "VALUES (?, 'checkin', ?, '{\"reason\": \"periodic\"}', ?)",
                    ((f"telegram:{n}", now - 1, now) for n in range(customers)),
                )
            settings = load_settings(
                DATABASE_URL=f"sqlite:///{db}",
                TELEGRAM_BOT_TOKEN=api.token,
                TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{api.port}",
                LOG_LEVEL="WARNING",
                QUIET_HOURS="off",  # the figure must not depend on the hour it runs at
                _env_file=None,
            )
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
        # the steady rate: after the first window's burst (30 at once would flatter the average)
        sends = sorted(api.send_times)[30:]
        rate = (len(sends) - 1) / (sends[-1] - sends[0])
        exactly_once = all(len(api.sent_to(n)) == 1 for n in range(customers))
    finally:
        await api.stop()
    return rate, api.flood_hits, exactly_once, cpu / customers


async def run(customers: int, repeats: int) -> list[Result]:
    figures: dict[float, list[tuple[float, int, bool, float]]] = {0.0: [], 0.1: []}
    for _ in range(repeats):
        for latency in figures:  # interleaved
            figures[latency].append(await once(customers, latency))
    results = []
    for latency, runs in figures.items():
        rates = [r[0] for r in runs]
        floods = sum(r[1] for r in runs)
        once_each = all(r[2] for r in runs)
        rate = statistics.median(rates)
        results.append(
            Result(
                f"broadcast, {latency * 1000:.0f} ms round trip",
                rate,
                "msg/s",
                ">= 28 msg/s, 0 HTTP 429",
                rate >= 28 and floods == 0 and once_each,
                f"{spread(rates, '.1f')}; {customers:,} check-ins due at once; {floods} HTTP 429 "
                f"in all runs; {'each customer exactly once' if once_each else 'NOT once each'}; "
                f"CPU {statistics.median(r[3] for r in runs) * 1e6:,.0f} µs/msg (incl. stand-in)",
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.customers, args.repeats)):
        print(result.row())


if __name__ == "__main__":
    main()
