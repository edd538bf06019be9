"""The Python API for the shop's own systems and for staff tools: purchases, staff actions, and
the links that tie a Telegram chat to the shop's customer.

Purchases and staff actions go through the engine like any other event, so they are atomic,
idempotent where they should be (the same order id twice changes nothing) and delivered by the
running bot.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from bot.clock import SystemClock
from bot.delivery.engine import Engine, Outcome
from bot.errors import InvalidInput
from bot.flows import linking
from bot.flows.model import CustomerKey, PurchaseRecorded, StaffAction, StaffVerb
from bot.storage.protocols import CaseStore, JourneyStore, ShopStore

__all__ = ["link_url", "record_purchase", "remember_shop_customer", "staff_act", "staff_message"]

LINK_VALIDITY = timedelta(days=30)


def link_url(
    bot_username: str,
    secret: bytes,
    *,
    customer_ref: str | None = None,
    order_id: str | None = None,
    valid_for: timedelta = LINK_VALIDITY,
    now: datetime | None = None,
) -> str:
    """`https://t.me/<bot>?start=<token>`: starting the bot from it links the chat to the
    shop's customer `customer_ref` (every order of theirs), or to the one order `order_id`.

    The token is signed with `secret` (the bot's SHOP_LINK_SECRET), expires after `valid_for`
    and can be redeemed once; see `bot.flows.linking` for its format.
    """
    if (customer_ref is None) == (order_id is None):
        raise InvalidInput("give a customer ref or an order id (one of them)")
    if valid_for <= timedelta(0):
        raise InvalidInput("a link must be valid for some time")
    username = bot_username.strip().lstrip("@")
    if not username or not all(ch.isalnum() or ch == "_" for ch in username):
        raise InvalidInput(f"not a Telegram bot username: {bot_username!r}")
    expires = (now or SystemClock().now()) + valid_for
    if customer_ref is not None:
        token = linking.mint(secret, "c", customer_ref, expires)
    else:
        assert order_id is not None
        token = linking.mint(secret, "o", order_id, expires)
    return f"https://t.me/{username}?start={token}"


async def remember_shop_customer(
    shop: ShopStore,
    customer_ref: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    phone_country: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record what the shop knows of its customer `customer_ref`: once their chat is linked
    (by a link for `customer_ref`), orders with this email or phone are theirs too."""
    email_key = linking.email_key(email) if email is not None else None
    if email is not None and email_key is None:
        raise InvalidInput(f"not an email address: {email!r}")
    phone_key = linking.phone_key(phone, phone_country) if phone is not None else None
    if phone is not None and phone_key is None:
        raise InvalidInput(f"not a phone number with its country code: {phone!r}")
    await shop.remember_customer(
        customer_ref.strip(), email_key, phone_key, now or SystemClock().now()
    )


async def record_purchase(
    engine: Engine,
    journey: JourneyStore,
    customer: CustomerKey,
    order_id: str,
    amount: float | None = None,
) -> Outcome:
    """Record a purchase; `Outcome.DUPLICATE` when the order id was recorded before."""
    order_id = order_id.strip()
    if not order_id or len(order_id) > 128:
        raise InvalidInput("an order id is 1 to 128 characters")
    if amount is not None and not (math.isfinite(amount) and amount >= 0):
        raise InvalidInput(f"not an amount: {amount!r} (a finite number, 0 or more)")
    if await journey.customer(customer) is None:
        raise InvalidInput(f"no customer {customer.id!r}: they must start the bot first")
    event = PurchaseRecorded(
        key=customer, order_id=order_id, amount=amount, inbound_id=f"order:{order_id}"
    )
    return await engine.handle(event)


async def staff_act(
    engine: Engine,
    cases: CaseStore,
    case_id: str,
    verb: StaffVerb,
    staff_name: str,
    text: str = "",
    *,
    ref: str | None = None,
    inbound_id: str | None = None,
) -> Outcome:
    """A staff member acts on a case (claim, reply, note, resolve, handback).

    `ref` is the staff desk's id of the staff message (a note is confirmed by reacting to it);
    `inbound_id` makes a redelivered staff event (a Slack retry) a no-op.
    """
    key = await cases.customer_of(case_id)
    if key is None:
        raise InvalidInput(f"no case {case_id!r}")
    action = StaffAction(
        key=key,
        case_id=case_id,
        action=verb,
        staff_name=staff_name,
        text=text,
        ref=ref,
        inbound_id=inbound_id,
    )
    return await engine.handle(action)


async def staff_message(
    engine: Engine,
    journey: JourneyStore,
    customer: CustomerKey,
    staff_name: str,
    text: str,
    *,
    ref: str | None = None,
    inbound_id: str | None = None,
) -> Outcome:
    """A staff member writes to a customer unprompted: into their open conversation or case,
    or a new conversation. Only to customers who started the bot (Telegram lets a bot write to
    no one else) and have not sent /stop."""
    if not text.strip():
        raise InvalidInput("the message is empty")
    known = await journey.customer(customer)
    if known is None:
        raise InvalidInput(f"no customer {customer.id!r}: they must start the bot first")
    if known.opted_out:
        raise InvalidInput(f"{customer.id} opted out (/stop): nobody writes to them unprompted")
    action = StaffAction(
        key=customer,
        case_id="",
        action="message",
        staff_name=staff_name,
        text=text,
        ref=ref,
        inbound_id=inbound_id,
    )
    return await engine.handle(action)
