"""Linking a chat to the shop's customer, so the shop's orders reach the right journey.

Three proofs, from strongest to weakest:

- a **link token** from the shop (the thank-you page's button, `escalator link`): the shop
  vouches for who the customer is. Single-use; a forged, expired or reused one is refused;
- Telegram's **contact button**: Telegram vouches for the phone number, but only the sender's
  own contact counts (a forwarded contact card proves nothing);
- a **typed order number** from the confirmation: order numbers are often sequential, so it
  links only that one order, only if nobody holds it yet and it is recent, and a customer gets
  a few misses a day before the bot stops looking numbers up.

A typed email address proves nothing (anyone can type anyone's), so it links nothing.

A new link is written with the customer's decision, and in the same commit work is queued to
attach the orders it ties to them (`bot.flows.orders.match_work`); those then reach the journey
as purchases, as if they had arrived just now.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.flows.common import engage
from bot.flows.linking import TokenRefusal, phone_key, verify
from bot.flows.model import (
    KEYBOARD_CONTACT,
    KEYBOARD_REMOVE,
    Button,
    ContactShared,
    Customer,
    Decision,
    Json,
    LinkTokenUsed,
    LogEntry,
    OutMessage,
    Record,
    ShopContext,
    ShopLinked,
)
from bot.flows.orders import match_work
from bot.flows.policy import FlowPolicy

__all__ = [
    "contact",
    "looks_like_email",
    "looks_like_order_number",
    "prompt",
    "start_with_token",
    "typed_email",
    "typed_order",
]

_CONTACT_BUTTON = ((Button("button_share_contact", KEYBOARD_CONTACT),),)
_REMOVE_KEYBOARD = ((Button("button_share_contact", KEYBOARD_REMOVE),),)
_ORDER_NUMBER = re.compile(r"^(#\s*[A-Za-z0-9][A-Za-z0-9-]{0,31}|[A-Za-z0-9-]*\d{3}[A-Za-z0-9-]*)$")
_EMAIL = re.compile(r"^\S+@\S+\.\S+$")
MISSES = "order_number_unmatched"


def looks_like_order_number(text: str) -> bool:
    """`#1001`, `1001`, `A-1001`, `XPAV284CT`: what a customer copies from a confirmation."""
    text = text.strip()
    return len(text) <= 33 and _ORDER_NUMBER.match(text) is not None


def looks_like_email(text: str) -> bool:
    return _EMAIL.match(text.strip()) is not None


def _message(
    customer: Customer,
    template: str,
    buttons: tuple[tuple[Button, ...], ...] = (),
    **context: Json,
) -> OutMessage:
    values: dict[str, Json] = {"first_name": customer.first_name or ""}
    values.update(context)
    return OutMessage(template, values, buttons=buttons)


def _linked(
    customer: Customer,
    links: tuple[ShopLinked, ...],
    method: str,
    *,
    extra: tuple[Record, ...] = (),
    order_number: str | None = None,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> Decision:
    first = links[0]
    message = _message(
        customer,
        "shop_linked",
        buttons,
        method=method,
        order_number=order_number,
        already=False,
    )
    return Decision(
        customer=customer,
        messages=(message,),
        records=(*links, *extra, match_work(customer.id, first.kind, first.value)),
        log=(LogEntry("shop_linked", customer.stage, customer.stage, f"{method}: {first.kind}"),),
    )


def _refused(customer: Customer, reason: str) -> Decision:
    return Decision(
        customer=customer,
        messages=(_message(customer, "shop_link_refused", reason=reason),),
        log=(LogEntry("link_refused", customer.stage, customer.stage, reason),),
    )


def start_with_token(
    customer: Customer,
    payload: str,
    context: ShopContext | None,
    now: datetime,
    policy: FlowPolicy,
) -> Decision:
    """`/start link-...`: link the chat to the shop's customer or order the token names."""
    token = verify(policy.link_secret, payload, now)
    if isinstance(token, TokenRefusal):
        return _refused(customer, token.reason)
    context = context or ShopContext()
    if context.token_used_by is not None:
        if context.token_used_by != customer.id:
            return _refused(customer, "used")
        message = _message(customer, "shop_linked", method="link", order_number=None, already=True)
        return Decision(customer=customer, messages=(message,))
    links: tuple[ShopLinked, ...]
    if token.kind == "c":
        links = (ShopLinked("ref", token.value, "link"),)
        if context.ref_email is not None:
            links += (ShopLinked("email", context.ref_email, "link"),)
        if context.ref_phone is not None:
            links += (ShopLinked("phone", context.ref_phone, "link"),)
    else:
        links = (ShopLinked("order", token.value, "link"),)
    if customer.source is None:
        customer = customer.evolve(source="shop")
    return _linked(customer, links, "link", extra=(LinkTokenUsed(token.token_id),))


def prompt(customer: Customer) -> Decision:
    """`/link`: share the phone number with the button, or type the order number."""
    message = _message(customer, "shop_link_prompt", _CONTACT_BUTTON)
    return Decision(customer=customer, messages=(message,))


def contact(customer: Customer, event: ContactShared, policy: FlowPolicy) -> Decision:
    """The contact button: the sender's own number links them; anyone else's does not."""
    engaged = engage(customer)
    customer = engaged.customer
    phone = phone_key(event.phone, policy.phone_country) if event.own else None
    if phone is None:
        reason = "not_own" if not event.own else "unreadable"
        return engaged.then(
            Decision(
                customer=customer,
                messages=(
                    _message(customer, "shop_contact_refused", _CONTACT_BUTTON, reason=reason),
                ),
                log=(LogEntry("contact_refused", customer.stage, customer.stage, reason),),
            )
        )
    return engaged.then(
        _linked(
            customer,
            (ShopLinked("phone", phone, "contact"),),
            "phone",
            buttons=_REMOVE_KEYBOARD,
        )
    )


def typed_order(
    customer: Customer,
    number: str,
    context: ShopContext | None,
    now: datetime,
    policy: FlowPolicy,
) -> Decision:
    """The customer typed what looks like an order number (`number`: as typed, trimmed)."""
    since = now - timedelta(days=1)
    misses = sum(1 for entry in customer.history if entry.event == MISSES and entry.at >= since)
    if misses >= policy.link_attempts:
        message = _message(customer, "shop_order_not_found", _CONTACT_BUTTON, limited=True)
        return Decision(customer=customer, messages=(message,))
    candidates = context.orders if context is not None else ()
    mine = [order for order in candidates if order.customer_id == customer.id]
    if mine:
        message = _message(
            customer,
            "shop_linked",
            method="order_number",
            order_number=mine[0].order_number,
            already=True,
        )
        return Decision(customer=customer, messages=(message,))
    free = {
        order.order.order_id: order
        for order in candidates
        if order.customer_id is None and order.placed_at >= now - policy.order_number_window
    }
    if len(free) != 1:
        # None, taken, too old or ambiguous: the same answer, so that nobody learns which.
        return Decision(
            customer=customer,
            messages=(_message(customer, "shop_order_not_found", _CONTACT_BUTTON, limited=False),),
            log=(LogEntry(MISSES, customer.stage, customer.stage, number[:40]),),
        )
    (found,) = free.values()
    return _linked(
        customer,
        (ShopLinked("order", found.order.order_id, "order_number", replace=False),),
        "order_number",
        order_number=found.order_number,
        buttons=_CONTACT_BUTTON,  # sharing the phone links their future orders too
    )


def typed_email(customer: Customer) -> Decision:
    """An email address typed into the chat is no proof of who they are: it links nothing."""
    message = _message(customer, "shop_email_not_trusted", _CONTACT_BUTTON)
    return Decision(
        customer=customer,
        messages=(message,),
        log=(LogEntry("email_not_trusted", customer.stage, customer.stage),),
    )
