"""Memory: peak RSS of the running bot after serving `--serve` distinct customers, and with
10,000 vs 1,000,000 customers in the database. Each figure comes from a fresh child process
(seeding runs in another process), so nothing but the bot is counted.

    python bench/memory.py [--serve 100000] [--small 10000] [--large 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, StubChannel, environment, peak_rss_mb, rss_mb, seed_customers

from bot.app import open_runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.flows.model import CustomerKey, Start, Text


async def serve(db: Path, new: int, existing: int, messages: int) -> dict[str, float]:
    """In this process: run the bot and feed it; report RSS."""
    settings = load_settings(DATABASE_URL=f"sqlite:///{db}", _env_file=None)
    channel = StubChannel()
    async with open_runtime(settings, SystemClock(), {"bench": channel}, StubChannel()) as rt:
        stop = asyncio.Event()
        outbox = asyncio.create_task(rt.outbox.run(stop, poll=0.05))
        start_rss = rss_mb()
        rng = random.Random(7)
        total = new + (messages if existing else 0)

        def events() -> Iterator[Start | Text]:  # lazily: the bench must not hold them all
            for n in range(new):
                yield Start(key=CustomerKey("bench", f"new{n}"), inbound_id=f"s{n}")
            for n in range(total - new):
                key = CustomerKey("bench", str(rng.randrange(existing)))
                yield Text(key=key, text="hi", inbound_id=f"t{n}")

        queue = events()

        async def worker() -> None:
            for event in queue:
                await rt.engine.handle(event)

        await asyncio.gather(*(worker() for _ in range(500)))
        while channel.sent < total:
            await asyncio.sleep(0.02)
        stop.set()
        await outbox
        return {"start_rss": start_rss, "end_rss": rss_mb(), "peak_rss": peak_rss_mb()}


def child(args: list[str]) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--child", nargs=4, metavar=("DB", "NEW", "EXISTING", "MESSAGES"))
    parser.add_argument("--seed", nargs=2, metavar=("DB", "COUNT"))
    args = parser.parse_args()
    if args.seed:
        asyncio.run(seed_customers(Path(args.seed[0]), int(args.seed[1])))
        return
    if args.child:
        db, new, existing, messages = args.child
        print(json.dumps(asyncio.run(serve(Path(db), int(new), int(existing), int(messages)))))
        return
    print(environment())
    for result in run(args.serve, args.small, args.large, args.messages):
        print(result.row())


def run(serve_count: int, small: int, large: int, messages: int) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "fresh.db"
        served = child(["--child", str(fresh), str(serve_count), "0", "0"])
        figures = {}
        for size in (small, large):
            db = Path(scratch) / f"db{size}.db"
            subprocess.run([sys.executable, __file__, "--seed", str(db), str(size)], check=True)
            figures[size] = child(["--child", str(db), "0", str(size), str(messages)])
    growth = figures[large]["peak_rss"] - figures[small]["peak_rss"]
    return [
        Result(
            "memory after serving",
            served["peak_rss"],
            "MB peak RSS",
            "<= 150 MB",
            served["peak_rss"] <= 150,
            f"{serve_count:,} distinct new customers served; RSS {served['start_rss']:.0f} MB at "
            f"start, {served['end_rss']:.0f} MB at the end",
        ),
        Result(
            f"memory growth {small:,} -> {large:,} in DB",
            growth,
            "MB",
            "<= 15 MB",
            growth <= 15,
            f"peak RSS {figures[small]['peak_rss']:.0f} MB with {small:,} customers, "
            f"{figures[large]['peak_rss']:.0f} MB with {large:,} ({messages:,} messages each)",
        ),
    ]


if __name__ == "__main__":
    main()
