"""The shop's part of the long-running bot: its webhook pages and its consumers of the durable
inbox, joined to the runtime (`bot.service` serves and runs them)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import SecretStr

from bot.app import Runtime
from bot.config import Settings
from bot.delivery.shop import PREFIXES, ShopProcessor
from bot.handlers.shop.routes import ShopSecrets, ShopWebhooks
from bot.storage.types import InboxItem, QueuedUpdate

__all__ = ["USERNAME", "ShopService", "shop_service"]

log = logging.getLogger(__name__)

USERNAME = "telegram.username"
"""Meta: the bot's username, as Telegram told the running bot (`escalator link` builds links
with it)."""


@dataclass
class ShopService:
    routes: list[web.RouteDef] = field(default_factory=list)
    """The webhook pages (none unless a shop secret is set): the web server must serve them."""
    consumers: dict[str, Callable[[QueuedUpdate], Awaitable[object]]] = field(default_factory=dict)
    """Inbox consumers by key prefix."""


def _secret(value: SecretStr | None) -> bytes | None:
    return None if value is None else value.get_secret_value().encode()


async def shop_service(
    settings: Settings, rt: Runtime, wake_inbox: Callable[[], None], username: str | None
) -> ShopService:
    if username:
        await rt.storage.meta.set(USERNAME, username)
    processor = ShopProcessor(rt.storage.shop, rt.engine.handle, rt.clock)
    consumers: dict[str, Callable[[QueuedUpdate], Awaitable[object]]] = {
        prefix: processor.handle for prefix in PREFIXES
    }
    secrets = ShopSecrets(
        shopify=_secret(settings.shopify_webhook_secret),
        woocommerce=_secret(settings.woocommerce_webhook_secret),
        purchases=_secret(settings.purchases_webhook_secret),
    )
    if not secrets:
        return ShopService(consumers=consumers)

    async def accept(item: InboxItem) -> None:
        await rt.storage.inbox.add([item], rt.clock.now())
        wake_inbox()

    hooks = ShopWebhooks(
        secrets,
        accept=accept,
        seen=rt.storage.shop.seen,
        clock=rt.clock,
        phone_country=settings.shop_phone_country,
    )
    routes = hooks.routes()
    log.info("serving shop webhooks at %s", ", ".join(route.path for route in routes))
    return ShopService(routes=routes, consumers=consumers)
