"""Prompt, safe shutdown of the real bot process: SIGTERM with a queue of ~900 messages exits
within SHUTDOWN_GRACE, records every message the platform accepted and leaves the rest queued
for the next start (which sends each exactly once); a second signal exits at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.clock import ManualClock
from tests.conftest import ROOT_DIR, sql_file
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env, running_bot
from tests.handlers.test_telegram_pacing import seed_checkins

QUEUED = range(20_000, 20_900)


@asynccontextmanager
async def bot_process(
    api: FakeBotApi, db: Path, log: Path, **extra: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, **bot_env(api, db, **extra), "PYTHONPATH": str(ROOT_DIR)}
    with log.open("wb") as out:
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, stdout=out, stderr=out, cwd=ROOT_DIR
        )
    try:
        yield bot
    finally:
        if bot.returncode is None:  # the test failed before the bot exited
            bot.kill()
            await bot.wait()


async def wait_for_log(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{log.read_text()[-2000:]}"
        await asyncio.sleep(0.02)


async def test_sigterm_with_900_queued_exits_within_the_grace_and_loses_nothing(
    api: FakeBotApi, tmp_path: Path
) -> None:
    api.bulk_limit = 30
    db, log = tmp_path / "t.db", tmp_path / "bot.log"
    await seed_checkins(db, QUEUED)
    async with bot_process(api, db, log, SHUTDOWN_GRACE="5", TELEGRAM_RATE_PER_CHAT="1") as bot:
        await api.wait_for(lambda: api.count("sendMessage") >= 45, timeout=60)
        asked = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 30)
        took = time.monotonic() - asked
    print(f"shutdown with {len(QUEUED) - api.count('sendMessage')} queued took {took:.2f}s")
    assert code == 0, log.read_text()[-2000:]
    assert took < 5.0  # SHUTDOWN_GRACE; draining the queue at 30/s would take ~28 s
    delivered = api.count("sendMessage")
    rows = dict(sql_file(db, "SELECT status, count(*) FROM outbox GROUP BY status"))
    assert rows.get("sent") == delivered  # every accepted send recorded before exiting
    assert rows.get("pending") == len(QUEUED) - delivered  # the rest waits in the outbox
    assert sql_file(db, "SELECT count(*) FROM outbox WHERE lease_until > 0") == [(0,)]

    api.bulk_limit = None
    async with running_bot(api, db, ManualClock(), TELEGRAM_RATE_OVERALL="1000"):
        await api.wait_for(lambda: api.count("sendMessage") >= len(QUEUED), timeout=60)
    assert sorted({len(api.texts_to(user)) for user in QUEUED}) == [1]  # once each, none twice


async def test_a_second_signal_exits_at_once(api: FakeBotApi, tmp_path: Path) -> None:
    api.stalled = True  # the platform takes the requests and never answers
    db, log = tmp_path / "t.db", tmp_path / "bot.log"
    await seed_checkins(db, range(30_000, 30_050))
    settings = {"SHUTDOWN_GRACE": "60", "TELEGRAM_RATE_PER_CHAT": "1", "LOG_LEVEL": "INFO"}
    async with bot_process(api, db, log, **settings) as bot:
        await api.wait_for(lambda: api.attempts("sendMessage") >= 5, timeout=60)
        bot.send_signal(signal.SIGTERM)
        await wait_for_log(log, "finishing the sends on their way")
        assert bot.returncode is None  # the first signal waits for the sends on the wire
        asked = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), 30)
        took = time.monotonic() - asked
    assert code == 0, log.read_text()[-2000:]
    assert took < 2.0, took  # at once, not after the 60 s grace
    # nothing was accepted, so nothing is recorded sent; every message waits for the next start
    assert sql_file(db, "SELECT status, count(*) FROM outbox GROUP BY status") == [("pending", 50)]
