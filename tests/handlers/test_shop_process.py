"""The shop's webhooks against the bot as a real process: killed (SIGKILL) right after it answered
200, every delivery it answered is handled after the restart, and none twice."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.flows.linking import mint
from tests.fakes.shops import ShopClient, shop_env
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env, free_port

ROOT = Path(__file__).resolve().parents[2]
LINK_SECRET = shop_env()["SHOP_LINK_SECRET"].encode()


async def start_bot(api: FakeBotApi, db: Path, port: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(bot_env(api, db, LOG_LEVEL="WARNING", PORT=str(port), HOST="127.0.0.1"))
    env.update(shop_env())
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return bot
            except aiohttp.ClientError:
                pass
            assert bot.returncode is None, "the bot exited"
            assert time.monotonic() < deadline, "the bot's web server did not come up"
            await asyncio.sleep(0.05)


def value(db: Path, query: str) -> int:
    with closing(sqlite3.connect(db)) as connection:
        return int(connection.execute(query).fetchone()[0] or 0)


async def test_sigkill_right_after_200_loses_nothing(api: FakeBotApi, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    port = free_port()
    bot = await start_bot(api, db, port)
    shop = ShopClient(f"http://127.0.0.1:{port}")
    try:
        expires = datetime.now(UTC) + timedelta(days=1)
        api.text(21, f"/start {mint(LINK_SECRET, 'c', 'SHOP-21', expires)}")
        await api.wait_for(lambda: any("connected" in t for t in api.texts_to(21)), timeout=30)
        forms = [
            {
                "order_id": f"K-{n}",
                "status": "paid",
                "customer_ref": "SHOP-21" if n % 10 == 0 else f"GUEST-{n}",
                "amount": "2.50",
                "currency": "EUR",
            }
            for n in range(500)
        ]
        answers = await asyncio.gather(*(shop.purchases(form) for form in forms))
        bot.kill()  # right after the last 200: whatever was answered must not be lost
        await bot.wait()
        assert [answer.status for answer in answers] == [200] * len(forms)
        handled_before = value(db, "SELECT count(*) FROM shop_events")
        assert handled_before < len(forms), "the kill came too late to test anything"

        bot = await start_bot(api, db, port)
        deadline = time.monotonic() + 90
        while value(db, "SELECT count(*) FROM shop_events") < len(forms) or value(
            db, "SELECT count(*) FROM inbox"
        ):
            assert time.monotonic() < deadline, "the deliveries were not all handled"
            await asyncio.sleep(0.05)
    finally:
        await shop.close()
        if bot.returncode is None:
            bot.terminate()
            await bot.wait()
    assert value(db, "SELECT count(*) FROM shop_orders") == len(forms)
    assert value(db, "SELECT count(*) FROM shop_orders WHERE customer_id IS NOT NULL") == 50
    assert value(db, "SELECT purchases FROM customers WHERE id = 'telegram:21'") == 50
    assert value(db, "SELECT count(*) FROM purchases") == 50
