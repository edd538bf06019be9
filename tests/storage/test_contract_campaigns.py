"""The campaign store's contract on every backend (`conftest.BACKENDS`): a draft planned for
its segment in one go, paused, resumed and cancelled with its jobs, what became of each
message written by journey commits, and the report read back."""

from __future__ import annotations

from datetime import timedelta

from bot.flows.common import new_customer
from bot.flows.model import (
    CampaignStep,
    CustomerKey,
    JobKind,
    Profile,
    PurchaseRow,
    Record,
    ReferralJoined,
)
from bot.flows.segments import parse
from bot.storage import Storage
from bot.storage.campaign_types import NewCampaign
from bot.storage.types import Change
from tests.conftest import START

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def key(n: int) -> CustomerKey:
    return CustomerKey("telegram", str(n))


async def commit(store: Storage, n: int, *records: Record, at: timedelta = timedelta(0)) -> None:
    loaded = await store.journey.load(key(n))
    customer = loaded.customer or new_customer(key(n), Profile(f"C{n}", "en"), START)
    change = Change(customer=customer, at=START + at, version=loaded.version, records=records)
    await store.journey.commit(change)


def draft(name: str = "spring") -> NewCampaign:
    return NewCampaign(name, "all", "campaign_message", (0, 7), True, None, "sam", START)


async def campaign_jobs(store: Storage) -> list[tuple[str, str]]:
    pending = await store.jobs.pending(0, 100)
    return sorted((j.key.id, j.subject) for j in pending if j.kind == JobKind.CAMPAIGN)


async def test_a_draft_is_planned_once_for_its_segment(store: Storage) -> None:
    for n in range(1, 6):
        await commit(store, n)
    created = await store.campaigns.create(draft())
    assert created is not None and created.status == "draft" and created.steps == (0, 7)
    assert await store.campaigns.create(draft()) is None  # the name is taken
    rule = parse({"stage": "captured"})
    assert await store.campaigns.plan(created.id, rule, "nps", START + HOUR, START) == 5
    assert await store.campaigns.plan(created.id, rule, "nps", START + HOUR, START) is None
    subject = f"campaign:{created.id}"
    assert await campaign_jobs(store) == [(key(n).id, subject) for n in range(1, 6)]
    due = await store.jobs.claim(START + HOUR, 10, timedelta(minutes=1))
    assert {job.payload["step"] for job in due} == {0}
    assert {job.payload["campaign"] for job in due} == {created.id}
    assert {job.payload["start"] for job in due} == {(START + HOUR).timestamp()}
    info = await store.campaigns.info(created.id)
    assert info is not None and info.status == "running" and info.stop_on_purchase
    report = await store.campaigns.report(created.id, 7 * DAY)
    assert (report.targeted, report.planned, report.sent) == (5, 5, 0)


async def test_pause_resume_and_cancel_move_its_jobs(store: Storage) -> None:
    for n in range(1, 4):
        await commit(store, n)
    created = await store.campaigns.create(draft())
    assert created is not None
    await store.campaigns.plan(created.id, parse({"stopped": False}), "nps", START, START)
    assert len(await campaign_jobs(store)) == 3
    assert await store.campaigns.set_status(created.id, "paused", START)
    assert not await store.campaigns.set_status(created.id, "paused", START)
    assert await campaign_jobs(store) == []
    assert await store.campaigns.set_status(created.id, "running", START)
    assert len(await campaign_jobs(store)) == 3
    assert await store.campaigns.set_status(created.id, "cancelled", START + HOUR)
    assert not await store.campaigns.set_status(created.id, "running", START + HOUR)
    assert await campaign_jobs(store) == []
    report = await store.campaigns.report(created.id, 7 * DAY)
    assert report.skipped == {"cancelled": 3} and report.planned == 0
    assert [c.status for c in await store.campaigns.all()] == ["cancelled"]


async def test_outcomes_are_recorded_and_reported_within_the_window(store: Storage) -> None:
    for n in range(1, 6):
        await commit(store, n)
    created = await store.campaigns.create(draft())
    assert created is not None
    await store.campaigns.plan(created.id, parse({"stopped": False}), "nps", START, START)
    cid = created.id
    await commit(store, 1, CampaignStep(cid, 0, "sent"), CampaignStep(cid, 1, "planned"))
    await commit(store, 2, CampaignStep(cid, 0, "deferred", "quiet_hours"))
    await commit(store, 2, CampaignStep(cid, 0, "sent"), at=10 * HOUR)
    await commit(store, 3, CampaignStep(cid, 0, "skipped", "budget"))
    await commit(store, 4, CampaignStep(cid, 0, "skipped", "stopped"))
    await commit(store, 5, CampaignStep(cid, 0, "sent"))
    # 1 buys within the window; 2 refers a friend within it; 5 buys after it
    await commit(store, 1, PurchaseRow("o-1", 20.0), at=2 * DAY)
    await commit(store, 6, ReferralJoined(key(2).id), at=3 * DAY)
    await commit(store, 5, PurchaseRow("o-5", 20.0), at=9 * DAY)
    report = await store.campaigns.report(cid, 7 * DAY)
    assert (report.targeted, report.sent, report.deferred, report.planned) == (5, 3, 1, 1)
    assert report.skipped == {"budget": 1, "stopped": 1}
    assert (report.purchases, report.referrals) == (1, 1)
    longer = await store.campaigns.report(cid, 10 * DAY)
    assert longer.purchases == 2

    # erasing a customer keeps their anonymous part in the figures
    assert await store.records.erase(key(5), "sam", START + 10 * DAY) is not None
    after = await store.campaigns.report(cid, 10 * DAY)
    assert (after.targeted, after.sent, after.purchases) == (5, 3, 2)
