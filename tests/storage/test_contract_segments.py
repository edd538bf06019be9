"""The segment store's contract on every backend (`conftest.BACKENDS`): each rule field
compiled to SQL selects exactly the customers it says, tags, and segments kept by name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.flows.common import new_customer
from bot.flows.model import (
    BadgeAwarded,
    CustomerKey,
    Profile,
    PurchaseRow,
    Record,
    ReferralJoined,
    ScoreRow,
)
from bot.flows.segments import parse
from bot.flows.stages import Stage
from bot.storage import Storage
from bot.storage.segment_types import Segment
from bot.storage.types import Change
from tests.conftest import START

DAY = timedelta(days=1)
NOW = START + 30 * DAY


def key(n: int) -> CustomerKey:
    return CustomerKey("telegram", str(n))


async def add(store: Storage, n: int, *records: Record, **fields: object) -> None:
    customer = new_customer(key(n), Profile(f"C{n}", "en"), START).evolve(**fields)
    await store.journey.commit(Change(customer=customer, at=START, version=None, records=records))


@pytest.fixture
async def people(store: Storage) -> Storage:
    # 1: promoter who referred nobody, bought twice (40.0) at START, captured 10 days before
    await add(
        store,
        1,
        ScoreRow("nps", 6),
        ScoreRow("nps", 10),
        PurchaseRow("o1", 15.0),
        PurchaseRow("o2", 25.0),
        stage=Stage.CUSTOMER,
        purchases=2,
        source="spring_sale",
        created_at=START - 10 * DAY,
    )
    # 2: promoter who referred someone, German, a badge, a case open
    await add(
        store,
        2,
        ScoreRow("nps", 9),
        BadgeAwarded("First referral"),
        stage=Stage.ADVOCATE,
        referrals_joined=1,
        language="de",
        case_id="telegram:2#1",
        source="spring_sale_2",
    )
    # 3: detractor, referred by 2, stopped, never bought, last wrote 2 days before NOW
    await add(
        store,
        3,
        ReferralJoined("telegram:2"),
        ScoreRow("nps", 3),
        referred_by="telegram:2",
        opted_out=True,
        last_contact_at=NOW - 2 * DAY,
    )
    # 4: never rated, captured
    await add(store, 4, source=None, language=None)
    return store


async def ids(store: Storage, rule: object) -> set[str]:
    parsed = parse(rule)
    members = await store.segments.sample(parsed, NOW, "nps", 100)
    count = await store.segments.count(parsed, NOW, "nps")
    assert count == len(members)
    return {member.id.split(":")[1] for member in members}


CASES: list[tuple[object, set[str]]] = [
    ({"score_group": "promoter"}, {"1", "2"}),
    ({"score_group": "promoter", "referrals_made": 0}, {"1"}),
    ({"score_group": {"in": ["detractor", "passive"]}}, {"3"}),
    ({"score_group": {"ne": "promoter"}}, {"3", "4"}),
    ({"last_score": {"gte": 9}}, {"1", "2"}),
    ({"last_score": {"exists": False}}, {"4"}),
    ({"stage": {"in": ["customer", "advocate"]}}, {"1", "2"}),
    ({"stage": "captured"}, {"3", "4"}),
    ({"source": {"starts_with": "spring_sale"}}, {"1", "2"}),
    ({"source": "spring_sale"}, {"1"}),
    ({"source": {"exists": False}}, {"3", "4"}),
    ({"purchases": {"gte": 1}}, {"1"}),
    ({"revenue": {"gt": 39.5}}, {"1"}),
    ({"revenue": 0}, {"2", "3", "4"}),
    ({"language": "de"}, {"2"}),
    ({"language": {"ne": "de"}}, {"1", "3", "4"}),
    ({"badge": "First referral"}, {"2"}),
    ({"badge": {"has_none": ["First referral"]}}, {"1", "3", "4"}),
    ({"referred_by": "telegram:2"}, {"3"}),
    ({"case_open": True}, {"2"}),
    ({"stopped": True}, {"3"}),
    ({"stopped": False, "case_open": False}, {"1", "4"}),
    ({"days_since_contact": {"lte": 3}}, {"3"}),
    ({"days_since_capture": {"gte": 35}}, {"1"}),
    ({"days_since_capture": 30}, {"2", "3", "4"}),
    ({"days_since_purchase": {"gte": 30}}, {"1"}),
    ({"days_since_purchase": {"lt": 30}}, set()),
    ({"any": [{"language": "de"}, {"stopped": True}]}, {"2", "3"}),
    ({"not": {"any": [{"language": "de"}, {"stopped": True}]}}, {"1", "4"}),
]


async def test_each_field_selects_what_it_says(people: Storage) -> None:
    # one database for every case: a fresh schema per case would cost seconds each
    wrong = {
        str(rule): (found, expected)
        for rule, expected in CASES
        if (found := await ids(people, rule)) != expected
    }
    assert wrong == {}


async def test_tags_are_put_listed_selected_and_removed(people: Storage) -> None:
    store = people
    assert await store.segments.tag(key(1), "vip", "sam", NOW)
    assert not await store.segments.tag(key(1), "vip", "kim", NOW)  # already there
    assert not await store.segments.tag(key(99), "vip", "sam", NOW)  # no such customer
    assert await store.segments.tag(key(4), "wholesale", "sam", NOW)
    assert [(t.tag, t.by, t.at) for t in await store.segments.tags(key(1))] == [("vip", "sam", NOW)]
    assert await ids(store, {"tag": "vip"}) == {"1"}
    assert await ids(store, {"tag": {"has_any": ["vip", "wholesale"]}}) == {"1", "4"}
    assert await store.segments.untag(key(1), "vip")
    assert not await store.segments.untag(key(1), "vip")
    assert await ids(store, {"tag": "vip"}) == set()


async def test_a_new_rating_moves_the_customer_between_groups(people: Storage) -> None:
    store = people
    loaded = await store.journey.load(key(3))
    assert loaded.customer is not None
    await store.journey.commit(
        Change(
            customer=loaded.customer, at=NOW, version=loaded.version, records=(ScoreRow("nps", 10),)
        )
    )
    assert await ids(store, {"score_group": "promoter"}) == {"1", "2", "3"}
    assert await ids(store, {"score_group": "promoter"}) == await ids(
        store, {"last_score": {"gte": 9}}
    )
    # ratings on another scale are not the last NPS score
    await store.journey.commit(
        Change(
            customer=(await store.journey.load(key(3))).customer,  # type: ignore[arg-type]
            at=NOW,
            version=(await store.journey.load(key(3))).version,
            records=(ScoreRow("csat", 5),),
        )
    )
    assert await ids(store, {"score_group": "promoter"}) == {"1", "2"}


async def test_erased_customers_are_in_no_segment(people: Storage) -> None:
    store = people
    await store.segments.tag(key(1), "vip", "sam", NOW)
    assert await store.records.erase(key(1), "sam", NOW) is not None
    assert await ids(store, {"score_group": "promoter"}) == {"2"}
    assert await store.segments.count(parse({"tag": "vip"}), NOW, "nps") == 0


async def test_segments_are_kept_by_name_replaced_and_deleted(store: Storage) -> None:
    first = Segment("promoters", '{"score_group": "promoter"}', "happy people", "sam", START, START)
    assert await store.segments.save(first)
    later = Segment("promoters", '{"score_group": "passive"}', "", "kim", NOW, NOW)
    assert not await store.segments.save(later)
    stored = await store.segments.get("promoters")
    assert stored == Segment("promoters", '{"score_group": "passive"}', "", "kim", START, NOW)
    assert await store.segments.save(Segment("alpha", '{"stage": "captured"}', "", "sam", NOW, NOW))
    assert [s.name for s in await store.segments.all()] == ["alpha", "promoters"]
    assert await store.segments.delete("alpha")
    assert not await store.segments.delete("alpha")
    assert await store.segments.get("alpha") is None
