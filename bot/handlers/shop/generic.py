"""The generic purchases form, for any shop that can send signed JSON (documented in the README).

    POST /hooks/purchases
    X-Escalator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

    {"order_id": "A-1001", "status": "paid", "order_number": "1001",
     "customer_ref": "SHOP-123", "email": "ada@example.com", "phone": "+49 170 1234567",
     "amount": "49.90", "currency": "EUR", "created_at": "2026-03-02T09:00:00Z",
     "refunds": [{"id": "R-1", "amount": "10.00"}], "event_id": "evt-42"}

Only `order_id` and `status` are required. `status` is `pending` (not yet paid), `paid`,
`cancelled` or `refunded` (in full; partial refunds go in `refunds`). `event_id`, if given, makes
a resent event a no-op; without it, the same body sent twice is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.errors import InvalidInput
from bot.flows.linking import email_key, order_number_key, phone_key
from bot.flows.model import OrderKey
from bot.flows.orders import OrderStatus, OrderUpdate, Refund
from bot.handlers.shop import fields

__all__ = ["SIGNATURE_HEADER", "SOURCE", "event_id", "translate"]

SOURCE = "purchases"
SIGNATURE_HEADER = "X-Escalator-Signature"

_STATUSES = {
    "pending": OrderStatus.PLACED,
    "paid": OrderStatus.PAID,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
}


def event_id(body: object) -> str | None:
    return fields.identifier(fields.obj(body), "event_id", required=False)


def translate(body: object, phone_country: str | None) -> OrderUpdate:
    data = fields.obj(body)
    order_id = fields.identifier(data, "order_id")
    assert order_id is not None
    status = data.get("status")
    if status not in _STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(_STATUSES)}")
    number = fields.text(data, "order_number") or order_id
    refunds = data.get("refunds", [])
    if not isinstance(refunds, list):
        raise InvalidInput("refunds must be a list")
    return OrderUpdate(
        key=OrderKey(SOURCE, order_id),
        topic=f"order.{status}",
        status=_STATUSES[str(status)],
        shop=fields.text(data, "shop"),
        order_number=number,
        number_key=order_number_key(number),
        customer_ref=fields.identifier(data, "customer_ref", required=False),
        email=email_key(fields.text(data, "email")),
        phone=phone_key(fields.text(data, "phone"), phone_country),
        amount=_not_negative(data, "amount"),
        currency=fields.currency(data),
        placed_at=fields.moment(data.get("created_at")),
        refunds=tuple(_refund(fields.obj(item, "a refund")) for item in refunds),
    )


def _not_negative(data: dict[str, Any], name: str) -> Decimal | None:
    value = fields.amount(data, name)
    if value is not None and value < 0:
        raise InvalidInput(f"{name} cannot be negative")
    return value


def _refund(data: dict[str, Any]) -> Refund:
    refund_id = fields.identifier(data, "id")
    assert refund_id is not None
    return Refund(refund_id, _not_negative(data, "amount"), fields.moment(data.get("created_at")))
