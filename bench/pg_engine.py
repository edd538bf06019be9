"""Engine throughput and p99 on PostgreSQL with 1 and 2 worker processes, beside SQLite: the
method of `engine_throughput.py` (the same realistic mix, the real engine, flows, templates,
storage and outbox; the platform send a stub), run in worker processes that share one database.

Each worker process opens the production runtime on the database (a pool of its own; the
unprompted sender elected among them as `escalator run` does) and takes its share of the
customers. Throughput: each worker has `--in-flight` customers writing at once; the figure is
all messages committed and replied to, divided by the time from the first worker's start to the
last worker's end. Latency: `--rate` messages a second offered in all, split evenly over the
workers, open loop, from each message's scheduled offer time to its commit and to its first reply
handed to the channel. A warm-up round first; then `--repeats` rounds of throughput and latency,
interleaved; medians. The PostgreSQL database is a fresh schema in TEST_DATABASE_URL's database
(dropped afterwards); the SQLite figure is one process on a file (WAL, synchronous=FULL).

    python bench/pg_engine.py [--customers 20000] [--messages 4000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from common import Result, StubChannel, environment, median, quantile, seed_customers, spread
from engine_throughput import ORDER, Workload, latency, throughput

from bot.app import open_runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.delivery.election import hold_and_run
from bot.flows.model import CustomerKey
from bot.storage.transfer import copy_database
from bot.storage.url import parse_database_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Share(Workload):
    """The mix over one block of the customers (a multiple of four long: states stay put)."""

    def __init__(self, customers: int, seed: int, offset: int) -> None:
        super().__init__(customers, seed)
        self._offset = offset

    def _moved(self, key: CustomerKey) -> CustomerKey:
        return CustomerKey(key.channel, str(int(key.external_id) + self._offset))

    def _fresh(self, state: str) -> CustomerKey:
        return self._moved(super()._fresh(state))

    def _idle(self) -> CustomerKey:
        return self._moved(super()._idle())


async def worker(args: argparse.Namespace) -> None:
    """One worker process: warm up, then a round per line on stdin; a JSON line per round."""
    settings = load_settings(
        DATABASE_URL=args.url, LOG_LEVEL="WARNING", QUIET_HOURS="off", _env_file=None
    )
    block = (args.customers // args.workers) // 4 * 4
    work = Share(block, seed=args.index + 1, offset=args.index * block)
    channel = StubChannel()
    async with open_runtime(settings, SystemClock(), {"bench": channel}, StubChannel()) as rt:
        stop = asyncio.Event()
        sender = asyncio.create_task(
            hold_and_run(rt.storage.roles, "sender", lambda s: rt.outbox.run(s, poll=0.05), stop)
        )
        messages = args.messages // args.workers
        await throughput(rt, channel, work, min(1000, messages), args.in_flight)  # warm-up
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while (line := await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line.strip() == "throughput":
                start = time.time()
                await throughput(rt, channel, work, messages, args.in_flight)
                print(json.dumps({"start": start, "end": time.time(), "n": messages}), flush=True)
            else:
                commits, replies, _ = await latency(
                    rt, channel, work, args.rate / args.workers, args.seconds
                )
                # a reply another process sent (through the table) is not seen here
                handed = [r for r in replies if r != float("inf")]
                elsewhere = len(replies) - len(handed)
                report = {"commits": commits, "replies": handed, "elsewhere": elsewhere}
                print(json.dumps(report), flush=True)
        stop.set()
        await sender


def spawn(args: argparse.Namespace, url: str, workers: int, index: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            *("--url", url, "--workers", str(workers), "--index", str(index)),
            *("--customers", str(args.customers), "--messages", str(args.messages)),
            *("--in-flight", str(args.in_flight), "--rate", str(args.rate)),
            *("--seconds", str(args.seconds)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def measure(args: argparse.Namespace, url: str, workers: int) -> dict[str, list[float]]:
    procs = [spawn(args, url, workers, n) for n in range(workers)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        rates, commit99, reply99, elsewhere = [], [], [], []
        for _ in range(args.repeats):  # interleaved: throughput, then latency, again
            rounds = ask(procs, "throughput")
            total = sum(r["n"] for r in rounds)
            rates.append(total / (max(r["end"] for r in rounds) - min(r["start"] for r in rounds)))
            rounds = ask(procs, "latency")
            commits = sorted(c for r in rounds for c in r["commits"])
            replies = sorted(c for r in rounds for c in r["replies"])
            commit99.append(quantile(commits, 0.99) * 1000)
            reply99.append(quantile(replies, 0.99) * 1000)
            other = sum(int(str(r["elsewhere"])) for r in rounds)
            elsewhere.append(other / max(1, len(replies) + other))
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        for proc in procs:
            proc.wait(timeout=60)
        return {"rate": rates, "commit99": commit99, "reply99": reply99, "elsewhere": elsewhere}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def ask(procs: list[subprocess.Popen[str]], what: str) -> list[dict[str, object]]:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(what + "\n")
        proc.stdin.flush()
    answers = []
    for proc in procs:
        assert proc.stdout is not None
        answers.append(json.loads(proc.stdout.readline()))
    return answers


def in_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}search_path={schema}"


async def prepare(args: argparse.Namespace, scratch: Path) -> tuple[str, str, str]:
    db = scratch / "bench.db"
    await seed_customers(db, args.customers, states=ORDER)
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)
    schema = f"escalator_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    url = in_schema(base, schema)
    # the same customers on PostgreSQL, as `escalator db copy` moves them
    await copy_database(parse_database_url(f"sqlite:///{db}"), parse_database_url(url))
    return f"sqlite:///{db}", url, schema


async def drop(schema: str) -> None:
    admin = await asyncpg.connect(os.environ.get("TEST_DATABASE_URL", DEFAULT_URL))
    try:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()


def run(args: argparse.Namespace) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        sqlite_url, pg_url, schema = asyncio.run(prepare(args, Path(scratch)))
        try:
            figures = {
                "SQLite, 1 process": measure(args, sqlite_url, 1),
                "PostgreSQL, 1 worker": measure(args, pg_url, 1),
                "PostgreSQL, 2 workers": measure(args, pg_url, 2),
            }
        finally:
            asyncio.run(drop(schema))
    results = []
    for name, figure in figures.items():
        results.append(
            Result(
                f"engine throughput, {name}",
                median(figure["rate"]),
                "msg/s",
                "reference, beside SQLite",
                None,
                f"{spread(figure['rate'])}; {args.customers:,} customers, {args.in_flight} in "
                f"flight per process, {args.messages:,} messages a round",
            )
        )
        results.append(
            Result(
                f"latency offer → reply handed, p99, {name}",
                median(figure["reply99"]),
                "ms",
                "reference, beside SQLite",
                None,
                f"{args.rate:,.0f} msg/s offered in all for {args.seconds:g}s, open loop; commit "
                f"p99 {median(figure['commit99']):.1f} ms; reply p99 "
                f"{spread(figure['reply99'], '.1f')}; replies not handed to the deciding "
                f"process's channel (sent by another, not timed) {median(figure['elsewhere']):.1%}",
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=4_000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args))
        return
    print(environment())
    try:
        results = run(args)
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}") from None
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
