"""No lost update across real OS processes: the running bot and a loop of `escalator purchase`
processes on the same customers; and two playgrounds on one database. (A second `escalator run`
on one SQLite file refuses to start, see tests/handlers/test_single_bot.py; several bot
processes on one database are PostgreSQL's to serve.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from bot.flows.model import CustomerKey
from bot.storage import open_storage
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env
from tests.handlers.test_telegram_process import ROOT, start_bot

USERS = list(range(5000, 5010))
ROUNDS = 3


async def escalator(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def journeys(
    db: Path, keys: list[CustomerKey]
) -> dict[CustomerKey, tuple[int, Counter[str]]]:
    storage = await open_storage(f"sqlite:///{db}")
    try:
        found = {}
        for key in keys:
            customer = await storage.journey.customer(key, history=500)
            assert customer is not None, key
            moves = Counter(
                f"{h.event}:{h.to_stage}"
                for h in customer.history
                if h.from_stage and h.to_stage and h.from_stage != h.to_stage
            )
            found[key] = (customer.purchases, moves)
        return found
    finally:
        await storage.close()


async def _until_every_hello_is_kept(db: Path, hellos: int) -> None:
    """Wait (with a deadline) until each customer's conversation holds every hello."""

    def counts() -> list[int]:
        with contextlib.closing(sqlite3.connect(db)) as con:
            return [
                con.execute(
                    "SELECT count(*) FROM conversation "
                    "WHERE customer_id = ? AND text LIKE 'hello %'",
                    (f"telegram:{user}",),
                ).fetchone()[0]
                for user in USERS
            ]

    deadline = asyncio.get_running_loop().time() + 90
    while counts() != [hellos] * len(USERS):
        assert asyncio.get_running_loop().time() < deadline, counts()
        await asyncio.sleep(0.1)


async def test_the_running_bot_and_cli_purchases_lose_no_update(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(bot_env(api, db))
    bot = await start_bot(api, db)
    try:
        for user in USERS:
            api.text(user, "/start")
        await api.wait_for(lambda: all(api.texts_to(u) for u in USERS), timeout=60)
        orders = [(user, n) for n in range(ROUNDS) for user in USERS]
        running = asyncio.Semaphore(4)

        async def purchase(user: int, n: int) -> None:
            async with running:
                code, output = await escalator(
                    env, "purchase", str(user), "--order-id", f"O-{user}-{n}"
                )
            assert code == 0, output

        async def chatter() -> None:
            # the bot writes to the same customers meanwhile: each answer is a commit
            for n in range(ROUNDS * 2):
                for user in USERS:
                    api.text(user, f"hello {n}")
                await asyncio.sleep(0.2)

        await asyncio.gather(chatter(), *(purchase(user, n) for user, n in orders))
        # the welcome, and "a person will answer" to the first hello; every hello is a commit
        # (it goes to the customer's conversation for staff)
        await api.wait_for(lambda: all(len(api.texts_to(u)) >= 2 for u in USERS), timeout=90)
        await _until_every_hello_is_kept(db, ROUNDS * 2)
    finally:
        bot.terminate()
        await bot.wait()
    found = await journeys(db, [CustomerKey("telegram", str(u)) for u in USERS])
    for key, (purchases, moves) in found.items():
        assert purchases == ROUNDS, key
        assert moves == Counter({"first_answer:engaged": 1, "purchase:customer": 1}), (key, moves)


async def test_two_playgrounds_on_one_database_lose_no_update(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    people = [str(n) for n in range(1, 11)]
    setup = "".join(f"/as {p}\n/start\n" for p in people)
    code, output = await escalator(env, "console", stdin=setup)
    assert code == 0, output

    def script(side: str) -> str:
        lines = []
        for n in range(ROUNDS):
            for p in people:
                lines += [f"/as {p}", f"hello from {side}", f"/purchase {side}-{p}-{n} 9.5"]
        return "\n".join(lines) + "\n"

    results = await asyncio.gather(
        escalator(env, "console", stdin=script("A")),
        escalator(env, "console", stdin=script("B")),
    )
    for code, output in results:
        assert code == 0, output
        assert "Traceback" not in output
    found = await journeys(db, [CustomerKey("console", p) for p in people])
    for key, (purchases, moves) in found.items():
        assert purchases == 2 * ROUNDS, key
        assert moves == Counter({"first_answer:engaged": 1, "purchase:customer": 1}), (key, moves)
