"""Campaigns through the whole runtime on a real database with a fake clock: planned for a
segment, delivered by the scheduler and the outbox, suppressed by /stop and an open case,
paused, resumed and cancelled, and reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import campaign_service
from bot.api import record_purchase
from bot.app import Runtime
from bot.config import load_settings
from bot.errors import InvalidInput
from bot.flows.model import Command, CustomerKey, Profile, Start, Text
from bot.messages.catalog import Catalog
from bot.storage.segment_types import Segment
from tests.conftest import START, Harness, sql

DAY = timedelta(days=1)
CUSTOMERS = [CustomerKey("test", str(n)) for n in range(1, 7)]


@pytest.fixture
def harness_utc(harness: Harness) -> Harness:
    harness.settings = load_settings(
        DATABASE_URL=harness.settings.database_url, QUIET_HOURS="21:00-09:00", CONTACT_BUDGET="3/7d"
    )
    return harness


async def _setup(
    rt: Runtime, segment_rule: str = '{"stage": {"in": ["captured", "engaged"]}}'
) -> None:
    for key in CUSTOMERS:
        await rt.engine.handle(Start(key=key, profile=Profile(f"<b>{key.external_id}</b>", "en")))
    await rt.settle()
    await rt.storage.segments.save(Segment("leads", segment_rule, "", "sam", START, START))


async def _campaign(rt: Runtime, name: str, **options: object) -> str:
    catalog = Catalog.load(rt.settings.templates_dir / "catalog.toml")
    request = campaign_service.CampaignRequest(
        name=name,
        segment="leads",
        template="campaign_message",
        **options,  # type: ignore[arg-type]
    )
    await campaign_service.create(rt.storage, catalog, request, rt.clock.now())
    return await campaign_service.start(rt.storage, name, "nps", rt.clock.now())


async def test_a_campaign_reaches_its_segment_and_spares_the_stopped_and_complaining(
    harness_utc: Harness,
) -> None:
    h = harness_utc
    async with h.open() as rt:
        await _setup(rt)
        stopped, complaining, bought = CUSTOMERS[0], CUSTOMERS[1], CUSTOMERS[2]
        await rt.engine.handle(Command(key=stopped, name="stop"))
        await rt.engine.handle(Command(key=complaining, name="human"))
        await rt.engine.handle(Text(key=complaining, text="It arrived broken"))
        await record_purchase(rt.engine, rt.storage.journey, bought, "o-1", 10.0)
        await rt.settle()
        h.clock.advance(timedelta(hours=3))  # 12:00 UTC: no quiet hours
        said = await _campaign(rt, "spring")
        assert said == "campaign spring started: 5 customers, first message now"
        await rt.settle()
        got = [s.key for s in h.customers.sent if s.template == "campaign_message"]
        assert sorted(k.external_id for k in got) == ["4", "5", "6"]
        text = next(s.text for s in h.customers.sent if s.template == "campaign_message")
        assert text.startswith("Hi <b>4</b>! Thanks")  # plain text here: shown as typed

        # a reply within the window counts for the campaign
        h.clock.advance(timedelta(hours=1))
        await rt.engine.handle(Text(key=CUSTOMERS[3], text="Do you ship to Austria?"))
        await rt.settle()
        campaign = await rt.storage.campaigns.get("spring")
        assert campaign is not None
        report = await rt.storage.campaigns.report(campaign.id, 7 * DAY)
        assert (report.targeted, report.sent, report.replies) == (5, 3, 1)
        assert report.skipped == {"case_open": 1, "stopped": 1}
        assert report.planned == 0 and report.deferred == 0


async def test_quiet_hours_defer_and_the_budget_skips(harness_utc: Harness) -> None:
    h = harness_utc
    async with h.open() as rt:
        await _setup(rt)
        h.clock.advance(timedelta(hours=13))  # 22:00 UTC: quiet hours
        await _campaign(rt, "late")
        await rt.settle()
        assert "campaign_message" not in h.customers.templates()
        h.clock.advance(timedelta(hours=11))  # 09:00 the next morning
        await rt.settle()
        assert h.customers.templates().count("campaign_message") == 6
        # two more campaigns the same week: the third unprompted message is the budget's last
        await _campaign(rt, "second")
        await rt.settle()
        await _campaign(rt, "third")
        await rt.settle()
        late = await rt.storage.campaigns.get("late")
        third = await rt.storage.campaigns.get("third")
        assert late is not None and third is not None
        first_report = await rt.storage.campaigns.report(late.id, 7 * DAY)
        assert (first_report.sent, first_report.deferred) == (6, 6)
        third_report = await rt.storage.campaigns.report(third.id, 7 * DAY)
        # the welcome check-in is due later; three campaign messages fill the budget
        assert (third_report.sent, third_report.skipped) == (6, {})
        await _campaign(rt, "fourth")
        await rt.settle()
        fourth = await rt.storage.campaigns.get("fourth")
        assert fourth is not None
        fourth_report = await rt.storage.campaigns.report(fourth.id, 7 * DAY)
        assert (fourth_report.sent, fourth_report.skipped) == (0, {"budget": 6})
        # the welcome check-in (due two days after capture) waits for the budget too
        h.clock.advance(2 * DAY)
        await rt.settle()
        assert "checkin" not in h.customers.templates()
        logged = sql(rt.storage, "SELECT count(*) FROM journey WHERE event = 'checkin_deferred'")
        assert logged == [(6,)]


async def test_a_sequence_pauses_resumes_and_a_buyer_leaves_it(harness_utc: Harness) -> None:
    h = harness_utc
    async with h.open() as rt:
        await _setup(rt, '{"purchases": 0}')
        h.clock.advance(timedelta(hours=3))
        await _campaign(rt, "nurture", steps=(0, 7, 21), stop_on_purchase=True)
        await rt.settle()
        assert h.customers.templates().count("campaign_message") == 6
        h.clock.advance(timedelta(hours=1))
        await record_purchase(rt.engine, rt.storage.journey, CUSTOMERS[0], "o-1", 10.0)
        assert (await campaign_service.pause(rt.storage, "nurture", rt.clock.now())).endswith(
            "paused (start resumes it)"
        )
        h.clock.advance(8 * DAY)
        await rt.settle()
        assert h.customers.templates().count("campaign_message") == 6  # held while paused
        assert await campaign_service.start(rt.storage, "nurture", "nps", rt.clock.now()) == (
            "campaign nurture resumed"
        )
        await rt.settle()
        second = [s.key.external_id for s in h.customers.sent if s.template == "campaign_message"]
        assert sorted(second[6:]) == ["2", "3", "4", "5", "6"]  # the buyer left
        await campaign_service.cancel(rt.storage, "nurture", rt.clock.now())
        h.clock.advance(30 * DAY)
        await rt.settle()
        assert h.customers.templates().count("campaign_message") == 11
        campaign = await rt.storage.campaigns.get("nurture")
        assert campaign is not None
        report = await rt.storage.campaigns.report(campaign.id, 7 * DAY)
        assert (report.sent, report.left, report.purchases) == (11, 1, 1)
        assert report.skipped == {"cancelled": 5}
        with pytest.raises(InvalidInput, match="cancelled already"):
            await campaign_service.cancel(rt.storage, "nurture", rt.clock.now())
        with pytest.raises(InvalidInput, match="only a draft or a paused one starts"):
            await campaign_service.start(rt.storage, "nurture", "nps", rt.clock.now())


async def test_campaigns_refuse_what_cannot_work(harness_utc: Harness) -> None:
    async with harness_utc.open() as rt:
        await _setup(rt)
        catalog = Catalog.load(rt.settings.templates_dir / "catalog.toml")
        now = rt.clock.now()

        async def refused(match: str, **fields: object) -> None:
            base: dict[str, object] = {
                "name": "x",
                "segment": "leads",
                "template": "campaign_message",
            }
            request = campaign_service.CampaignRequest(**{**base, **fields})  # type: ignore[arg-type]
            with pytest.raises(InvalidInput, match=match):
                await campaign_service.create(rt.storage, catalog, request, now)

        await refused("no segment 'nobody'", segment="nobody")
        await refused("no message named 'nope'", template="nope")
        await refused("not a message to customers", template="staff_case_card")
        await refused("needs friend", template="referral_joined")
        await refused("in the past", start_at=now - DAY)
        await _campaign(rt, "x")
        await refused("exists already")
