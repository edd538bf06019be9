"""Telegram end to end: updates per second through python-telegram-bot's real
`Application.process_update` -> our handler -> engine -> commit -> outbox -> `sendMessage`
(stubbed at the HTTP layer), side by side with a bare python-telegram-bot ConversationHandler
doing the same 3-step flow with no persistence, in the same run.

Each of `--users` users sends /start, then two texts; every update is answered with one message.
A run ends when every answer has been handed to the (stubbed) Bot API. Our send pacing is lifted
for this measurement (the network is not there to protect); the broadcast benchmark measures it.

    python bench/telegram_e2e.py [--users 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, StubChannel, environment
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from bot.app import open_runtime
from bot.clock import SystemClock
from bot.config import load_settings
from bot.handlers.telegram import TelegramBridge, TelegramChannel
from bot.delivery.ratelimit import RateLimiter

ME = {"id": 1, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}


class StubRequest(BaseRequest):
    """The Bot API, answered in-process: counts sendMessage calls."""

    def __init__(self) -> None:
        self.sent = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        result: Any = True
        if endpoint == "getMe":
            result = ME
        elif endpoint == "sendMessage":
            self.sent += 1
            if self.sent >= self.expected:
                self.done.set()
            params = request_data.parameters if request_data else {}
            chat = int(str(params.get("chat_id", 0)))
            result = {
                "message_id": self.sent,
                "date": 0,
                "chat": {"id": chat, "type": "private"},
                "text": str(params.get("text", "")),
            }
        return 200, json.dumps({"ok": True, "result": result}).encode()


def updates(bot: Any, users: int) -> list[list[Update]]:
    per_user = []
    counter = 0
    for user in range(users):
        steps = []
        for text in ("/start", "fine thanks", "yes please"):
            counter += 1
            message = {
                "message_id": counter,
                "date": 0,
                "text": text,
                "chat": {"id": 10_000 + user, "type": "private", "first_name": "U"},
                "from": {
                    "id": 10_000 + user,
                    "is_bot": False,
                    "first_name": "U",
                    "language_code": "en",
                },
            }
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
            steps.append(Update.de_json({"update_id": counter, "message": message}, bot))
        per_user.append(steps)
    return per_user


def application(stub: StubRequest) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token("1:bench")
        .request(stub)
        .get_updates_request(stub)
        .updater(None)
        .build()
    )


async def feed(app: Any, per_user: list[list[Update]]) -> None:
    async def user(steps: list[Update]) -> None:
        for update in steps:
            await app.process_update(update)

    await asyncio.gather(*(user(steps) for steps in per_user))


async def bare(users: int) -> float:
    stub = StubRequest()
    stub.expected = users * 3
    app = application(stub)
    ASK, CONFIRM = range(2)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Welcome! How is it going?")  # type: ignore[union-attr]
        return ASK

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Thanks! Anything else?")  # type: ignore[union-attr]
        return CONFIRM

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Got it, bye!")  # type: ignore[union-attr]
        return ConversationHandler.END

    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={ASK: [MessageHandler(text, ask)], CONFIRM: [MessageHandler(text, confirm)]},
            fallbacks=[],
        )
    )
    async with app:
        per_user = updates(app.bot, users)
        t0 = time.perf_counter()
        await feed(app, per_user)
        await stub.done.wait()
        return users * 3 / (time.perf_counter() - t0)


async def ours(users: int) -> float:
    stub = StubRequest()
    stub.expected = users * 3
    app = application(stub)
    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(DATABASE_URL=f"sqlite:///{scratch}/e2e.db", _env_file=None)
        unpaced = RateLimiter(1e9, 1e9)
        channel = TelegramChannel(app.bot, unpaced)
        async with (
            open_runtime(settings, SystemClock(), {"telegram": channel}, StubChannel()) as rt,
            app,
        ):
            TelegramBridge(app, rt.engine.handle, rt.renderer, unpaced)
            stop = asyncio.Event()
            outbox = asyncio.create_task(rt.outbox.run(stop, poll=0.05))
            per_user = updates(app.bot, users)
            t0 = time.perf_counter()
            await feed(app, per_user)
            await stub.done.wait()
            rate = users * 3 / (time.perf_counter() - t0)
            stop.set()
            await outbox
    return rate


async def run(users: int) -> list[Result]:
    framework = await bare(users)
    escalator = await ours(users)
    ratio = escalator / framework
    return [
        Result(
            "telegram e2e (bare PTB)",
            framework,
            "updates/s",
            "reference",
            True,
            f"ConversationHandler, 3 steps, no persistence, {users:,} users",
        ),
        Result(
            "telegram e2e (Escalator)",
            escalator,
            "updates/s",
            ">= 0.8x the bare framework",
            ratio >= 0.8,
            f"{ratio:.2f}x the bare framework; every update committed to SQLite "
            "before its answer is sent",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    print(environment())
    for result in asyncio.run(run(args.users)):
        print(result.row())


if __name__ == "__main__":
    main()
