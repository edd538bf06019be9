"""`escalator purchase ID --order-id ORDER [--amount N]`: record a purchase, as the shop's
system would; the same order id again changes nothing."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.api import record_purchase
from bot.app import open_runtime
from bot.cli.common import DONE, Nowhere, add_command, amount, customer_key
from bot.clock import SystemClock
from bot.config import Settings
from bot.delivery.engine import Outcome
from bot.terminal import inert

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    purchase = add_command(
        commands,
        "purchase",
        purchase_command,
        help="record a purchase (idempotent on the order id)",
    )
    purchase.add_argument(
        "customer", type=customer_key, help="telegram:12345, console:1, or 12345 (Telegram)"
    )
    purchase.add_argument("--order-id", required=True, help="the shop's order id")
    purchase.add_argument("--amount", type=amount, help="order value (a finite number, 0 or more)")


def purchase_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_purchase(settings, args))


async def _purchase(settings: Settings, args: argparse.Namespace) -> int:
    key = args.customer
    async with open_runtime(settings, SystemClock(), {}, Nowhere(), create=False) as rt:
        outcome = await record_purchase(
            rt.engine, rt.storage.journey, key, args.order_id, args.amount
        )
        customer = await rt.storage.journey.customer(key)
    assert customer is not None
    order = inert(args.order_id)
    if outcome is Outcome.DUPLICATE:
        print(f"order {order} was already recorded: nothing changed")
    else:
        print(f"recorded order {order} for {inert(key.id)}: stage {customer.stage.value}")
    return DONE
