"""The `escalator` command line (also `python -m bot`).

escalator                  run the bot (the console playground when no platform token is set)
escalator run              the same
escalator console          the playground, whatever is configured
escalator customer show ID a customer's stage, flags and history
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.api import record_purchase, staff_act
from bot.app import open_runtime
from bot.cli import db as db_cli
from bot.cli import shop as shop_cli
from bot.cli import templates as template_cli
from bot.clock import ManualClock, SystemClock
from bot.config import Settings, load_settings
from bot.delivery.engine import Outcome
from bot.delivery.outbox import Rendered
from bot.errors import EscalatorError, InvalidInput, TransientDeliveryError
from bot.flows.model import CustomerKey, StaffVerb
from bot.handlers.console import (
    CHANNEL,
    ConsoleCustomerChannel,
    ConsoleStaffChannel,
    Playground,
    stdin_lines,
)
from bot.messages.templates import Format
from bot.reports import journey_report, score_summary
from bot.revenue import revenue_report
from bot.simulation import simulate
from bot.storage import Storage, open_storage
from bot.storage.types import OutboxRow
from bot.storage.url import DatabaseUrl

__all__ = ["main"]

CLOCK_OFFSET = "playground.clock_offset"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalator",
        description="Escalator: walks customers up the customer escalator.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run", help="run the bot (the console playground when no platform token is set)"
    )
    console = commands.add_parser("console", help="chat with the bot in this terminal")
    console.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    console.add_argument("--user", default="1", help="the customer you play (default 1)")
    customer = commands.add_parser("customer", help="look at a customer")
    customer_commands = customer.add_subparsers(dest="customer_command", metavar="ACTION")
    show = customer_commands.add_parser("show", help="stage, flags and history")
    show.add_argument("id", help="customer id, e.g. telegram:12345 or console:1")
    show.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    purchase = commands.add_parser(
        "purchase", help="record a purchase (idempotent on the order id)"
    )
    purchase.add_argument("customer", help="customer id, e.g. telegram:12345 or console:1")
    purchase.add_argument("--order-id", required=True, help="the shop's order id")
    purchase.add_argument("--amount", type=float, help="order value")
    purchase.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    simulate = commands.add_parser(
        "simulate", help="drive synthetic customers through the real bot with a fake clock"
    )
    simulate.add_argument("--customers", type=int, default=1000, help="organic customers")
    simulate.add_argument("--days", type=int, default=120, help="simulated days")
    simulate.add_argument("--seed", type=int, default=1, help="same seed, same figures")
    simulate.add_argument("--db", type=Path, help="keep the simulated database here")
    report = commands.add_parser(
        "report", help="funnel, NPS, escalations, referrals, badges, shop revenue"
    )
    report.add_argument("--since", type=_date, help="YYYY-MM-DD (inclusive)")
    report.add_argument("--until", type=_date, help="YYYY-MM-DD (exclusive)")
    report.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    template_cli.add_parser(commands)
    db_cli.add_parser(commands)
    shop_cli.add_parsers(commands)
    nps = commands.add_parser("nps", help="NPS (or CSAT, per SURVEY_SCALE) over a period")
    nps.add_argument("--since", type=_date, help="YYYY-MM-DD (inclusive)")
    nps.add_argument("--until", type=_date, help="YYYY-MM-DD (exclusive)")
    nps.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    return parser


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        command = args.command or "run"
        if command == "console" or (command == "run" and not settings.has_platform):
            _logging(settings, quiet=True)
            asyncio.run(
                run_console(settings, getattr(args, "db", None), getattr(args, "user", "1"))
            )
            return 0
        if command == "run":
            _logging(settings, quiet=False)
            from bot.service import run_service

            asyncio.run(run_service(settings))
            return 0
        if command == "customer" and args.customer_command == "show":
            return asyncio.run(show_customer(settings, args.id, args.db))
        if command == "purchase":
            return asyncio.run(purchase(settings, args))
        if command == "nps":
            return asyncio.run(nps(settings, args))
        if command == "simulate":
            return asyncio.run(run_simulation(settings, args))
        if command == "report":
            return asyncio.run(report(settings, args))
        if command == "db":
            return db_cli.run(args)
        if command in shop_cli.COMMANDS:
            return shop_cli.run(settings, args)
        if command == "templates":
            return template_cli.run(
                args,
                lambda: open_runtime(settings, SystemClock(), {}, _Nowhere(), database=args.db),
            )
        build_parser().parse_args([command, "--help"])
        return 2
    except EscalatorError as exc:
        print(f"escalator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `escalator templates list | head`
        sys.stderr.close()
        return 0


def _logging(settings: Settings, *, quiet: bool) -> None:
    level = logging.WARNING if quiet else getattr(logging, settings.log_level)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def run_console(
    settings: Settings,
    database: Path | None,
    user: str = "1",
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
) -> None:
    stream = out or sys.stdout
    clock = ManualClock()
    customers = ConsoleCustomerChannel(stream)
    async with open_runtime(
        settings, clock, {CHANNEL: customers}, ConsoleStaffChannel(stream), database=database
    ) as runtime:
        saved = await runtime.storage.meta.get(CLOCK_OFFSET)
        clock.offset = timedelta(seconds=float(saved or 0))

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


async def purchase(settings: Settings, args: argparse.Namespace) -> int:
    key = CustomerKey.parse(args.customer, default_channel="telegram")
    async with open_runtime(
        settings, SystemClock(), {}, _Nowhere(), database=args.db, create=False
    ) as rt:
        outcome = await record_purchase(
            rt.engine, rt.storage.journey, key, args.order_id, args.amount
        )
        customer = await rt.storage.journey.customer(key)
    assert customer is not None
    if outcome is Outcome.DUPLICATE:
        print(f"order {args.order_id} was already recorded: nothing changed")
    else:
        print(f"recorded order {args.order_id} for {key.id}: stage {customer.stage.value}")
    return 0


async def nps(settings: Settings, args: argparse.Namespace) -> int:
    storage = await _open(settings, args.db)
    try:
        summary = await score_summary(
            storage.reports, settings.survey_scale, args.since, args.until
        )
    finally:
        await storage.close()
    label = "NPS" if summary.scale == "nps" else "CSAT"
    if summary.score is None:
        print(f"{label}: no responses in this period")
        return 0
    print(f"{label} {summary.score:+.1f}" if label == "NPS" else f"CSAT {summary.score:.1f}%")
    print(
        f"responses {summary.responses}: promoters {summary.promoters}, "
        f"passives {summary.passives}, detractors {summary.detractors}"
    )
    return 0


async def run_simulation(settings: Settings, args: argparse.Namespace) -> int:
    if args.customers < 1 or args.days < 1:
        raise InvalidInput("--customers and --days must be at least 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        database = args.db or Path(scratch) / "simulation.db"
        result = await simulate(settings, args.customers, args.days, args.seed, database)
    print(f"simulated {args.customers} customers over {args.days} days (seed {args.seed})")
    print("\n".join(result.lines()))
    print(f"finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return 0


async def report(settings: Settings, args: argparse.Namespace) -> int:
    storage = await _open(settings, args.db)
    try:
        result = await journey_report(storage.reports, args.since, args.until)
        revenue = await revenue_report(storage.shop, args.since, args.until)
    finally:
        await storage.close()
    print("\n".join(result.lines() + revenue.lines()))
    return 0


async def _open(settings: Settings, database: Path | None) -> Storage:
    """The existing database (commands that read never create one)."""
    url = DatabaseUrl("sqlite", path=database) if database is not None else settings.database
    return await open_storage(url, synchronous=settings.sqlite_synchronous)


class _Nowhere:
    """The CLI delivers nothing itself: the running bot's outbox sends what it commits."""

    format = Format.TEXT

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        raise TransientDeliveryError("the command line does not deliver messages")

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        raise TransientDeliveryError("the command line does not deliver messages")


async def show_customer(settings: Settings, ident: str, database: Path | None) -> int:
    storage = await _open(settings, database)
    try:
        key = CustomerKey.parse(ident, default_channel="telegram")
        customer = await storage.journey.customer(key, history=200)
        if customer is None:
            print(f"escalator: no customer {key.id!r}", file=sys.stderr)
            return 1
        flags = [
            name
            for name, on in (
                ("opted out", customer.opted_out),
                ("unreachable", customer.unreachable),
            )
            if on
        ]
        print(f"customer  {customer.id}")
        print(f"name      {customer.first_name or '-'}")
        print(f"stage     {customer.stage.value} (level {customer.stage.level})")
        print(f"dialogue  {customer.dialogue.value}")
        print(f"source    {customer.source or '-'}")
        print(f"flags     {', '.join(flags) or '-'}")
        print(f"since     {customer.created_at:%Y-%m-%d %H:%M} UTC")
        print("history")
        for entry in customer.history:
            move = (
                f" {entry.from_stage} -> {entry.to_stage}"
                if entry.to_stage and entry.from_stage != entry.to_stage
                else ""
            )
            detail = f" ({entry.detail})" if entry.detail else ""
            print(f"  {entry.at:%Y-%m-%d %H:%M}  {entry.event}{move}{detail}")
        return 0
    finally:
        await storage.close()
