"""Shop orders as database rows, the same for every backend: the columns of `shop_orders` by
name, and the rows a journey commit writes about shop orders and links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.flows.model import (
    LinkTokenUsed,
    OrderApplied,
    OrderKey,
    ReferralWithdrawn,
    RefundApplied,
    ShopLinked,
    WorkQueued,
)
from bot.flows.orders import Applied, Order, OrderStatus, StoredRefund
from bot.storage.codec import epoch, moment

__all__ = [
    "ORDER_COLUMNS",
    "ORDER_LIST",
    "SHOP_KINDS",
    "UPSERT_UPDATES",
    "ShopRecord",
    "order_from_row",
    "order_to_row",
    "refund_from_row",
    "shop_record_rows",
    "upsert_assignments",
]

ORDER_COLUMNS = (
    "source",
    "order_id",
    "status",
    "applied",
    "shop",
    "order_number",
    "number_key",
    "confirmation_key",
    "customer_ref",
    "email",
    "phone",
    "amount_micros",
    "currency",
    "placed_at",
    "customer_id",
    "received_at",
    "updated_at",
)
ORDER_LIST = ", ".join(ORDER_COLUMNS)
_AT = {name: index for index, name in enumerate(ORDER_COLUMNS)}

UPSERT_UPDATES = tuple(
    column
    for column in ORDER_COLUMNS
    if column not in {"source", "order_id", "applied", "customer_id", "received_at"}
)
"""What a webhook may change in a stored order: not whom it is attached to, nor what the
journey counted of it (those have writers of their own), nor when it was first seen."""

PERSONAL = ("customer_ref", "email", "phone")
"""An order's columns that say who bought it."""


def upsert_assignments() -> str:
    """`SET` assignments of a webhook's upsert: its values replace the stored ones, except that
    an order of an erased customer (attached to a tombstone) takes no personal value again."""
    return ", ".join(
        f"{column} = CASE WHEN shop_orders.customer_id LIKE 'erased:%' THEN NULL "
        f"ELSE excluded.{column} END"
        if column in PERSONAL
        else f"{column} = excluded.{column}"
        for column in UPSERT_UPDATES
    )


SHOP_KINDS = (
    "referral_withdrawn",
    "referral_reward_cancel",
    "shop_applied",
    "shop_refund_applied",
    "shop_link",
    "shop_link_keep",
    "shop_token",
)
"""Statement kinds of journey commits about the shop, in the order they are written (a
withdrawal looks at the reward job before it is cancelled)."""

ShopRecord = (
    ReferralWithdrawn | OrderApplied | RefundApplied | ShopLinked | LinkTokenUsed | WorkQueued
)


def order_to_row(order: Order) -> tuple[object, ...]:
    """The values of `ORDER_COLUMNS`, in that order."""
    return (
        order.key.source,
        order.key.order_id,
        order.status.value,
        order.applied.value,
        order.shop,
        order.order_number,
        order.number_key,
        order.confirmation_key,
        order.customer_ref,
        order.email,
        order.phone,
        order.amount_micros,
        order.currency,
        None if order.placed_at is None else epoch(order.placed_at),
        order.customer_id,
        epoch(order.received_at),
        epoch(order.updated_at),
    )


def refund_from_row(row: Sequence[Any]) -> StoredRefund:
    """From (refund_id, amount_micros, at, applied)."""
    return StoredRefund(
        str(row[0]), None if row[1] is None else int(row[1]), moment(row[2]), bool(row[3])
    )


def order_from_row(row: Sequence[Any], refunds: Sequence[StoredRefund] = ()) -> Order:
    """An order from a row of `ORDER_COLUMNS`."""
    at = _AT
    placed = row[at["placed_at"]]
    amount = row[at["amount_micros"]]
    return Order(
        key=OrderKey(row[at["source"]], row[at["order_id"]]),
        status=OrderStatus(row[at["status"]]),
        applied=Applied(row[at["applied"]]),
        shop=row[at["shop"]],
        order_number=row[at["order_number"]],
        number_key=row[at["number_key"]],
        confirmation_key=row[at["confirmation_key"]],
        customer_ref=row[at["customer_ref"]],
        email=row[at["email"]],
        phone=row[at["phone"]],
        amount_micros=None if amount is None else int(amount),
        currency=row[at["currency"]],
        placed_at=None if placed is None else moment(placed),
        customer_id=row[at["customer_id"]],
        received_at=moment(row[at["received_at"]]),
        updated_at=moment(row[at["updated_at"]]),
        refunds=tuple(refunds),
    )


def shop_record_rows(
    record: ShopRecord, cid: str, at: float
) -> list[tuple[str, tuple[object, ...]]]:
    """The rows one journey record about the shop writes, by statement kind."""
    match record:
        case ReferralWithdrawn(referrer=referrer):
            return [
                ("referral_withdrawn", (cid, referrer, cid)),
                ("referral_reward_cancel", (at, referrer, cid)),
            ]
        case OrderApplied(order=order, applied=applied):
            return [("shop_applied", (applied, at, order.source, order.order_id))]
        case RefundApplied(source=source, refund_id=refund_id):
            return [("shop_refund_applied", (source, refund_id))]
        case ShopLinked(kind=kind, value=value, method=method, replace=replace):
            return [("shop_link" if replace else "shop_link_keep", (kind, value, cid, method, at))]
        case LinkTokenUsed(token_id=token_id):
            return [("shop_token", (token_id, cid, at))]
        case WorkQueued(key=key, group=group, body=body):
            return [("inbox_add", (key, group, 0, body, at))]
    raise AssertionError(record)  # pragma: no cover
