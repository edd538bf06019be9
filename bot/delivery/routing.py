"""One durable inbox, several consumers: each queued item goes to the consumer of its kind, told
by its key's prefix (`tg:` Telegram updates, `shopify:` a Shopify delivery, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bot.storage.types import QueuedUpdate

__all__ = ["InboxRouter"]

Consumer = Callable[[QueuedUpdate], Awaitable[object]]


class InboxRouter:
    def __init__(self, routes: Mapping[str, Consumer]) -> None:
        self._routes = dict(routes)

    async def handle(self, item: QueuedUpdate) -> None:
        prefix = item.key.partition(":")[0]
        consumer = self._routes.get(prefix)
        if consumer is None:
            # The inbox logs it and drops it: nothing here could ever handle it.
            raise LookupError(f"no consumer for queued item {item.key!r}")
        await consumer(item)
