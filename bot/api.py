"""The Python API for the shop's own systems and for staff tools: purchases and staff actions.

Both go through the engine like any other event, so they are atomic, idempotent where they
should be (the same order id twice changes nothing) and delivered by the running bot.
"""

from __future__ import annotations

import math

from bot.delivery.engine import Engine, Outcome
from bot.errors import InvalidInput
from bot.flows.model import CustomerKey, PurchaseRecorded, StaffAction, StaffVerb
from bot.storage.protocols import CaseStore, JourneyStore

__all__ = ["record_purchase", "staff_act", "staff_message"]


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
