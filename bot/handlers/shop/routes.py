"""The webhook endpoints on the bot's web server: `POST /hooks/shopify`, `/hooks/woocommerce`,
`/hooks/purchases`, each served only when its secret is set (otherwise there is no such page:
404).

Every delivery is checked in this order, and the first failure answers:

- a body over 1 MiB: 413;
- a missing or wrong signature (of the raw bytes, compared in constant time), or a generic
  signature more than 5 minutes old or ahead: 401, and nothing is kept;
- a body that is not a well-formed order (not JSON, no order id, a malformed amount...): 400
  with the reason;
- a topic the bot has no use for: 200, nothing kept (a shop retries whatever is not 2xx);
- a delivery recorded before (its id): 200, nothing changes;
- otherwise the order update is stored in the durable inbox, and only then answered 200. It is
  handled after, from the inbox, one order's updates at a time and in the order they arrived.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.clock import Clock
from bot.errors import InvalidInput, StorageError
from bot.flows.orders import OrderUpdate, order_group
from bot.handlers.shop import generic, shopify, woocommerce
from bot.handlers.shop.outcome import Ignored
from bot.handlers.shop.signatures import base64_hmac_valid, timestamped_problem
from bot.storage.types import InboxItem

__all__ = ["MAX_BODY", "PATHS", "ShopSecrets", "ShopWebhooks", "order_item"]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
PATHS = {
    "shopify": "/hooks/shopify",
    "woocommerce": "/hooks/woocommerce",
    "purchases": "/hooks/purchases",
}


@dataclass(frozen=True)
class ShopSecrets:
    shopify: bytes | None = None
    woocommerce: bytes | None = None
    purchases: bytes | None = None

    def __bool__(self) -> bool:
        return any((self.shopify, self.woocommerce, self.purchases))


def order_item(event_key: str, update: OrderUpdate) -> InboxItem:
    """An order update for the durable inbox, in its order's group."""
    body = json.dumps(
        {"work": "order", "event": event_key, "update": update.to_json()},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return InboxItem(key=event_key, group=order_group(update.key), seq=0, body=body)


def _answer(status: int, **fields: object) -> web.Response:
    return web.json_response({"ok": 200 <= status < 300, **fields}, status=status)


def _header_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value if value and len(value) <= 128 and value.isprintable() else None


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class ShopWebhooks:
    """Translates deliveries and hands them to `accept` (which must store them durably)."""

    def __init__(
        self,
        secrets: ShopSecrets,
        *,
        accept: Callable[[InboxItem], Awaitable[object]],
        seen: Callable[[str], Awaitable[bool]],
        clock: Clock,
        phone_country: str | None = None,
    ) -> None:
        self._secrets = secrets
        self._accept = accept
        self._seen = seen
        self._clock = clock
        self._country = phone_country

    def routes(self) -> list[web.RouteDef]:
        handlers = {
            "shopify": (self._secrets.shopify, self._shopify),
            "woocommerce": (self._secrets.woocommerce, self._woocommerce),
            "purchases": (self._secrets.purchases, self._purchases),
        }
        return [
            web.post(PATHS[name], self._guarded(handler))
            for name, (secret, handler) in handlers.items()
            if secret
        ]

    def _guarded(
        self, handler: Callable[[web.Request, bytes], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            body = await self._read(request)
            if body is None:
                return _answer(413, error="the body is over 1 MiB")
            try:
                return await handler(request, body)
            except InvalidInput as exc:
                return _answer(400, error=str(exc))
            except StorageError as exc:
                log.error("could not store a shop webhook (%s): the shop will send it again", exc)
                return _answer(503, error="not stored; try again")

        return serve

    async def _read(self, request: web.Request) -> bytes | None:
        """The raw body; None when it is over the limit (it is not read any further)."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            return None
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body.extend(chunk)
            if len(body) > MAX_BODY:
                return None
        return bytes(body)

    def _unauthorized(self, request: web.Request, platform: str, reason: str) -> web.Response:
        log.warning("%s webhook from %s refused: %s", platform, request.remote, reason)
        return _answer(401, error=reason)

    # --- the platforms --------------------------------------------------------------------

    async def _shopify(self, request: web.Request, body: bytes) -> web.Response:
        assert self._secrets.shopify is not None
        if not base64_hmac_valid(
            self._secrets.shopify, body, request.headers.get(shopify.HMAC_HEADER)
        ):
            return self._unauthorized(request, "Shopify", "bad signature")
        topic = (request.headers.get(shopify.TOPIC_HEADER) or "").strip()
        if not topic:
            raise InvalidInput(f"the {shopify.TOPIC_HEADER} header is missing")
        shop = (request.headers.get(shopify.SHOP_HEADER) or "").strip()[:253] or None
        result = shopify.translate(topic, shop, _json(body), self._country)
        webhook_id = _header_id(request.headers.get(shopify.ID_HEADER))
        key = f"shopify:{webhook_id}" if webhook_id else f"shopify:{topic}:{_digest(body)}"
        return await self._keep(key, result)

    async def _woocommerce(self, request: web.Request, body: bytes) -> web.Response:
        assert self._secrets.woocommerce is not None
        if woocommerce.is_ping(body) and woocommerce.TOPIC_HEADER not in request.headers:
            return _answer(200, ping=True)  # WooCommerce checks the address when it is saved
        if not base64_hmac_valid(
            self._secrets.woocommerce, body, request.headers.get(woocommerce.SIGNATURE_HEADER)
        ):
            return self._unauthorized(request, "WooCommerce", "bad signature")
        topic = (request.headers.get(woocommerce.TOPIC_HEADER) or "").strip()
        if not topic:
            raise InvalidInput(f"the {woocommerce.TOPIC_HEADER} header is missing")
        shop = woocommerce.shop_of(request.headers.get(woocommerce.SOURCE_HEADER))
        result = woocommerce.translate(topic, shop, _json(body), self._country)
        # WooCommerce derives a delivery id from the webhook id and the current second, so two
        # different deliveries of one webhook within a second share it: the body tells them
        # apart, and a true redelivery (same id, same body) is still recognised.
        delivery = _header_id(request.headers.get(woocommerce.DELIVERY_HEADER)) or "-"
        return await self._keep(f"woocommerce:{delivery}:{_digest(body)[:32]}", result)

    async def _purchases(self, request: web.Request, body: bytes) -> web.Response:
        assert self._secrets.purchases is not None
        problem = timestamped_problem(
            self._secrets.purchases,
            body,
            request.headers.get(generic.SIGNATURE_HEADER),
            self._clock.now(),
        )
        if problem is not None:
            return self._unauthorized(request, "purchases", problem)
        data = _json(body)
        update = generic.translate(data, self._country)
        event = generic.event_id(data)
        key = f"purchases:{event}" if event else f"purchases:sha256:{_digest(body)}"
        return await self._keep(key, update)

    async def _keep(self, key: str, result: OrderUpdate | Ignored) -> web.Response:
        if isinstance(result, Ignored):
            return _answer(200, ignored=result.reason)
        if await self._seen(key):
            return _answer(200, duplicate=True)
        await self._accept(order_item(key, result))
        log.debug("kept %s (%s %s)", key, result.topic, result.key.ref)
        return _answer(200)


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {str(exc)[:200]}") from None
