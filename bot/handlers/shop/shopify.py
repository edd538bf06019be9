"""Shopify order webhooks, as Shopify documents them (shopify.dev, "About webhooks" and the
Admin REST `Order` and `Refund` resources).

Headers: `X-Shopify-Topic`, `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body, keyed
with the webhook's secret), `X-Shopify-Webhook-Id` (the same on every retry of a delivery),
`X-Shopify-Shop-Domain`.

Topics: `orders/create` and `orders/paid` record a purchase (so do `orders/updated`,
`orders/fulfilled`, `orders/partially_fulfilled`: every one carries the whole order);
`orders/cancelled` (or an order with `cancelled_at`, or `financial_status` `voided`) cancels it;
`financial_status` `refunded` refunds it in full; `refunds/create` reports a refund by the id of
its order, and the order counts as refunded once its refunds add up to its `total_price`. Other
topics are acknowledged and ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.flows.linking import email_key, order_number_key, phone_key
from bot.flows.model import OrderKey
from bot.flows.orders import OrderStatus, OrderUpdate, Refund
from bot.handlers.shop import fields
from bot.handlers.shop.outcome import Ignored

__all__ = ["HMAC_HEADER", "ID_HEADER", "SHOP_HEADER", "SOURCE", "TOPIC_HEADER", "translate"]

SOURCE = "shopify"
TOPIC_HEADER = "X-Shopify-Topic"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
ID_HEADER = "X-Shopify-Webhook-Id"
SHOP_HEADER = "X-Shopify-Shop-Domain"

ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)


def translate(
    topic: str, shop: str | None, body: object, phone_country: str | None
) -> OrderUpdate | Ignored:
    data = fields.obj(body)
    if topic == "refunds/create":
        return _refund(topic, shop, data)
    if topic not in ORDER_TOPICS:
        return Ignored(f"topic {topic[:64]!r} is not about an order's money")
    order_id = fields.identifier(data, "id")
    assert order_id is not None
    customer = data.get("customer") if isinstance(data.get("customer"), dict) else None
    billing = data.get("billing_address") if isinstance(data.get("billing_address"), dict) else None
    shipping = (
        data.get("shipping_address") if isinstance(data.get("shipping_address"), dict) else None
    )
    number = fields.text(data, "order_number")
    name = fields.text(data, "name") or (f"#{number}" if number else None)
    email = (
        fields.text(data, "email")
        or fields.text(data, "contact_email")
        or fields.text(customer, "email")
    )
    phone = (
        fields.text(data, "phone")
        or fields.text(customer, "phone")
        or fields.text(billing, "phone")
        or fields.text(shipping, "phone")
    )
    customer_ref = fields.identifier(customer, "id", required=False) if customer else None
    refunds = data.get("refunds")
    return OrderUpdate(
        key=OrderKey(SOURCE, order_id),
        topic=topic,
        status=_status(topic, data),
        shop=shop,
        order_number=name,
        number_key=order_number_key(name) or order_number_key(number),
        confirmation_key=order_number_key(fields.text(data, "confirmation_number")),
        customer_ref=customer_ref,
        email=email_key(email),
        phone=phone_key(phone, phone_country),
        amount=fields.amount(data, "total_price"),
        currency=fields.currency(data),
        placed_at=fields.moment(data.get("processed_at")) or fields.moment(data.get("created_at")),
        refunds=tuple(
            _refund_of(fields.obj(item, "a refund"))
            for item in (refunds if isinstance(refunds, list) else [])
        ),
    )


def _status(topic: str, data: dict[str, Any]) -> OrderStatus:
    financial = fields.text(data, "financial_status")
    if topic == "orders/cancelled" or data.get("cancelled_at") or financial == "voided":
        return OrderStatus.CANCELLED
    if financial == "refunded":
        return OrderStatus.REFUNDED
    # Shopify's orders/create counts as the purchase, whatever the payment's state.
    return OrderStatus.PAID


def _refund(topic: str, shop: str | None, data: dict[str, Any]) -> OrderUpdate:
    order_id = fields.identifier(data, "order_id")
    assert order_id is not None
    return OrderUpdate(
        key=OrderKey(SOURCE, order_id),
        topic=topic,
        status=None,
        shop=shop,
        refunds=(_refund_of(data),),
    )


def _refund_of(data: dict[str, Any]) -> Refund:
    """A refund's money: its successful `refund` transactions (unknown when it lists none)."""
    refund_id = fields.identifier(data, "id")
    assert refund_id is not None
    at = fields.moment(data.get("created_at"))
    transactions = data.get("transactions")
    if not isinstance(transactions, list) or not transactions:
        return Refund(refund_id, None, at)
    total = Decimal(0)
    for item in transactions:
        transaction = fields.obj(item, "a refund transaction")
        kind = fields.text(transaction, "kind")
        status = fields.text(transaction, "status")
        if kind in {None, "refund"} and status in {None, "success"}:
            value = fields.amount(transaction, "amount")
            total += abs(value) if value is not None else Decimal(0)
    return Refund(refund_id, total, at)
