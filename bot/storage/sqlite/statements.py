"""The statements the SQLite writer applies, by kind (see `writer.ORDER`)."""

from __future__ import annotations

from bot.storage.codec import CUSTOMER_COLUMNS, CUSTOMER_LIST
from bot.storage.experiments_sql import EXPOSE, RESPONDED
from bot.storage.sqlite.shop import SHOP_WRITES

__all__ = ["WRITES"]

_UPDATED = ", ".join(f"{column}=excluded.{column}" for column in CUSTOMER_COLUMNS[3:])

WRITES: dict[str, str] = {
    # The version was checked under the write lock before this runs (writer._check_versions).
    "customer": (
        f"INSERT INTO customers ({CUSTOMER_LIST}, version) "
        f"VALUES ({', '.join('?' * len(CUSTOMER_COLUMNS))}, 1) "
        f"ON CONFLICT(id) DO UPDATE SET {_UPDATED}, version = customers.version + 1"
    ),
    "inbound": "INSERT INTO inbound (key, customer_id, at) VALUES (?, ?, ?)",
    "job_done": (
        "UPDATE jobs SET status='done', finished_at=?, lease_until=0 "
        "WHERE id=? AND status='pending'"
    ),
    "cancel": (
        "UPDATE jobs SET status='cancelled', finished_at=? "
        "WHERE customer_id=? AND kind=? AND status='pending'"
    ),
    "jobs": (
        "INSERT INTO jobs (customer_id, kind, subject, due_at, payload, created_at) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT(customer_id, kind, subject) WHERE status = 'pending' "
        "DO UPDATE SET due_at=excluded.due_at, payload=excluded.payload, "
        "created_at=excluded.created_at, lease_until=0"
    ),
    "journey": (
        "INSERT INTO journey (customer_id, at, event, from_stage, to_stage, detail) "
        "VALUES (?,?,?,?,?,?)"
    ),
    "purchase": "INSERT INTO purchases (order_id, customer_id, amount, at) VALUES (?,?,?,?)",
    "score": "INSERT INTO scores (customer_id, scale, score, at) VALUES (?,?,?,?)",
    "score_comment": (
        "UPDATE scores SET comment=? WHERE id=(SELECT max(id) FROM scores WHERE customer_id=?)"
    ),
    "case_open": (
        "INSERT INTO cases (id, customer_id, status, reason, trigger_text, opened_at, kind) "
        "VALUES (?, ?, 'open', ?, ?, ?, ?)"
    ),
    "case_claimed": "UPDATE cases SET status='claimed', claimed_by=?, claimed_at=? WHERE id=?",
    "case_resolved": "UPDATE cases SET status='resolved', resolved_by=?, resolved_at=? WHERE id=?",
    "case_open_again": (
        "UPDATE cases SET status='open', claimed_by=NULL, claimed_at=NULL, resolved_by=NULL, "
        "resolved_at=NULL, reopened=reopened+1 WHERE id=?"
    ),
    "referral": (
        "INSERT OR IGNORE INTO referrals (referee_id, referrer_id, joined_at) VALUES (?, ?, ?)"
    ),
    "referral_converted": (
        "UPDATE referrals SET converted_at=? WHERE referee_id=? AND converted_at IS NULL"
    ),
    "badge": "INSERT OR IGNORE INTO badges (customer_id, badge, awarded_at) VALUES (?, ?, ?)",
    "campaign_step": (
        "INSERT INTO campaign_targets (campaign_id, customer_id, step, status, reason, "
        "deferrals, at, sent_at) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT (campaign_id, customer_id, step) DO UPDATE SET status = excluded.status, "
        "reason = excluded.reason, deferrals = campaign_targets.deferrals + excluded.deferrals, "
        "at = excluded.at, sent_at = coalesce(excluded.sent_at, campaign_targets.sent_at)"
    ),
    "line": (
        "INSERT INTO conversation (customer_id, at, author, name, text, case_id) "
        "VALUES (?,?,?,?,?,?)"
    ),
    "outbox": (
        "INSERT INTO outbox (id, customer_id, audience, kind, template, context, buttons, "
        "question_id, next_attempt_at, created_at, lease_until, prompted) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    ),
    "sent": (
        "UPDATE outbox SET status='sent', attempts=attempts+1, sent_at=?, platform_message_id=?, "
        "lease_until=0 WHERE id=?"
    ),
    "retry": (
        "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=?, lease_until=0 "
        "WHERE id=?"
    ),
    "failed": (
        "UPDATE outbox SET status='failed', attempts=attempts+1, last_error=?, lease_until=0 "
        "WHERE id=?"
    ),
    "inbox_add": (
        "INSERT OR IGNORE INTO inbox (key, grp, seq, body, received_at) VALUES (?, ?, ?, ?, ?)"
    ),
    "inbox_remove": "DELETE FROM inbox WHERE id = ?",
    "staff_thread": (
        "INSERT INTO staff_threads (case_id, channel, ts) VALUES (?, ?, ?) "
        "ON CONFLICT(case_id) DO UPDATE SET channel=excluded.channel, ts=excluded.ts"
    ),
    "template_version": (
        "INSERT INTO template_versions (name, locale, version, source, author, comment, "
        "created_at) VALUES (?, ?, (SELECT coalesce(max(version), 1) + 1 FROM template_versions "
        "WHERE name = ? AND locale = ?), ?, ?, ?, ?)"
    ),
    "staff_post": "INSERT INTO staff_posts (customer_id, channel, ts, at) VALUES (?, ?, ?, ?)",
    "meta": (
        "INSERT INTO meta (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value=excluded.value"
    ),
    "responded": RESPONDED,
    "exposure": EXPOSE,
    **SHOP_WRITES,
}
