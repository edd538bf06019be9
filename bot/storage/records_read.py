"""Customer records read the same way on every backend: each backend hands in its `Fetch`
(run one `?`-placeholder statement, return its rows) and gets lists, views and exports back."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from bot.flows.model import CustomerKey, Json
from bot.flows.stages import Stage
from bot.storage.codec import CUSTOMER_LIST, customer_from_row
from bot.storage.records_sql import (
    DEPTH,
    Dialect,
    ErasePlan,
    customers_query,
    export_tables,
    export_value,
    find_query,
    generations_query,
    record,
    when,
)
from bot.storage.types import CustomerFilter, CustomerRecord, CustomerView

__all__ = ["PLAN_QUERIES", "Fetch", "customers", "export", "find", "plan_from", "view"]

Fetch = Callable[[str, Sequence[object]], Awaitable[list[tuple[Any, ...]]]]

SCORES_SHOWN = 20
CASES_SHOWN = 20
LINES_SHOWN = 10
TREE_DEPTH = 5
"""Generations shown in a customer's view (lists count three)."""


async def _with_generations(
    fetch: Fetch, rows: list[tuple[Any, ...]], dialect: Dialect
) -> list[CustomerRecord]:
    if not rows:
        return []
    sql, params = generations_query([row[0] for row in rows], DEPTH, dialect)
    counts: dict[str, dict[int, int]] = {}
    for root, generation, people in await fetch(sql, params):
        counts.setdefault(root, {})[int(generation)] = int(people)
    return [record(row, counts.get(row[0], {})) for row in rows]


async def customers(
    fetch: Fetch, where: CustomerFilter, limit: int, dialect: Dialect
) -> list[CustomerRecord]:
    sql, params = customers_query(where, limit)
    return await _with_generations(fetch, await fetch(sql, params), dialect)


async def find(fetch: Fetch, query: str, limit: int, dialect: Dialect) -> list[CustomerRecord]:
    if not query.strip():
        return []
    sql, params = find_query(query, limit)
    return await _with_generations(fetch, await fetch(sql, params), dialect)


async def view(fetch: Fetch, key: CustomerKey, people: int) -> CustomerView | None:
    rows = await fetch(f"SELECT {CUSTOMER_LIST} FROM customers WHERE id = ?", (key.id,))
    if not rows or key.channel == "erased":
        return None
    customer = customer_from_row(rows[0])
    cid = customer.id
    scores = await fetch(
        "SELECT scale, score, comment, at FROM scores WHERE customer_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (cid, SCORES_SHOWN),
    )
    cases = await fetch(
        "SELECT id, kind, status, reason, opened_at, resolved_at, resolved_by, claimed_by "
        "FROM cases WHERE customer_id = ? ORDER BY opened_at DESC LIMIT ?",
        (cid, CASES_SHOWN),
    )
    lines = await fetch(
        "SELECT at, author, name, text FROM conversation WHERE customer_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (cid, LINES_SHOWN),
    )
    revenue = await fetch("SELECT sum(amount) FROM purchases WHERE customer_id = ?", (cid,))
    referrer = None
    if customer.referred_by:
        found = await fetch(
            "SELECT id, first_name FROM customers WHERE id = ?", (customer.referred_by,)
        )
        if found:
            referrer = {"id": found[0][0], "name": found[0][1] or ""}
    return {
        "id": cid,
        "name": customer.first_name or "",
        "username": customer.username or "",
        "stage": customer.stage.value,
        "level": Stage(customer.stage).level,
        "source": customer.source or "",
        "since": when(customer.created_at.timestamp()),
        "last_contact": None
        if customer.last_contact_at is None
        else when(customer.last_contact_at.timestamp()),
        "opted_out": customer.opted_out,
        "unreachable": customer.unreachable,
        "purchases": customer.purchases,
        "revenue": None if revenue[0][0] is None else float(revenue[0][0]),
        "badges": list(customer.badges),
        "referred_by": referrer,
        "open_case": customer.case_id,
        "open_conversation": customer.conversation_id,
        "scores": [
            {"scale": s[0], "score": int(s[1]), "comment": s[2], "at": when(s[3])} for s in scores
        ],
        "cases": [
            {
                "id": c[0],
                "kind": c[1],
                "status": c[2],
                "reason": c[3],
                "opened_at": when(c[4]),
                "closed_at": when(c[5]),
                "closed_by": c[6],
                "claimed_by": c[7],
            }
            for c in cases
        ],
        "recent": [
            {"at": when(line[0]), "author": line[1], "name": line[2], "text": line[3]}
            for line in reversed(lines)
        ],
        "tree": await _tree(fetch, cid, people),
    }


async def _tree(fetch: Fetch, cid: str, people: int) -> list[Json]:
    """The referral tree by generation: how many joined and bought, and up to `people` of
    them by name (the rest counted)."""
    rows = await fetch(
        "WITH RECURSIVE chain(id, generation, converted, joined_at) AS ("
        " SELECT referee_id, 1, CASE WHEN converted_at IS NULL THEN 0 ELSE 1 END, joined_at"
        " FROM referrals WHERE referrer_id = ?"
        " UNION ALL"
        " SELECT r.referee_id, c.generation + 1,"
        " CASE WHEN r.converted_at IS NULL THEN 0 ELSE 1 END, r.joined_at"
        " FROM referrals r JOIN chain c ON r.referrer_id = c.id WHERE c.generation < ?"
        ") SELECT generation, count(*), sum(converted) FROM chain GROUP BY generation "
        "ORDER BY generation",
        (cid, TREE_DEPTH),
    )
    tree: list[Json] = []
    for generation, joined, converted in rows:
        names = await fetch(
            "WITH RECURSIVE chain(id, generation, joined_at) AS ("
            " SELECT referee_id, 1, joined_at FROM referrals WHERE referrer_id = ?"
            " UNION ALL"
            " SELECT r.referee_id, c.generation + 1, r.joined_at FROM referrals r"
            " JOIN chain c ON r.referrer_id = c.id WHERE c.generation < ?"
            ") SELECT k.id, u.first_name, u.stage FROM chain k"
            " LEFT JOIN customers u ON u.id = k.id WHERE k.generation = ?"
            " ORDER BY k.joined_at, k.id LIMIT ?",
            (cid, int(generation), int(generation), people),
        )
        tree.append(
            {
                "generation": int(generation),
                "joined": int(joined),
                "converted": int(converted or 0),
                "people": [{"id": n[0], "name": n[1] or "", "stage": n[2] or ""} for n in names],
                "more": max(int(joined) - len(names), 0),
            }
        )
    return tree


async def export(fetch: Fetch, key: CustomerKey) -> dict[str, Json] | None:
    """Every row held about the customer, table by table, column by column."""
    rows = await fetch(f"SELECT {CUSTOMER_LIST} FROM customers WHERE id = ?", (key.id,))
    if not rows or key.channel == "erased":
        return None
    columns = CUSTOMER_LIST.split(", ")
    profile = {name: export_value(value) for name, value in zip(columns, rows[0], strict=True)}
    profile["badges"] = json.loads(str(profile["badges"]))
    result: dict[str, Json] = {"customer": profile}
    for name, table, rest in export_tables():
        cols = _EXPORT_COLUMNS[table]
        found = await fetch(f"SELECT {', '.join(cols)} FROM {rest}", (key.id,))
        result[name] = [
            {col: export_value(value) for col, value in zip(cols, row, strict=True)}
            for row in found
        ]
    return result


_EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "journey": ("at", "event", "from_stage", "to_stage", "detail"),
    "scores": ("at", "scale", "score", "comment"),
    "purchases": ("at", "order_id", "amount"),
    "cases": ("id", "kind", "status", "reason", "trigger_text", "opened_at", "resolved_at"),
    "conversation": ("at", "author", "name", "text", "case_id"),
    "referrals": ("referee_id", "joined_at", "converted_at"),
    "badges": ("badge", "awarded_at"),
    "jobs": ("kind", "due_at", "payload"),
    "outbox": ("created_at", "audience", "template", "context", "status"),
    "shop_orders": (
        "source",
        "order_id",
        "order_number",
        "status",
        "amount_micros",
        "currency",
        "customer_ref",
        "email",
        "phone",
        "placed_at",
    ),
    "shop_links": ("kind", "value", "method", "linked_at"),
}


PLAN_QUERIES = (
    "SELECT first_name, referred_by FROM customers WHERE id = ? AND channel <> 'erased'",
    "SELECT coalesce(max(id), 0) + 1 FROM erasures",
    "SELECT channel, ts FROM staff_posts WHERE customer_id = ? ORDER BY id",
    "SELECT order_id FROM purchases WHERE customer_id = ? ORDER BY at, order_id",
    "SELECT DISTINCT name FROM conversation WHERE customer_id = ? AND name IS NOT NULL",
)
"""What erasing a customer reads first (each takes the customer's id, but the second)."""


def plan_from(
    key: CustomerKey,
    results: Sequence[list[tuple[Any, ...]]],
    by: str,
    at: datetime,
    keep: tuple[int, ...] = (),
) -> ErasePlan | None:
    """The erasure plan from the rows `PLAN_QUERIES` returned; None: no such customer."""
    customer, number, posts, orders, names = results
    if not customer:
        return None
    count = int(number[0][0])
    return ErasePlan(
        old=key.id,
        tombstone=f"erased:{count}",
        number=count,
        names=tuple(sorted({str(n) for n in (customer[0][0], *(row[0] for row in names)) if n})),
        referrer=customer[0][1],
        by=by,
        at=at,
        posts=tuple((str(p[0]), str(p[1])) for p in posts),
        orders=tuple(str(o[0]) for o in orders),
        keep_outbox=keep,
    )
