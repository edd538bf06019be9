"""Engine throughput: inbound customer messages per second through the real engine, flows,
templates, storage (a SQLite file in WAL mode) and outbox, the platform send stubbed.

A message counts once its decision is durably committed; the run ends when the outbox has
delivered every reply too. The database holds `--customers` customers; `--in-flight` customers
write at once. A second phase offers a fixed rate and reports the latency of each message.

    python bench/engine_throughput.py [--customers 100000] [--messages 20000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, StubChannel, environment, seed_customers

from bot.app import open_runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.flows.model import CustomerKey, Text


async def run(customers: int, messages: int, in_flight: int, rate: float) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "bench.db"
        await seed_customers(db, customers)
        settings = load_settings(DATABASE_URL=f"sqlite:///{db}", _env_file=None)
        channel = StubChannel()
        async with open_runtime(settings, SystemClock(), {"bench": channel}, StubChannel()) as rt:
            stop = asyncio.Event()
            outbox = asyncio.create_task(rt.outbox.run(stop, poll=0.05))
            rng = random.Random(1)
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(messages):
                queue.put_nowait(n)
            ids = [rng.randrange(customers) for _ in range(messages)]

            async def worker() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    await rt.engine.handle(
                        Text(
                            key=CustomerKey("bench", str(ids[n])), text="hello", inbound_id=f"b{n}"
                        )
                    )

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            committed = time.perf_counter() - started
            while channel.sent < messages:
                await asyncio.sleep(0.01)
            delivered = time.perf_counter() - started

            # phase 2: a steady offered rate, latency per message (commit)
            latencies: list[float] = []
            count = int(rate * 5)

            async def one(n: int) -> None:
                t0 = time.perf_counter()
                await rt.engine.handle(
                    Text(
                        key=CustomerKey("bench", str(rng.randrange(customers))),
                        text="hello again",
                        inbound_id=f"r{n}",
                    )
                )
                latencies.append(time.perf_counter() - t0)

            tasks = []
            t_start = time.perf_counter()
            for n in range(count):
                delay = t_start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(n)))
            await asyncio.gather(*tasks)
            stop.set()
            await outbox
    per_second = messages / committed
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    p50 = statistics.median(latencies) * 1000
    return [
        Result(
            "engine throughput",
            per_second,
            "msg/s",
            ">= 10,000 msg/s",
            per_second >= 10_000,
            f"{messages} messages, {in_flight} customers in flight, {customers:,} in the DB; "
            f"all replies delivered after {delivered:.2f}s ({messages / delivered:,.0f}/s)",
        ),
        Result(
            "engine p99 latency",
            p99,
            "ms",
            "<= 20 ms at 2,000 msg/s",
            # a lower offered rate says nothing about the target
            p99 <= 20 and rate >= 2_000,
            f"{count} messages offered at {rate:,.0f}/s; median {p50:.1f} ms",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2000)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.customers, args.messages, args.in_flight, args.rate)):
        print(result.row())


if __name__ == "__main__":
    main()
