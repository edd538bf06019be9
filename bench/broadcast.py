"""Broadcast pacing: `--customers` customers whose check-ins fall due at the same moment,
delivered by the real bot (polling mode, the real python-telegram-bot client over HTTP) to a
local Bot API stand-in that answers 429 (with retry_after) to anything above 30 messages in any
one-second window. Reports the achieved rate, the 429s provoked and whether every customer got
exactly one message.

    python bench/broadcast.py [--customers 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Result, environment, seed_customers

sys.path.insert(0, str(ROOT))
from bot.app import Runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.service import run_service
from tests.fakes.telegram_api import FakeBotApi


async def run(customers: int) -> list[Result]:
    api = FakeBotApi(flood_limit=30)
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
                _env_file=None,
            )
            stop = asyncio.Event()
            ready = asyncio.Event()

            async def started(_: Runtime) -> None:
                ready.set()

            service = asyncio.create_task(run_service(settings, stop, SystemClock(), started))
            await asyncio.wait_for(ready.wait(), 30)
            await api.wait_for(lambda: api.count("sendMessage") >= customers, timeout=600)
            stop.set()
            await asyncio.wait_for(service, 30)
        sends = [t for t in api.send_times]
        span = max(sends) - min(sends)
        rate = (len(sends) - 1) / span if span else float("inf")
        per_chat = [len(api.sent_to(n)) for n in range(customers)]
        exactly_once = all(count == 1 for count in per_chat)
    finally:
        await api.stop()
    return [
        Result(
            "broadcast pacing",
            rate,
            "msg/s",
            ">= 28 msg/s, zero 429s, exactly once",
            rate >= 28 and api.flood_hits == 0 and exactly_once,
            f"{customers:,} check-ins due at once; {api.flood_hits} 429s provoked; "
            f"{'every customer got exactly one' if exactly_once else 'NOT exactly once'} "
            f"({sum(per_chat):,} delivered over {span:.1f}s)",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.customers)):
        print(result.row())


if __name__ == "__main__":
    main()
