"""Shop orders as the bot keeps them: what the shop's webhooks said, merged into one state per
order, and what that state still asks of the customer's journey. Pure: no I/O, time passed in.

An order's status only moves forward (`ORDER_STATUS`: placed -> paid -> cancelled or refunded).
Shops promise no delivery order (a late "paid" may follow "cancelled") and redeliver at will, so
merging is order-independent and idempotent: the same updates in any order, any number of times,
give the same order. What the journey has counted of an order (`Applied`) is written in the same
commit as the journey's decision about it, so `journey_events` can always tell what is still
owed: a purchase, its reversal, a refund's follow-up, each exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.flows.model import (
    CustomerKey,
    Event,
    OrderKey,
    PurchaseRecorded,
    PurchaseReversed,
    RefundIssued,
    WorkQueued,
)
from bot.flows.statemachine import TransitionTable

__all__ = [
    "APPLIED",
    "ORDER_STATUS",
    "Applied",
    "Order",
    "OrderStatus",
    "OrderUpdate",
    "Refund",
    "StoredRefund",
    "format_money",
    "journey_events",
    "match_work",
    "merge",
    "micros",
    "order_group",
    "parse_work",
    "reconcile_work",
]

MICROS = 1_000_000
ERASED = "erased"
"""The channel of a tombstone: what is left of a customer who had their data erased."""


class OrderStatus(StrEnum):
    PLACED = "placed"
    """Known, not yet a purchase (awaiting payment)."""
    PAID = "paid"
    """A purchase."""
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    """Refunded in full."""


ORDER_STATUS: TransitionTable[OrderStatus] = TransitionTable(
    name="order status",
    states=OrderStatus,
    initial=OrderStatus.PLACED,
    final=frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED}),
    edges={
        (OrderStatus.PLACED, "paid"): OrderStatus.PAID,
        (OrderStatus.PLACED, "cancelled"): OrderStatus.CANCELLED,
        (OrderStatus.PLACED, "refunded"): OrderStatus.REFUNDED,
        (OrderStatus.PAID, "cancelled"): OrderStatus.CANCELLED,
        (OrderStatus.PAID, "refunded"): OrderStatus.REFUNDED,
    },
)
"""Triggers are the statuses a shop reports; one that does not apply changes nothing."""

REVERSED = frozenset({OrderStatus.CANCELLED, OrderStatus.REFUNDED})


class Applied(StrEnum):
    NONE = "none"
    PURCHASE = "purchase"
    """Counted in the journey: the customer's purchase."""
    REVERSED = "reversed"
    """Counted, then reversed."""


APPLIED: TransitionTable[Applied] = TransitionTable(
    name="order applied",
    states=Applied,
    initial=Applied.NONE,
    final=frozenset({Applied.REVERSED}),
    edges={
        (Applied.NONE, "purchase"): Applied.PURCHASE,
        (Applied.PURCHASE, "reversed"): Applied.REVERSED,
    },
)


def micros(amount: Decimal) -> int:
    """An amount in millionths of its currency unit: exact, and summable by a database."""
    return int((amount * MICROS).to_integral_value())


def format_money(value: int | None) -> str | None:
    """`49900000` -> `49.90`: at least two decimals, more only where the amount has them."""
    if value is None:
        return None
    amount = (Decimal(value) / MICROS).normalize()
    exponent = amount.as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) else 2)
    return f"{amount:.{places}f}"


@dataclass(frozen=True)
class Refund:
    refund_id: str
    amount: Decimal | None
    at: datetime | None = None


@dataclass(frozen=True)
class OrderUpdate:
    """What one webhook delivery says about an order, normalised (`bot.handlers.shop`)."""

    key: OrderKey
    topic: str
    status: OrderStatus | None
    """None: the delivery only reports refunds (Shopify's `refunds/create`)."""
    shop: str | None = None
    order_number: str | None = None
    """As the customer sees it on the confirmation (`#1001`)."""
    number_key: str | None = None
    confirmation_key: str | None = None
    """Another number the confirmation shows (Shopify's `confirmation_number`), normalised."""
    customer_ref: str | None = None
    email: str | None = None
    phone: str | None = None
    """Normalised (`bot.flows.linking.email_key`, `phone_key`)."""
    amount: Decimal | None = None
    currency: str | None = None
    placed_at: datetime | None = None
    refunds: tuple[Refund, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.key.source,
            "order_id": self.key.order_id,
            "topic": self.topic,
            "status": None if self.status is None else self.status.value,
            "shop": self.shop,
            "order_number": self.order_number,
            "number_key": self.number_key,
            "confirmation_key": self.confirmation_key,
            "customer_ref": self.customer_ref,
            "email": self.email,
            "phone": self.phone,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "placed_at": None if self.placed_at is None else self.placed_at.timestamp(),
            "refunds": [
                {
                    "id": refund.refund_id,
                    "amount": None if refund.amount is None else str(refund.amount),
                    "at": None if refund.at is None else refund.at.timestamp(),
                }
                for refund in self.refunds
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderUpdate:
        status = data.get("status")
        return cls(
            key=OrderKey(str(data["source"]), str(data["order_id"])),
            topic=str(data.get("topic", "")),
            status=None if status is None else OrderStatus(status),
            shop=data.get("shop"),
            order_number=data.get("order_number"),
            number_key=data.get("number_key"),
            confirmation_key=data.get("confirmation_key"),
            customer_ref=data.get("customer_ref"),
            email=data.get("email"),
            phone=data.get("phone"),
            amount=_decimal(data.get("amount")),
            currency=data.get("currency"),
            placed_at=_moment(data.get("placed_at")),
            refunds=tuple(
                Refund(str(item["id"]), _decimal(item.get("amount")), _moment(item.get("at")))
                for item in data.get("refunds", ())
            ),
        )


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _moment(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(str(value)), UTC)


@dataclass(frozen=True)
class StoredRefund:
    refund_id: str
    amount_micros: int | None
    at: datetime
    applied: bool = False


@dataclass(frozen=True)
class Order:
    """An order as stored: the merge of every update received about it."""

    key: OrderKey
    status: OrderStatus
    received_at: datetime
    updated_at: datetime
    applied: Applied = Applied.NONE
    shop: str | None = None
    order_number: str | None = None
    number_key: str | None = None
    confirmation_key: str | None = None
    customer_ref: str | None = None
    email: str | None = None
    phone: str | None = None
    amount_micros: int | None = None
    currency: str | None = None
    placed_at: datetime | None = None
    customer_id: str | None = None
    """The customer (chat) the order is attached to; None while unmatched."""
    refunds: tuple[StoredRefund, ...] = field(default=())

    @property
    def refunded_micros(self) -> int:
        return sum(refund.amount_micros or 0 for refund in self.refunds)

    @property
    def shown_number(self) -> str:
        return self.order_number or self.key.order_id


def merge(current: Order | None, update: OrderUpdate, now: datetime) -> Order:
    """`current` with what `update` says: the status moves only forward, a field is replaced
    only by a value, refunds are kept by id; refunds adding up to the whole amount refund it."""
    order = current or Order(
        key=update.key, status=OrderStatus.PLACED, received_at=now, updated_at=now
    )
    status = order.status
    if update.status is not None:
        status = ORDER_STATUS.next_or_same(status, update.status.value)
    known = {refund.refund_id: refund for refund in order.refunds}
    for refund in update.refunds:
        amount = None if refund.amount is None else micros(abs(refund.amount))
        before = known.get(refund.refund_id)
        known[refund.refund_id] = StoredRefund(
            refund.refund_id,
            amount if amount is not None else (before.amount_micros if before else None),
            before.at if before else (refund.at or now),
            before.applied if before else False,
        )
    merged = replace(
        order,
        status=status,
        updated_at=now,
        shop=update.shop or order.shop,
        order_number=update.order_number or order.order_number,
        number_key=update.number_key or order.number_key,
        confirmation_key=update.confirmation_key or order.confirmation_key,
        customer_ref=update.customer_ref or order.customer_ref,
        email=update.email or order.email,
        phone=update.phone or order.phone,
        amount_micros=(micros(update.amount) if update.amount is not None else order.amount_micros),
        currency=(update.currency or order.currency or "").upper() or None,
        placed_at=order.placed_at or update.placed_at,
        refunds=tuple(sorted(known.values(), key=lambda r: (r.at, r.refund_id))),
    )
    total = merged.amount_micros
    if status is OrderStatus.PAID and total and merged.refunded_micros >= total:
        merged = replace(merged, status=OrderStatus.REFUNDED)
    return merged


def journey_events(order: Order) -> list[Event]:
    """What the customer's journey has not yet heard about `order` (nothing while unmatched).

    A paid order is a purchase; its refunds from before are settled with it, silently (they
    predate the customer's link: no follow-up about old news). A counted order cancelled or
    refunded in full is reversed; a partial refund of a counted order is followed up."""
    if order.customer_id is None:
        return []
    key = CustomerKey.parse(order.customer_id)
    if key.channel == ERASED:
        return []  # its customer had their data erased: nobody to tell, nothing to count
    unsettled = tuple(refund.refund_id for refund in order.refunds if not refund.applied)
    amount = format_money(order.amount_micros)
    if order.applied is Applied.NONE and order.status is OrderStatus.PAID:
        return [
            PurchaseRecorded(
                key=key,
                inbound_id=f"shop:{order.key.ref}:purchase",
                order_id=order.key.ref,
                amount=None if order.amount_micros is None else order.amount_micros / MICROS,
                order=order.key,
                refunds=unsettled,
            )
        ]
    if order.applied is Applied.PURCHASE and order.status in REVERSED:
        return [
            PurchaseReversed(
                key=key,
                inbound_id=f"shop:{order.key.ref}:reversal",
                order=order.key,
                order_number=order.shown_number,
                reason="cancelled" if order.status is OrderStatus.CANCELLED else "refunded",
                amount=amount,
                currency=order.currency,
                refunds=unsettled,
            )
        ]
    if order.applied is Applied.PURCHASE:
        return [
            RefundIssued(
                key=key,
                inbound_id=f"shop:{order.key.source}/refund/{refund.refund_id}",
                order=order.key,
                refund_id=refund.refund_id,
                order_number=order.shown_number,
                amount=format_money(refund.amount_micros),
                currency=order.currency,
            )
            for refund in order.refunds
            if not refund.applied
        ]
    return []


# --- work for the durable inbox -------------------------------------------------------------


def order_group(key: OrderKey) -> str:
    """The inbox group of an order: its updates and follow-ups are handled one at a time, in
    the order they arrived."""
    return f"order:{key.ref}"


def match_work(customer_id: str, kind: str, value: str) -> WorkQueued:
    """Attach the unmatched orders a new link ties to `customer_id` (queued with the link)."""
    body = json.dumps({"work": "match", "customer": customer_id}, separators=(",", ":"))
    return WorkQueued(f"shop-match:{customer_id}:{kind}:{value}", "", body)


def reconcile_work(key: OrderKey, customer_id: str) -> WorkQueued:
    """Tell the journey what it has not heard about an order just attached to a customer."""
    body = json.dumps(
        {"work": "reconcile", "source": key.source, "order_id": key.order_id},
        separators=(",", ":"),
    )
    return WorkQueued(f"shop-reconcile:{key.ref}:{customer_id}", order_group(key), body)


def parse_work(body: str) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("queued shop work is not an object")
    return data
