"""The shop's commands.

escalator link --customer-ref REF [--email E] [--phone P] [--days N]
                           print a t.me link that ties a chat to the shop's customer REF
escalator link --order-id ID [--days N]
                           the same for one order (the thank-you page of that order)
escalator orders unmatched [--limit N]
                           orders that reached the bot but no chat is linked to yet
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any

from bot.api import link_url, remember_shop_customer
from bot.app import link_secret
from bot.cli.common import DONE, add_command, open_existing
from bot.config import Settings
from bot.errors import InvalidInput
from bot.flows.orders import Order, format_money
from bot.shop_service import USERNAME
from bot.terminal import inert

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    link = add_command(
        commands,
        "link",
        link_command,
        help="print a t.me link that ties a chat to the shop's customer",
    )
    whom = link.add_mutually_exclusive_group(required=True)
    whom.add_argument("--customer-ref", help="the shop's customer id, e.g. SHOP-123")
    whom.add_argument("--order-id", help="the shop's order id: links that one order")
    link.add_argument(
        "--email", help="the customer's email as the shop knows it: those orders are theirs too"
    )
    link.add_argument("--phone", help="the customer's phone as the shop knows it (likewise)")
    link.add_argument("--days", type=int, default=30, help="how long the link works (30)")
    orders = commands.add_parser("orders", help="the shop's orders")
    actions = orders.add_subparsers(dest="orders_command", metavar="ACTION", required=True)
    unmatched = add_command(
        actions, "unmatched", unmatched_command, help="orders no chat is linked to yet"
    )
    unmatched.add_argument("--limit", type=int, default=50, help="at most this many (50)")


def link_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_link(settings, args))


def unmatched_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_unmatched(settings, args))


async def _link(settings: Settings, args: argparse.Namespace) -> int:
    if args.days < 1:
        raise InvalidInput("--days must be at least 1")
    if args.order_id is not None and (args.email or args.phone):
        raise InvalidInput("--email and --phone go with --customer-ref")
    storage = await open_existing(settings)
    try:
        if args.customer_ref is not None and (args.email or args.phone):
            await remember_shop_customer(
                storage.shop,
                args.customer_ref,
                email=args.email,
                phone=args.phone,
                phone_country=settings.shop_phone_country,
            )
        secret = await link_secret(settings, storage.meta)
        username = await storage.meta.get(USERNAME)
    finally:
        await storage.close()
    if username is None:
        username = settings.bot_username
        print(
            f"escalator: using BOT_USERNAME={username} (the running bot records its own "
            "username once it has started)",
            file=sys.stderr,
        )
    print(
        link_url(
            username,
            secret,
            customer_ref=args.customer_ref,
            order_id=args.order_id,
            valid_for=timedelta(days=args.days),
        )
    )
    return DONE


async def _unmatched(settings: Settings, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    storage = await open_existing(settings)
    try:
        orders = await storage.shop.unmatched(args.limit)
    finally:
        await storage.close()
    if not orders:
        print("no unmatched orders: every order that arrived is linked to a chat")
        return DONE
    print(f"{len(orders)} order(s) not linked to a chat yet, newest first")
    print(f"{'received':<17} {'order':<28} {'status':<10} {'amount':>14}  contact")
    for order in orders:
        print(_row(order))
    print(
        "link one with `escalator link --order-id ID` (or --customer-ref REF) and send the "
        "customer the link"
    )
    return DONE


def _row(order: Order) -> str:
    amount = format_money(
        order.amount_micros - order.refunded_micros if order.amount_micros else None
    )
    money = f"{amount or '-'} {order.currency or ''}".strip()
    where = f"{order.key.source} {order.shown_number}"
    contact = ", ".join(
        part
        for part in (
            f"ref {order.customer_ref}" if order.customer_ref else "",
            _mask_email(order.email),
            _mask_phone(order.phone),
        )
        if part
    )
    return inert(
        f"{order.received_at:%Y-%m-%d %H:%M} {where[:28]:<28} {order.status.value:<10} "
        f"{money:>14}  {contact or '-'}"
    )


def _mask_email(email: str | None) -> str:
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(phone: str | None) -> str:
    return f"+***{phone[-4:]}" if phone else ""
