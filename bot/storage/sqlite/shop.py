"""Shop orders and links on SQLite: writes through the writer (each a transaction of its own, or
rows of a journey commit), reads on the aiosqlite reader."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.flows.model import OrderCandidate, OrderKey, ShopContext, ShopNeeds
from bot.flows.orders import Order
from bot.storage.codec import epoch, moment
from bot.storage.shop_rows import (
    ORDER_COLUMNS,
    ORDER_LIST,
    order_from_row,
    order_to_row,
    refund_from_row,
    upsert_assignments,
)
from bot.storage.shop_sql import chain_revenue_sql, revenue_sql
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import ChainRevenue, InboxItem, RevenueRow

__all__ = ["SHOP_WRITES", "SQLiteShop"]

_LINK = (
    "INSERT {verb} INTO shop_links (kind, value, customer_id, method, linked_at) "
    "VALUES (?, ?, ?, ?, ?)"
)

SHOP_WRITES: dict[str, str] = {
    # The reward is still pending: the conversion is withdrawn (looked at before it is
    # cancelled, see `shop_rows.SHOP_KINDS`); once it went out, both stand.
    "referral_withdrawn": (
        "UPDATE referrals SET converted_at = NULL WHERE referee_id = ? AND EXISTS ("
        "SELECT 1 FROM jobs WHERE customer_id = ? AND kind = 'referral_converted' "
        "AND subject = ? AND status = 'pending')"
    ),
    "referral_reward_cancel": (
        "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE customer_id = ? "
        "AND kind = 'referral_converted' AND subject = ? AND status = 'pending'"
    ),
    "shop_applied": (
        "UPDATE shop_orders SET applied = ?, updated_at = ? WHERE source = ? AND order_id = ?"
    ),
    "shop_refund_applied": "UPDATE shop_refunds SET applied = 1 WHERE source = ? AND refund_id = ?",
    "shop_link": _LINK.format(verb="")
    + " ON CONFLICT (kind, value) DO UPDATE SET customer_id = excluded.customer_id, "
    "method = excluded.method, linked_at = excluded.linked_at",
    "shop_link_keep": _LINK.format(verb="OR IGNORE"),
    "shop_token": (
        "INSERT OR IGNORE INTO shop_tokens (token_id, customer_id, used_at) VALUES (?, ?, ?)"
    ),
}

_UPSERT = (
    f"INSERT INTO shop_orders ({ORDER_LIST}) VALUES ({', '.join('?' * len(ORDER_COLUMNS))}) "
    "ON CONFLICT (source, order_id) DO UPDATE SET " + upsert_assignments()
)
_REFUND = (
    "INSERT INTO shop_refunds (source, refund_id, order_id, amount_micros, at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, refund_id) DO UPDATE SET "
    "amount_micros = coalesce(excluded.amount_micros, shop_refunds.amount_micros)"
)
_REFUNDS = (
    "SELECT refund_id, amount_micros, at, applied FROM shop_refunds "
    "WHERE source = ? AND order_id = ? ORDER BY at, refund_id"
)
_ORDER = f"SELECT {ORDER_LIST} FROM shop_orders WHERE source = ? AND order_id = ?"
_PREFIXED = ", ".join(f"o.{column}" for column in ORDER_COLUMNS)
_UNMATCHED_FOR = " UNION ".join(
    f"SELECT {_PREFIXED} FROM shop_orders o WHERE o.customer_id IS NULL AND o.{column} IN "
    f"(SELECT value FROM shop_links WHERE customer_id = :customer AND kind = '{kind}')"
    for kind, column in (
        ("order", "order_id"),
        ("ref", "customer_ref"),
        ("phone", "phone"),
        ("email", "email"),
    )
)
_MATCH = (
    "SELECT customer_id FROM shop_links WHERE (kind = 'order' AND value = :order_id) "
    "OR (kind = 'ref' AND value = :ref) OR (kind = 'phone' AND value = :phone) "
    "OR (kind = 'email' AND value = :email) ORDER BY CASE kind WHEN 'order' THEN 0 "
    "WHEN 'ref' THEN 1 WHEN 'phone' THEN 2 ELSE 3 END, linked_at DESC LIMIT 1"
)


def _span(since: datetime | None, until: datetime | None) -> tuple[float, float]:
    return (
        epoch(since) if since else float("-inf"),
        epoch(until) if until else float("inf"),
    )


class SQLiteShop:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def seen(self, event_key: str) -> bool:
        return (
            await self._reader.value("SELECT 1 FROM shop_events WHERE event_key = ?", (event_key,))
        ) is not None

    async def record(
        self,
        event_key: str,
        topic: str,
        key: OrderKey,
        merge: Callable[[Order | None], Order],
        at: datetime,
    ) -> tuple[Order, bool]:
        stamp = epoch(at)

        def write(db: sqlite3.Connection) -> tuple[Order, bool]:
            fresh = db.execute(
                "INSERT OR IGNORE INTO shop_events (event_key, source, order_id, topic, "
                "received_at) VALUES (?, ?, ?, ?, ?)",
                (event_key, key.source, key.order_id, topic, stamp),
            ).rowcount
            current = _load(db, key)
            if not fresh and current is not None:
                return current, False
            order = merge(current)
            db.execute(_UPSERT, order_to_row(order))
            db.executemany(
                _REFUND,
                [
                    (
                        key.source,
                        refund.refund_id,
                        key.order_id,
                        refund.amount_micros,
                        epoch(refund.at),
                    )
                    for refund in order.refunds
                ],
            )
            stored = _load(db, key)
            assert stored is not None
            return stored, True

        return await self._writer.call(write)

    async def order(self, key: OrderKey) -> Order | None:
        row = await self._reader.one(_ORDER, (key.source, key.order_id))
        if row is None:
            return None
        refunds = await self._reader.rows(_REFUNDS, (key.source, key.order_id))
        return order_from_row(row, [refund_from_row(r) for r in refunds])

    async def match(self, order: Order) -> str | None:
        value = await self._reader.value(
            _MATCH,
            {
                "order_id": order.key.order_id,
                "ref": order.customer_ref,
                "phone": order.phone,
                "email": order.email,
            },
        )
        return None if value is None else str(value)

    async def attach(
        self,
        orders: Sequence[tuple[OrderKey, InboxItem | None]],
        customer_id: str,
        at: datetime,
    ) -> list[OrderKey]:
        stamp = epoch(at)

        def write(db: sqlite3.Connection) -> list[OrderKey]:
            attached: list[OrderKey] = []
            for key, item in orders:
                done = db.execute(
                    "UPDATE shop_orders SET customer_id = ?, attached_at = ?, updated_at = ? "
                    "WHERE source = ? AND order_id = ? AND customer_id IS NULL",
                    (customer_id, stamp, stamp, key.source, key.order_id),
                ).rowcount
                if not done:
                    continue
                attached.append(key)
                if item is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO inbox (key, grp, seq, body, received_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (item.key, item.group, item.seq, item.body, stamp),
                    )
            return attached

        return await self._writer.call(write)

    async def unmatched_for(self, customer_id: str, limit: int) -> list[Order]:
        rows = await self._reader.rows(
            f"SELECT * FROM ({_UNMATCHED_FOR}) ORDER BY received_at, source, order_id LIMIT :limit",
            {"customer": customer_id, "limit": limit},
        )
        return await self._with_refunds(rows)

    async def unmatched(self, limit: int) -> list[Order]:
        rows = await self._reader.rows(
            f"SELECT {ORDER_LIST} FROM shop_orders WHERE customer_id IS NULL "
            "ORDER BY received_at DESC, source, order_id LIMIT ?",
            (limit,),
        )
        return await self._with_refunds(rows)

    async def _with_refunds(self, rows: list[tuple[Any, ...]]) -> list[Order]:
        orders = []
        for row in rows:
            refunds = await self._reader.rows(_REFUNDS, (row[0], row[1]))
            orders.append(order_from_row(row, [refund_from_row(r) for r in refunds]))
        return orders

    async def lookup(self, needs: ShopNeeds) -> ShopContext:
        used_by = None
        if needs.token_id is not None:
            used_by = await self._reader.value(
                "SELECT customer_id FROM shop_tokens WHERE token_id = ?", (needs.token_id,)
            )
        email = phone = None
        if needs.customer_ref is not None:
            known = await self._reader.one(
                "SELECT email, phone FROM shop_customers WHERE customer_ref = ?",
                (needs.customer_ref,),
            )
            email, phone = known if known is not None else (None, None)
        candidates: tuple[OrderCandidate, ...] = ()
        if needs.order_number is not None:
            rows = await self._reader.rows(
                "SELECT source, order_id, coalesce(order_number, order_id), customer_id, "
                "coalesce(placed_at, received_at) FROM shop_orders WHERE number_key = :n "
                "UNION SELECT source, order_id, coalesce(order_number, order_id), customer_id, "
                "coalesce(placed_at, received_at) FROM shop_orders WHERE confirmation_key = :n "
                "LIMIT 10",
                {"n": needs.order_number},
            )
            candidates = tuple(
                OrderCandidate(OrderKey(r[0], r[1]), str(r[2]), r[3], moment(r[4])) for r in rows
            )
        return ShopContext(
            token_used_by=None if used_by is None else str(used_by),
            ref_email=None if email is None else str(email),
            ref_phone=None if phone is None else str(phone),
            orders=candidates,
        )

    async def remember_customer(
        self, customer_ref: str, email: str | None, phone: str | None, at: datetime
    ) -> None:
        stamp = epoch(at)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO shop_customers (customer_ref, email, phone, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (customer_ref) DO UPDATE SET "
                "email = coalesce(excluded.email, shop_customers.email), "
                "phone = coalesce(excluded.phone, shop_customers.phone), "
                "updated_at = excluded.updated_at",
                (customer_ref, email, phone, stamp),
            )

        await self._writer.call(write)

    async def revenue(self, since: datetime | None, until: datetime | None) -> list[RevenueRow]:
        rows = await self._reader.rows(revenue_sql(lambda _: "?"), _span(since, until))
        found = [RevenueRow(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]
        return sorted(found, key=lambda row: (row.stage or "", row.currency or ""))

    async def chain_revenue(self, limit: int, depth: int = 10) -> list[ChainRevenue]:
        rows = await self._reader.rows(chain_revenue_sql(lambda _: "?"), (depth, limit))
        return [ChainRevenue(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5] or 0)) for r in rows]


def _load(db: sqlite3.Connection, key: OrderKey) -> Order | None:
    row = db.execute(_ORDER, (key.source, key.order_id)).fetchone()
    if row is None:
        return None
    refunds = db.execute(_REFUNDS, (key.source, key.order_id)).fetchall()
    return order_from_row(row, [refund_from_row(r) for r in refunds])
