"""The SQL of campaigns, shared by both backends (`?` placeholders; PostgreSQL numbers them with
`records_sql.numbered`). Planning is set-based: one statement inserts every customer's first
job and one their target row, however many customers the segment holds."""

from __future__ import annotations

__all__ = ["CAMPAIGN", "REPORT_COUNTS", "REPORT_OUTCOMES", "REPORT_SKIPPED"]

CAMPAIGN = (
    "id, name, segment, template, steps, stop_on_purchase, status, start_at, started_at, "
    "author, created_at"
)

REPORT_COUNTS = (
    "SELECT "
    "coalesce(sum(CASE WHEN step = 0 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN status IN ('planned', 'deferred') THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN deferrals > 0 THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN status = 'left' THEN 1 ELSE 0 END), 0) "
    "FROM campaign_targets WHERE campaign_id = ?"
)

REPORT_SKIPPED = (
    "SELECT reason, count(*) FROM campaign_targets WHERE campaign_id = ? AND status = 'skipped' "
    "GROUP BY reason ORDER BY reason"
)

REPORT_OUTCOMES = (
    # per customer: the first message that reached them, and what they did within the window
    "WITH reached AS ("
    " SELECT customer_id, min(sent_at) AS sent_at FROM campaign_targets"
    " WHERE campaign_id = ? AND status = 'sent' GROUP BY customer_id) "
    "SELECT "
    "coalesce(sum(CASE WHEN c.unreachable <> 0 THEN 1 ELSE 0 END), 0), "
    # a reply: an update from them in the window (platform updates are kept by id), or their
    # latest contact in it (events without a platform id, such as the console's)
    "coalesce(sum(CASE WHEN (c.last_contact_at > r.sent_at AND c.last_contact_at <= r.sent_at + ?)"
    " OR EXISTS (SELECT 1 FROM inbound i WHERE i.customer_id = r.customer_id"
    " AND i.at > r.sent_at AND i.at <= r.sent_at + ?) THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = r.customer_id"
    " AND p.at > r.sent_at AND p.at <= r.sent_at + ?) THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM referrals f WHERE f.referrer_id = r.customer_id"
    " AND f.joined_at > r.sent_at AND f.joined_at <= r.sent_at + ?) THEN 1 ELSE 0 END), 0) "
    "FROM reached r JOIN customers c ON c.id = r.customer_id"
)
