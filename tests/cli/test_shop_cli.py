"""`escalator link`, `escalator orders unmatched` and the revenue in `escalator report`, run as an
operator runs them."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.flows.common import new_customer
from bot.flows.linking import LinkToken, verify
from bot.flows.model import CustomerKey, OrderKey, Profile, ReferralJoined
from bot.flows.orders import OrderStatus, OrderUpdate, merge
from bot.flows.stages import Stage
from bot.storage import open_storage
from bot.storage.types import Change
from tests.cli.test_cli import escalator

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = {"SHOP_LINK_SECRET": "cli-link-secret", "BOT_USERNAME": "tea_shop_bot"}


async def fill(db: Path) -> None:
    """Two customers (one referred by the other), their orders, and an order nobody claimed."""
    store = await open_storage(f"sqlite:///{db}", create=True)
    try:
        jack = new_customer(CustomerKey("telegram", "1"), Profile("Jack", "en"), AT)
        amy = new_customer(CustomerKey("telegram", "2"), Profile("Amy", "en"), AT)
        await store.journey.commit(Change(jack.evolve(stage=Stage.ADVOCATE), AT))
        await store.journey.commit(
            Change(amy.evolve(stage=Stage.CUSTOMER), AT, records=(ReferralJoined(jack.id),))
        )
        orders = [
            ("A-1", "telegram:2", "30.00", None),
            ("A-2", None, "12.50", "ben@ex\x1b[2J.com"),
        ]
        for order_id, owner, amount, email in orders:
            update = OrderUpdate(
                OrderKey("purchases", order_id),
                "order.paid",
                OrderStatus.PAID,
                order_number=f"#{order_id}",
                amount=Decimal(amount),
                currency="EUR",
                email=email,
                customer_ref="SHOP-9" if owner is None else None,
            )
            await store.shop.record(
                order_id, update.topic, update.key, lambda now, u=update: merge(now, u, AT), AT
            )
            if owner is not None:
                await store.shop.attach([(update.key, None)], owner, AT)
    finally:
        await store.close()


def test_link_prints_a_t_me_link_the_bot_accepts(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    asyncio.run(fill(db))
    made = escalator(
        db, "link", "--customer-ref", "SHOP-123", "--email", "Ada@Example.com", extra=SECRET
    )
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    found = re.fullmatch(r"https://t\.me/tea_shop_bot\?start=([A-Za-z0-9_-]{1,64})", url)
    assert found is not None, url
    token = verify(b"cli-link-secret", found.group(1), datetime.now(UTC))
    assert isinstance(token, LinkToken) and (token.kind, token.value) == ("c", "SHOP-123")
    assert token.expires_at - datetime.now(UTC) > timedelta(days=29)
    remembered = asyncio.run(_shop_customer(db, "SHOP-123"))
    assert remembered == "ada@example.com"
    order = escalator(db, "link", "--order-id", "820982911946154508", "--days", "2", extra=SECRET)
    assert order.returncode == 0 and "-o820982911946154508" in order.stdout


async def _shop_customer(db: Path, ref: str) -> str | None:
    from bot.flows.model import ShopNeeds

    store = await open_storage(f"sqlite:///{db}")
    try:
        return (await store.shop.lookup(ShopNeeds(customer_ref=ref))).ref_email
    finally:
        await store.close()


def test_link_refuses_what_cannot_work(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    asyncio.run(fill(db))
    spaced = escalator(db, "link", "--customer-ref", "SHOP 1", extra=SECRET)
    assert spaced.returncode == 1 and "letters, digits, _ and -" in spaced.stderr
    mixed = escalator(db, "link", "--order-id", "1", "--email", "a@b.co", extra=SECRET)
    assert mixed.returncode == 1 and "--email and --phone go with --customer-ref" in mixed.stderr
    neither = escalator(db, "link", extra=SECRET)
    assert neither.returncode == 2
    bad_mail = escalator(db, "link", "--customer-ref", "S1", "--email", "nope", extra=SECRET)
    assert bad_mail.returncode == 1 and "not an email address" in bad_mail.stderr


def test_orders_unmatched_and_revenue_in_the_report(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    asyncio.run(fill(db))
    listed = escalator(db, "orders", "unmatched")
    assert listed.returncode == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if "#A-2" in row]
    assert "12.50 EUR" in line and "ref SHOP-9" in line
    assert "b***@ex\\e[2J.com" in line  # masked, and its control characters made visible
    assert "\x1b" not in listed.stdout
    assert "#A-1" not in listed.stdout
    report = escalator(db, "report")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    start = lines.index("revenue             paid shop orders, net of refunds")
    assert [line.split() for line in lines[start + 1 : start + 4]] == [
        ["EUR", "42.50"],
        ["customer", "30.00", "(1", "order)"],
        ["not", "linked", "12.50", "(1", "order)"],
    ]
    assert any(
        "Jack (telegram:1)" in line and "30.00 EUR" in line and "1 buyer" in line for line in lines
    )
