"""The post-sale loop on a real database with a fake clock: purchase, check-in, rating,
follow-up by score group, escalation to staff, recovery."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.api import record_purchase, staff_act
from bot.app import Runtime
from bot.config import load_settings
from bot.delivery.engine import Outcome
from bot.errors import InvalidInput
from bot.flows.model import ButtonPress, CustomerKey, NonText, Start, Text
from bot.flows.stages import Stage
from bot.reports import score_summary
from tests.conftest import START, Harness, RecordingChannel, sql

A = CustomerKey("test", "a")
B = CustomerKey("test", "b")


async def press(rt: Runtime, channel: RecordingChannel, key: CustomerKey, label: str) -> None:
    """Press the button labelled `label` on the latest message with buttons to `key`."""
    asked = [s for s in channel.sent if s.key == key and s.buttons]
    (data,) = [d for row in asked[-1].buttons for lbl, d in row if lbl == label]
    await rt.engine.handle(ButtonPress(key=key, data=data))
    await rt.settle()


async def to_rating(rt: Runtime, h: Harness, key: CustomerKey) -> None:
    """Start, buy, and answer the post-purchase check-in with 'Great'."""
    await rt.engine.handle(Start(key=key))
    assert await record_purchase(
        rt.engine, rt.storage.journey, key, f"order-{key.external_id}"
    ) is (Outcome.DONE)
    h.clock.advance(timedelta(days=3))
    await rt.settle()
    await press(rt, h.customers, key, "Great 😀")


async def test_purchase_moves_to_customer_and_plans_checkins(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await record_purchase(rt.engine, rt.storage.journey, A, "O-1", 19.5)
        assert (
            await record_purchase(rt.engine, rt.storage.journey, A, "O-1", 19.5)
            is Outcome.DUPLICATE
        )
        customer = await rt.storage.journey.customer(A, history=10)
        assert customer is not None and customer.stage is Stage.CUSTOMER
        assert [h.event for h in customer.history] == ["captured", "purchase"]
        harness.clock.advance(timedelta(days=2))  # the welcome check-in was replaced
        await rt.settle()
        assert harness.customers.templates(A) == ["welcome"]
        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        assert harness.customers.templates(A) == ["welcome", "checkin"]
        assert harness.customers.sent[-1].text.startswith("Hi") and "order" in (
            harness.customers.sent[-1].text
        )
        await press(rt, harness.customers, A, "Okay 🙂")
        await rt.engine.handle(Text(key=A, text="8"))
        await rt.settle()
        harness.clock.advance(timedelta(days=30))  # the periodic check-in
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "checkin"
        purchases = sql(rt.storage, "SELECT order_id, amount FROM purchases")
    assert purchases == [("O-1", 19.5)]


async def test_purchase_for_an_unknown_customer_is_a_clear_error(harness: Harness) -> None:
    async with harness.open() as rt:
        with pytest.raises(InvalidInput, match="no customer 'test:nobody'"):
            await record_purchase(
                rt.engine, rt.storage.journey, CustomerKey("test", "nobody"), "O-9"
            )


async def test_promoter_is_asked_what_they_love_then_invited_to_refer(harness: Harness) -> None:
    async with harness.open() as rt:
        await to_rating(rt, harness, A)
        await press(rt, harness.customers, A, "10")
        assert harness.customers.templates(A)[-1] == "followup_promoter"
        await rt.engine.handle(Text(key=A, text="Fast delivery!"))
        await rt.settle()
        history = await rt.storage.journey.history(A, 20)
        scores = sql(rt.storage, "SELECT scale, score, comment FROM scores")
    assert harness.customers.templates(A)[-2:] == ["comment_thanks", "referral_invite"]
    assert re.search(
        r"https://t\.me/escalator_bot\?start=ref-[A-Za-z0-9_-]{12}(?![A-Za-z0-9_-])",
        (harness.customers.sent[-1].text),
    )
    assert [h.event for h in history][-3:] == ["rated", "commented", "referral_invited"]
    assert scores == [("nps", 10, "Fast delivery!")]


async def test_passive_is_asked_what_would_make_it_a_ten(harness: Harness) -> None:
    async with harness.open() as rt:
        await to_rating(rt, harness, A)
        await rt.engine.handle(Text(key=A, text=" 7 "))  # typed, as if pressed
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "followup_passive"
        await press(rt, harness.customers, A, "Skip")
        customer = await rt.storage.journey.customer(A)
    assert harness.customers.templates(A)[-1] == "comment_thanks"
    assert customer is not None and customer.case_id is None


async def test_unusable_ratings_are_asked_again_twice_then_dropped(harness: Harness) -> None:
    async with harness.open() as rt:
        await to_rating(rt, harness, A)
        await rt.engine.handle(Text(key=A, text="11"))
        await rt.engine.handle(NonText(key=A, kind="sticker"))
        await rt.settle()
        assert harness.customers.templates(A)[-2:] == ["rating_reask", "rating_reask"]
        await rt.engine.handle(Text(key=A, text="great"))
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "rating_dropped"
        await press(rt, harness.customers, A, "9")  # the old rating button, after it moved on
        customer = await rt.storage.journey.customer(A)
    assert harness.customers.templates(A)[-1] == "stale_button"
    assert customer is not None and customer.pending_score is None


async def test_detractor_is_escalated_and_the_loop_is_closed(harness: Harness) -> None:
    staff = harness.staff
    async with harness.open() as rt:
        await to_rating(rt, harness, A)
        await press(rt, harness.customers, A, "3")
        assert harness.customers.templates(A)[-1] == "followup_detractor"
        await rt.engine.handle(Text(key=A, text="it arrived broken"))
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "escalated"
        (card,) = staff.sent
        assert card.template == "staff_case_opened"
        assert "nps score 3" in card.text and "it arrived broken" in card.text
        assert "NPS 3" in card.text and "(customer)" in card.text
        case_id = "test:a#1"

        # while the case is open: the bot relays and stays quiet, even 30 days on
        await rt.engine.handle(Text(key=A, text="any news?"))
        harness.clock.advance(timedelta(days=30))
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "escalated"
        (relayed,) = [s for s in staff.sent if s.template == "staff_customer_message"]
        assert "any news?" in relayed.text
        reminders = [s.text for s in staff.sent if s.template == "staff_sla_reminder"]
        assert len(reminders) == 1 and "still unclaimed" in reminders[0]  # next one: +30 min

        await staff_act(rt.engine, rt.storage.cases, case_id, "claim", "Sam")
        await staff_act(rt.engine, rt.storage.cases, case_id, "note", "Sam", "courier's fault")
        await staff_act(
            rt.engine, rt.storage.cases, case_id, "reply", "Sam", "A new one is on its way"
        )
        await rt.settle()
        assert harness.customers.sent[-1].template == "staff_reply"
        assert "A new one is on its way" in harness.customers.sent[-1].text
        assert "Sam" in harness.customers.sent[-1].text
        assert not any("courier" in s.text for s in harness.customers.sent)

        await staff_act(rt.engine, rt.storage.cases, case_id, "resolve", "Sam")
        await staff_act(rt.engine, rt.storage.cases, case_id, "reply", "Sam", "one more thing")
        await rt.settle()
        assert staff.templates()[-2:] == ["staff_case_updated", "staff_error"]
        assert "resolved, not open" in staff.sent[-1].text
        assert harness.customers.sent[-1].template == "staff_reply"  # nothing more was sent

        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "recovery_question"
        await press(rt, harness.customers, A, "No, not yet")
        customer = await rt.storage.journey.customer(A)
        assert customer is not None and customer.case_id == case_id
        assert staff.templates()[-1] == "staff_case_reopened"

        await staff_act(rt.engine, rt.storage.cases, case_id, "resolve", "Kim")
        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        await press(rt, harness.customers, A, "Yes, all sorted")
        # day 35: the 30-day throttle since the day-3 rating has passed, so a fresh question
        assert harness.customers.templates(A)[-2:] == ["recovery_thanks", "nps_question"]
        view = await rt.storage.cases.view(case_id)
        history = [h.event for h in await rt.storage.journey.history(A, 50)]
    assert view is not None and view["status"] == "resolved" and view["reopened"] == 1
    assert view["resolved_by"] == "Kim"
    for event in ("case_opened", "case_claimed", "case_resolved", "case_reopened"):
        assert event in history


async def test_negative_checkin_and_trigger_words_open_cases(harness: Harness) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
        await press(rt, harness.customers, A, "Not great 😕")
        assert harness.customers.templates(A)[-1] == "escalated"
        await rt.engine.handle(Start(key=B))
        await rt.engine.handle(Text(key=B, text="I want a REFUND now"))
        await rt.settle()
        b = await rt.storage.journey.customer(B)
    assert harness.customers.templates(B)[-1] == "escalated"
    assert b is not None and b.case_id == "test:b#1"
    reasons = [s.text for s in harness.staff.sent if s.template == "staff_case_opened"]
    assert "negative check-in" in reasons[0] and "refund" in reasons[1]


async def test_a_yes_after_recovery_brings_a_survey_after_the_throttle(harness: Harness) -> None:
    async with harness.open() as rt:
        await to_rating(rt, harness, A)  # surveyed on day 3
        await press(rt, harness.customers, A, "2")
        await press(rt, harness.customers, A, "Skip")
        await staff_act(rt.engine, rt.storage.cases, "test:a#1", "resolve", "Sam")
        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        await press(rt, harness.customers, A, "Yes, all sorted")
        harness.clock.advance(timedelta(days=27))  # day 31: still inside the 30-day throttle
        await rt.settle()
        assert harness.customers.templates(A)[-1] == "recovery_thanks"
        harness.clock.advance(timedelta(days=2))  # day 33
        await rt.settle()
    assert harness.customers.templates(A)[-1] == "nps_question"


async def test_csat_variant_and_nps_over_a_period(harness: Harness) -> None:
    harness.settings = load_settings(
        DATABASE_URL=harness.settings.database_url, SURVEY_SCALE="csat"
    )
    async with harness.open() as rt:
        await to_rating(rt, harness, A)
        asked = [s for s in harness.customers.sent if s.buttons][-1]
        assert [label for row in asked.buttons for label, _ in row] == ["1", "2", "3", "4", "5"]
        await press(rt, harness.customers, A, "5")
        assert harness.customers.templates(A)[-1] == "followup_promoter"
        await to_rating(rt, harness, B)
        await press(rt, harness.customers, B, "2")
        assert harness.customers.templates(B)[-1] == "followup_detractor"
        summary = await score_summary(rt.storage.reports, "csat")
        assert (summary.responses, summary.promoters, summary.detractors) == (2, 1, 1)
        assert summary.score == 50.0
        before = await score_summary(rt.storage.reports, "csat", until=START + timedelta(days=3))
        assert before.responses == 0


async def test_nps_is_promoters_minus_detractors(harness: Harness) -> None:
    async with harness.open() as rt:
        for n, score in enumerate((10, 9, 8, 3)):
            key = CustomerKey("test", f"n{n}")
            await to_rating(rt, harness, key)
            await rt.engine.handle(Text(key=key, text=str(score)))
        summary = await score_summary(rt.storage.reports, "nps")
    assert (summary.promoters, summary.passives, summary.detractors) == (2, 1, 1)
    assert summary.score == 25.0
