from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest_asyncio

from bot.app import Runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.service import run_service
from tests.fakes.telegram_api import FakeBotApi


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_env() -> dict[str, str]:
    """Settings for webhook mode on a free local port (the fake Bot API POSTs updates there)."""
    port = free_port()
    return {
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/tg/hook",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-Token_1",
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }


def bot_env(api: FakeBotApi, db: Path, **extra: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api.port}",
        "DATABASE_URL": f"sqlite:///{db}",
        "SCHEDULER_INTERVAL": "0.05",
        "TELEGRAM_RATE_PER_CHAT": "50",
        # most of these tests run on the wall clock: without this, a run at night would hold
        # check-ins for the morning (quiet hours are tested on a fixed clock elsewhere)
        "QUIET_HOURS": "off",
        **extra,
    }


@asynccontextmanager
async def running_bot(
    api: FakeBotApi, db: Path, clock: ManualClock, **extra: str
) -> AsyncIterator[Runtime]:
    settings = load_settings(**bot_env(api, db, **extra))
    stop = asyncio.Event()
    started: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()

    async def ready(runtime: Runtime) -> None:
        started.set_result(runtime)

    task = asyncio.create_task(run_service(settings, stop, clock, ready))
    done, _ = await asyncio.wait({task, started}, timeout=15, return_when="FIRST_COMPLETED")
    if task in done:
        task.result()  # raises what went wrong
    assert started in done, "the bot did not start"
    try:
        yield started.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
