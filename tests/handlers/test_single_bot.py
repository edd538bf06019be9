"""One SQLite file, one running bot: a second `escalator run` refuses and names the holder; a
claim left by a killed bot never blocks the next start; the CLI keeps working beside the bot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.storage.claim import claim_path
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env
from tests.handlers.test_telegram_process import ROOT, start_bot


async def refusal(bot: asyncio.subprocess.Process) -> tuple[int, str]:
    code = await asyncio.wait_for(bot.wait(), timeout=30)
    assert bot.stderr is not None
    return code, (await bot.stderr.read()).decode()


async def answers(api: FakeBotApi, user: int, text: str) -> None:
    before = len(api.texts_to(user))
    api.text(user, text)
    await api.wait_for(lambda: len(api.texts_to(user)) > before, timeout=30)


async def stop(*bots: asyncio.subprocess.Process) -> None:
    for bot in bots:
        if bot.returncode is None:
            bot.terminate()
            await bot.wait()


async def test_a_second_bot_refuses_naming_the_holder_and_the_first_keeps_answering(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    first = await start_bot(api, db)
    try:
        await answers(api, 4000, "/start")
        second = await start_bot(api, db)
        code, errors = await refusal(second)
        assert code == 1, errors
        assert f"pid {first.pid} on " in errors and "started 20" in errors
        assert "more than one, use PostgreSQL (DATABASE_URL=postgresql://...)" in errors
        assert "Traceback" not in errors
        await answers(api, 4000, "/help")
        assert first.returncode is None
    finally:
        await stop(first)


async def test_a_claim_left_by_a_killed_bot_does_not_block_the_next_start(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    first = await start_bot(api, db)
    try:
        await answers(api, 4100, "/start")
        first.kill()
        await first.wait()
        assert str(first.pid) in claim_path(db).read_text()  # the dead holder's details remain
        again = await start_bot(api, db)
        await answers(api, 4100, "/help")
        assert again.returncode is None
    finally:
        await stop(first)
        await stop(again)


async def test_two_bots_started_at_once_on_a_fresh_file_exactly_one_runs(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "fresh.db"
    bots = await asyncio.gather(start_bot(api, db), start_bot(api, db))
    try:
        done, _ = await asyncio.wait(
            [asyncio.create_task(bot.wait()) for bot in bots],
            timeout=30,
            return_when="FIRST_COMPLETED",
        )
        assert len(done) == 1, "neither bot refused"
        loser = next(bot for bot in bots if bot.returncode is not None)
        winner = next(bot for bot in bots if bot is not loser)
        code, errors = await refusal(loser)
        assert code == 1 and "in use by another running bot" in errors, errors
        assert "Traceback" not in errors
        await answers(api, 4200, "/start")
        assert winner.returncode is None
    finally:
        await stop(*bots)
    assert bots[0].stderr is not None and bots[1].stderr is not None
    for bot in bots:
        assert "Traceback" not in (await bot.stderr.read()).decode()


async def cli(db: Path, api: FakeBotApi, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(bot_env(api, db))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_a_cli_purchase_beside_the_running_bot_is_recorded_and_counted_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    bot = await start_bot(api, db)
    try:
        await answers(api, 4300, "/start")
        for _ in range(2):
            code, output = await cli(db, api, "purchase", "4300", "--order-id", "A-1")
            assert code == 0, output
        assert "was already recorded: nothing changed" in output
        code, shown = await cli(db, api, "customer", "show", "4300")
        assert code == 0, shown
        await answers(api, 4300, "/status")
        assert bot.returncode is None
    finally:
        await stop(bot)
    assert "stage     customer" in shown
    assert shown.count("purchase") == 1, shown
