"""Replies are not broadcasts: the real bot (`run_service`, polling, python-telegram-bot over
HTTP) against the Bot API stand-in with Telegram's limits (30 unprompted messages a second, one
a second per chat; 429 beyond them).

- **Burst**: `--burst` customers write /start at the same instant; from each one's writing to
  their answer arriving at the stand-in.
- **Wave**: `--wave` customers' check-ins fall due at once (unprompted, 30/s), and while they go
  out one new customer writes every 0.1 s; from each writer's message to their answer, and the
  wave's steady rate (from its 31st message to its last).

    python bench/replies.py [--burst 200] [--wave 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, bot_api_stand_in, environment, quantile, seed_customers

from bot.app import Runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.service import run_service

FakeBotApi = bot_api_stand_in()


async def with_bot(db: Path, api: Any, body: Any) -> None:
    settings = load_settings(
        DATABASE_URL=f"sqlite:///{db}",
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{api.port}",
        LOG_LEVEL="WARNING",
        QUIET_HOURS="off",  # the figure must not depend on the hour it runs at
        _env_file=None,
    )
    stop, ready = asyncio.Event(), asyncio.Event()

    async def started(_: Runtime) -> None:
        ready.set()

    service = asyncio.create_task(run_service(settings, stop, SystemClock(), started))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(service, 30)


def answered(api: Any, asked: dict[int, float]) -> list[float]:
    first: dict[int, float] = {}
    for arrival in api.arrivals:
        if arrival.status == 200 and arrival.chat in asked:
            first.setdefault(arrival.chat, arrival.at)
    return sorted(first[user] - at for user, at in asked.items())


async def burst(count: int) -> tuple[list[float], int]:
    api = FakeBotApi(bulk_limit=30, chat_limit=1)
    await api.start()
    asked: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:

            async def body() -> None:
                for user in range(1, count + 1):
                    api.text(user, "/start")
                    asked[user] = time.monotonic()
                await api.wait_for(lambda: len(api.send_times) >= count, timeout=120)

            await with_bot(Path(scratch) / "b.db", api, body)
        return answered(api, asked), api.flood_hits
    finally:
        await api.stop()


async def wave(count: int) -> tuple[list[float], float, int]:
    api = FakeBotApi(bulk_limit=30, chat_limit=1)
    await api.start()
    asked: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            db = Path(scratch) / "w.db"
            await seed_customers(db, count, channel="telegram")
            now = time.time()
            with sqlite3.connect(db) as raw:
                raw.executemany(
                    "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) "
                    "VALUES (?, 'checkin', ?, '{\"reason\": \"periodic\"}', ?)",
                    ((f"telegram:{n}", now - 1, now) for n in range(count)),
                )

            async def body() -> None:
                await api.wait_for(lambda: len(api.send_times) >= 30, timeout=60)
                writer = 1_000_000
                while len(api.send_times) < count * 0.95:  # while the wave goes out
                    api.text(writer, "/start")
                    asked[writer] = time.monotonic()
                    writer += 1
                    await asyncio.sleep(0.1)
                await api.wait_for(lambda: len(api.send_times) >= count + len(asked), 600)

            await with_bot(db, api, body)
        for refused in (a for a in api.arrivals if a.status == 429):
            kind = "an answer" if refused.reply else "unprompted"
            same = [b.at - refused.at for b in api.arrivals if b.chat == refused.chat]
            print(f"429 to chat {refused.chat} ({kind}); its arrivals at {same}", file=sys.stderr)
        checkins = sorted(a.at for a in api.arrivals if a.status == 200 and a.chat < count)[30:]
        rate = (len(checkins) - 1) / (checkins[-1] - checkins[0])
        return answered(api, asked), rate, api.flood_hits
    finally:
        await api.stop()


async def run(burst_size: int, wave_size: int) -> list[Result]:
    waits, burst_floods = await burst(burst_size)
    writers, rate, wave_floods = await wave(wave_size)
    p99 = quantile(waits, 0.99)
    w99 = quantile(writers, 0.99)
    return [
        Result(
            f"burst: {burst_size} customers write at once, answer p99",
            p99 * 1000,
            "ms",
            "<= 1,000 ms, 0 HTTP 429",
            p99 <= 1.0 and burst_floods == 0,
            f"p50 {quantile(waits, 0.5) * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms; "
            f"{burst_floods} HTTP 429 (paced at 30/s the last would wait "
            f"{burst_size / 30:.1f} s)",
        ),
        Result(
            f"wave: {wave_size:,} check-ins at 30/s, writers' answer p99",
            w99 * 1000,
            "ms",
            "<= 500 ms, wave >= 28/s, 0 HTTP 429",
            w99 <= 0.5 and rate >= 28 and wave_floods == 0,
            f"{len(writers)} writers, one every 0.1 s during the wave; p50 "
            f"{quantile(writers, 0.5) * 1000:.0f} ms, max {writers[-1] * 1000:.0f} ms; the wave "
            f"ran at {rate:.1f}/s; {wave_floods} HTTP 429",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--wave", type=int, default=2000)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.burst, args.wave)):
        print(result.row())


if __name__ == "__main__":
    main()
