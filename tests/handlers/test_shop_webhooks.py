"""The shop's webhooks against the running bot: real HTTP requests to its web server, signed as
Shopify, WooCommerce and the generic form document it (the signatures computed here from the
raw bytes), the real Telegram client against the local Bot API stand-in, a fake clock."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.clock import ManualClock
from bot.flows.linking import mint
from bot.flows.model import CustomerKey
from bot.flows.stages import Stage
from tests.conftest import sql
from tests.fakes.shops import (
    PURCHASES_SECRET,
    ShopClient,
    base64_hmac,
    escalator_signature,
    raw,
    shop_env,
    shopify_order,
    shopify_refund,
    woo_order,
)
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import free_port, running_bot, webhook_env

LINK_SECRET = shop_env()["SHOP_LINK_SECRET"].encode()
SHOPIFY_CUSTOMER = "115310627314723954"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Wait until `check()` holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def shop_bot(
    api: FakeBotApi, db: Path, clock: ManualClock, **extra: str
) -> AsyncIterator[tuple[Runtime, ShopClient]]:
    port = free_port()
    env = {**shop_env(), "PORT": str(port), "HOST": "127.0.0.1", **extra}
    async with running_bot(api, db, clock, **env) as runtime:
        client = ShopClient(f"http://127.0.0.1:{port}")
        try:
            yield runtime, client
        finally:
            await client.close()


def count(rt: Runtime, table: str) -> int:
    return int(sql(rt.storage, f"SELECT count(*) FROM {table}")[0][0])


async def customer_of(rt: Runtime, user: int) -> Any:
    return await rt.storage.journey.customer(CustomerKey("telegram", str(user)))


async def link_by_token(api: FakeBotApi, user: int, ref: str, clock: ManualClock) -> None:
    token = mint(LINK_SECRET, "c", ref, clock.now() + timedelta(days=7))
    api.text(user, f"/start {token}")
    await api.wait_for(lambda: any("connected" in t for t in api.texts_to(user)), timeout=20)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgresql":
        return {"DATABASE_URL": str(request.getfixturevalue("pg_url"))}
    return {}


async def test_created_paid_refunded_on_shopify(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock, database: dict[str, str]
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock, **database) as (rt, shop):
        await link_by_token(api, 7, SHOPIFY_CUSTOMER, clock)
        created = await shop.shopify("orders/create", shopify_order(), webhook_id="w-create")
        assert (created.status, created.body) == (200, {"ok": True})
        await eventually(lambda: _purchases(rt, 7, 1))
        customer = await customer_of(rt, 7)
        assert customer.stage is Stage.CUSTOMER
        paid = await shop.shopify(
            "orders/paid", shopify_order(financial_status="paid"), webhook_id="w-paid"
        )
        assert paid.status == 200
        await eventually(lambda: rt.storage.shop.seen("shopify:w-paid"))
        assert (await customer_of(rt, 7)).purchases == 1  # the same order: counted once
        refund = await shop.shopify("refunds/create", shopify_refund(5), webhook_id="w-refund")
        assert refund.status == 200
        await eventually(lambda: _purchases(rt, 7, 0))
        await api.wait_for(lambda: any("refunded" in t for t in api.texts_to(7)), timeout=20)
        customer = await customer_of(rt, 7)
        assert customer.case_id is not None  # a person will reach out
        assert customer.stage is Stage.CUSTOMER  # stages never move down
        recovery = next(t for t in api.texts_to(7) if "refunded" in t)
        assert "#1001" in recovery and "49.90 EUR" in recovery
        (order,) = sql(rt.storage, "SELECT status, applied, amount_micros FROM shop_orders")
        assert tuple(order) == ("refunded", "reversed", 49_900_000)
        assert count(rt, "shop_events") == 3


async def _purchases(rt: Runtime, user: int, expected: int) -> bool:
    customer = await customer_of(rt, user)
    if customer is None or customer.purchases != expected:
        return False
    orders = sql(rt.storage, "SELECT count(*) FROM inbox")
    return int(orders[0][0]) == 0


async def test_bad_signatures_and_stale_forms_get_401_and_nothing_is_kept(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        order = shopify_order()
        wrong = await shop.shopify("orders/create", order, secret="not-the-secret")
        body = raw(order)
        altered = body.replace(b'"49.90"', b'"0.01"')
        assert altered != body
        modified = await shop.shopify("orders/create", order, body=altered)  # signed original
        woo = await shop.woocommerce("order.created", woo_order(), secret="nope")
        now = int(clock.now().timestamp())
        form = {"order_id": "A-1", "status": "paid"}
        stale = await shop.purchases(form, at=now - 301)
        ahead = await shop.purchases(form, at=now + 301)
        other_key = await shop.purchases(form, at=now, secret="guess")
        unsigned = await shop.post("/hooks/purchases", raw(form), {})
        answers = [wrong, modified, woo, stale, ahead, other_key, unsigned]
        assert [a.status for a in answers] == [401] * 7
        assert stale.body["error"] == "signature timestamp too old or in the future"
        fresh = await shop.purchases(form, at=now - 299)
        assert fresh.status == 200
        await eventually(lambda: rt.storage.shop.seen(f"purchases:sha256:{_digest(form)}"))
        # only the one properly signed delivery was kept
        assert count(rt, "shop_events") == 1 and count(rt, "shop_orders") == 1
        assert count(rt, "inbox") == 0


def _digest(payload: Any) -> str:
    return hashlib.sha256(raw(payload)).hexdigest()


async def test_the_same_webhook_id_twice_is_recorded_once(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        await link_by_token(api, 7, SHOPIFY_CUSTOMER, clock)
        order = shopify_order()
        answers = await asyncio.gather(
            *(shop.shopify("orders/create", order, webhook_id="w-1") for _ in range(5))
        )
        assert {a.status for a in answers} == {200}
        await eventually(lambda: _purchases(rt, 7, 1))
        later = await shop.shopify("orders/create", order, webhook_id="w-1")
        assert later.body == {"ok": True, "duplicate": True}
        assert count(rt, "shop_events") == 1
        assert count(rt, "purchases") == 1
        logged = sql(rt.storage, "SELECT count(*) FROM journey WHERE event = 'purchase'")
        assert logged[0][0] == 1


async def test_an_order_before_the_link_is_attached_and_checked_in_on_3_days_later(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        api.text(8, "/start")
        await api.wait_for(lambda: len(api.texts_to(8)) == 1, timeout=20)
        answer = await shop.shopify("orders/create", shopify_order(), webhook_id="early")
        assert answer.status == 200
        await eventually(lambda: rt.storage.shop.seen("shopify:early"))
        (waiting,) = await rt.storage.shop.unmatched(10)
        assert waiting.customer_id is None and waiting.order_number == "#1001"
        assert (await customer_of(rt, 8)).purchases == 0

        await link_by_token(api, 8, SHOPIFY_CUSTOMER, clock)
        await eventually(lambda: _purchases(rt, 8, 1))
        assert await rt.storage.shop.unmatched(10) == []
        assert (await customer_of(rt, 8)).stage is Stage.CUSTOMER
        due = sql(
            rt.storage,
            "SELECT due_at FROM jobs WHERE customer_id = 'telegram:8' AND kind = 'checkin' "
            "AND status = 'pending'",
        )
        assert [row[0] for row in due] == [(clock.now() + timedelta(days=3)).timestamp()]
        before = len(api.texts_to(8))
        clock.advance(timedelta(days=3))
        await api.wait_for(lambda: len(api.texts_to(8)) > before, timeout=20)
        assert "How is everything with your order so far?" in api.texts_to(8)[-1]
        assert "inline_keyboard" in api.sent_to(8)[-1]["reply_markup"]


async def test_the_contact_button_links_the_senders_own_number_only(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        api.text(9, "/start")
        api.text(9, "/link")
        await api.wait_for(lambda: len(api.texts_to(9)) == 2, timeout=20)
        markup = api.sent_to(9)[-1]["reply_markup"]
        assert markup["keyboard"] == [
            [{"text": "📱 Share my phone number", "request_contact": True}]
        ]
        assert markup["one_time_keyboard"] is True
        api.contact(9, "+49 170 7654321", owner=12345)  # a contact card of someone else
        await api.wait_for(lambda: len(api.texts_to(9)) == 3, timeout=20)
        assert "someone else" in api.texts_to(9)[-1]
        api.contact(9, "491707654321")  # the button: their own, as Telegram sends it
        await api.wait_for(lambda: len(api.texts_to(9)) == 4, timeout=20)
        assert "connected" in api.texts_to(9)[-1]
        assert api.sent_to(9)[-1]["reply_markup"] == {"remove_keyboard": True}
        # a WooCommerce order placed with that number (written nationally) is theirs
        answer = await shop.woocommerce("order.created", woo_order(status="processing"))
        assert answer.status == 200
        await eventually(lambda: _purchases(rt, 9, 1))
        cancelled = await shop.woocommerce(
            "order.updated", woo_order(status="cancelled"), delivery="d2"
        )
        assert cancelled.status == 200
        await eventually(lambda: _purchases(rt, 9, 0))
        await api.wait_for(lambda: any("cancelled" in t for t in api.texts_to(9)), timeout=20)


async def test_a_typed_order_number_links_that_order(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        api.text(10, "/start")
        await api.wait_for(lambda: len(api.texts_to(10)) == 1, timeout=20)
        guest = woo_order(status="completed", phone="", email="someone@example.com")
        assert (await shop.woocommerce("order.created", guest)).status == 200
        await eventually(lambda: rt.storage.shop.seen(_woo_key(guest, "d1")))
        api.text(10, "someone@example.com")  # an email proves nothing
        await api.wait_for(lambda: len(api.texts_to(10)) == 2, timeout=20)
        assert "privacy" in api.texts_to(10)[-1]
        api.text(10, "#999")
        await api.wait_for(lambda: len(api.texts_to(10)) == 3, timeout=20)
        assert "couldn't find" in api.texts_to(10)[-1]
        api.text(10, "#727")
        await eventually(lambda: _purchases(rt, 10, 1))
        # the answer leaves after the commit, a second after the previous one (1/s per chat)
        await api.wait_for(lambda: any("order #727" in t for t in api.texts_to(10)), timeout=20)


def _woo_key(payload: Any, delivery: str) -> str:
    return f"woocommerce:{delivery}:{hashlib.sha256(raw(payload)).hexdigest()[:32]}"


async def test_pings_ignored_topics_bad_bodies_and_size_limits(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        ping = await shop.woocommerce_ping()
        assert (ping.status, ping.body) == (200, {"ok": True, "ping": True})
        product = await shop.shopify("products/update", {"id": 1, "title": "Teapot"})
        assert product.status == 200 and "ignored" in product.body
        not_json = b"{not json"
        headers = {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": base64_hmac(shop_env()["SHOPIFY_WEBHOOK_SECRET"], not_json),
        }
        bad = await shop.post("/hooks/shopify", not_json, headers)
        assert bad.status == 400 and bad.body["error"].startswith("the body is not JSON")
        no_id = await shop.shopify("orders/create", {"name": "#1"})
        assert (no_id.status, no_id.body["error"]) == (400, "id is missing")
        now = int(clock.now().timestamp())
        bad_status = await shop.purchases({"order_id": "1", "status": "shipped"}, at=now)
        assert bad_status.status == 400 and "status must be one of" in bad_status.body["error"]
        huge = b'{"id": 1, "note": "' + b"x" * (1024 * 1024) + b'"}'
        too_big = await shop.post(
            "/hooks/purchases",
            huge,
            {"X-Escalator-Signature": escalator_signature(PURCHASES_SECRET, huge, now)},
        )
        assert too_big.status == 413
        assert count(rt, "shop_events") == 0 and count(rt, "inbox") == 0


async def test_an_endpoint_is_off_unless_its_secret_is_set(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    only_shopify = {"WOOCOMMERCE_WEBHOOK_SECRET": "", "PURCHASES_WEBHOOK_SECRET": ""}
    async with shop_bot(api, tmp_path / "t.db", clock, **only_shopify) as (_, shop):
        assert (await shop.woocommerce("order.created", woo_order())).status == 404
        now = int(clock.now().timestamp())
        assert (await shop.purchases({"order_id": "1", "status": "paid"}, at=now)).status == 404
        assert (await shop.shopify("orders/create", shopify_order())).status == 200


async def test_a_burst_of_1000_webhooks_is_each_recorded_once(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock, database: dict[str, str]
) -> None:
    async with shop_bot(api, tmp_path / "t.db", clock, **database) as (rt, shop):
        await link_by_token(api, 11, "SHOP-11", clock)
        now = int(clock.now().timestamp())
        forms = [
            {
                "order_id": f"B-{n}",
                "status": "paid",
                "customer_ref": "SHOP-11" if n % 10 == 0 else f"GUEST-{n}",
                "amount": "1.00",
                "currency": "EUR",
                "event_id": f"evt-{n}",
            }
            for n in range(1000)
        ]
        resent = forms[:100]  # redeliveries mixed into the burst
        answers = await asyncio.gather(*(shop.purchases(f, at=now) for f in forms + resent))
        assert all(answer.status == 200 for answer in answers), {a.status for a in answers}

        async def all_handled() -> bool:
            return count(rt, "shop_events") == 1000 and count(rt, "inbox") == 0

        await eventually(all_handled, timeout=120)
        assert count(rt, "shop_orders") == 1000
        stored = sql(rt.storage, "SELECT order_id FROM shop_orders")
        assert sorted(int(row[0][2:]) for row in stored) == list(range(1000))
        await eventually(lambda: _purchases(rt, 11, 100))
        rows = await rt.storage.shop.revenue(None, None)
        assert {(r.stage, r.orders) for r in rows} == {(None, 900), ("customer", 100)}


async def test_the_hooks_share_the_server_with_the_telegram_webhook(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    web = webhook_env()
    async with running_bot(api, tmp_path / "t.db", clock, **shop_env(), **web) as rt:
        shop = ShopClient(f"http://127.0.0.1:{web['PORT']}")
        try:
            await link_by_token(api, 12, SHOPIFY_CUSTOMER, clock)  # through Telegram's webhook
            answer = await shop.shopify("orders/create", shopify_order(), webhook_id="w-web")
            assert answer.status == 200
            await eventually(lambda: _purchases(rt, 12, 1))
        finally:
            await shop.close()


def thank_you_link(order_id: int, expires: int) -> str:
    """The thank-you page's button as the README's Liquid snippet builds it (not the bot's code)."""
    message = f"o{order_id}.{expires}".encode()
    signature = hmac.new(LINK_SECRET, message, hashlib.sha256).hexdigest()[:20]
    return f"link-{signature}-{expires}-o{order_id}"


async def test_the_thank_you_page_button_links_the_buyer_whichever_arrives_first(
    api: FakeBotApi, tmp_path: Path, clock: ManualClock
) -> None:
    expires = int((clock.now() + timedelta(days=30)).timestamp())
    async with shop_bot(api, tmp_path / "t.db", clock) as (rt, shop):
        # a guest's order arrives, then they tap the button on the thank-you page
        guest = shopify_order(1, 1001, customer_id=None, phone=None, email="guest@example.com")
        assert (await shop.shopify("orders/create", guest)).status == 200
        api.text(13, f"/start {thank_you_link(1, expires)}")
        await eventually(lambda: _purchases(rt, 13, 1))
        assert (await customer_of(rt, 13)).stage is Stage.CUSTOMER
        # another buyer taps the button before the shop's webhook reaches the bot
        api.text(14, f"/start {thank_you_link(2, expires)}")
        await api.wait_for(lambda: any("connected" in t for t in api.texts_to(14)), timeout=20)
        other = shopify_order(2, 1002, customer_id=None, phone=None, email="other@example.com")
        assert (await shop.shopify("orders/create", other)).status == 200
        await eventually(lambda: _purchases(rt, 14, 1))
        # the same button used by someone else is refused
        api.text(15, f"/start {thank_you_link(2, expires)}")
        await api.wait_for(lambda: len(api.texts_to(15)) == 2, timeout=20)
        assert "already been used" in api.texts_to(15)[-1]
        clock.advance(timedelta(days=3))
        for user in (13, 14):
            await api.wait_for(
                lambda u=user: "How is everything with your order so far?" in api.texts_to(u)[-1],
                timeout=20,
            )
