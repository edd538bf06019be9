"""The customer-record store (`RecordStore`) on every backend: filters, find, the view with
its referral tree, export, and erasure around a tombstone."""

from __future__ import annotations

from datetime import timedelta

from bot.flows.model import (
    CaseOpened,
    JobKind,
    Line,
    LogEntry,
    PurchaseRow,
    ReferralConverted,
    ReferralJoined,
    ScheduleJob,
    ScoreComment,
    ScoreRow,
)
from bot.flows.stages import Stage
from bot.storage import Storage
from bot.storage.types import CustomerFilter
from tests.conftest import START
from tests.storage.test_contract import change, create, fresh, key, message


async def _rate(store: Storage, name: str, score: int, comment: str | None, days: int = 0) -> None:
    customer = await store.journey.customer(key(name))
    assert customer is not None
    loaded = await store.journey.load(key(name))
    at = START + timedelta(days=days)
    records: tuple[object, ...] = (ScoreRow("nps", score),)
    if comment:
        records += (ScoreComment(comment),)
    await store.journey.commit(
        change(customer, loaded.version, at=at, records=records)  # type: ignore[arg-type]
    )


async def _tree(store: Storage) -> None:
    """jack brings 2; each of them brings 2; one of those brings 1 (2 + 4 + 1)."""
    await create(store, "jack")
    parents = ["jack"]
    for generation, width in ((1, 2), (2, 2), (3, 1)):
        children = []
        for parent in parents:
            for n in range(width):
                name = f"g{generation}{parent[-2:]}{n}"
                person = fresh(name, referred_by=key(parent).id, source="ref")
                await store.journey.commit(
                    change(person, None, records=(ReferralJoined(key(parent).id),))
                )
                children.append(name)
        parents = children[:1] if generation == 2 else children


async def test_lists_filter_by_stage_source_score_text_case_and_referrer(store: Storage) -> None:
    await create(store, "ann", stage=Stage.CUSTOMER, source="spring", purchases=2)
    await create(
        store,
        "bob",
        source="autumn",
        case_id="test:bob#1",
        last_contact_at=START + timedelta(days=1),
    )
    cy = fresh("cy", referred_by=key("ann").id)
    await store.journey.commit(change(cy, None, records=(ReferralJoined(key("ann").id),)))
    await _rate(store, "ann", 10, "Lovely")
    await _rate(store, "bob", 9, None)
    await _rate(store, "bob", 3, "It arrived BROKEN, 100% useless_", days=5)
    await _rate(store, "cy", 7, None)
    ann = await store.journey.customer(key("ann"))
    assert ann is not None
    version = (await store.journey.load(key("ann"))).version
    await store.journey.commit(
        change(ann, version, records=(PurchaseRow("o1", 20.5), PurchaseRow("o2", None)))
    )

    async def ids(**where: object) -> list[str]:
        rows = await store.records.customers(CustomerFilter(**where), 100)  # type: ignore[arg-type]
        return [row.id for row in rows]

    everyone = [key(n).id for n in ("ann", "bob", "cy")]
    assert await ids() == everyone
    assert await ids(stage="customer") == [key("ann").id]
    assert await ids(source="autumn") == [key("bob").id]
    assert await ids(score=("nps", 0, 6)) == [key("bob").id]  # the latest score counts
    assert await ids(score=("nps", 9, 10)) == [key("ann").id]
    assert await ids(score=("nps", 0, 6), scored_since=START + timedelta(days=6)) == []
    assert await ids(text="broken") == [key("bob").id]
    assert await ids(text="100%") == [key("bob").id]
    assert await ids(text="0%") == [key("bob").id]
    assert await ids(text="lo_e") == []  # wildcards are literal ("Lovely" has no "lo_e")
    assert await ids(text="less_") == [key("bob").id]
    assert await ids(has_open_case=True) == [key("bob").id]
    assert await ids(referred_by=key("ann").id) == [key("cy").id]
    assert await ids(active_since=START + timedelta(hours=1)) == [key("bob").id]
    assert await ids(text="'; DROP TABLE customers; --") == []
    assert len(await ids()) == 3

    rows = {r.id: r for r in await store.records.customers(CustomerFilter(), 100)}
    assert rows[key("ann").id].revenue == 20.5 and rows[key("ann").id].purchases == 2
    assert rows[key("bob").id].last_score == 3 and rows[key("bob").id].revenue is None
    assert rows[key("ann").id].generations == (1, 0, 0)


async def test_find_by_id_username_or_name(store: Storage) -> None:
    await create(store, "ann", username="ann_the_great")
    await create(store, "annabel")
    await create(store, "bob")
    assert [r.id for r in await store.records.find("@ANN_the_great", 10)] == [key("ann").id]
    assert [r.id for r in await store.records.find("test:bob", 10)] == [key("bob").id]
    assert {r.id for r in await store.records.find("ann", 10)} == {
        key("ann").id,
        key("annabel").id,
    }
    assert await store.records.find("", 10) == []


async def test_the_view_shows_scores_with_comments_cases_and_the_tree(store: Storage) -> None:
    await _tree(store)
    await _rate(store, "jack", 4, "Slow delivery")
    jack = await store.journey.customer(key("jack"))
    assert jack is not None
    version = (await store.journey.load(key("jack"))).version
    opened = (
        CaseOpened("test:jack#1", "nps score 4", "Slow delivery"),
        CaseOpened("test:jack~1", "question", "Do you ship?", kind="conversation"),
        Line("customer", "Do you ship?", "Jack", "test:jack~1"),
    )
    await store.journey.commit(change(jack, version, records=opened))
    view = await store.records.view(key("jack"), people=3)
    assert view is not None
    assert view["name"] == "Jack"
    assert view["scores"] == [
        {"scale": "nps", "score": 4, "comment": "Slow delivery", "at": view["scores"][0]["at"]}  # type: ignore[index]
    ]
    kinds = sorted((c["kind"], c["id"]) for c in view["cases"])  # type: ignore[union-attr, index]
    assert kinds == [("case", "test:jack#1"), ("conversation", "test:jack~1")]
    tree = view["tree"]
    assert [(g["generation"], g["joined"]) for g in tree] == [(1, 2), (2, 4), (3, 1)]  # type: ignore[index, union-attr]
    second = tree[1]  # type: ignore[index]
    assert len(second["people"]) == 3 and second["more"] == 1  # type: ignore[index, arg-type]
    assert await store.records.view(key("nobody")) is None


async def test_export_holds_every_table_about_the_customer(store: Storage) -> None:
    ann = await create(store, "ann")
    await store.journey.commit(
        change(
            ann,
            1,
            records=(Line("customer", "Where is my parcel?", "Ann"),),
            log=(LogEntry("asked", Stage.CAPTURED, Stage.CAPTURED, "x"),),
            outbox=(message("fallback"),),
        )
    )
    await _rate(store, "ann", 8, "fine")
    data = await store.records.export(key("ann"))
    assert data is not None
    assert data["customer"]["first_name"] == "Ann"  # type: ignore[index, call-overload]
    assert data["messages"][0]["text"] == "Where is my parcel?"  # type: ignore[index, call-overload]
    assert data["scores"][0]["comment"] == "fine"  # type: ignore[index, call-overload]
    assert data["journey"] and data["sent"]
    assert await store.records.export(key("nobody")) is None


async def test_erasure_leaves_a_tombstone_and_other_figures_unchanged(store: Storage) -> None:
    await _tree(store)
    victim = "g1ck0"  # a first-generation friend of jack, with friends of their own
    person = await store.journey.customer(key(victim))
    assert person is not None
    version = (await store.journey.load(key(victim))).version
    await store.journey.commit(
        change(
            person.evolve(case_id=f"{key(victim).id}#1"),
            version,
            records=(
                CaseOpened(f"{key(victim).id}#1", "trigger", "my secret complaint"),
                Line("customer", "my secret complaint", person.first_name),
                ScoreRow("nps", 2),
                ScoreComment("secret comment"),
                PurchaseRow("order-77", 12.0),
                ReferralConverted(),
            ),
            outbox=(message("staff_case_opened", "staff", case_id=f"{key(victim).id}#1"),),
            schedule=(ScheduleJob(JobKind.CHECKIN, START + timedelta(days=1)),),
        )
    )
    await store.cases.save_thread(f"{key(victim).id}#1", "C1", "1.1")
    await store.records.remember_post(key(victim), "C1", "1.1", START)
    await store.records.remember_post(key(victim), "C1", "1.2", START)
    jack = await store.journey.customer(key("jack"))
    assert jack is not None
    await store.journey.commit(
        change(
            jack,
            (await store.journey.load(key("jack"))).version,
            outbox=(message("referral_joined", friend=person.first_name),),
            log=(LogEntry("friend_joined", Stage.CAPTURED, Stage.CAPTURED, person.first_name),),
        )
    )

    before = await store.reports.generations(key("jack"))
    assert before[0].converted == 1
    tombstone = await store.records.erase(key(victim), "Ada Operator", START)
    assert tombstone is not None and tombstone.startswith("erased:")
    assert await store.records.erase(key(victim), "Ada Operator", START) is None
    assert await store.journey.customer(key(victim)) is None
    assert await store.records.view(key(victim)) is None
    assert await store.reports.generations(key("jack")) == before
    # their friends still count them as their referrer
    friends = await store.records.customers(CustomerFilter(referred_by=tombstone), 10)
    assert len(friends) == 2
    listed = [r.id for r in await store.records.customers(CustomerFilter(), 100)]
    assert key(victim).id not in listed and tombstone not in listed
    assert [e[:2] for e in await store.records.erasures()] == [(tombstone, "Ada Operator")]
    histogram = await store.reports.score_histogram("nps")
    assert histogram == {2: 1}
    # the bot's staff-desk posts about them are queued to be edited
    rows = await store.outbox.claim(START + timedelta(days=1), 50, timedelta(minutes=1))
    edits = [r for r in rows if r.template == "staff_erased"]
    assert [(r.context["channel"], r.context["ts"]) for r in edits] == [("C1", "1.1")]
    assert not any(r.key == key(victim) for r in rows)
    jack_rows = [r for r in rows if r.key == key("jack")]
    assert all(person.first_name not in str(r.context) for r in jack_rows)
    history = await store.journey.history(key("jack"), 10)
    assert all(entry.detail != person.first_name for entry in history)
    assert await store.cases.customer_of(f"{key(victim).id}#1") is None
    assert await store.cases.thread(f"{tombstone}#1") == ("C1", "1.1")
    assert await store.records.find(victim, 10) == []


async def test_a_change_that_erases_keeps_only_its_own_messages(store: Storage) -> None:
    ann = await create(store, "ann")
    await store.journey.commit(change(ann, 1, outbox=(message("fallback"),)))
    ids = await store.journey.commit(
        change(ann, 2, outbox=(message("forgotten"),), erase_by="the customer")
    )
    assert await store.journey.customer(key("ann")) is None
    rows = await store.outbox.claim(START, 10, timedelta(minutes=1))
    assert [(r.id, r.template, r.key) for r in rows] == [(ids[0], "forgotten", key("ann"))]
    assert [e[1] for e in await store.records.erasures()] == ["the customer"]
    # they are unknown now: starting again makes a new customer
    again = await create(store, "ann")
    assert (await store.journey.customer(key("ann"))) == again
