"""WooCommerce order webhooks, as WooCommerce sends them (`WC_Webhook::deliver` and the REST
API v3 `order` resource).

Headers: `X-WC-Webhook-Topic` (`order.created`, `order.updated`, ...), `X-WC-Webhook-Signature`
(base64 HMAC-SHA256 of the raw body, keyed with the webhook's secret), `X-WC-Webhook-Source`
(the shop's home URL), `X-WC-Webhook-Delivery-ID`. Saving a webhook in WooCommerce first sends
an unsigned ping, a form body `webhook_id=<n>`: it is answered 200 and nothing is kept.

The order's `status` says what it is: `processing` and `completed` a purchase; `pending`,
`on-hold` and `checkout-draft` an order not yet paid; `cancelled` cancelled; `refunded` refunded
in full; partial refunds are listed in `refunds` (with negative totals). `failed`, `trash` and
statuses added by plugins change nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bot.flows.linking import email_key, order_number_key, phone_key
from bot.flows.model import OrderKey
from bot.flows.orders import OrderStatus, OrderUpdate, Refund
from bot.handlers.shop import fields
from bot.handlers.shop.outcome import Ignored

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "SOURCE",
    "SOURCE_HEADER",
    "TOPIC_HEADER",
    "is_ping",
    "shop_of",
    "translate",
]

SOURCE = "woocommerce"
TOPIC_HEADER = "X-WC-Webhook-Topic"
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
SOURCE_HEADER = "X-WC-Webhook-Source"

ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
_STATUSES = {
    "pending": OrderStatus.PLACED,
    "on-hold": OrderStatus.PLACED,
    "checkout-draft": OrderStatus.PLACED,
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.PAID,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
}
_PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")


def is_ping(body: bytes) -> bool:
    return _PING.match(body.strip()) is not None


def shop_of(source: str | None) -> str | None:
    """The shop's host from `X-WC-Webhook-Source` (`https://shop.example/` -> `shop.example`)."""
    if not source:
        return None
    return (urlsplit(source.strip()).hostname or source.strip())[:253]


def translate(
    topic: str, shop: str | None, body: object, phone_country: str | None
) -> OrderUpdate | Ignored:
    data = fields.obj(body)
    if topic not in ORDER_TOPICS:
        return Ignored(f"topic {topic[:64]!r} is not about an order's money")
    order_id = fields.identifier(data, "id")
    assert order_id is not None
    billing = data.get("billing") if isinstance(data.get("billing"), dict) else None
    number = fields.text(data, "number") or order_id
    customer = data.get("customer_id")
    customer_ref = (
        str(customer) if isinstance(customer, int) and not isinstance(customer, bool) else None
    )
    refunds = data.get("refunds")
    return OrderUpdate(
        key=OrderKey(SOURCE, order_id),
        topic=topic,
        status=_STATUSES.get(fields.text(data, "status") or ""),
        shop=shop,
        order_number=f"#{number}",
        number_key=order_number_key(number),
        customer_ref=customer_ref if customer_ref not in {None, "0"} else None,
        email=email_key(fields.text(billing, "email")),
        phone=phone_key(fields.text(billing, "phone"), phone_country),
        amount=fields.amount(data, "total"),
        currency=fields.currency(data),
        placed_at=(
            fields.moment(data.get("date_created_gmt")) or fields.moment(data.get("date_created"))
        ),
        refunds=tuple(
            _refund(fields.obj(item, "a refund"))
            for item in (refunds if isinstance(refunds, list) else [])
        ),
    )


def _refund(data: dict[str, Any]) -> Refund:
    refund_id = fields.identifier(data, "id")
    assert refund_id is not None
    total = fields.amount(data, "total")
    return Refund(refund_id, None if total is None else abs(total))
