"""`escalator run` (the bot; the playground when no platform token is set) and
`escalator console` (the playground, whatever is configured)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.api import staff_act
from bot.app import open_runtime
from bot.cli.common import DONE, add_command, prepare_directory
from bot.clock import ManualClock
from bot.config import Settings
from bot.flows.contact import daytime, quiet_span
from bot.flows.model import StaffVerb
from bot.handlers.console import (
    CHANNEL,
    ConsoleCustomerChannel,
    ConsoleStaffChannel,
    Playground,
    stdin_lines,
)
from bot.logs import configure_logging

__all__ = ["add_parsers", "run", "run_console"]

CLOCK_OFFSET = "playground.clock_offset"


def add_parsers(commands: Any) -> None:
    add_command(
        commands, "run", run, help="run the bot (the console playground when no token is set)"
    )
    console = add_command(commands, "console", console_command, help="chat with the bot here")
    console.add_argument("--user", default="1", help="the customer you play (default 1)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.has_platform:
        return console_command(settings, args)
    prepare_directory(settings)
    configure_logging(settings.log_level, secrets=settings.secrets())
    from bot.service import run_service  # the platform clients load only when serving

    asyncio.run(run_service(settings))
    return DONE


def console_command(settings: Settings, args: argparse.Namespace) -> int:
    prepare_directory(settings)
    configure_logging("WARNING", secrets=settings.secrets())
    asyncio.run(run_console(settings, getattr(args, "user", "1")))
    return DONE


async def run_console(
    settings: Settings,
    user: str = "1",
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
) -> None:
    stream = out or sys.stdout
    clock = ManualClock()
    customers = ConsoleCustomerChannel(stream)
    async with open_runtime(
        settings, clock, {CHANNEL: customers}, ConsoleStaffChannel(stream)
    ) as runtime:
        saved = await runtime.storage.meta.get(CLOCK_OFFSET)
        if saved is None:
            # A new playground starts in the customers' daytime: at night its check-ins would
            # wait for the morning (quiet hours), and a first session would show none.
            now = clock.now()
            rules = settings.contact_rules()
            start = daytime(now, rules.zone_for(None), rules)
            if start > now:
                clock.offset = start - now
                await runtime.storage.meta.set(CLOCK_OFFSET, str(clock.offset.total_seconds()))
                local = start.astimezone(ZoneInfo(rules.zone_for(None)))
                print(
                    f"(playground) it is quiet hours ({quiet_span(rules)}) or nearly: the "
                    f"playground's clock starts at {local:%Y-%m-%d %H:%M %Z}, so scheduled "
                    "messages arrive when you /wait",
                    file=stream,
                )
        else:
            clock.offset = timedelta(seconds=float(saved))

        async def advance(delta: timedelta) -> None:
            clock.advance(delta)
            await runtime.storage.meta.set(CLOCK_OFFSET, str(clock.offset.total_seconds()))

        interactive = lines is None and sys.stdin.isatty()

        async def staff(verb: StaffVerb, text: str, name: str) -> str | None:
            case_id = await runtime.storage.cases.latest()
            if case_id is None:
                return "there is no escalation case yet"
            await staff_act(runtime.engine, runtime.storage.cases, case_id, verb, name, text)
            return None

        playground = Playground(
            handle=runtime.engine.handle,
            staff=staff,
            settle=runtime.settle,
            advance=advance,
            channel=customers,
            out=stream,
            user=user,
            echo=not interactive,
        )
        source = lines or stdin_lines(
            (lambda: f"you ({playground.user})> ") if interactive else None
        )
        await playground.run(source)
