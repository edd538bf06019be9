"""The storage contract for the shop (`ShopStore`, and journey commits about orders and links), on
every backend (`conftest.BACKENDS`), like `test_contract.py`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from bot.flows.common import new_customer
from bot.flows.model import (
    Customer,
    CustomerKey,
    JobKind,
    LinkTokenUsed,
    OrderApplied,
    OrderKey,
    Profile,
    ReferralConverted,
    ReferralJoined,
    ReferralWithdrawn,
    RefundApplied,
    ScheduleJob,
    ShopContext,
    ShopLinked,
    ShopNeeds,
    WorkQueued,
)
from bot.flows.orders import (
    Applied,
    Order,
    OrderStatus,
    OrderUpdate,
    Refund,
    journey_events,
    merge,
)
from bot.flows.stages import Stage
from bot.storage import Storage
from bot.storage.types import Change, InboxItem
from tests.conftest import START
from tests.storage.conftest import Opener

LEASE = timedelta(minutes=1)
A = OrderKey("shopify", "1001")
B = OrderKey("shopify", "1002")
C = OrderKey("woocommerce", "77")


def update(
    key: OrderKey, status: OrderStatus | None = OrderStatus.PAID, **fields: object
) -> OrderUpdate:
    return OrderUpdate(key=key, topic="t", status=status, **fields)  # type: ignore[arg-type]


async def record(store: Storage, event: str, item: OrderUpdate, at: int = 0) -> tuple[Order, bool]:
    when = START + timedelta(minutes=at)
    return await store.shop.record(
        event, item.topic, item.key, lambda current: merge(current, item, when), when
    )


async def customer(store: Storage, name: str, *records: object, **fields: object) -> Customer:
    person = new_customer(CustomerKey("telegram", name), Profile(name.title(), "en"), START)
    person = person.evolve(**fields)
    await store.journey.commit(Change(person, START, records=tuple(records)))  # type: ignore[arg-type]
    return person


async def test_a_delivery_is_recorded_once_and_merged_into_its_order(store: Storage) -> None:
    first = update(A, OrderStatus.PLACED, amount=Decimal("49.90"), currency="EUR", email="a@b.co")
    order, fresh = await record(store, "shopify:w1", first)
    assert fresh and order.status is OrderStatus.PLACED and order.amount_micros == 49_900_000
    assert await store.shop.seen("shopify:w1") and not await store.shop.seen("shopify:w2")
    again, fresh = await record(store, "shopify:w1", update(A, OrderStatus.CANCELLED))
    assert not fresh and again == order  # the same delivery: nothing written
    refund = update(A, None, refunds=(Refund("r1", Decimal("5")),))
    paid, fresh = await record(store, "shopify:w2", update(A, order_number="#1001"), at=1)
    assert fresh and paid.status is OrderStatus.PAID and paid.email == "a@b.co"
    refunded, _ = await record(store, "shopify:w3", refund, at=2)
    assert [(r.refund_id, r.amount_micros, r.applied) for r in refunded.refunds] == [
        ("r1", 5_000_000, False)
    ]
    assert await store.shop.order(A) == refunded
    assert await store.shop.order(B) is None


async def test_an_order_is_attached_once_to_one_customer_with_its_work(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await record(first, "e1", update(A))
    await record(first, "e2", update(B))
    work = InboxItem("shop-reconcile:a", "order:shopify/1001", 0, '{"work":"reconcile"}')
    results = await asyncio.gather(
        first.shop.attach([(A, work), (B, None)], "telegram:1", START),
        second.shop.attach([(A, work)], "telegram:2", START),
    )
    winners = [n for n, attached in enumerate(results) if A in attached]
    assert len(winners) == 1
    owner = "telegram:1" if winners == [0] else "telegram:2"
    stored = await first.shop.order(A)
    assert stored is not None and stored.customer_id == owner
    assert await first.shop.attach([(A, work)], "telegram:3", START) == []
    queued = await first.inbox.claim(START, 10, LEASE)
    assert [item.key for item in queued] == ["shop-reconcile:a"]
    # a webhook never changes whom an order is attached to, nor what the journey counted
    again, _ = await record(first, "e3", update(A, OrderStatus.CANCELLED))
    assert again.customer_id == owner and again.applied is Applied.NONE


async def test_links_match_orders_by_order_id_then_ref_then_phone_then_email(
    store: Storage,
) -> None:
    ann = ShopLinked("email", "a@b.co", "link")
    await customer(store, "1", ann)
    await customer(store, "2", ShopLinked("phone", "491701234567", "contact"))
    await customer(store, "3", ShopLinked("ref", "SHOP-1", "link"))
    await customer(store, "4", ShopLinked("order", "1001", "order_number", replace=False))
    full = update(A, customer_ref="SHOP-1", phone="491701234567", email="a@b.co")
    order, _ = await record(store, "e1", full)
    assert await store.shop.match(order) == "telegram:4"
    no_id, _ = await record(store, "e2", update(B, customer_ref="SHOP-1", email="a@b.co"))
    assert await store.shop.match(no_id) == "telegram:3"
    by_phone, _ = await record(store, "e3", update(C, phone="491701234567", email="a@b.co"))
    assert await store.shop.match(by_phone) == "telegram:2"
    only_mail, _ = await record(store, "e4", update(OrderKey("x", "9"), email="a@b.co"))
    assert await store.shop.match(only_mail) == "telegram:1"
    nobody, _ = await record(store, "e5", update(OrderKey("x", "8"), email="z@b.co"))
    assert await store.shop.match(nobody) is None


async def test_a_stronger_link_takes_an_identity_over_a_weaker_one_does_not(
    store: Storage,
) -> None:
    await customer(store, "1", ShopLinked("ref", "SHOP-1", "link"))
    await customer(store, "2", ShopLinked("ref", "SHOP-1", "order_number", replace=False))
    order, _ = await record(store, "e1", update(A, customer_ref="SHOP-1"))
    assert await store.shop.match(order) == "telegram:1"
    await customer(store, "3", ShopLinked("ref", "SHOP-1", "link"))
    assert await store.shop.match(order) == "telegram:3"


async def test_unmatched_orders_and_those_a_customers_links_tie_to_them(store: Storage) -> None:
    await record(store, "e1", update(A, customer_ref="SHOP-1"), at=1)
    await record(store, "e2", update(B, email="a@b.co"), at=2)
    await record(store, "e3", update(C, phone="491701234567"), at=3)
    await record(store, "e4", update(OrderKey("x", "1001")), at=4)  # same id, other shop
    links = (
        ShopLinked("ref", "SHOP-1", "link"),
        ShopLinked("phone", "491701234567", "contact"),
        ShopLinked("order", "1001", "link"),
    )
    await customer(store, "1", *links)
    mine = await store.shop.unmatched_for("telegram:1", 10)
    assert [o.key for o in mine] == [A, C, OrderKey("x", "1001")]
    assert [o.key for o in await store.shop.unmatched_for("telegram:1", 2)] == [A, C]
    assert await store.shop.unmatched_for("telegram:9", 10) == []
    await store.shop.attach([(A, None)], "telegram:1", START)
    assert [o.key for o in await store.shop.unmatched_for("telegram:1", 10)] == [
        C,
        OrderKey("x", "1001"),
    ]
    listed = await store.shop.unmatched(10)
    assert [o.key for o in listed] == [OrderKey("x", "1001"), C, B]  # newest first


async def test_lookup_finds_token_holders_what_the_shop_said_and_typed_numbers(
    store: Storage,
) -> None:
    await customer(store, "1", LinkTokenUsed("abc"))
    await customer(store, "2", LinkTokenUsed("abc"))  # a second redemption does not take it
    await store.shop.remember_customer("SHOP-1", "a@b.co", None, START)
    await store.shop.remember_customer("SHOP-1", None, "491701234567", START)
    await record(store, "e1", update(A, order_number="#1001", number_key="1001"), at=5)
    await record(store, "e2", update(B, confirmation_key="XPAV284CT"))
    context = await store.shop.lookup(
        ShopNeeds(token_id="abc", customer_ref="SHOP-1", order_number="1001")
    )
    assert context.token_used_by == "telegram:1"
    assert (context.ref_email, context.ref_phone) == ("a@b.co", "491701234567")
    (found,) = context.orders
    assert (found.order, found.order_number, found.customer_id) == (A, "#1001", None)
    assert found.placed_at == START + timedelta(minutes=5)
    by_confirmation = await store.shop.lookup(ShopNeeds(order_number="XPAV284CT"))
    assert [o.order for o in by_confirmation.orders] == [B]
    empty = await store.shop.lookup(ShopNeeds(token_id="nope", customer_ref="nobody"))
    assert (empty.token_used_by, empty.ref_email, empty.orders) == (None, None, ())


async def test_journey_commits_record_what_they_counted_and_queue_work(store: Storage) -> None:
    await record(store, "e1", update(A, refunds=(Refund("r1", Decimal("5")),)))
    work = WorkQueued("shop-match:telegram:1:ref:SHOP-1", "", '{"work":"match"}')
    await customer(store, "1", OrderApplied(A, "purchase"), RefundApplied("shopify", "r1"), work)
    order = await store.shop.order(A)
    assert order is not None and order.applied is Applied.PURCHASE
    assert [r.applied for r in order.refunds] == [True]
    (queued,) = await store.inbox.claim(START, 10, LEASE)
    assert (queued.key, queued.group, queued.body) == (work.key, "", work.body)


async def test_a_reversal_withdraws_a_conversion_only_while_its_reward_is_pending(
    store: Storage,
) -> None:
    referrer = await customer(store, "ref")
    for name, rewarded in (("pending", False), ("paid", True)):
        friend = new_customer(CustomerKey("telegram", name), Profile(None, None), START)
        reward = ScheduleJob(
            JobKind.REFERRAL_CONVERTED,
            START + timedelta(days=14),
            {"friend": name},
            customer=referrer.key,
            subject=friend.id,
        )
        await store.journey.commit(
            Change(
                friend.evolve(referred_by=referrer.id, purchases=1, stage=Stage.CUSTOMER),
                START,
                schedule=(reward,),
                records=(ReferralJoined(referrer.id), ReferralConverted()),
            )
        )
        if rewarded:
            due = await store.jobs.claim(START + timedelta(days=15), 10, LEASE)
            (job,) = [j for j in due if j.payload == {"friend": name}]
            await store.journey.commit(Change(referrer, START, version=1, job_done=job.id))
        loaded = await store.journey.load(friend.key)
        assert loaded.customer is not None
        await store.journey.commit(
            Change(
                loaded.customer.evolve(purchases=0),
                START,
                version=loaded.version,
                records=(ReferralWithdrawn(referrer.id),),
            )
        )
    chain = await store.reports.generations(referrer.key)
    assert [(g.generation, g.joined, g.converted) for g in chain] == [(1, 2, 1)]
    assert await store.jobs.claim(START + timedelta(days=20), 10, LEASE) == []


async def test_revenue_by_stage_and_currency_and_by_referral_chain(store: Storage) -> None:
    jack = await customer(store, "jack", stage=Stage.ADVOCATE)
    await customer(store, "amy", ReferralJoined(jack.id), stage=Stage.CUSTOMER)
    await customer(store, "bob", ReferralJoined("telegram:amy"), stage=Stage.CUSTOMER)
    orders = [
        ("o1", "telegram:amy", "30.00", "EUR", OrderStatus.PAID, ()),
        ("o2", "telegram:bob", "20.00", "EUR", OrderStatus.PAID, (Refund("r", Decimal(5)),)),
        ("o3", "telegram:bob", "99.00", "EUR", OrderStatus.CANCELLED, ()),
        ("o4", "telegram:amy", "10.00", "USD", OrderStatus.PAID, ()),
        ("o5", "telegram:jack", "7.00", "EUR", OrderStatus.PAID, ()),
        ("o6", None, "1.50", "EUR", OrderStatus.PAID, ()),
        ("o7", None, "2.00", "EUR", OrderStatus.PLACED, ()),
    ]
    for n, (order_id, owner, amount, currency, status, refunds) in enumerate(orders):
        key = OrderKey("purchases", order_id)
        item = update(key, status, amount=Decimal(amount), currency=currency, refunds=refunds)
        await record(store, f"e{n}", item, at=n)
        if owner is not None:
            await store.shop.attach([(key, None)], owner, START)
    rows = await store.shop.revenue(None, None)
    assert [(r.stage, r.currency, r.orders, r.amount_micros) for r in rows] == [
        (None, "EUR", 1, 1_500_000),
        ("advocate", "EUR", 1, 7_000_000),
        ("customer", "EUR", 2, 45_000_000),
        ("customer", "USD", 1, 10_000_000),
    ]
    later = await store.shop.revenue(START + timedelta(minutes=4), None)
    assert [(r.stage, r.orders) for r in later] == [(None, 1), ("advocate", 1)]
    chains = await store.shop.chain_revenue(10)
    assert [
        (c.referrer_id, c.first_name, c.currency, c.buyers, c.generations, c.amount_micros)
        for c in chains
    ] == [
        ("telegram:jack", "Jack", "EUR", 2, 2, 45_000_000),
        ("telegram:amy", "Amy", "EUR", 1, 1, 15_000_000),
        ("telegram:jack", "Jack", "USD", 1, 1, 10_000_000),
    ]
    assert len(await store.shop.chain_revenue(1)) == 1


async def test_export_shows_and_erasure_removes_who_they_are_in_the_shop(store: Storage) -> None:
    links = (
        ShopLinked("ref", "SHOP-1", "link"),
        ShopLinked("phone", "491701234567", "contact"),
        LinkTokenUsed("tok"),
    )
    ada = await customer(store, "ada", *links)
    await store.shop.remember_customer("SHOP-1", "ada@example.com", None, START)
    paid = update(
        A, amount=Decimal("49.90"), currency="EUR", email="ada@example.com", customer_ref="SHOP-1"
    )
    await record(store, "e1", paid)
    await store.shop.attach([(A, None)], ada.id, START)
    data = await store.records.export(ada.key)
    assert data is not None
    assert [(o["order_id"], o["email"]) for o in data["shop_orders"]] == [  # type: ignore[index, union-attr]
        ("1001", "ada@example.com")
    ]
    assert {(link["kind"], link["value"]) for link in data["shop_links"]} == {  # type: ignore[index, union-attr]
        ("ref", "SHOP-1"),
        ("phone", "491701234567"),
    }

    tombstone = await store.records.erase(ada.key, "Operator", START)
    assert tombstone is not None
    order = await store.shop.order(A)
    assert order is not None and order.customer_id == tombstone
    assert (order.email, order.phone, order.customer_ref) == (None, None, None)
    assert order.amount_micros == 49_900_000  # the revenue figures keep it, anonymously
    assert await store.shop.lookup(ShopNeeds(customer_ref="SHOP-1")) == ShopContext()
    assert (await store.shop.lookup(ShopNeeds(token_id="tok"))).token_used_by == tombstone
    # the shop sends the order again, with its email: it does not come back
    resent = update(A, OrderStatus.CANCELLED, email="ada@example.com", customer_ref="SHOP-1")
    again, _ = await record(store, "e2", resent)
    assert (again.email, again.customer_ref, again.status) == (None, None, OrderStatus.CANCELLED)
    assert journey_events(again) == []  # nobody to tell about it
    fresh, _ = await record(store, "e3", update(B, phone="491701234567"))
    assert await store.shop.match(fresh) is None  # their links went with them
