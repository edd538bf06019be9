"""`escalator db upgrade` and `escalator db copy`, run as an operator runs them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.flows.common import new_customer
from bot.flows.experiments import Experiment, Goal, Variant
from bot.flows.model import CustomerKey, LinkTokenUsed, LogEntry, OrderKey, Profile, ShopLinked
from bot.flows.orders import OrderStatus, OrderUpdate, Refund, merge
from bot.flows.segments import parse
from bot.storage import open_storage
from bot.storage.campaign_types import NewCampaign
from bot.storage.postgres.migrations import MIGRATIONS as PG_MIGRATIONS
from bot.storage.segment_types import Segment
from bot.storage.sqlite.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from bot.storage.transfer import TABLES
from bot.storage.types import (
    AdminAccount,
    AdminSession,
    Change,
    Exposure,
    InboxItem,
    OutboxItem,
)
from tests.cli.test_cli import escalator
from tests.pg import query

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return [tuple(row) for row in db.execute(sql)]


def columns(path: Path, table: str) -> list[str]:
    return [row[1] for row in sqlite_rows(path, f"PRAGMA table_info({table})")]


Read = Callable[[str], list[tuple[Any, ...]]]


def rows_of(table: str, cols: list[str], read: Read, order: str = "rowid") -> Any:
    """Every row of `table`: cases in the order they were opened (`order`: SQLite's rowid,
    PostgreSQL's seq), other tables sorted here (the engines' collations differ)."""
    if table == "cases":
        return read(f"SELECT {', '.join(cols)} FROM cases ORDER BY {order}")
    return sorted(read(f"SELECT {', '.join(cols)} FROM {table}"), key=repr)


def with_password(url: str) -> str:
    """`url` with a password in it (trust authentication ignores it): it must never be shown."""
    return url.replace("://postgres@", "://postgres:s3cret-pw@", 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_upgrade_applies_migrations_once_and_says_the_version(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        url = with_password(str(request.getfixturevalue("pg_url")))
        registered = [(n,) for n, _, _ in PG_MIGRATIONS]
        recorded = lambda: query(url, "SELECT version FROM migrations ORDER BY version")  # noqa: E731
    else:
        (tmp_path / "fresh").mkdir()  # only `run` and `console` create a missing directory
        url = f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"
        registered = [(n,) for n, _, _ in SQLITE_MIGRATIONS]
        recorded = lambda: sqlite_rows(  # noqa: E731
            tmp_path / "fresh" / "new.db", "SELECT version FROM migrations ORDER BY version"
        )
    first = escalator(tmp_path / "unused.db", "db", "upgrade", extra={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    version = int(first.stdout.strip().rsplit(" ", 1)[1])
    assert first.stdout.strip().endswith(f"schema version {version}")
    applied = recorded()
    # every registered migration (their numbers may leave gaps: features number theirs ahead)
    assert applied == sorted(registered) and version == max(registered)[0]
    again = escalator(tmp_path / "unused.db", "db", "upgrade", "--url", url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"schema version {version}")
    assert recorded() == applied
    assert "s3cret-pw" not in first.stdout + first.stderr + again.stdout + again.stderr


def test_db_copy_moves_every_row_and_back(tmp_path: Path, pg_url: str) -> None:
    pg_url = with_password(pg_url)
    source = tmp_path / "a.db"
    simulated = escalator(
        source, "simulate", "--customers", "40", "--days", "40", "--seed", "3", "--db", str(source)
    )
    assert simulated.returncode == 0, simulated.stderr
    asyncio.run(add_the_rest(f"sqlite:///{source}"))
    counts = {t: sqlite_rows(source, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
    assert all(counts.values()), counts  # every table has something to copy

    copy = escalator(source, "db", "copy", "--from", f"sqlite:///{source}", "--to", pg_url)
    assert copy.returncode == 0, copy.stderr
    printed = {
        line.split()[0]: int(line.split()[1].replace(",", ""))
        for line in copy.stdout.splitlines()
        if line.startswith("  ")
    }
    assert printed == counts
    assert f"copied {sum(counts.values()):,} rows in {len(TABLES)} tables" in copy.stdout

    assert "s3cret-pw" not in copy.stdout + copy.stderr
    in_source = lambda sql: sqlite_rows(source, sql)  # noqa: E731
    for table in TABLES:
        cols = columns(source, table)
        copied = rows_of(table, cols, lambda sql: query(pg_url, sql), "seq")
        assert copied == rows_of(table, cols, in_source), table

    again = escalator(source, "db", "copy", "--from", f"sqlite:///{source}", "--to", pg_url)
    assert again.returncode == 1 and "not empty" in again.stderr, again.stderr
    assert query(pg_url, "SELECT count(*) FROM customers") == [(counts["customers"],)]

    back = tmp_path / "b.db"
    returned = escalator(back, "db", "copy", "--from", pg_url, "--to", f"sqlite:///{back}")
    assert returned.returncode == 0, returned.stderr
    for table in TABLES:
        cols = columns(source, table)
        assert rows_of(table, cols, lambda sql: sqlite_rows(back, sql)) == rows_of(
            table, cols, in_source
        ), table

    # new rows continue after the copied ids
    new_ids = asyncio.run(write_one(pg_url))
    top = {
        t: query(pg_url, f"SELECT max(id) FROM {t} WHERE customer_id <> 'test:new'")[0][0]
        for t in ("outbox", "journey")
    }
    assert new_ids["outbox"] > top["outbox"] and new_ids["journey"] > top["journey"]


async def add_the_rest(url: str) -> None:
    """What a simulation leaves empty: a queued update, a card's thread, an edited template,
    a post on the staff desk, an erasure, a dashboard account with a session and a failed
    sign-in, a segment, a tag and a campaign, an experiment with its variants and an
    exposure."""
    store = await open_storage(url)
    try:
        case_id = await store.cases.latest()
        assert case_id is not None
        await store.cases.save_thread(case_id, "C-DESK", "1700000000.0001")
        customer = await store.cases.customer_of(case_id)
        assert customer is not None
        await store.records.remember_post(customer, "C-DESK", "1700000000.0002", AT)
        await store.records.remember_post(CustomerKey("test", "nobody"), "C-DESK", "1.3", AT)
        assert await store.records.erase(customer, "ann", AT) is not None
        await store.inbox.add([InboxItem("tg:77", "telegram:7", 77, '{"update_id": 77}')], AT)
        await store.templates.add_version("welcome", "en", "Hi {{ name }}!", "ann", "", AT)
        # the shop: an order and its refund, the delivery, what the shop said of a customer,
        # and a chat linked with a (redeemed) link token
        update = OrderUpdate(
            OrderKey("shopify", "1001"),
            "orders/paid",
            OrderStatus.PAID,
            order_number="#1001",
            amount=Decimal("49.90"),
            currency="EUR",
            refunds=(Refund("r1", Decimal("5.00")),),
        )
        await store.shop.record(
            "shopify:w1", update.topic, update.key, lambda now: merge(now, update, AT), AT
        )
        await store.shop.remember_customer("SHOP-1", "ada@example.com", None, AT)
        linked = new_customer(CustomerKey("test", "shop"), Profile("Ada", "en"), AT)
        links = (ShopLinked("ref", "SHOP-1", "link"), LinkTokenUsed("0123456789abcdef0123"))
        await store.journey.commit(Change(linked, AT, records=links))
        await store.admin.save_account(AdminAccount("ann", "scrypt$x", "editor", AT, AT))
        later = AT + timedelta(hours=1)
        await store.admin.open_session(AdminSession("s1", "ann", "fp", "10.0.0.1", AT, later))
        await store.admin.note_failure(["address:10.0.0.2", "account:ann"], AT, AT)
        # a segment, a staff tag, and a campaign planned for the segment
        await store.segments.save(Segment("all", '{"stopped": false}', "", "ann", AT, AT))
        await store.segments.tag(CustomerKey("test", "shop"), "vip", "ann", AT)
        campaign = await store.campaigns.create(
            NewCampaign("c1", "all", "campaign_message", (0, 7), True, None, "ann", AT)
        )
        assert campaign is not None
        assert await store.campaigns.plan(campaign.id, parse({"stopped": False}), "nps", AT, AT)
        variants = (Variant("A", 1, "Share!"), Variant("B", 1, "Tell a friend!"))
        await store.experiments.create(
            Experiment("invite", "referral_invite", "en", Goal.REFERRAL, 7, variants, "ann", AT)
        )
        await store.experiments.expose([Exposure("invite", "test:shop", "B")], AT)
        await store.experiments.note_replies(["test:shop"], later)
    finally:
        await store.close()


async def write_one(url: str) -> dict[str, int]:
    store = await open_storage(url)
    try:
        customer = new_customer(CustomerKey("test", "new"), Profile("New", "en"), AT)
        item = OutboxItem(kind="message", audience="customer", template="welcome")
        (outbox_id,) = await store.journey.commit(
            Change(customer, AT, log=(LogEntry("captured", None, None),), outbox=(item,))
        )
    finally:
        await store.close()
    (journey_id,) = query(url, "SELECT id FROM journey WHERE customer_id = 'test:new'")[0]
    return {"outbox": outbox_id, "journey": journey_id}


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    url = "postgresql://ann:s3cret-pw@127.0.0.1:1/shop"
    result = escalator(tmp_path / "unused.db", "report", extra={"DATABASE_URL": url})
    assert result.returncode == 1  # refused (exit codes: 0 done, 1 refused, 2 usage)
    assert result.stderr.startswith("escalator: cannot connect to the database at ")
    assert "DATABASE_URL" in result.stderr and "postgresql://127.0.0.1:1/shop" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr
