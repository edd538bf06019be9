"""What shops send: order payloads shaped as Shopify and WooCommerce document them, signed the way
each signs (computed here from the raw body, independently of the bot's code), and posted over
real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

SHOPIFY_SECRET = "shpss_test_0123456789abcdef"
WOO_SECRET = "wc-webhook-secret-0123"
PURCHASES_SECRET = "purchases-secret-42"


def shop_env(**extra: str) -> dict[str, str]:
    return {
        "SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET,
        "WOOCOMMERCE_WEBHOOK_SECRET": WOO_SECRET,
        "PURCHASES_WEBHOOK_SECRET": PURCHASES_SECRET,
        "SHOP_LINK_SECRET": "link-secret-for-tests",
        "SHOP_PHONE_COUNTRY": "49",
        **extra,
    }


def raw(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def base64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def escalator_signature(secret: str, body: bytes, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


# --- payloads -------------------------------------------------------------------------------


def shopify_order(
    order_id: int = 820982911946154508,
    number: int = 1001,
    *,
    customer_id: int | None = 115310627314723954,
    email: str = "ada@example.com",
    phone: str | None = "+49 170 1234567",
    total: str = "49.90",
    financial_status: str = "paid",
    cancelled: bool = False,
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order as Shopify's order webhooks carry it (the fields Escalator reads, and others)."""
    customer = None
    if customer_id is not None:
        customer = {
            "id": customer_id,
            "email": email,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": None,
            "state": "enabled",
            "currency": "EUR",
        }
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": "203.0.113.4",
        "buyer_accepts_marketing": True,
        "cancel_reason": "customer" if cancelled else None,
        "cancelled_at": "2026-03-02T10:00:00+01:00" if cancelled else None,
        "confirmation_number": "XPAV284CT",
        "contact_email": email,
        "created_at": "2026-03-02T09:59:00+01:00",
        "currency": "EUR",
        "current_total_price": total,
        "email": email,
        "financial_status": financial_status,
        "fulfillment_status": None,
        "name": f"#{number}",
        "note": None,
        "order_number": number,
        "phone": phone,
        "presentment_currency": "EUR",
        "processed_at": "2026-03-02T10:00:00+01:00",
        "subtotal_price": total,
        "total_price": total,
        "total_tax": "7.97",
        "updated_at": "2026-03-02T10:00:00+01:00",
        "billing_address": {"first_name": "Ada", "phone": phone, "country_code": "DE"},
        "customer": customer,
        "line_items": [
            {"id": 866550311766439020, "title": "Teapot", "quantity": 1, "price": total}
        ],
        "refunds": refunds or [],
    }


def shopify_refund(
    refund_id: int, order_id: int = 820982911946154508, amount: str = "49.90"
) -> dict[str, Any]:
    """A refund as Shopify's refunds/create webhook carries it."""
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-03-05T10:00:00+01:00",
        "note": "it arrived broken",
        "user_id": 548380009,
        "processed_at": "2026-03-05T10:00:00+01:00",
        "restock": False,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "refund_line_items": [{"id": 1, "quantity": 1, "line_item_id": 866550311766439020}],
        "transactions": [
            {
                "id": refund_id + 1,
                "order_id": order_id,
                "kind": "refund",
                "gateway": "bogus",
                "status": "success",
                "amount": amount,
                "currency": "EUR",
            }
        ],
        "order_adjustments": [],
    }


def woo_order(
    order_id: int = 727,
    *,
    status: str = "processing",
    customer_id: int = 0,
    email: str = "ben@example.com",
    phone: str = "0170 7654321",
    total: str = "29.35",
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An order as WooCommerce's REST API (v3) shows it, which its order webhooks carry."""
    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": "wc_order_58d2d042d1d",
        "created_via": "checkout",
        "version": "8.5.2",
        "status": status,
        "currency": "EUR",
        "date_created": "2026-03-02T10:00:00",
        "date_created_gmt": "2026-03-02T09:00:00",
        "date_modified_gmt": "2026-03-02T09:00:00",
        "discount_total": "0.00",
        "shipping_total": "4.00",
        "total": total,
        "total_tax": "1.35",
        "customer_id": customer_id,
        "billing": {
            "first_name": "Ben",
            "last_name": "Doe",
            "email": email,
            "phone": phone,
            "country": "DE",
        },
        "payment_method": "bacs",
        "line_items": [{"id": 315, "name": "Teapot", "quantity": 1, "total": total}],
        "refunds": refunds or [],
    }


# --- posting --------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


class ShopClient:
    """Posts deliveries to the bot's web server as each platform does."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._http.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        # a file-like body for the oversized ones (aiohttp warns about large raw bytes)
        data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > 512 * 1024 else body
        async with self._http.post(self.base + path, data=data, headers=headers) as response:
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = {}
            return Answer(response.status, payload if isinstance(payload, dict) else {})

    async def shopify(
        self,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        secret: str = SHOPIFY_SECRET,
        body: bytes | None = None,
    ) -> Answer:
        data = raw(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64_hmac(secret, data),
            "X-Shopify-Shop-Domain": "tea-shop.myshopify.com",
            "X-Shopify-API-Version": "2025-07",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": "2026-03-02T09:00:00.000Z",
            "X-Shopify-Event-Id": str(uuid.uuid4()),
        }
        return await self.post("/hooks/shopify", data if body is None else body, headers)

    async def woocommerce(
        self, topic: str, payload: Any, *, delivery: str = "d1", secret: str = WOO_SECRET
    ) -> Answer:
        data = raw(payload)
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/8.5.2 Hookshot (WordPress/6.4.3)",
            "X-WC-Webhook-Source": "https://tea.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": base64_hmac(secret, data),
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery,
        }
        return await self.post("/hooks/woocommerce", data, headers)

    async def woocommerce_ping(self) -> Answer:
        """What WooCommerce sends when a webhook is saved: unsigned, form-encoded."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "WooCommerce/8.5.2 Hookshot (WordPress/6.4.3)",
        }
        return await self.post("/hooks/woocommerce", b"webhook_id=12", headers)

    async def purchases(
        self, payload: Any, *, at: int | None = None, secret: str = PURCHASES_SECRET
    ) -> Answer:
        data = raw(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Escalator-Signature": escalator_signature(secret, data, at),
        }
        return await self.post("/hooks/purchases", data, headers)
