"""Orders merged from webhook updates, and what they owe the journey: pure, time passed in."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.flows.model import OrderKey, PurchaseRecorded, PurchaseReversed, RefundIssued
from bot.flows.orders import (
    APPLIED,
    ORDER_STATUS,
    Applied,
    Order,
    OrderStatus,
    OrderUpdate,
    Refund,
    StoredRefund,
    format_money,
    journey_events,
    merge,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = OrderKey("shopify", "1001")


def update(status: OrderStatus | None, **fields: object) -> OrderUpdate:
    return OrderUpdate(key=KEY, topic="t", status=status, **fields)  # type: ignore[arg-type]


def fold(updates: list[OrderUpdate]) -> Order:
    order = None
    for item in updates:
        order = merge(order, item, NOW)
    assert order is not None
    return order


def test_updates_in_any_order_and_any_number_of_times_give_one_order() -> None:
    updates = [
        update(OrderStatus.PLACED, amount=Decimal("49.90"), currency="eur", email="a@b.co"),
        update(OrderStatus.PAID, order_number="#1001"),
        update(OrderStatus.CANCELLED),
        update(None, refunds=(Refund("r1", Decimal("5.00"), NOW),)),
    ]
    results = {
        repr(replace(fold(list(order)), updated_at=NOW, received_at=NOW))
        for order in itertools.permutations(updates + updates[:2])
    }
    assert len(results) == 1
    order = fold(updates)
    assert order.status is OrderStatus.CANCELLED
    assert (order.amount_micros, order.currency) == (49_900_000, "EUR")
    assert order.order_number == "#1001" and order.email == "a@b.co"
    assert [r.refund_id for r in order.refunds] == ["r1"]


def test_a_late_paid_never_undoes_a_cancellation() -> None:
    paid, cancelled = update(OrderStatus.PAID), update(OrderStatus.CANCELLED)
    order = fold([paid, cancelled, paid])
    assert order.status is OrderStatus.CANCELLED


def test_refunds_adding_up_to_the_total_refund_the_order() -> None:
    order = fold(
        [
            update(OrderStatus.PAID, amount=Decimal("30.00")),
            update(None, refunds=(Refund("r1", Decimal("10.00")),)),
        ]
    )
    assert order.status is OrderStatus.PAID and order.refunded_micros == 10_000_000
    order = merge(order, update(None, refunds=(Refund("r2", Decimal("-20.00")),)), NOW)
    assert order.status is OrderStatus.REFUNDED and order.refunded_micros == 30_000_000


def attached(order: Order, applied: Applied = Applied.NONE) -> Order:
    return replace(order, customer_id="telegram:7", applied=applied)


def test_an_unmatched_order_owes_nothing_and_a_paid_one_is_a_purchase_once() -> None:
    order = fold([update(OrderStatus.PAID, amount=Decimal("49.90"), order_number="#1001")])
    assert journey_events(order) == []
    (event,) = journey_events(attached(order))
    assert isinstance(event, PurchaseRecorded)
    assert event.inbound_id == "shop:shopify/1001:purchase"
    assert (event.order_id, event.amount, event.order) == ("shopify/1001", 49.9, KEY)
    assert journey_events(attached(order, Applied.PURCHASE)) == []
    placed = fold([update(OrderStatus.PLACED)])
    assert journey_events(attached(placed)) == []


def test_refunds_before_the_link_are_settled_silently_with_the_purchase() -> None:
    order = fold(
        [
            update(OrderStatus.PAID, amount=Decimal("50")),
            update(None, refunds=(Refund("r1", Decimal("5")),)),
        ]
    )
    (event,) = journey_events(attached(order))
    assert isinstance(event, PurchaseRecorded) and event.refunds == ("r1",)


def test_a_counted_order_reversed_or_partly_refunded_is_followed_up_once() -> None:
    paid = attached(fold([update(OrderStatus.PAID, amount=Decimal("50"))]), Applied.PURCHASE)
    refunded = merge(paid, update(None, refunds=(Refund("r1", Decimal("5")),)), NOW)
    (partial,) = journey_events(refunded)
    assert isinstance(partial, RefundIssued)
    assert (partial.refund_id, partial.amount, partial.inbound_id) == (
        "r1",
        "5.00",
        "shop:shopify/refund/r1",
    )
    settled = replace(refunded, refunds=(StoredRefund("r1", 5_000_000, NOW, applied=True),))
    assert journey_events(settled) == []
    cancelled = merge(settled, update(OrderStatus.CANCELLED), NOW)
    (reversal,) = journey_events(cancelled)
    assert isinstance(reversal, PurchaseReversed)
    assert (reversal.reason, reversal.inbound_id) == ("cancelled", "shop:shopify/1001:reversal")
    assert journey_events(replace(cancelled, applied=Applied.REVERSED)) == []
    # cancelled before it was ever counted: nothing to reverse, nobody to bother
    assert journey_events(attached(fold([update(OrderStatus.CANCELLED)]))) == []


@pytest.mark.parametrize(
    ("micros", "shown"),
    [(49_900_000, "49.90"), (1_500_000_000, "1500.00"), (1_234_567, "1.234567"), (0, "0.00")],
)
def test_money_is_shown_with_its_decimals(micros: int, shown: str) -> None:
    assert format_money(micros) == shown


def test_time_passes_only_through_what_it_is_given() -> None:
    first = merge(None, update(OrderStatus.PAID), NOW)
    later = merge(first, update(OrderStatus.PAID), NOW + timedelta(hours=1))
    assert (later.received_at, later.updated_at) == (NOW, NOW + timedelta(hours=1))


def test_order_tables_only_move_forward_and_reach_every_state() -> None:
    rank = {
        OrderStatus.PLACED: 0,
        OrderStatus.PAID: 1,
        OrderStatus.CANCELLED: 2,
        OrderStatus.REFUNDED: 2,
    }
    assert all(rank[target] > rank[source] for (source, _), target in ORDER_STATUS.edges.items())
    assert set(ORDER_STATUS.edges.values()) | {ORDER_STATUS.initial} == set(OrderStatus)
    assert set(APPLIED.edges.values()) | {APPLIED.initial} == set(Applied)
