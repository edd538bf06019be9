"""Engine throughput and latency on a realistic mix of customer events, through the real
engine, flows, templates, storage (a SQLite file, WAL, synchronous=FULL by default) and
outbox; the platform send is a stub that notes when each reply was handed to it.

The database holds `--customers` customers in four dialogue states (idle, awaiting a check-in
answer, awaiting a rating, awaiting a comment). Each message is what such a customer would
send: new customers' /start, returning /start, check-in answers (buttons: the stage changes),
ratings (buttons: scores, follow-ups, jobs scheduled and cancelled), comments, purchases
(recorded by the shop: unprompted check-ins scheduled), commands (/help, /status reading the
history) and free text. A customer whose state an event changes is used once. Every message is
read, decided and committed with its journey, outbox and job rows, and its replies delivered.

Throughput: `--in-flight` customers write at once; a message counts once it is committed and
its replies were handed to the channel (a commit rate alone would flatter a design that leaves
the delivery for later: it is given in the notes). Latency:
messages offered at `--rate` per second on a fixed schedule (open loop), each measured from its
scheduled offer time (so a stall delays every message behind it: no coordinated omission) to
its commit and to its first reply handed to the channel.

    python bench/engine_throughput.py [--customers 100000] [--messages 20000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    STATES,
    Result,
    StubChannel,
    environment,
    median,
    quantile,
    seed_customers,
    spread,
)

from bot.app import open_runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.flows.model import (
    ButtonPress,
    Command,
    CustomerKey,
    Event,
    Profile,
    PurchaseRecorded,
    Start,
    Text,
)

MIX = {
    "new customer /start": 10,
    "returning /start": 5,
    "check-in answer (button)": 20,
    "rating (button)": 15,
    "comment": 10,
    "purchase (shop)": 10,
    "/help": 7,
    "/status": 3,
    "free text": 20,
}
ORDER = tuple(STATES)  # customer n is in state ORDER[n % 4]
PROFILE = Profile("C", "en")
REPLIED = {kind for kind in MIX if kind != "purchase (shop)"}


class Workload:
    """Events of the mix; customers whose state an event changes are used once."""

    def __init__(self, customers: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._customers = customers
        self._next = {state: ORDER.index(state) for state in ORDER}
        self._kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
        self._serial = 0

    def _fresh(self, state: str) -> CustomerKey:
        n = self._next[state]
        if n >= self._customers:
            raise SystemExit(f"not enough customers awaiting {state}: raise --customers")
        self._next[state] = n + len(ORDER)
        return CustomerKey("bench", str(n))

    def _idle(self) -> CustomerKey:
        return CustomerKey("bench", str(self._rng.randrange(self._customers // 4) * 4))

    def event(self) -> tuple[str, Event]:
        self._serial += 1
        ref = f"e{self._serial}-{self._rng.random()}"
        kind = self._rng.choice(self._kinds)
        rng = self._rng
        if kind == "new customer /start":
            key = CustomerKey("bench", f"new-{ref}")
            return kind, Start(key=key, inbound_id=ref, profile=PROFILE)
        if kind == "returning /start":
            return kind, Start(key=self._idle(), inbound_id=ref, profile=PROFILE)
        if kind == "check-in answer (button)":
            data = f"1:{rng.choice(('great', 'great', 'okay', 'bad'))}"
            return kind, ButtonPress(key=self._fresh("checkin"), data=data, inbound_id=ref)
        if kind == "rating (button)":
            # scores as surveys see them: mostly promoters, some passives, a few detractors
            score = rng.choice((10, 10, 9, 9, 9, 10, 8, 7, 8, 7, 3, 6, 9, 10, 5, 9, 10, 8, 9, 0))
            data = f"2:{score}"
            return kind, ButtonPress(key=self._fresh("rating"), data=data, inbound_id=ref)
        if kind == "comment":
            text = "delivery took a while but the staff were lovely"
            return kind, Text(key=self._fresh("comment"), text=text, inbound_id=ref)
        if kind == "purchase (shop)":
            amount = float(rng.randrange(5, 200))
            return kind, PurchaseRecorded(
                key=self._idle(), order_id=f"o-{ref}", amount=amount, inbound_id=f"shop:{ref}"
            )
        if kind in ("/help", "/status"):
            name = kind[1:]
            return kind, Command(key=self._idle(), name=name, inbound_id=ref, profile=PROFILE)
        return kind, Text(key=self._idle(), text="hello there", inbound_id=ref, profile=PROFILE)


async def throughput(rt, channel: StubChannel, work: Workload, messages: int, in_flight: int):
    events = [work.event() for _ in range(messages)]
    queue: Iterator[tuple[str, Event]] = iter(events)

    async def worker() -> None:
        for _, event in queue:
            await rt.engine.handle(event)

    gc.collect()
    sent = channel.sent
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    committed = time.perf_counter() - t0
    await rt.outbox.drain()  # what went through the table (purchases' rows, if any)
    delivered = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return messages / committed, messages / delivered, cpu / messages, channel.sent - sent


async def latency(rt, channel: StubChannel, work: Workload, rate: float, seconds: float):
    count = int(rate * seconds)
    events = [work.event() for _ in range(count)]
    commits: list[float] = []
    replies: list[float] = []
    offered: dict[str, float] = {}

    async def one(at: float, kind: str, event: Event) -> None:
        await rt.engine.handle(event)
        commits.append(time.perf_counter() - at)
        if kind in REPLIED:
            offered[event.key.id] = at

    gc.collect()
    channel.handed.clear()
    tasks = []
    cpu0 = time.process_time()
    start = time.perf_counter() + 0.05
    for n, (kind, event) in enumerate(events):
        at = start + n / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at, kind, event)))
    await asyncio.gather(*tasks)
    await rt.outbox.drain()
    cpu = time.process_time() - cpu0
    for key, at in offered.items():
        handed = channel.handed.get(key)
        replies.append(float("inf") if handed is None else handed - at)
    commits.sort()
    replies.sort()
    return commits, replies, cpu / count


async def run(args: argparse.Namespace) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "bench.db"
        await seed_customers(db, args.customers, states=ORDER)
        settings = load_settings(
            DATABASE_URL=f"sqlite:///{db}",
            SQLITE_SYNCHRONOUS=args.synchronous,
            LOG_LEVEL="WARNING",
            QUIET_HOURS="off",  # the figure must not depend on the hour it runs at
            _env_file=None,
        )
        channel = StubChannel()
        work = Workload(args.customers, seed=1)
        async with open_runtime(settings, SystemClock(), {"bench": channel}, StubChannel()) as rt:
            stop = asyncio.Event()
            outbox = asyncio.create_task(rt.outbox.run(stop, poll=0.05))
            await throughput(rt, channel, work, min(2000, args.messages), args.in_flight)  # warm
            rates, delivered, cpus = [], [], []
            commit_p, reply_p, lat_cpu = [], [], []
            for _ in range(args.repeats):  # interleaved: throughput, then latency, again
                rate, done, cpu, _sent = await throughput(
                    rt, channel, work, args.messages, args.in_flight
                )
                rates.append(rate)
                delivered.append(done)
                cpus.append(cpu)
                commits, replies, cpu = await latency(rt, channel, work, args.rate, args.seconds)
                commit_p.append([quantile(commits, q) * 1000 for q in (0.5, 0.99, 0.999)])
                reply_p.append([quantile(replies, q) * 1000 for q in (0.5, 0.99, 0.999)])
                lat_cpu.append(cpu)
            stop.set()
            await outbox
            templates = dict(sorted(channel.templates.items(), key=lambda kv: -kv[1])[:8])
    mix = ", ".join(f"{kind} {weight}%" for kind, weight in MIX.items())
    best = median(delivered)
    commit99 = median([p[1] for p in commit_p])
    reply99 = median([p[1] for p in reply_p])
    at_rate = args.rate >= 2000  # a lower offered rate says nothing about the target
    return [
        Result(
            "engine throughput, realistic mix",
            best,
            "msg/s",
            ">= 10,000 msg/s",
            best >= 10_000,
            f"{spread(delivered)}; {args.customers:,} customers in the DB, {args.in_flight} in "
            f"flight, synchronous={args.synchronous}; CPU {median(cpus) * 1e6:,.0f} µs/msg; "
            f"committed at {median(rates):,.0f} msg/s; mix: {mix}; "
            f"replies most sent: {templates}",
        ),
        Result(
            "latency offer → commit, p99",
            commit99,
            "ms",
            "<= 20 ms at 2,000 msg/s",
            commit99 <= 20 and at_rate,
            f"{args.rate:,.0f} msg/s offered for {args.seconds:g}s, open loop; p50 "
            f"{median([p[0] for p in commit_p]):.1f} ms, p99.9 "
            f"{median([p[2] for p in commit_p]):.1f} ms; p99 "
            f"{spread([p[1] for p in commit_p], '.1f')}; "
            f"CPU {median(lat_cpu) * 1e6:,.0f} µs/msg",
        ),
        Result(
            "latency offer → reply handed to channel, p99",
            reply99,
            "ms",
            "<= 50 ms at 2,000 msg/s",
            reply99 <= 50 and at_rate,
            f"p50 {median([p[0] for p in reply_p]):.1f} ms, p99.9 "
            f"{median([p[2] for p in reply_p]):.1f} ms; "
            f"p99 {spread([p[1] for p in reply_p], '.1f')}",
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
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args)):
        print(result.row())


if __name__ == "__main__":
    main()
