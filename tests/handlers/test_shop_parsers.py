"""Translating the shops' deliveries, and checking their signatures (units; the HTTP side is in
`test_shop_webhooks.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.errors import InvalidInput
from bot.flows.model import OrderKey
from bot.flows.orders import OrderStatus, OrderUpdate
from bot.handlers.shop import generic, shopify, woocommerce
from bot.handlers.shop.outcome import Ignored
from bot.handlers.shop.signatures import (
    base64_hmac_valid,
    sign_timestamped,
    timestamped_problem,
)
from tests.fakes.shops import (
    base64_hmac,
    escalator_signature,
    raw,
    shopify_order,
    shopify_refund,
    woo_order,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_shopify_order_becomes_an_update_with_what_matching_needs() -> None:
    update = shopify.translate("orders/create", "tea.myshopify.com", shopify_order(), "49")
    assert isinstance(update, OrderUpdate)
    assert update.key == OrderKey("shopify", "820982911946154508")
    assert update.status is OrderStatus.PAID  # orders/create records the purchase
    assert (update.order_number, update.number_key, update.confirmation_key) == (
        "#1001",
        "1001",
        "XPAV284CT",
    )
    assert (update.customer_ref, update.email, update.phone) == (
        "115310627314723954",
        "ada@example.com",
        "491701234567",
    )
    assert (update.amount, update.currency) == (Decimal("49.90"), "EUR")
    assert update.placed_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "payload", "status"),
    [
        ("orders/paid", shopify_order(), OrderStatus.PAID),
        ("orders/cancelled", shopify_order(cancelled=True), OrderStatus.CANCELLED),
        ("orders/updated", shopify_order(cancelled=True), OrderStatus.CANCELLED),
        ("orders/updated", shopify_order(financial_status="refunded"), OrderStatus.REFUNDED),
        ("orders/updated", shopify_order(financial_status="voided"), OrderStatus.CANCELLED),
        ("orders/updated", shopify_order(financial_status="partially_refunded"), OrderStatus.PAID),
    ],
)
def test_shopify_statuses(topic: str, payload: dict[str, object], status: OrderStatus) -> None:
    update = shopify.translate(topic, None, payload, None)
    assert isinstance(update, OrderUpdate) and update.status is status


def test_a_shopify_refund_counts_its_successful_refund_transactions() -> None:
    refund = shopify_refund(5, amount="10.00")
    refund["transactions"].append({"id": 9, "kind": "refund", "status": "failure", "amount": "3"})
    update = shopify.translate("refunds/create", None, refund, None)
    assert isinstance(update, OrderUpdate) and update.status is None
    (found,) = update.refunds
    assert (found.refund_id, found.amount) == ("5", Decimal("10.00"))
    guest = shopify.translate("orders/create", None, shopify_order(customer_id=None), None)
    assert isinstance(guest, OrderUpdate) and guest.customer_ref is None


def test_shopify_topics_that_are_not_about_money_are_ignored() -> None:
    assert isinstance(shopify.translate("products/update", None, {"id": 1}, None), Ignored)
    assert isinstance(shopify.translate("customers/create", None, {"id": 1}, None), Ignored)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "not a JSON object"),
        ({"name": "#1"}, "id is missing"),
        ({"id": {"x": 1}}, "id must be a number or a string"),
        ({**shopify_order(), "total_price": "lots"}, "total_price must be a decimal amount"),
        ({**shopify_order(), "currency": "euro"}, "currency must be a three-letter"),
    ],
)
def test_a_malformed_shopify_order_says_why(payload: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        shopify.translate("orders/create", None, payload, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", OrderStatus.PLACED),
        ("on-hold", OrderStatus.PLACED),
        ("processing", OrderStatus.PAID),
        ("completed", OrderStatus.PAID),
        ("cancelled", OrderStatus.CANCELLED),
        ("refunded", OrderStatus.REFUNDED),
        ("failed", None),
        ("wc-shipped", None),  # a plugin's status: changes nothing
    ],
)
def test_woocommerce_statuses(status: str, expected: OrderStatus | None) -> None:
    update = woocommerce.translate("order.updated", "tea.example", woo_order(status=status), "49")
    assert isinstance(update, OrderUpdate) and update.status is expected


def test_a_woocommerce_order_with_a_partial_refund() -> None:
    payload = woo_order(customer_id=31, refunds=[{"id": 726, "reason": "", "total": "-10.00"}])
    update = woocommerce.translate("order.updated", "tea.example", payload, "49")
    assert isinstance(update, OrderUpdate)
    assert (update.key, update.order_number, update.number_key) == (
        OrderKey("woocommerce", "727"),
        "#727",
        "727",
    )
    assert (update.customer_ref, update.email, update.phone) == (
        "31",
        "ben@example.com",
        "491707654321",
    )
    assert update.placed_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # date_created_gmt
    assert [(r.refund_id, r.amount) for r in update.refunds] == [("726", Decimal("10.00"))]
    guest = woocommerce.translate("order.created", None, woo_order(customer_id=0), None)
    assert isinstance(guest, OrderUpdate) and guest.customer_ref is None
    assert isinstance(woocommerce.translate("order.deleted", None, {"id": 727}, None), Ignored)
    assert woocommerce.is_ping(b"webhook_id=12") and not woocommerce.is_ping(b'{"id": 1}')
    assert woocommerce.shop_of("https://tea.example/") == "tea.example"


def test_the_generic_form() -> None:
    payload = {
        "order_id": "A-1001",
        "status": "paid",
        "order_number": "1001",
        "customer_ref": "SHOP-123",
        "email": "Ada@Example.com",
        "phone": "+49 170 1234567",
        "amount": "49.90",
        "currency": "eur",
        "created_at": "2026-03-02T09:00:00Z",
        "refunds": [{"id": "R-1", "amount": 10}],
    }
    update = generic.translate(payload, None)
    assert update.key == OrderKey("purchases", "A-1001") and update.status is OrderStatus.PAID
    assert (update.email, update.phone, update.currency) == (
        "ada@example.com",
        "491701234567",
        "EUR",
    )
    assert update.refunds[0].amount == Decimal("10")
    assert generic.event_id({**payload, "event_id": "evt-1"}) == "evt-1"
    for broken, reason in (
        ({"status": "paid"}, "order_id is missing"),
        ({"order_id": "1", "status": "shipped"}, "status must be one of"),
        ({"order_id": "1", "status": "paid", "amount": "-5"}, "cannot be negative"),
        ({"order_id": "1", "status": "paid", "refunds": {}}, "refunds must be a list"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            generic.translate(broken, None)


def test_base64_signatures_are_of_the_raw_bytes() -> None:
    body = raw(shopify_order())
    assert base64_hmac_valid(b"k", body, base64_hmac("k", body))
    assert not base64_hmac_valid(b"other", body, base64_hmac("k", body))
    assert not base64_hmac_valid(b"k", body + b" ", base64_hmac("k", body))
    assert not base64_hmac_valid(b"k", body, None) and not base64_hmac_valid(b"k", body, "")
    assert not base64_hmac_valid(b"k", body, "ümläut")


def test_timestamped_signatures_expire_both_ways() -> None:
    body = b'{"order_id":"1","status":"paid"}'
    stamp = int(NOW.timestamp())
    header = escalator_signature("k", body, stamp)
    assert header == sign_timestamped(b"k", body, stamp)
    assert timestamped_problem(b"k", body, header, NOW) is None
    assert timestamped_problem(b"k", body, header, NOW + timedelta(minutes=4, seconds=59)) is None
    assert "too old" in str(timestamped_problem(b"k", body, header, NOW + timedelta(minutes=6)))
    assert "future" in str(timestamped_problem(b"k", body, header, NOW - timedelta(minutes=6)))
    assert timestamped_problem(b"k", body + b" ", header, NOW) == "bad signature"
    assert timestamped_problem(b"x", body, header, NOW) == "bad signature"
    rotated = f"{header},v1={'0' * 64}"
    assert timestamped_problem(b"k", body, rotated, NOW) is None
    assert timestamped_problem(b"k", body, "v1=abc", NOW) == "malformed signature header"
    assert timestamped_problem(b"k", body, None, NOW) == "missing signature"
