"""SQLite schema migrations: registered functions, each applied and recorded in `migrations`
in one transaction.

Add a migration by appending a function to `MIGRATIONS`; never edit one that has shipped.
Several processes may open a fresh file at once (the bot and a CLI command): each migration is
chosen and applied under the write lock (`BEGIN IMMEDIATE`), so exactly one process applies it
and the others see it applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from bot.errors import StorageError

__all__ = ["MIGRATIONS", "migrate"]

Migration = Callable[[sqlite3.Connection], None]


def _run(db: sqlite3.Connection, script: str) -> None:
    # executescript would COMMIT first; run statement by statement inside our transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def initial_schema(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        CREATE TABLE customers (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            external_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            dialogue TEXT NOT NULL,
            question_id INTEGER NOT NULL DEFAULT 0,
            first_name TEXT,
            language TEXT,
            source TEXT,
            opted_out INTEGER NOT NULL DEFAULT 0,
            unreachable INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX customers_stage ON customers(stage);
        CREATE TABLE journey (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            at REAL NOT NULL,
            event TEXT NOT NULL,
            from_stage TEXT,
            to_stage TEXT,
            detail TEXT
        );
        CREATE INDEX journey_customer ON journey(customer_id, id);
        CREATE INDEX journey_at ON journey(at);
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            due_at REAL NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending',
            created_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE INDEX jobs_due ON jobs(due_at) WHERE status = 'pending';
        CREATE INDEX jobs_customer ON jobs(customer_id, kind) WHERE status = 'pending';
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            audience TEXT NOT NULL,
            kind TEXT NOT NULL,
            template TEXT NOT NULL,
            context TEXT NOT NULL,
            buttons TEXT NOT NULL,
            question_id INTEGER,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            created_at REAL NOT NULL,
            sent_at REAL,
            platform_message_id TEXT,
            last_error TEXT
        );
        CREATE INDEX outbox_pending ON outbox(id) WHERE status = 'pending';
        CREATE INDEX outbox_question ON outbox(customer_id, question_id)
            WHERE question_id IS NOT NULL;
        CREATE TABLE inbound (
            key TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    )


def durable_inbox(db: sqlite3.Connection) -> None:
    # Platform updates are written here before they are acknowledged, so an update the
    # platform considers delivered survives a crash before the engine has handled it.
    _run(
        db,
        """
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            received_at REAL NOT NULL
        )
        """,
    )


def cases_and_scores(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN reasks INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN last_survey_at REAL;
        ALTER TABLE customers ADD COLUMN pending_score INTEGER;
        ALTER TABLE customers ADD COLUMN case_id TEXT;
        ALTER TABLE customers ADD COLUMN case_claimed_by TEXT;
        ALTER TABLE customers ADD COLUMN cases_opened INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE purchases (
            order_id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            amount REAL,
            at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX purchases_customer ON purchases(customer_id, at);
        CREATE TABLE scores (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            scale TEXT NOT NULL,
            score INTEGER NOT NULL,
            comment TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX scores_customer ON scores(customer_id, id);
        CREATE INDEX scores_at ON scores(at);
        CREATE TABLE cases (
            id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            trigger_text TEXT,
            opened_at REAL NOT NULL,
            claimed_by TEXT,
            claimed_at REAL,
            resolved_by TEXT,
            resolved_at REAL,
            reopened INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX cases_status ON cases(status, opened_at);
        CREATE TABLE conversation (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            at REAL NOT NULL,
            author TEXT NOT NULL,
            name TEXT,
            text TEXT NOT NULL,
            case_id TEXT
        );
        CREATE INDEX conversation_customer ON conversation(customer_id, id)
        """,
    )


def staff_threads(db: sqlite3.Connection) -> None:
    # Where each case lives on the staff desk (a Slack channel and the card's ts).
    _run(
        db,
        """
        CREATE TABLE staff_threads (
            case_id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            UNIQUE (channel, ts)
        ) WITHOUT ROWID
        """,
    )


def referrals_and_badges(db: sqlite3.Connection) -> None:
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN referral_code TEXT;
        ALTER TABLE customers ADD COLUMN referred_by TEXT;
        ALTER TABLE customers ADD COLUMN referrals_joined INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN referrals_converted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN purchases INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN promoter_streak INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN badges TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE customers ADD COLUMN leaderboard_opt_in INTEGER NOT NULL DEFAULT 0;
        CREATE UNIQUE INDEX customers_referral_code ON customers(referral_code);
        CREATE INDEX customers_leaderboard ON customers(referrals_converted DESC)
            WHERE leaderboard_opt_in = 1;
        CREATE TABLE referrals (
            referee_id TEXT PRIMARY KEY,
            referrer_id TEXT NOT NULL,
            joined_at REAL NOT NULL,
            converted_at REAL
        ) WITHOUT ROWID;
        CREATE INDEX referrals_referrer ON referrals(referrer_id);
        CREATE INDEX referrals_converted ON referrals(converted_at);
        CREATE TABLE badges (
            customer_id TEXT NOT NULL,
            badge TEXT NOT NULL,
            awarded_at REAL NOT NULL,
            PRIMARY KEY (customer_id, badge)
        ) WITHOUT ROWID;
        CREATE INDEX badges_awarded ON badges(awarded_at)
        """,
    )


def template_versions(db: sqlite3.Connection) -> None:
    # Admin edits over the shipped files; version 1 of every message is its shipped file, so
    # rows start at 2. A row without source returns the message to the shipped text.
    _run(
        db,
        """
        CREATE TABLE template_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            locale TEXT NOT NULL,
            version INTEGER NOT NULL,
            source TEXT,
            author TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            UNIQUE (name, locale, version)
        )
        """,
    )


def leases_versions_subjects(db: sqlite3.Connection) -> None:
    # `version` lets a write check that the customer did not change since it was read (another
    # process may write too); `lease_until` lets a claimed work row be taken over once its
    # claimer is gone; `subject` keys "one live job of a kind per subject" in an index, so the
    # rule holds whatever code schedules jobs. Existing duplicates are cancelled, newest kept.
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN subject TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
        UPDATE jobs SET subject = coalesce(json_extract(payload, '$.case_id'), '')
            WHERE kind = 'sla';
        UPDATE jobs SET subject = 'legacy:' || id
            WHERE kind IN ('referral_joined', 'referral_converted', 'award');
        UPDATE jobs SET status = 'cancelled' WHERE status = 'pending' AND id NOT IN (
            SELECT max(id) FROM jobs WHERE status = 'pending' GROUP BY customer_id, kind, subject);
        CREATE UNIQUE INDEX jobs_live ON jobs(customer_id, kind, subject) WHERE status = 'pending';
        ALTER TABLE outbox ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
        ALTER TABLE outbox ADD COLUMN prompted INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX outbox_recipient ON outbox(customer_id, audience, id)
            WHERE status = 'pending';
        ALTER TABLE inbox ADD COLUMN grp TEXT NOT NULL DEFAULT '';
        ALTER TABLE inbox ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE inbox ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
        CREATE INDEX inbox_order ON inbox(seq, id);
        CREATE INDEX inbox_group ON inbox(grp, seq)
        """,
    )


def inbox_records_privacy(db: sqlite3.Connection) -> None:
    # Conversations are kept in `cases` (kind 'conversation'): one thread on the staff desk and
    # the same relay as a case. `staff_posts` remembers every message the bot posted about a
    # customer on the staff desk, so erasing the customer can edit them; `erasures` is the
    # audit of who erased whom (by tombstone: the erased id itself is personal data) and when.
    _run(
        db,
        """
        ALTER TABLE customers ADD COLUMN username TEXT;
        ALTER TABLE customers ADD COLUMN conversation_id TEXT;
        ALTER TABLE customers ADD COLUMN conversations_opened INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE customers ADD COLUMN last_contact_at REAL;
        CREATE INDEX customers_created ON customers(created_at);
        CREATE INDEX customers_last_contact ON customers(last_contact_at);
        CREATE INDEX customers_referred_by ON customers(referred_by);
        CREATE INDEX customers_source ON customers(source);
        CREATE INDEX customers_username ON customers(lower(username));
        ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'case';
        CREATE INDEX cases_customer ON cases(customer_id, opened_at);
        CREATE TABLE staff_posts (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX staff_posts_customer ON staff_posts(customer_id);
        CREATE TABLE erasures (
            id INTEGER PRIMARY KEY,
            tombstone TEXT NOT NULL UNIQUE,
            erased_by TEXT NOT NULL,
            at REAL NOT NULL
        )
        """,
    )


def shop_orders_and_links(db: sqlite3.Connection) -> None:
    # Orders as the shop's webhooks told them (amounts in millionths of the currency unit:
    # exact, and summable), their refunds, the deliveries seen, and who a chat is in the shop.
    # The unmatched-order indexes stay small: most orders are attached as they arrive.
    _run(
        db,
        """
        CREATE TABLE shop_orders (
            source TEXT NOT NULL,
            order_id TEXT NOT NULL,
            status TEXT NOT NULL,
            applied TEXT NOT NULL DEFAULT 'none',
            shop TEXT,
            order_number TEXT,
            number_key TEXT,
            confirmation_key TEXT,
            customer_ref TEXT,
            email TEXT,
            phone TEXT,
            amount_micros INTEGER,
            currency TEXT,
            placed_at REAL,
            customer_id TEXT,
            received_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            attached_at REAL,
            PRIMARY KEY (source, order_id)
        ) WITHOUT ROWID;
        CREATE INDEX shop_orders_customer ON shop_orders(customer_id);
        CREATE INDEX shop_orders_unmatched ON shop_orders(received_at) WHERE customer_id IS NULL;
        CREATE INDEX shop_orders_order_id ON shop_orders(order_id) WHERE customer_id IS NULL;
        CREATE INDEX shop_orders_ref ON shop_orders(customer_ref) WHERE customer_id IS NULL;
        CREATE INDEX shop_orders_phone ON shop_orders(phone) WHERE customer_id IS NULL;
        CREATE INDEX shop_orders_email ON shop_orders(email) WHERE customer_id IS NULL;
        CREATE INDEX shop_orders_number ON shop_orders(number_key);
        CREATE INDEX shop_orders_confirmation ON shop_orders(confirmation_key);
        CREATE TABLE shop_refunds (
            source TEXT NOT NULL,
            refund_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            amount_micros INTEGER,
            at REAL NOT NULL,
            applied INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, refund_id)
        ) WITHOUT ROWID;
        CREATE INDEX shop_refunds_order ON shop_refunds(source, order_id);
        CREATE TABLE shop_events (
            event_key TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            order_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            received_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE shop_links (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            method TEXT NOT NULL,
            linked_at REAL NOT NULL,
            PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        CREATE INDEX shop_links_customer ON shop_links(customer_id, kind);
        CREATE TABLE shop_tokens (
            token_id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            used_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE shop_customers (
            customer_ref TEXT PRIMARY KEY,
            email TEXT,
            phone TEXT,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID
        """,
    )


def admin_dashboard(db: sqlite3.Connection) -> None:
    # Accounts of the admin dashboard, their sessions (by a digest of the cookie's token, never
    # the token), and failed sign-ins by subject ("address:..." or "account:...") for throttling.
    _run(
        db,
        """
        CREATE TABLE admin_accounts (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE admin_sessions (
            id TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            credential TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX admin_sessions_account ON admin_sessions(account);
        CREATE INDEX admin_sessions_expiry ON admin_sessions(expires_at);
        CREATE TABLE admin_login_failures (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX admin_login_failures_subject ON admin_login_failures(subject, at);
        CREATE INDEX admin_login_failures_at ON admin_login_failures(at)
        """,
    )


def segments_and_contact_rules(db: sqlite3.Connection) -> None:
    # Segments are rules kept as JSON; tags are put on customers by staff. The customer's last
    # rating is kept on their row (by a trigger, whatever writes a score) so that a segment on
    # it is a column test, not a subquery per customer; its index also holds what "promoters
    # who have not referred anyone" needs, so that segment is counted from the index alone.
    # `contacts` holds the times of the recent unprompted messages that count against the
    # contact budget; `timezone` the zone quiet hours are kept in.
    _run(
        db,
        """
        CREATE TABLE segments (
            name TEXT PRIMARY KEY,
            rules TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE customer_tags (
            customer_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            tagged_by TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (customer_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX customer_tags_tag ON customer_tags(tag);
        ALTER TABLE customers ADD COLUMN last_score INTEGER;
        ALTER TABLE customers ADD COLUMN last_scale TEXT;
        ALTER TABLE customers ADD COLUMN timezone TEXT;
        ALTER TABLE customers ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
        UPDATE customers SET
            last_score = (SELECT s.score FROM scores s WHERE s.customer_id = customers.id
                          ORDER BY s.id DESC LIMIT 1),
            last_scale = (SELECT s.scale FROM scores s WHERE s.customer_id = customers.id
                          ORDER BY s.id DESC LIMIT 1);
        CREATE INDEX customers_last_score
            ON customers(last_scale, last_score, referrals_joined, channel);
        CREATE INDEX purchases_customer_amount ON purchases(customer_id, amount)
        """,
    )
    db.execute(  # one statement: its body holds a ';'
        "CREATE TRIGGER scores_last AFTER INSERT ON scores BEGIN "
        "UPDATE customers SET last_score = NEW.score, last_scale = NEW.scale "
        "WHERE id = NEW.customer_id; END"
    )


def campaigns(db: sqlite3.Connection) -> None:
    # A campaign and what became of each of its messages for each customer (one row per step):
    # planned, sent, deferred (how often), skipped or left, with the reason. Replies are found
    # in `inbound` by customer and time, hence its index.
    _run(
        db,
        """
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            segment TEXT NOT NULL,
            template TEXT NOT NULL,
            steps TEXT NOT NULL DEFAULT '[0]',
            stop_on_purchase INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'draft',
            start_at REAL,
            started_at REAL,
            author TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE campaign_targets (
            campaign_id INTEGER NOT NULL,
            customer_id TEXT NOT NULL,
            step INTEGER NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            deferrals INTEGER NOT NULL DEFAULT 0,
            at REAL NOT NULL,
            sent_at REAL,
            PRIMARY KEY (campaign_id, customer_id, step)
        ) WITHOUT ROWID;
        CREATE INDEX campaign_targets_customer ON campaign_targets(customer_id);
        CREATE INDEX inbound_customer ON inbound(customer_id, at)
        """,
    )


def experiments(db: sqlite3.Connection) -> None:
    # Variants of a message and who saw which. An exposure is written with the delivery that
    # made it (one per customer and experiment: the first decides, later weights move nobody);
    # `replied_at` is set by the customer's next message, in that message's transaction.
    _run(
        db,
        """
        CREATE TABLE experiments (
            name TEXT PRIMARY KEY,
            template TEXT NOT NULL,
            locale TEXT NOT NULL,
            goal TEXT NOT NULL,
            window_days INTEGER NOT NULL,
            status TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at REAL NOT NULL,
            stopped_at REAL,
            shipped TEXT
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX experiments_running ON experiments(template, locale)
            WHERE status = 'running';
        CREATE TABLE experiment_variants (
            experiment TEXT NOT NULL,
            label TEXT NOT NULL,
            position INTEGER NOT NULL,
            weight INTEGER NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (experiment, label)
        ) WITHOUT ROWID;
        CREATE TABLE experiment_exposures (
            experiment TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            variant TEXT NOT NULL,
            at REAL NOT NULL,
            replied_at REAL,
            PRIMARY KEY (experiment, customer_id)
        ) WITHOUT ROWID;
        CREATE INDEX experiment_exposures_waiting ON experiment_exposures(customer_id)
            WHERE replied_at IS NULL
        """,
    )


MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "initial schema", initial_schema),
    (2, "durable inbox", durable_inbox),
    (3, "cases, scores and purchases", cases_and_scores),
    (4, "staff threads", staff_threads),
    (5, "referrals and badges", referrals_and_badges),
    (6, "template versions", template_versions),
    (7, "versions, leases and job subjects", leases_versions_subjects),
    (8, "conversations, customer records and erasure", inbox_records_privacy),
    (9, "shop orders and links", shop_orders_and_links),
    (10, "admin dashboard accounts and sessions", admin_dashboard),
    (11, "segments, tags, last rating, contact budget and time zones", segments_and_contact_rules),
    (12, "campaigns", campaigns),
    (13, "experiments: variants and exposures", experiments),
)


def migrate(db: sqlite3.Connection) -> int:
    """Apply pending migrations; return the schema version. Refuses a newer database."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    known = {version for version, _, _ in MIGRATIONS}
    applied = {int(row[0]) for row in db.execute("SELECT version FROM migrations")}
    if applied == known:
        return max(known)  # the usual start: nothing to do, no write lock taken
    for version, name, function in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            applied = {int(row[0]) for row in db.execute("SELECT version FROM migrations")}
            if applied - known:
                raise StorageError(
                    f"the database has schema version {max(applied)}, newer than this "
                    f"Escalator understands ({max(known)}): upgrade Escalator"
                )
            if version not in applied:
                function(db)
                db.execute(
                    "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, datetime.now(UTC).isoformat()),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return max(known)
