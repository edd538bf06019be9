"""`escalator customer show ID`: a customer's stage, flags and history."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bot.cli.common import DONE, REFUSED, add_command, customer_key, open_existing
from bot.config import Settings
from bot.flows.model import Customer, HistoryEntry
from bot.terminal import inert

__all__ = ["add_parsers", "describe"]


def add_parsers(commands: Any) -> None:
    customer = commands.add_parser("customer", help="look at a customer")
    actions = customer.add_subparsers(dest="customer_command", metavar="ACTION", required=True)
    show = add_command(actions, "show", show_command, help="stage, flags and history")
    show.add_argument(
        "id", type=customer_key, help="telegram:12345, console:1, or 12345 (Telegram)"
    )


def show_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_show(settings, args))


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    storage = await open_existing(settings)
    try:
        customer = await storage.journey.customer(args.id, history=200)
    finally:
        await storage.close()
    if customer is None:
        print(f"escalator: no customer {inert(args.id.id)!r}", file=sys.stderr)
        return REFUSED
    print("\n".join(describe(customer)))
    return DONE


def describe(customer: Customer) -> list[str]:
    """The customer as lines for a terminal: every value they control made inert."""
    flags = [
        name
        for name, on in (("opted out", customer.opted_out), ("unreachable", customer.unreachable))
        if on
    ]
    lines = [
        f"customer  {inert(customer.id)}",
        f"name      {inert(customer.first_name or '-')}",
        f"stage     {customer.stage.value} (level {customer.stage.level})",
        f"dialogue  {customer.dialogue.value}",
        f"source    {inert(customer.source or '-')}",
        f"flags     {', '.join(flags) or '-'}",
        f"since     {customer.created_at:%Y-%m-%d %H:%M} UTC",
        "history",
    ]
    lines.extend(_entry(entry) for entry in customer.history)
    return lines


def _entry(entry: HistoryEntry) -> str:
    move = ""
    if entry.to_stage and entry.from_stage != entry.to_stage:
        # the first entry (capture) has no stage before it
        move = f" {entry.from_stage} -> {entry.to_stage}" if entry.from_stage else ""
        move = move or f" -> {entry.to_stage}"
    detail = f" ({inert(entry.detail)})" if entry.detail else ""
    return f"  {entry.at:%Y-%m-%d %H:%M}  {entry.event}{move}{detail}"
