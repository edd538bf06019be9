"""Engine tests on a real SQLite file with a manual clock: restarts, crashes, duplicates,
concurrency and bad input."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from bot.api import record_purchase
from bot.app import Runtime
from bot.delivery.engine import Outcome
from bot.errors import PermanentDeliveryError, RecipientUnreachable, TransientDeliveryError
from bot.flows.model import ButtonPress, Command, CustomerKey, NonText, Start, Text
from bot.flows.stages import Stage
from tests.conftest import Harness, sql

A = CustomerKey("test", "a")


async def test_checkin_scheduled_before_a_restart_is_sent_once_after_it(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A, inbound_id="1"))
        await rt.settle()
    assert harness.customers.templates(A) == ["welcome"]
    harness.clock.advance(timedelta(days=3))  # the bot was down when the check-in fell due
    async with harness.open() as rt:
        await rt.settle()
    async with harness.open() as rt:
        await rt.settle()
    assert harness.customers.templates(A) == ["welcome", "checkin"]


async def test_message_committed_before_a_crash_is_delivered_once_after_restart(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A, inbound_id="1"))
        # crash: the process dies before the outbox runs
    assert harness.customers.sent == []
    async with harness.open() as rt:
        await rt.settle()
        await rt.settle()
    async with harness.open() as rt:
        await rt.settle()
    assert harness.customers.templates(A) == ["welcome"]


async def test_redelivered_update_changes_nothing(harness: Harness) -> None:
    async with harness.open() as rt:
        assert await rt.engine.handle(Start(key=A, inbound_id="u1")) is Outcome.DONE
        assert await rt.engine.handle(Text(key=A, inbound_id="u2", text="hi")) is Outcome.DONE
        assert await rt.engine.handle(Text(key=A, inbound_id="u2", text="hi")) is (
            Outcome.DUPLICATE
        )
        await rt.settle()
        history = await rt.storage.journey.history(A, 50)
    assert harness.customers.templates(A) == ["welcome", "inbox_opened"]
    assert [h.event for h in history] == ["captured", "first_answer", "conversation_opened"]


async def test_concurrent_customers_interleaved_lose_no_update(harness: Harness) -> None:
    customers = [CustomerKey("test", str(n)) for n in range(60)]
    async with harness.open() as rt:
        await asyncio.gather(
            *(rt.engine.handle(Start(key=k, inbound_id=f"s{k.id}")) for k in customers)
        )
        harness.clock.advance(timedelta(days=2))
        await rt.settle()

        # every customer presses, writes and asks for help at the same time, in order per customer
        async def talk(key: CustomerKey) -> None:
            await rt.engine.handle(ButtonPress(key=key, data="1:okay", inbound_id=f"b{key.id}"))
            await rt.engine.handle(Text(key=key, text="8", inbound_id=f"t{key.id}"))
            await rt.engine.handle(Command(key=key, name="help", inbound_id=f"h{key.id}"))

        await asyncio.gather(*(talk(k) for k in customers))
        await rt.settle()
        stages = sql(rt.storage, "SELECT stage, count(*) FROM customers GROUP BY stage")
        events = sql(rt.storage, "SELECT count(*) FROM journey")
    assert stages == [("engaged", 60)]
    # captured, checkin_sent, first_answer, checkin_answered, survey_sent, rated
    assert events == [(60 * 6,)]
    for key in customers:
        assert harness.customers.templates(key) == [
            "welcome",
            "checkin",
            "checkin_thanks",
            "nps_question",
            "followup_passive",
            "help",
        ]


async def test_same_customer_events_are_serialised_in_arrival_order(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
        # two presses of the same question race: exactly one answers it
        results = await asyncio.gather(
            rt.engine.handle(ButtonPress(key=A, data="1:great", inbound_id="p1")),
            rt.engine.handle(ButtonPress(key=A, data="1:bad", inbound_id="p2")),
        )
        await rt.settle()
        history = await rt.storage.journey.history(A, 50)
    assert results == [Outcome.DONE, Outcome.DONE]
    assert [h.detail for h in history if h.event == "checkin_answered"] == ["great"]
    assert harness.customers.templates(A)[-2:] == ["nps_question", "stale_button"]


async def test_bad_input_is_answered_politely_and_loses_nothing(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
        for event in (
            Text(key=A, text=""),
            Text(key=A, text="x" * 10_000),
            Command(key=A, name="nonsense"),
            ButtonPress(key=A, data="1:explode"),
            NonText(key=A, kind="sticker"),
        ):
            assert await rt.engine.handle(event) is Outcome.DONE
        await rt.settle()
        customer = await rt.storage.journey.customer(A)
    assert harness.customers.templates(A) == [
        "welcome",
        "checkin",
        "empty_text",
        "checkin_thanks",  # the long text answered the open check-in
        "unknown_command",
        "stale_button",
        "non_text",
    ]
    assert customer is not None and customer.stage is Stage.ENGAGED


async def test_transient_failures_retry_in_order_until_delivered(harness: Harness) -> None:
    harness.customers.failures = [TransientDeliveryError("flood", retry_after=30)]
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await rt.engine.handle(Command(key=A, name="help"))
        await rt.settle()
        assert harness.customers.sent == []  # the welcome waits, and help waits behind it
        harness.clock.advance(timedelta(seconds=31))
        await rt.settle()
    assert harness.customers.templates(A) == ["welcome", "help"]


async def test_permanent_failure_is_recorded_not_retried(harness: Harness) -> None:
    harness.customers.failures = [PermanentDeliveryError("Bad Request: chat not found")]
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await rt.settle()
        harness.clock.advance(timedelta(hours=1))
        await rt.settle()
        rows = sql(rt.storage, "SELECT status, last_error FROM outbox")
    assert rows == [("failed", "Bad Request: chat not found")]
    assert harness.customers.sent == []


async def test_unreachable_customer_is_flagged_and_skipped(harness: Harness) -> None:
    harness.customers.failures = [RecipientUnreachable("Forbidden: bot was blocked by the user")]
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await rt.settle()
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
        customer = await rt.storage.journey.customer(A, history=10)
    assert customer is not None and customer.unreachable
    assert [h.event for h in customer.history] == ["captured", "unreachable", "checkin_skipped"]
    assert harness.customers.sent == []


async def test_two_writers_on_one_database_lose_no_update(harness: Harness) -> None:
    """Two runtimes on one file (as the bot and the CLI, or two workers): each decision commits
    only if computed from the current customer, so counters stay exact."""
    customers = [CustomerKey("test", f"h{n}") for n in range(10)]
    async with harness.open() as first, harness.open() as second:
        for customer in customers:
            await first.engine.handle(Start(key=customer, inbound_id=f"s{customer.id}"))

        async def buy(rt: Runtime, side: str, customer: CustomerKey, n: int) -> None:
            order = f"{side}-{customer.external_id}-{n}"
            await record_purchase(rt.engine, rt.storage.journey, customer, order)
            await rt.engine.handle(Text(key=customer, text="hi", inbound_id=f"t-{order}"))

        await asyncio.gather(
            *(
                buy(rt, side, customer, n)
                for n in range(6)
                for customer in customers
                for rt, side in ((first, "a"), (second, "b"))
            )
        )
        for customer in customers:
            stored = await first.storage.journey.customer(customer, history=200)
            assert stored is not None and stored.purchases == 12
            moves = [
                (e.from_stage, e.to_stage) for e in stored.history if e.from_stage != e.to_stage
            ]
            assert moves == [(None, "captured"), ("captured", "customer")]  # each logged once
            assert [e.event for e in stored.history].count("purchase") == 12
            assert stored.stage is Stage.CUSTOMER
        assert sql(first.storage, "SELECT count(*) FROM purchases") == [(120,)]


async def test_messages_caused_by_the_customer_are_marked_as_replies(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A, inbound_id="1"))
        harness.clock.advance(timedelta(days=3))  # the check-in falls due
        await rt.scheduler.tick()
        rows = sql(rt.storage, "SELECT template, prompted FROM outbox ORDER BY id")
    assert rows == [("welcome", 1), ("checkin", 0)]


async def test_a_reply_never_overtakes_an_older_message_of_another_process(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A, inbound_id="1"))
        await rt.settle()
        # another process (the CLI, a second worker) queued a message for A and has not sent it
        sql_write(
            rt,
            "INSERT INTO outbox (customer_id, audience, kind, template, context, buttons, "
            "next_attempt_at, created_at) VALUES (?, 'customer', 'message', 'badges', "
            "'{\"badges\": []}', '[]', 0, 0)",
            (A.id,),
        )
        await rt.engine.handle(Command(key=A, name="help", inbound_id="2"))
        await rt.settle()
    assert harness.customers.templates(A) == ["welcome", "badges", "help"]


async def test_replies_go_out_straight_from_the_decision(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A, inbound_id="1"))
        # handed to the channel without a claim round (no settle, no poll)
        deadline = asyncio.get_running_loop().time() + 5
        while not harness.customers.sent and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert harness.customers.templates(A) == ["welcome"]
        await rt.settle()
        rows = sql(rt.storage, "SELECT status, lease_until FROM outbox")
    assert rows == [("sent", 0)]


def sql_write(rt: Runtime, query: str, params: tuple[object, ...]) -> None:
    import sqlite3
    from contextlib import closing

    from bot.storage.sqlite import SQLiteStorage

    assert isinstance(rt.storage, SQLiteStorage)
    with closing(sqlite3.connect(rt.storage.path)) as db, db:
        db.execute(query, params)


async def test_a_tick_of_many_jobs_decides_each_as_alone(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler reads and commits a tick's jobs together (`Engine.handle_jobs`); a customer
    another process changed in between is decided again, one busy here waits its turn."""
    caplog.set_level(logging.INFO, logger="bot.delivery.engine")
    customers = [CustomerKey("test", f"t{n}") for n in range(12)]
    changed, busy = customers[1], customers[2]
    async with harness.open() as rt, harness.open() as other:
        for customer in customers:
            await rt.engine.handle(Start(key=customer, inbound_id=f"s{customer.id}"))
        await rt.settle()
        harness.clock.advance(timedelta(days=3))  # every welcome check-in is due
        journey = rt.storage.journey

        class Meanwhile:
            """The store, with another process handling `changed`'s /help right after the read."""

            def __getattr__(self, name: str) -> object:
                return getattr(journey, name)

            async def load_jobs(self, jobs: Any) -> Any:
                loaded = await journey.load_jobs(jobs)
                await other.engine.handle(Command(key=changed, name="help", inbound_id="h"))
                return loaded

        rt.engine._storage = Meanwhile()  # type: ignore[assignment]
        # a message of `busy` is being handled when the tick starts
        talk = asyncio.ensure_future(rt.engine.handle(Text(key=busy, text="hello", inbound_id="x")))
        await asyncio.sleep(0)
        assert await rt.scheduler.tick() == len(customers)
        await talk
        await rt.settle()
        for customer in customers:
            stored = await journey.customer(customer, history=50)
            assert stored is not None
            assert [h.event for h in stored.history].count("checkin_sent") == 1
        helped = await journey.customer(changed)
        # the other process's change survived: the tick decided again from it
        assert helped is not None and helped.last_contact_at == harness.clock.now()
        assert "customer test:t1 changed meanwhile; deciding again" in caplog.messages
    assert all(harness.customers.templates(c).count("checkin") == 1 for c in customers)
