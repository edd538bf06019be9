"""The shop's queued work, handed to the journey: order updates from the webhooks, the orders a
new link ties to a customer, and what the journey still owes an attached order.

Every step is safe to repeat, so the inbox's at-least-once hand-over is enough: recording an
update merges it (a second time changes nothing); attaching takes only unmatched orders; and the
journey hears about an order through events whose inbound ids make a repeat a no-op, each
committed together with the order's new `applied` state. An order's updates and follow-ups share
its inbox group, so they run one at a time and in arrival order; a purchase and its reversal can
never cross.

Order of effects, so that no order and no link miss each other: an update is committed before
the links are read, and a link is committed (with its match work) before the orders are read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.flows.model import Event, OrderKey
from bot.flows.orders import Order, OrderUpdate, journey_events, merge, parse_work, reconcile_work
from bot.storage.protocols import ShopStore
from bot.storage.types import InboxItem, QueuedUpdate

__all__ = ["PREFIXES", "ShopProcessor"]

log = logging.getLogger(__name__)

PREFIXES = ("shopify", "woocommerce", "purchases", "shop-match", "shop-reconcile")
"""The inbox keys of the shop's work (`prefix:...`)."""

MATCH_LIMIT = 1000
"""Orders attached per new link at most (a customer with more is an import, not a chat)."""


class ShopProcessor:
    def __init__(
        self,
        shop: ShopStore,
        handle: Callable[[Event], Awaitable[object]],
        clock: Clock,
    ) -> None:
        self._shop = shop
        self._handle = handle
        self._clock = clock

    async def handle(self, item: QueuedUpdate) -> None:
        work = parse_work(item.body)
        match work.get("work"):
            case "order":
                update = OrderUpdate.from_json(work["update"])
                await self._order(str(work["event"]), update)
            case "match":
                await self._match(str(work["customer"]))
            case "reconcile":
                key = OrderKey(str(work["source"]), str(work["order_id"]))
                order = await self._shop.order(key)
                if order is not None:
                    await self._tell_journey(order)
            case other:
                raise ValueError(f"unknown shop work {other!r} in {item.key!r}")

    async def _order(self, event_key: str, update: OrderUpdate) -> None:
        now = self._clock.now()
        order, fresh = await self._shop.record(
            event_key, update.topic, update.key, lambda current: merge(current, update, now), now
        )
        if not fresh:
            log.info("shop delivery %s was recorded before", event_key)
        if order.customer_id is None:
            customer = await self._shop.match(order)
            if customer is not None and await self._shop.attach([(order.key, None)], customer, now):
                log.info("order %s attached to %s as it arrived", order.key.ref, customer)
                order = await self._shop.order(order.key) or order
        await self._tell_journey(order)

    async def _match(self, customer_id: str) -> None:
        orders = await self._shop.unmatched_for(customer_id, MATCH_LIMIT)
        if not orders:
            return
        work = [(order.key, _item(order, customer_id)) for order in orders]
        attached = await self._shop.attach(work, customer_id, self._clock.now())
        if attached:
            log.info("attached %d earlier orders to %s", len(attached), customer_id)

    async def _tell_journey(self, order: Order) -> None:
        for event in journey_events(order):
            await self._handle(event)


def _item(order: Order, customer_id: str) -> InboxItem:
    work = reconcile_work(order.key, customer_id)
    return InboxItem(key=work.key, group=work.group, seq=0, body=work.body)
