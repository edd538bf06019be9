"""The statements a PostgreSQL commit applies, by kind (see `bot.storage.rows.ORDER`); each takes
the row tuples `bot.storage.rows` builds, in the same order as on SQLite."""

from __future__ import annotations

from bot.storage.codec import CUSTOMER_COLUMNS, CUSTOMER_LIST
from bot.storage.experiments_sql import EXPOSE, RESPONDED
from bot.storage.postgres.database import Connection
from bot.storage.postgres.shop import SHOP_WRITES
from bot.storage.records_sql import numbered
from bot.storage.rows import ORDER, Rows

__all__ = ["INSERT_CUSTOMER", "INSERT_OUTBOX", "UPDATE_CUSTOMER", "WRITES", "write_rows"]

_UPDATED = CUSTOMER_COLUMNS[3:]  # not id, channel, external_id: they never change

INSERT_CUSTOMER = (
    f"INSERT INTO customers ({CUSTOMER_LIST}, version) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(CUSTOMER_COLUMNS) + 1))}, 1) "
    "ON CONFLICT (id) DO NOTHING RETURNING version"
)
"""A new customer; no row back if one with this id exists (another writer created it first)."""

UPDATE_CUSTOMER = (
    "UPDATE customers SET "
    + ", ".join(f"{column} = ${n}" for n, column in enumerate(_UPDATED, start=2))
    + ", version = version + 1 "
    f"WHERE id = $1 AND version = ${len(_UPDATED) + 2} RETURNING version"
)
"""Takes (id, *the columns after external_id, version read); no row back if the stored version
is another. Under READ COMMITTED the row lock is taken first and the version compared with the
newest committed row, so a concurrent writer's change is never overwritten."""

INSERT_OUTBOX = (
    "INSERT INTO outbox (customer_id, audience, kind, template, context, buttons, question_id, "
    "next_attempt_at, created_at, lease_until, prompted) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"
)

WRITES: dict[str, str] = {
    "inbound": "INSERT INTO inbound (key, customer_id, at) VALUES ($1, $2, $3)",
    "job_done": (
        "UPDATE jobs SET status = 'done', finished_at = $1, lease_until = 0 "
        "WHERE id = $2 AND status = 'pending'"
    ),
    "cancel": (
        "UPDATE jobs SET status = 'cancelled', finished_at = $1 "
        "WHERE customer_id = $2 AND kind = $3 AND status = 'pending'"
    ),
    "jobs": (
        "INSERT INTO jobs (customer_id, kind, subject, due_at, payload, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (customer_id, kind, subject) WHERE status = 'pending' "
        "DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, "
        "created_at = excluded.created_at, lease_until = 0"
    ),
    "journey": (
        "INSERT INTO journey (customer_id, at, event, from_stage, to_stage, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6)"
    ),
    "purchase": (
        "INSERT INTO purchases (order_id, customer_id, amount, at) VALUES ($1, $2, $3, $4)"
    ),
    "score": "INSERT INTO scores (customer_id, scale, score, at) VALUES ($1, $2, $3, $4)",
    "score_comment": (
        "UPDATE scores SET comment = $1 "
        "WHERE id = (SELECT max(id) FROM scores WHERE customer_id = $2)"
    ),
    "case_open": (
        "INSERT INTO cases (id, customer_id, status, reason, trigger_text, opened_at, kind) "
        "VALUES ($1, $2, 'open', $3, $4, $5, $6)"
    ),
    "case_claimed": (
        "UPDATE cases SET status = 'claimed', claimed_by = $1, claimed_at = $2 WHERE id = $3"
    ),
    "case_resolved": (
        "UPDATE cases SET status = 'resolved', resolved_by = $1, resolved_at = $2 WHERE id = $3"
    ),
    "case_open_again": (
        "UPDATE cases SET status = 'open', claimed_by = NULL, claimed_at = NULL, "
        "resolved_by = NULL, resolved_at = NULL, reopened = reopened + 1 WHERE id = $1"
    ),
    "referral": (
        "INSERT INTO referrals (referee_id, referrer_id, joined_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING"
    ),
    "referral_converted": (
        "UPDATE referrals SET converted_at = $1 WHERE referee_id = $2 AND converted_at IS NULL"
    ),
    "badge": (
        "INSERT INTO badges (customer_id, badge, awarded_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING"
    ),
    "campaign_step": (
        "INSERT INTO campaign_targets (campaign_id, customer_id, step, status, reason, "
        "deferrals, at, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (campaign_id, customer_id, step) DO UPDATE SET status = excluded.status, "
        "reason = excluded.reason, deferrals = campaign_targets.deferrals + excluded.deferrals, "
        "at = excluded.at, sent_at = coalesce(excluded.sent_at, campaign_targets.sent_at)"
    ),
    "line": (
        "INSERT INTO conversation (customer_id, at, author, name, text, case_id) "
        "VALUES ($1, $2, $3, $4, $5, $6)"
    ),
    "sent": (
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $1, "
        "platform_message_id = $2, lease_until = 0 WHERE id = $3"
    ),
    "retry": (
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, "
        "lease_until = 0 WHERE id = $3"
    ),
    "failed": (
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1, "
        "lease_until = 0 WHERE id = $2"
    ),
    "inbox_add": (
        "INSERT INTO inbox (key, grp, seq, body, received_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (key) DO NOTHING"
    ),
    "inbox_remove": "DELETE FROM inbox WHERE id = $1",
    "staff_thread": (
        "INSERT INTO staff_threads (case_id, channel, ts) VALUES ($1, $2, $3) "
        "ON CONFLICT (case_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts"
    ),
    "staff_post": (
        "INSERT INTO staff_posts (customer_id, channel, ts, at) VALUES ($1, $2, $3, $4)"
    ),
    "meta": (
        "INSERT INTO meta (name, value) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
    ),
    "responded": numbered(RESPONDED),
    "exposure": numbered(EXPOSE),
    **SHOP_WRITES,
}


async def write_rows(db: Connection, rows: Rows) -> None:
    """Apply `rows` in `ORDER` (cancelling jobs before scheduling, ...), one pipelined
    `executemany` per kind, inside the caller's transaction."""
    for kind in ORDER:
        batch = rows.get(kind)
        if batch:
            await db.executemany(WRITES[kind], batch)
