"""Several bot processes on one PostgreSQL database, as a host runs them: three `web` workers
(real `python -m bot run` processes) behind one URL, 2,000 updates from 200 customers spread
over them, one worker SIGKILLed mid-run and started again; then a wave of unprompted messages
from jobs that all fall due at once. And the one rule polling keeps: a second poller refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bot.api import record_purchase
from bot.app import policy_from
from bot.clock import SystemClock
from bot.config import load_settings
from bot.delivery.engine import Engine, Outcome
from bot.flows.model import CustomerKey
from bot.storage import open_storage
from tests.fakes.balancer import Balancer
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import free_port
from tests.handlers.test_telegram_process import ROOT

USERS = list(range(7000, 7200))
ROUNDS = 10  # /start, then /help and /status by turns: 2,000 updates
SECRET = "s3cret-Token_1"
SEND_TO_RECORD = 8.0
"""Seconds between Telegram accepting a message and the worker recording it, at most, on a busy
test machine (normally milliseconds: one commit; up to 5 s seen at load average 12 on 2 cores);
a worker killed in between sends it again."""


def expected(n: int) -> str:
    return "W" if n == 0 else ("H" if n % 2 else "S")


def label(text: str) -> str:
    for mark, name in (("Welcome", "W"), ("Here's what I can do", "H"), ("Your journey", "S")):
        if mark in text:
            return name
    return text[:30]


def distinct(api: FakeBotApi, user: int) -> list[str]:
    """What `user` was sent, a message repeated straight after itself counted once."""
    labels = [label(text) for text in api.texts_to(user)]
    return [x for n, x in enumerate(labels) if n == 0 or x != labels[n - 1]]


def worker_env(api: FakeBotApi, url: str, front: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{api.port}",
        DATABASE_URL=url,
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_URL=f"{front}/tg/hook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        HOST="127.0.0.1",
        PORT=str(port),
        SCHEDULER_INTERVAL="0.05",
        TELEGRAM_RATE_PER_CHAT="1",
        WORK_LEASE="20",  # the killed worker's work is taken over within the test
        SHUTDOWN_GRACE="2",
        CHECKIN_DELAY="7d",  # no check-in in the way of the conversation
        POST_PURCHASE_CHECKIN="1s",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


class Worker:
    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env = env
        self.log = log
        self.args = args
        self.port = int(env["PORT"])
        self.process: asyncio.subprocess.Process | None = None
        self.codes: list[int] = []

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                *self.args,
                cwd=ROOT,
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )

    async def listening(self, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert self.process is not None and self.process.returncode is None, self.errors()
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            assert asyncio.get_running_loop().time() < deadline, "the worker did not start"
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.codes.append(await self.process.wait())

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            self.codes.append(await asyncio.wait_for(self.process.wait(), 30))

    def errors(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.asynccontextmanager
async def workers(
    api: FakeBotApi, url: str, tmp_path: Path, count: int
) -> AsyncIterator[tuple[Balancer, list[Worker]]]:
    ports = [free_port() for _ in range(count)]
    balancer = Balancer(ports)
    front = await balancer.start()
    # the first takes its role from ESCALATOR_ROLE, the others from --role
    started = [
        Worker(
            worker_env(api, url, front, port, **({"ESCALATOR_ROLE": "web"} if n == 0 else {})),
            tmp_path / f"worker{n}.log",
            *(() if n == 0 else ("--role", "web")),
        )
        for n, port in enumerate(ports)
    ]
    try:
        await asyncio.gather(*(w.start() for w in started))
        await asyncio.gather(*(w.listening() for w in started))
        await api.wait_for(lambda: api.webhook is not None, timeout=30)
        yield balancer, started
    finally:
        await asyncio.gather(*(w.stop() for w in started), return_exceptions=True)
        await balancer.stop()


def unprompted_peak(api: FakeBotApi, since: float) -> int:
    """The most unprompted sendMessage arrivals in any one-second window after `since`."""
    times = [a.at for a in api.arrivals if not a.reply and a.at >= since]
    peak, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


async def test_three_web_workers_answer_every_update_once_in_order_through_a_kill(
    tmp_path: Path, pg_url: str
) -> None:
    # a customer who wrote in the last two minutes gets replies (this machine may be slow)
    api = FakeBotApi(bulk_limit=30, chat_limit=1, webhook_connections=40, reply_window=120)
    await api.start()
    try:
        async with workers(api, pg_url, tmp_path, 3) as (balancer, running):
            await _conversations(api, running)
            await _wave(api, pg_url)
        for worker in running:
            assert worker.codes[-1] == 0, worker.errors()
            assert "Traceback" not in worker.errors(), worker.errors()
        assert all(balancer.served[w.port] > 100 for w in running), balancer.served
    finally:
        await api.stop()


async def _conversations(api: FakeBotApi, running: list[Worker]) -> None:
    victim = running[1]
    for n in range(ROUNDS):
        for user in USERS:
            api.text(user, "/start" if n == 0 else ("/help" if n % 2 else "/status"))
        await asyncio.sleep(0.3)  # one customer's next update comes while the last is handled
    # a worker dies mid-run: with updates in hand, replies on their way, perhaps the sender role
    await api.wait_for(lambda: api.count("sendMessage") >= 700, timeout=60)
    await victim.kill()
    killed_at = time.monotonic()  # the stand-in's clock
    assert victim.codes == [-9]
    await asyncio.sleep(1.0)
    await victim.start()
    await victim.listening()
    await api.wait_for(lambda: all(len(distinct(api, u)) >= ROUNDS for u in USERS), timeout=90)
    await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
    repeats = []
    for user in USERS:
        labels = [label(text) for text in api.texts_to(user)]
        once = distinct(api, user)
        # every update answered, in the customer's order (a repeat is the same message again)
        assert once == [expected(n) for n in range(ROUNDS)], (user, labels)
        accepted = [a.at for a in api.arrivals if a.chat == user and a.status == 200]
        repeats += [
            (accepted[n - 1], accepted[n])
            for n in range(1, len(labels))
            if labels[n] == labels[n - 1]
        ]
    ages = sorted(round(killed_at - first, 2) for first, _ in repeats)
    print(f"{len(repeats)} sent twice; accepted this long before the kill: {ages}", flush=True)
    # only sends of the killed worker that Telegram accepted in its last moments, before it
    # recorded them, go out again (after it died)
    for first, again in repeats:
        assert killed_at - SEND_TO_RECORD <= first <= killed_at < again, (first, killed_at)
    # replies never wait for (or count against) the bulk budget
    assert api.count("sendMessage") == len(USERS) * ROUNDS + len(repeats)


async def _wave(api: FakeBotApi, url: str) -> None:
    """Every customer buys at once: each post-purchase check-in, due at the same second on three
    schedulers, fires once, and the unprompted messages stay within 30 a second together."""
    api.reply_window = 0.5  # from now on Telegram counts what we send as bulk
    await asyncio.sleep(1.0)
    since = asyncio.get_running_loop().time()
    before = {user: len(api.texts_to(user)) for user in USERS}
    settings = load_settings(DATABASE_URL=url, POST_PURCHASE_CHECKIN="1s", CHECKIN_DELAY="7d")
    storage = await open_storage(url)
    try:
        engine = Engine(storage.journey, policy_from(settings, b"unused"), SystemClock())
        for user in USERS:
            key = CustomerKey("telegram", str(user))
            outcome = await record_purchase(engine, storage.journey, key, f"O-{user}", 10.0)
            assert outcome is Outcome.DONE
    finally:
        await storage.close()
    await api.wait_for(
        lambda: all(any("your order" in t for t in api.texts_to(u)[before[u] :]) for u in USERS),
        timeout=60,
    )
    await asyncio.sleep(1.0)
    for user in USERS:
        later = api.texts_to(user)[before[user] :]
        assert sum("your order" in t for t in later) == 1, (user, later)
    unprompted = [a for a in api.arrivals if not a.reply and a.at >= since]
    assert len(unprompted) >= len(USERS)
    assert [a for a in unprompted if a.status == 429] == []
    assert unprompted_peak(api, since) <= 30


async def test_a_second_poller_on_one_database_refuses_naming_the_first(
    tmp_path: Path, pg_url: str
) -> None:
    api = FakeBotApi()
    await api.start()
    env = worker_env(api, pg_url, "http://unused", free_port(), ESCALATOR_ROLE="all")
    env.update(TELEGRAM_MODE="polling")
    first = Worker(env, tmp_path / "first.log")
    second = Worker(env, tmp_path / "second.log")
    try:
        await first.start()
        api.text(7500, "/start")
        await api.wait_for(lambda: len(api.texts_to(7500)) == 1, timeout=30)
        await second.start()
        assert second.process is not None
        code = await asyncio.wait_for(second.process.wait(), 30)
        errors = second.errors()
        assert code == 1, errors
        assert "another process is already polling Telegram for this database" in errors
        assert first.process is not None and f"pid {first.process.pid} on " in errors
        assert "TELEGRAM_MODE=webhook" in errors and "Traceback" not in errors
        api.text(7500, "/help")
        await api.wait_for(lambda: len(api.texts_to(7500)) == 2, timeout=30)
    finally:
        await first.stop()
        await second.stop()
        await api.stop()
    assert first.codes == [0], first.errors()
