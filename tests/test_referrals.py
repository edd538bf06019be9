"""Referral links, attribution, chains and recognition on a real database with a fake clock."""

from __future__ import annotations

from dataclasses import astuple
from datetime import UTC, datetime, timedelta

from bot.api import record_purchase
from bot.app import Runtime
from bot.flows.model import ButtonPress, Command, CustomerKey, Profile, Start, Text
from bot.flows.referral import code_for
from bot.flows.stages import Stage
from tests.conftest import Harness, sql


def key(name: str) -> CustomerKey:
    return CustomerKey("test", name)


async def start(rt: Runtime, name: str, payload: str | None = None) -> None:
    await rt.engine.handle(Start(key=key(name), payload=payload, profile=Profile(name.title())))


async def code(rt: Runtime, name: str) -> str:
    customer = await rt.storage.journey.customer(key(name))
    assert customer is not None and customer.referral_code is not None
    return customer.referral_code


async def refusals(rt: Runtime, name: str) -> list[str]:
    return [
        h.detail or ""
        for h in await rt.storage.journey.history(key(name), 50)
        if h.event == "referral_refused"
    ]


def test_codes_are_stable_short_and_not_the_id() -> None:
    first = code_for("telegram:42", b"secret")
    assert first == code_for("telegram:42", b"secret")
    assert first != code_for("telegram:43", b"secret") != code_for("telegram:42", b"other")
    assert first.startswith("ref-") and len(first) == 16 and len(first) <= 64
    assert "42" not in first[4:]


async def test_a_friend_is_attributed_once_and_the_referrer_told(harness: Harness) -> None:
    async with harness.open() as rt:
        await start(rt, "ann")
        await rt.engine.handle(Text(key=key("ann"), text="hi"))  # engaged
        await start(rt, "bob", await code(rt, "ann"))
        await rt.settle()
        bob = await rt.storage.journey.customer(key("bob"))
        ann = await rt.storage.journey.customer(key("ann"))
        assert bob is not None and bob.referred_by == "test:ann" and bob.source == "referral"
        assert ann is not None and ann.referrals_joined == 1 and ann.stage is Stage.ADVOCATE
        assert harness.customers.templates(key("ann"))[-1] == "referral_joined"
        assert "Bob" in harness.customers.sent[-1].text

        await record_purchase(rt.engine, rt.storage.journey, key("bob"), "B-1")
        await record_purchase(
            rt.engine, rt.storage.journey, key("bob"), "B-2"
        )  # not a second conversion
        await rt.settle()
        ann = await rt.storage.journey.customer(key("ann"))
    assert ann is not None and ann.referrals_converted == 1
    assert harness.customers.templates(key("ann"))[-2:] == ["referral_converted", "badge_awarded"]
    assert ann.badges == ("First referral",)


async def test_attribution_refusals_are_logged_with_the_reason(harness: Harness) -> None:
    async with harness.open() as rt:
        await start(rt, "ann")
        ann_code = await code(rt, "ann")
        await start(rt, "ann", ann_code)  # self-referral: Ann already exists
        await start(rt, "cat")
        await start(rt, "cat", ann_code)  # an existing customer
        await start(rt, "dan", "ref-AAAAAAAAAAAA")  # well-formed but nobody's
        await start(rt, "eve", "ref-<script>")  # malformed
        await start(rt, "fay", ann_code)
        await start(rt, "fay", await code(rt, "cat"))  # a second attribution
        await rt.settle()
        assert await refusals(rt, "ann") == [f"already a customer: {ann_code}"]
        assert await refusals(rt, "cat") == [f"already a customer: {ann_code}"]
        assert await refusals(rt, "dan") == ["unknown code: ref-AAAAAAAAAAAA"]
        assert await refusals(rt, "eve") == ["malformed code: ref-<script>"]
        assert len(await refusals(rt, "fay")) == 1
        ann = await rt.storage.journey.customer(key("ann"))
        dan = await rt.storage.journey.customer(key("dan"))
    assert ann is not None and ann.referrals_joined == 1  # Fay only
    assert dan is not None and dan.referred_by is None and dan.source is None


async def test_jacks_chain_counts_155_people_over_three_generations(harness: Harness) -> None:
    async with harness.open() as rt:
        await start(rt, "jack")
        parents = ["jack"]
        for _generation in (1, 2, 3):
            children = []
            for parent in parents:
                parent_code = await code(rt, parent)
                for n in range(5):
                    child = f"{parent}.{n}"
                    await start(rt, child, parent_code)
                    children.append(child)
            parents = children
        for n in range(5):  # the first generation all buy
            await record_purchase(rt.engine, rt.storage.journey, key(f"jack.{n}"), f"J-{n}")
        await rt.settle()
        generations = [astuple(g) for g in await rt.storage.reports.generations(key("jack"))]
        jack = await rt.storage.journey.customer(key("jack"))
        middle = [astuple(g) for g in await rt.storage.reports.generations(key("jack.0"))]
    assert generations == [(1, 5, 5), (2, 25, 0), (3, 125, 0)]
    assert sum(count for _, count, _ in generations) == 155
    assert middle == [(1, 5, 0), (2, 25, 0)]
    assert jack is not None and jack.referrals_converted == 5 and jack.stage is Stage.AMBASSADOR
    assert jack.badges == ("First referral", "Brand ambassador")


async def test_awards_are_announced_once_across_a_restart(harness: Harness) -> None:
    async with harness.open() as rt:
        await start(rt, "ann")
        await rt.engine.handle(Text(key=key("ann"), text="hi"))
        for n in range(3):
            await start(rt, f"f{n}", await code(rt, "ann"))
        await rt.settle()
        for n in range(3):
            await record_purchase(rt.engine, rt.storage.journey, key(f"f{n}"), f"F-{n}")
        # the award jobs are due; run them, but die before anything is delivered
        await rt.scheduler.tick()
    async with harness.open() as rt:
        await rt.settle()
        await start(rt, "f3", await code(rt, "ann"))
        await rt.settle()
        await record_purchase(rt.engine, rt.storage.journey, key("f3"), "F-3")
        await rt.settle()
        badges = sql(rt.storage, "SELECT badge FROM badges WHERE customer_id = 'test:ann'")
        ann = await rt.storage.journey.customer(key("ann"))
    sent = harness.customers.templates(key("ann"))
    assert sent.count("badge_ambassador") == 1 and sent.count("badge_awarded") == 1
    assert sorted(badges) == [("Brand ambassador",), ("First referral",)]
    assert ann is not None and ann.stage is Stage.AMBASSADOR and ann.referrals_converted == 4


async def press(rt: Runtime, h: Harness, name: str, label: str) -> None:
    asked = [s for s in h.customers.sent if s.key == key(name) and s.buttons][-1]
    (data,) = [d for row in asked.buttons for text, d in row if text == label]
    await rt.engine.handle(ButtonPress(key=key(name), data=data))
    await rt.settle()


async def test_two_promoter_scores_in_a_row_make_a_loyal_fan(harness: Harness) -> None:
    async with harness.open() as rt:
        await start(rt, "ann")
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
        await press(rt, harness, "ann", "Great 😀")
        await press(rt, harness, "ann", "10")
        await rt.engine.handle(Text(key=key("ann"), text="the people"))
        harness.clock.advance(timedelta(days=31))  # past the survey throttle
        await record_purchase(rt.engine, rt.storage.journey, key("ann"), "A-1")
        harness.clock.advance(timedelta(days=3))
        await rt.settle()
        await press(rt, harness, "ann", "Great 😀")
        await press(rt, harness, "ann", "9")
        ann = await rt.storage.journey.customer(key("ann"))
    assert ann is not None and ann.promoter_streak == 2
    assert ann.badges == ("Loyal fan",)
    assert harness.customers.templates(key("ann"))[-1] == "badge_awarded"


async def test_leaderboard_shows_only_first_names_of_those_who_opted_in(harness: Harness) -> None:
    async with harness.open() as rt:
        for referrer, friends in (("ann", 2), ("dan", 3)):
            await start(rt, referrer)
            for n in range(friends):
                await start(rt, f"{referrer}{n}", await code(rt, referrer))
                await record_purchase(
                    rt.engine, rt.storage.journey, key(f"{referrer}{n}"), f"{referrer}{n}"
                )
        await rt.settle()
        await rt.engine.handle(Command(key=key("ann"), name="leaderboard", args=("join",)))
        await rt.engine.handle(Command(key=key("dan"), name="leaderboard"))
        await rt.settle()
        board = harness.customers.sent[-1]
        assert board.template == "leaderboard"
        assert "1. Ann — 2 friends became customers (2 joined)" in board.text
        assert "Dan" not in board.text  # more referrals, but he did not opt in
        assert "/leaderboard join" in board.text
        await rt.engine.handle(Command(key=key("ann"), name="leaderboard", args=("leave",)))
        await rt.engine.handle(Command(key=key("dan"), name="leaderboard"))
        await rt.settle()
    assert "Nobody on the board yet" in harness.customers.sent[-1].text


async def test_top_referrer_of_the_month(harness: Harness) -> None:
    harness.clock = type(harness.clock)(datetime(2026, 10, 20, 9, tzinfo=UTC))
    async with harness.open() as rt:
        await start(rt, "ann")
        await start(rt, "dan")
        for referrer, friends in (("ann", 1), ("dan", 2)):
            for n in range(friends):
                await start(rt, f"{referrer}{n}", await code(rt, referrer))
                await record_purchase(
                    rt.engine, rt.storage.journey, key(f"{referrer}{n}"), f"{referrer}{n}"
                )
        await rt.settle()
        harness.clock.advance(timedelta(days=12))  # November 1st
        await rt.settle()
        await rt.settle()
        dan = await rt.storage.journey.customer(key("dan"))
        ann = await rt.storage.journey.customer(key("ann"))
    assert dan is not None and "Top referrer of October 2026" in dan.badges
    assert ann is not None and "Top referrer of October 2026" not in ann.badges
    assert harness.customers.templates(key("dan")).count("badge_top_referrer") == 1
