"""Telegram end to end, over real HTTP, beside bare python-telegram-bot in the same run.

A local Bot API stand-in (`tests/fakes/telegram_api.py`, in this process) holds the updates and
counts the answers, with Telegram's limits on (30 unprompted messages a second, one a second per
chat). Each side runs in a child process of its own and long-polls the stand-in:

- **Escalator**: `python -m bot run`, exactly as production runs it: updates stored in the
  durable inbox before they are confirmed, handled through python-telegram-bot's `Application`,
  committed to SQLite (synchronous=FULL), answered through the outbox with production pacing
  (per chat, the reply ceiling, the bulk budget).
- **Bare PTB**: an `Application` with one `ConversationHandler` (/start, then two texts), the
  state in memory, each update answered with `reply_text`, PTB's defaults otherwise (its httpx
  transport; updates one at a time, which measured faster here than concurrently).

`--users` users each write three messages (/start, two texts) in three waves; a wave is
released at once, and the next only a second after the previous wave's last answer (people do
not write faster than that, and a chat's answers are a second apart). The figure is updates
answered per second of busy time (from a wave's release to its last answer), over a warm-up
wave and then the measured ones; the two sides alternate for `--rounds` rounds, and the ratio is
the median of the rounds' ratios. CPU is the child process's, per update.

    python bench/telegram_e2e.py [--users 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Result, bot_api_stand_in, environment, spread

FakeBotApi = bot_api_stand_in()


BARE_CONCURRENT = os.environ.get("BARE_CONCURRENT", "0") == "1"
"""PTB handles updates one at a time by default; concurrently (=1) it measured slower here
(httpx's pool scan grows with the connections opened), so the default is the reference."""
STEPS = ("/start", "fine thanks", "yes please")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(api: Any, users: range, pid: int) -> tuple[float, float]:
    """Release the waves; return (updates per busy second, CPU seconds per update)."""
    busy = 0.0
    cpu = 0.0
    own0 = time.process_time()
    for text in STEPS:
        expected = len(api.send_times) + len(users)
        cpu0 = cpu_seconds(pid)
        released = time.monotonic()
        for user in users:
            api.text(user, text)
        await api.wait_for(lambda expected=expected: len(api.send_times) >= expected, 600)
        last = api.send_times[-1]
        busy += last - released
        cpu += cpu_seconds(pid) - cpu0
        await asyncio.sleep(max(0.0, last + 1.05 - time.monotonic()))  # people pause to read
    own = time.process_time() - own0
    print(f"stand-in CPU {own / (len(users) * len(STEPS)) * 1e6:.0f} µs/update", file=sys.stderr)
    return len(users) * len(STEPS) / busy, cpu / (len(users) * len(STEPS))


async def one_side(side: str, users: int, scratch: Path) -> tuple[float, float, int]:
    api = FakeBotApi(bulk_limit=30, chat_limit=1)
    await api.start()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        if side == "escalator":
            db = scratch / f"e2e-{time.monotonic_ns()}.db"
            env.update(
                TELEGRAM_BOT_TOKEN=api.token,
                TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{api.port}",
                DATABASE_URL=f"sqlite:///{db}",
            )
            command = [sys.executable, "-m", "bot", "run"]
        else:
            command = [sys.executable, __file__, "--bare-child", str(api.port), api.token]
        child = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL
        )
        profile = os.environ.get("BENCH_PROFILE") if side == "escalator" else None
        spy = None
        if profile:  # a sampling profile of the bot (py-spy without --gil: C time too)
            spy = await asyncio.create_subprocess_exec(
                "py-spy",
                "record",
                "-r",
                "500",
                "-f",
                "raw",
                "-o",
                profile,
                "--pid",
                str(child.pid),
                stdout=asyncio.subprocess.DEVNULL,
            )
        try:
            await api.wait_for(lambda: api.count("deleteWebhook") > 0, timeout=60)
            await drive(api, range(100_000, 100_000 + max(20, users // 4)), child.pid)  # warm
            rate, cpu = await drive(api, range(1, users + 1), child.pid)
        finally:
            if spy is not None:
                spy.send_signal(2)
                await spy.wait()
            child.terminate()
            await asyncio.wait_for(child.wait(), 30)
        return rate, cpu, api.flood_hits
    finally:
        await api.stop()


async def run(users: int, rounds: int) -> list[Result]:
    figures: dict[str, list[float]] = {"bare": [], "escalator": []}
    cpus: dict[str, list[float]] = {"bare": [], "escalator": []}
    floods = 0
    ratios = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(rounds):  # interleaved: bare, ours, bare, ours, ...
            for side in ("bare", "escalator"):
                rate, cpu, hits = await one_side(side, users, Path(scratch))
                figures[side].append(rate)
                cpus[side].append(cpu)
                floods += hits
            ratios.append(figures["escalator"][-1] / figures["bare"][-1])
    bare = statistics.median(figures["bare"])
    ours = statistics.median(figures["escalator"])
    ratio = statistics.median(ratios)
    return [
        Result(
            "telegram e2e, bare PTB ConversationHandler",
            bare,
            "updates/s",
            "reference",
            None,
            f"{spread(figures['bare'])}; state in memory, PTB's defaults "
            "(httpx, one update at a time); "
            f"CPU {statistics.median(cpus['bare']) * 1e6:,.0f} µs/update; {users:,} users × 3",
        ),
        Result(
            "telegram e2e, Escalator (inbox, SQLite FULL, production pacing)",
            ours,
            "updates/s",
            ">= 0.8x bare PTB",
            ratio >= 0.8,
            f"{ratio:.2f}x bare (median of {rounds} interleaved rounds' ratios: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); {spread(figures['escalator'])}; "
            f"CPU {statistics.median(cpus['escalator']) * 1e6:,.0f} µs/update; "
            f"{floods} HTTP 429 from the stand-in",
        ),
    ]


def bare_child(port: int, token: str) -> None:
    """Bare python-telegram-bot: one ConversationHandler, polling the stand-in."""
    from telegram import Update
    from telegram.ext import (
        ApplicationBuilder,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        filters,
    )

    ask, confirm = range(2)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Welcome! How is it going?")  # type: ignore[union-attr]
        return ask

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Thanks! Anything else?")  # type: ignore[union-attr]
        return confirm

    async def done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await update.effective_message.reply_text("Got it, bye!")  # type: ignore[union-attr]
        return ConversationHandler.END

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"http://127.0.0.1:{port}/bot")
        .concurrent_updates(BARE_CONCURRENT)
        .build()
    )
    text = filters.TEXT & ~filters.COMMAND
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={ask: [MessageHandler(text, answer)], confirm: [MessageHandler(text, done)]},
            fallbacks=[],
        )
    )
    app.run_polling(poll_interval=0, timeout=25, allowed_updates=["message"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-child", nargs=2, metavar=("PORT", "TOKEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        bare_child(int(args.bare_child[0]), args.bare_child[1])
        return
    print(environment())
    for result in asyncio.run(run(args.users, args.rounds)):
        print(result.row())


if __name__ == "__main__":
    main()
