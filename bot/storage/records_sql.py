"""The customer-record queries and the erasure plan, written once for both backends.

Statements use `?` placeholders; PostgreSQL gets them numbered (`numbered`). Every value a
filter carries is a parameter, never part of the SQL text. The few places where the dialects
differ (a list of ids as one parameter) are chosen by `dialect`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.flows.model import Json
from bot.storage.codec import dump, epoch, moment
from bot.storage.types import CustomerFilter, CustomerRecord

__all__ = [
    "DEPTH",
    "Dialect",
    "ErasePlan",
    "customers_query",
    "erase_statements",
    "export_tables",
    "export_value",
    "find_query",
    "generations_query",
    "like",
    "numbered",
    "record",
    "when",
]

Dialect = Literal["sqlite", "postgres"]
DEPTH = 3
"""Generations counted in lists (the seed's Jack counts three)."""

_COLUMNS = (
    "c.id, c.first_name, c.username, c.stage, c.source, c.created_at, c.last_contact_at, "
    "(SELECT s.scale FROM scores s WHERE s.customer_id = c.id ORDER BY s.id DESC LIMIT 1), "
    "(SELECT s.score FROM scores s WHERE s.customer_id = c.id ORDER BY s.id DESC LIMIT 1), "
    "(SELECT s.at FROM scores s WHERE s.customer_id = c.id ORDER BY s.id DESC LIMIT 1), "
    "c.purchases, (SELECT sum(p.amount) FROM purchases p WHERE p.customer_id = c.id), "
    "c.badges, c.case_id, c.conversation_id, "
    "(SELECT s.comment FROM scores s WHERE s.customer_id = c.id ORDER BY s.id DESC LIMIT 1)"
)
_LIVE = "c.channel <> 'erased'"


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (our SQL has no `?` in literals)."""
    parts = sql.split("?")
    return "".join(
        part + (f"${index}" if index < len(parts) else "")
        for index, part in enumerate(parts, start=1)
    )


def like(text: str) -> str:
    """A lower-case LIKE pattern matching `text` anywhere (with `ESCAPE '\\'`)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def when(value: float | None) -> str | None:
    return None if value is None else moment(value).strftime("%Y-%m-%d %H:%M UTC")


def customers_query(where: CustomerFilter, limit: int) -> tuple[str, list[object]]:
    conditions = [_LIVE]
    params: list[object] = []
    if where.stage is not None:
        conditions.append("c.stage = ?")
        params.append(where.stage)
    if where.source is not None:
        conditions.append("c.source = ?")
        params.append(where.source)
    if where.referred_by is not None:
        conditions.append("c.referred_by = ?")
        params.append(where.referred_by)
    if where.active_since is not None:
        conditions.append("c.last_contact_at >= ?")
        params.append(epoch(where.active_since))
    if where.has_open_case is not None:
        conditions.append("c.case_id IS NOT NULL" if where.has_open_case else "c.case_id IS NULL")
    if where.has_open_conversation is not None:
        conditions.append(
            "c.conversation_id IS NOT NULL"
            if where.has_open_conversation
            else "c.conversation_id IS NULL"
        )
    if where.has_referred is not None:
        conditions.append(
            "c.referrals_joined > 0" if where.has_referred else "c.referrals_joined = 0"
        )
    if where.score is not None:
        scale, low, high = where.score
        since = "" if where.scored_since is None else " AND s.at >= ?"
        conditions.append(
            "(SELECT l.id FROM scores l WHERE l.customer_id = c.id ORDER BY l.id DESC LIMIT 1) "
            "IN (SELECT s.id FROM scores s WHERE s.customer_id = c.id AND s.scale = ? "
            f"AND s.score >= ? AND s.score <= ?{since})"
        )
        params.extend([scale, low, high])
        if where.scored_since is not None:
            params.append(epoch(where.scored_since))
    if where.text:
        pattern = like(where.text)
        conditions.append(
            "(EXISTS (SELECT 1 FROM scores s WHERE s.customer_id = c.id "
            "AND lower(s.comment) LIKE ? ESCAPE '\\') "
            "OR EXISTS (SELECT 1 FROM conversation v WHERE v.customer_id = c.id "
            "AND v.author = 'customer' AND lower(v.text) LIKE ? ESCAPE '\\') "
            "OR EXISTS (SELECT 1 FROM cases k WHERE k.customer_id = c.id "
            "AND lower(k.trigger_text) LIKE ? ESCAPE '\\'))"
        )
        params.extend([pattern, pattern, pattern])
    sql = (
        f"SELECT {_COLUMNS} FROM customers c WHERE {' AND '.join(conditions)} "
        "ORDER BY c.created_at, c.id LIMIT ?"
    )
    params.append(limit)
    return sql, params


def find_query(query: str, limit: int) -> tuple[str, list[object]]:
    """By exact id (a bare number is a Telegram id), by @username, or by part of the name."""
    text = query.strip()
    ident = text if ":" in text else f"telegram:{text}"
    handle = text.removeprefix("@").lower()
    sql = (
        f"SELECT {_COLUMNS} FROM customers c WHERE {_LIVE} AND (c.id = ? OR "
        "lower(c.username) = ? OR lower(c.first_name) LIKE ? ESCAPE '\\') "
        "ORDER BY CASE WHEN c.id = ? THEN 0 WHEN lower(c.username) = ? THEN 1 ELSE 2 END, "
        "c.created_at, c.id LIMIT ?"
    )
    return sql, [ident, handle, like(text), ident, handle, limit]


def generations_query(ids: Sequence[str], depth: int, dialect: Dialect) -> tuple[str, list[object]]:
    """(root, generation, people) for the chains below each of `ids`."""
    roots: str
    value: object
    if dialect == "sqlite":
        roots, value = "IN (SELECT value FROM json_each(?))", json.dumps(list(ids))
    else:
        roots, value = "= ANY(?::text[])", list(ids)
    sql = (
        "WITH RECURSIVE chain(root, id, generation) AS ("
        f" SELECT r.referrer_id, r.referee_id, 1 FROM referrals r WHERE r.referrer_id {roots}"
        " UNION ALL"
        " SELECT c.root, r.referee_id, c.generation + 1 FROM referrals r"
        " JOIN chain c ON r.referrer_id = c.id WHERE c.generation < ?"
        ") SELECT root, generation, count(*) FROM chain GROUP BY root, generation"
    )
    return sql, [value, depth]


def record(row: Sequence[Any], generations: dict[int, int]) -> CustomerRecord:
    """A `CustomerRecord` from a row of the list's columns and its generation counts."""
    return CustomerRecord(
        id=row[0],
        name=row[1],
        username=row[2],
        stage=row[3],
        source=row[4],
        created_at=moment(row[5]),
        last_contact_at=None if row[6] is None else moment(row[6]),
        last_scale=row[7],
        last_score=None if row[8] is None else int(row[8]),
        last_score_at=None if row[9] is None else moment(row[9]),
        purchases=int(row[10]),
        revenue=None if row[11] is None else float(row[11]),
        generations=tuple(generations.get(n, 0) for n in range(1, DEPTH + 1)),
        badges=tuple(json.loads(row[12])),
        case_id=row[13],
        conversation_id=row[14],
        last_comment=row[15],
    )


# --- erasure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasePlan:
    """What erasing `old` needs, read in the erasing transaction."""

    old: str
    tombstone: str
    number: int
    names: tuple[str, ...]
    """Every name they were known by (the platform's name may have changed meanwhile)."""
    referrer: str | None
    by: str
    at: datetime
    posts: tuple[tuple[str, str], ...]
    """(channel, ts) of every message the bot posted about them on the staff desk."""
    orders: tuple[str, ...]
    keep_outbox: tuple[int, ...] = field(default=())
    """Outbox rows of the erasing change (the farewell), kept to be delivered."""


def erase_statements(plan: ErasePlan) -> list[tuple[str, tuple[object, ...]]]:
    """The statements that erase `plan.old`, in order (run in one transaction).

    Kept, re-keyed to the tombstone: the customer row without any personal value (stage,
    counts, badges, source), journey events without details, scores without comments,
    purchases (amounts, with order ids replaced), cases without what they wrote, referrals
    both ways, badges, inbound ids, experiment exposures. Removed: conversation lines, their
    jobs, their outbox and inbox rows. Other customers' rows that name them (a referrer told
    "Ada joined") lose it.
    """
    old, new, at = plan.old, plan.tombstone, epoch(plan.at)
    cut = len(old) + 1
    prefix = (old + "#", old + "~")
    statements: list[tuple[str, tuple[object, ...]]] = [
        (
            "UPDATE customers SET id = ?, channel = 'erased', external_id = ?, first_name = NULL,"
            " username = NULL, language = NULL, referral_code = NULL, opted_out = 1,"
            " unreachable = 1, dialogue = 'idle', pending_score = NULL, case_id = NULL,"
            " case_claimed_by = NULL, conversation_id = NULL, leaderboard_opt_in = 0,"
            " version = version + 1 WHERE id = ?",
            (new, str(plan.number), old),
        ),
        ("UPDATE customers SET referred_by = ? WHERE referred_by = ?", (new, old)),
        ("UPDATE referrals SET referee_id = ? WHERE referee_id = ?", (new, old)),
        ("UPDATE referrals SET referrer_id = ? WHERE referrer_id = ?", (new, old)),
        ("UPDATE journey SET customer_id = ?, detail = NULL WHERE customer_id = ?", (new, old)),
        ("UPDATE scores SET customer_id = ?, comment = NULL WHERE customer_id = ?", (new, old)),
        (
            "UPDATE cases SET id = ? || substr(id, ?), customer_id = ?, trigger_text = NULL "
            "WHERE customer_id = ?",
            (new, cut, new, old),
        ),
        (
            "UPDATE staff_threads SET case_id = ? || substr(case_id, ?) "
            "WHERE substr(case_id, 1, ?) IN (?, ?)",
            (new, cut, cut, *prefix),
        ),
        ("DELETE FROM conversation WHERE customer_id = ?", (old,)),
        ("DELETE FROM jobs WHERE customer_id = ?", (old,)),
        (
            "UPDATE jobs SET subject = ?, payload = replace(payload, ?, ?) WHERE subject = ?",
            (new, dump(old), dump(new), old),
        ),
        ("DELETE FROM inbox WHERE grp = ?", (old,)),
        ("UPDATE inbound SET customer_id = ? WHERE customer_id = ?", (new, old)),
        ("UPDATE badges SET customer_id = ? WHERE customer_id = ?", (new, old)),
        ("UPDATE experiment_exposures SET customer_id = ? WHERE customer_id = ?", (new, old)),
        ("DELETE FROM staff_posts WHERE customer_id = ?", (old,)),
        ("DELETE FROM customer_tags WHERE customer_id = ?", (old,)),
        ("UPDATE campaign_targets SET customer_id = ? WHERE customer_id = ?", (new, old)),
        ("UPDATE customers SET timezone = NULL WHERE id = ?", (new,)),
        *_erase_shop(old, new),
        (
            "INSERT INTO erasures (tombstone, erased_by, at) VALUES (?, ?, ?)",
            (new, plan.by[:200], at),
        ),
    ]
    statements.extend(
        (
            "UPDATE purchases SET customer_id = ?, order_id = ? WHERE order_id = ?",
            (new, f"{new}/{index}", order),
        )
        for index, order in enumerate(plan.orders, start=1)
    )
    statements.append(_delete_outbox(old, plan.keep_outbox))
    for name in plan.names if plan.referrer is not None else ():
        # what the referrer was told and logged about them ("Ada joined") names them
        token = dump(name)
        pattern = "%" + token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for table, column in (("outbox", "context"), ("jobs", "payload")):
            statements.append(
                (
                    f"UPDATE {table} SET {column} = replace({column}, ?, '\"\"') "
                    f"WHERE customer_id = ? AND {column} LIKE ? ESCAPE '\\'",
                    (token, plan.referrer, pattern),
                )
            )
        statements.append(
            (
                "UPDATE journey SET detail = NULL WHERE customer_id = ? AND detail = ?",
                (plan.referrer, name),
            )
        )
    statements.extend(
        (
            "INSERT INTO outbox (customer_id, audience, kind, template, context, buttons, "
            "next_attempt_at, created_at) VALUES (?, 'staff', 'message', 'staff_erased', ?, "
            "'[]', ?, ?)",
            (new, dump({"channel": channel, "ts": ts}), at, at),
        )
        for channel, ts in plan.posts
    )
    return statements


def _erase_shop(old: str, new: str) -> list[tuple[str, tuple[object, ...]]]:
    """Who they are in the shop goes (what the shop said about them, their links); their orders
    stay for the revenue figures, attached to the tombstone, without email, phone or the shop's
    id for them (a later webhook about such an order does not bring them back:
    `shop_rows.ERASED_FREE`); redeemed link tokens stay redeemed."""
    return [
        (
            "DELETE FROM shop_customers WHERE customer_ref IN "
            "(SELECT value FROM shop_links WHERE customer_id = ? AND kind = 'ref')",
            (old,),
        ),
        ("DELETE FROM shop_links WHERE customer_id = ?", (old,)),
        ("UPDATE shop_tokens SET customer_id = ? WHERE customer_id = ?", (new, old)),
        (
            "UPDATE shop_orders SET customer_id = ?, email = NULL, phone = NULL, "
            "customer_ref = NULL WHERE customer_id = ?",
            (new, old),
        ),
    ]


def _delete_outbox(old: str, keep: tuple[int, ...]) -> tuple[str, tuple[object, ...]]:
    if not keep:
        return "DELETE FROM outbox WHERE customer_id = ?", (old,)
    marks = ", ".join("?" * len(keep))
    return f"DELETE FROM outbox WHERE customer_id = ? AND id NOT IN ({marks})", (old, *keep)


def export_tables() -> tuple[tuple[str, str, str], ...]:
    """(name in the export, table, the SQL after FROM) of every table that holds rows about
    one customer (`?` is their id)."""
    return (
        ("journey", "journey", "journey WHERE customer_id = ? ORDER BY id"),
        ("scores", "scores", "scores WHERE customer_id = ? ORDER BY id"),
        ("purchases", "purchases", "purchases WHERE customer_id = ? ORDER BY at"),
        ("cases", "cases", "cases WHERE customer_id = ? ORDER BY opened_at"),
        ("messages", "conversation", "conversation WHERE customer_id = ? ORDER BY id"),
        ("referred", "referrals", "referrals WHERE referrer_id = ? ORDER BY joined_at"),
        ("badges", "badges", "badges WHERE customer_id = ? ORDER BY awarded_at"),
        ("planned", "jobs", "jobs WHERE customer_id = ? AND status = 'pending' ORDER BY id"),
        ("sent", "outbox", "outbox WHERE customer_id = ? ORDER BY id"),
        ("shop_orders", "shop_orders", "shop_orders WHERE customer_id = ? ORDER BY received_at"),
        ("shop_links", "shop_links", "shop_links WHERE customer_id = ? ORDER BY linked_at"),
    )


def export_value(value: object) -> Json:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
