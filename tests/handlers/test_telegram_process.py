"""The bot as a real process: SIGKILL mid-journey loses and repeats nothing; SIGTERM is clean."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env

ROOT = Path(__file__).resolve().parents[2]


async def start_bot(api: FakeBotApi, db: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(bot_env(api, db, TELEGRAM_RATE_PER_CHAT="5", LOG_LEVEL="WARNING"))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigkill_mid_journey_loses_and_repeats_nothing(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    users = list(range(2000, 2040))
    bot = await start_bot(api, db)
    try:
        for user in users:
            api.text(user, "/start")
            api.text(user, "/help")
        # some customers have been answered when Telegram stops answering; the bot dies with
        # sends in flight (and the rest of its work undone)
        await api.wait_for(lambda: api.count("sendMessage") >= 5, timeout=30)
        api.stalled = True
        await asyncio.sleep(0.5)  # what Telegram accepted has been recorded by now
        bot.kill()
        await bot.wait()
        answered_before = api.count("sendMessage")
        assert answered_before < 2 * len(users), "the kill came too late to test anything"
        api.stalled = False
        for user in users:
            api.text(user, "/status")
        bot = await start_bot(api, db)
        await api.wait_for(lambda: all(len(api.texts_to(u)) >= 3 for u in users), timeout=60)
        await asyncio.sleep(0.5)
    finally:
        if bot.returncode is None:
            bot.terminate()
            await bot.wait()
    for user in users:
        texts = api.texts_to(user)
        assert len(texts) == 3, (user, [t[:25] for t in texts])
        assert "Welcome" in texts[0] and "/status" in texts[1] and "Stage:" in texts[2]


async def test_sigterm_stops_cleanly_within_seconds(api: FakeBotApi, tmp_path: Path) -> None:
    bot = await start_bot(api, tmp_path / "t.db")
    api.text(3000, "/start")
    await api.wait_for(lambda: len(api.texts_to(3000)) == 1, timeout=30)
    bot.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(bot.wait(), timeout=10)
    assert bot.stderr is not None
    errors = (await bot.stderr.read()).decode()
    assert code == 0, errors
    assert "Traceback" not in errors
