"""The storage contract: every protocol method, on every backend (see `conftest.BACKENDS`).

Backend-specific behaviour (migrations of one engine, its pragmas) is tested beside this file;
everything the rest of Escalator relies on is tested here, once, for all backends.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.errors import DuplicateInbound, StaleCustomer, StorageError
from bot.flows.common import new_customer
from bot.flows.model import (
    BadgeAwarded,
    CancelJobs,
    CaseChanged,
    CaseOpened,
    Customer,
    CustomerKey,
    JobKind,
    Line,
    LogEntry,
    Profile,
    PurchaseRow,
    ReferralConverted,
    ReferralJoined,
    ScheduleJob,
    ScoreComment,
    ScoreRow,
)
from bot.flows.stages import Stage
from bot.storage import Storage
from bot.storage.types import (
    Change,
    DeliveryResult,
    InboxItem,
    OutboxItem,
    SystemJob,
)
from tests.conftest import START
from tests.storage.conftest import Opener

LEASE = timedelta(minutes=1)


def key(name: str) -> CustomerKey:
    return CustomerKey("test", name)


def fresh(name: str, **fields: object) -> Customer:
    return new_customer(key(name), Profile(name.title(), "en"), START).evolve(**fields)


def change(customer: Customer, version: int | None, **fields: object) -> Change:
    return Change(customer=customer, at=fields.pop("at", START), version=version, **fields)  # type: ignore[arg-type]


def message(template: str, audience: str = "customer", **context: object) -> OutboxItem:
    return OutboxItem(kind="message", audience=audience, template=template, context=context)  # type: ignore[arg-type]


async def create(store: Storage, name: str, **fields: object) -> Customer:
    customer = fresh(name, **fields)
    await store.journey.commit(change(customer, None))
    return customer


# --- journey -------------------------------------------------------------------------------


async def test_commit_then_load_round_trips_the_customer_and_counts_versions(
    store: Storage,
) -> None:
    customer = fresh("ann", badges=("First referral",), last_survey_at=START, pending_score=7)
    log = (LogEntry("captured", None, Stage.CAPTURED, "spring"),)
    await store.journey.commit(change(customer, None, inbound_id="u1", log=log))
    loaded = await store.journey.load(key("ann"), inbound_id="u2", history=5)
    assert loaded.customer is not None and not loaded.seen and loaded.version == 1
    assert loaded.customer.evolve(history=()) == customer
    assert [(h.event, h.to_stage, h.detail) for h in loaded.customer.history] == [
        ("captured", "captured", "spring")
    ]
    await store.journey.commit(change(customer.evolve(stage=Stage.ENGAGED), 1))
    again = await store.journey.load(key("ann"), inbound_id="u1")
    assert again.seen and again.version == 2
    assert again.customer is not None and again.customer.stage is Stage.ENGAGED
    assert await store.journey.customer(key("ann")) == again.customer


async def test_a_change_that_knows_the_customer_as_loaded_writes_what_changed(
    opener: Opener,
) -> None:
    first, second = await opener(), await opener()
    customer = await create(first, "ann", badges=("First referral",), source="spring")
    loaded = (await first.journey.load(key("ann"))).customer
    assert loaded is not None
    later = START + timedelta(hours=1)
    changed = loaded.evolve(
        stage=Stage.ENGAGED, pending_score=None, badges=(), last_survey_at=later, updated_at=later
    )
    await first.journey.commit(change(changed, 1, before=loaded))
    again = await first.journey.load(key("ann"))
    assert again.version == 2 and again.customer == changed  # every field, unchanged ones kept
    nothing = again.customer.evolve(updated_at=later)  # nothing changed: the version still moves
    await first.journey.commit(change(nothing, 2, before=again.customer))
    assert (await first.journey.load(key("ann"))).version == 3
    with pytest.raises(StaleCustomer):  # computed from an older version: refused as ever
        await second.journey.commit(change(customer.evolve(purchases=5), 2, before=customer))
    stored = await second.journey.customer(key("ann"))
    assert stored is not None and stored.purchases == 0 and stored.stage is Stage.ENGAGED


async def test_an_unknown_customer_loads_as_none(store: Storage) -> None:
    loaded = await store.journey.load(key("nobody"), inbound_id="x", history=5)
    assert loaded.customer is None and loaded.version is None and not loaded.seen
    assert await store.journey.customer(key("nobody")) is None


async def test_a_duplicate_inbound_id_is_refused_and_writes_nothing(store: Storage) -> None:
    customer = await create(store, "ann")
    await store.journey.commit(change(customer, 1, inbound_id="u1"))
    with pytest.raises(DuplicateInbound):
        await store.journey.commit(
            change(customer, 2, inbound_id="u1", log=(LogEntry("again", None, None),))
        )
    assert await store.journey.history(key("ann"), 10) == ()
    assert (await store.journey.load(key("ann"))).version == 2


async def test_a_decision_from_a_stale_version_writes_nothing(opener: Opener) -> None:
    first, second = await opener(), await opener()  # two processes on one database
    customer = await create(first, "ann")
    seen_by_first = await first.journey.load(key("ann"))
    seen_by_second = await second.journey.load(key("ann"))
    assert seen_by_first.version == seen_by_second.version == 1
    await first.journey.commit(change(customer.evolve(purchases=1), 1, inbound_id="a"))
    with pytest.raises(StaleCustomer):
        await second.journey.commit(
            change(
                customer.evolve(purchases=1),
                1,
                inbound_id="b",
                log=(LogEntry("purchase", None, None),),
                outbox=(message("welcome"),),
                schedule=(ScheduleJob(JobKind.CHECKIN, START),),
            )
        )
    reloaded = await second.journey.load(key("ann"), inbound_id="b")
    assert not reloaded.seen and reloaded.version == 2
    assert reloaded.customer is not None and reloaded.customer.purchases == 1
    assert await second.journey.history(key("ann"), 10) == ()
    assert await second.outbox.claim(START, 10, LEASE) == []
    assert await second.jobs.next_due_at() is None


async def test_two_creations_of_one_customer_let_only_the_first_win(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.journey.commit(change(fresh("ann", source="a"), None))
    with pytest.raises(StaleCustomer):
        await second.journey.commit(change(fresh("ann", source="b"), None))
    stored = await second.journey.customer(key("ann"))
    assert stored is not None and stored.source == "a"


async def test_one_refused_change_does_not_sink_the_others_committed_with_it(
    store: Storage,
) -> None:
    ann = await create(store, "ann")
    await store.journey.commit(change(ann, 1, inbound_id="dup"))
    results = await asyncio.gather(
        *(
            store.journey.commit(change(fresh(f"c{n}"), None, inbound_id=f"u{n}"))
            for n in range(40)
        ),
        store.journey.commit(change(ann, 2, inbound_id="dup")),
        store.journey.commit(change(ann, 1, inbound_id="stale")),
        return_exceptions=True,
    )
    assert isinstance(results[-2], DuplicateInbound)
    assert isinstance(results[-1], StaleCustomer)
    assert all(result == () for result in results[:-2])
    assert await store.reports.count_customers() == 41


async def test_commit_returns_the_outbox_ids_in_order(store: Storage) -> None:
    ann = fresh("ann")
    ids = await store.journey.commit(
        change(ann, None, outbox=(message("welcome"), message("help"), message("status")))
    )
    more = await store.journey.commit(change(ann, 1, outbox=(message("bye"),)))
    assert len(ids) == 3 and list(ids) == sorted(ids) and len(set(ids)) == 3
    assert more[0] > ids[-1]
    (row,) = await store.outbox.claim(START, 10, LEASE)
    assert (row.id, row.template) == (ids[0], "welcome")


async def test_referral_codes_and_the_leaderboard(store: Storage) -> None:
    await create(store, "ann", referral_code="ref-aaaaaaaaaaaa", leaderboard_opt_in=True)
    await create(store, "bob", referrals_joined=3, referrals_converted=2, leaderboard_opt_in=True)
    await create(store, "cat", referrals_joined=5, referrals_converted=5)  # did not opt in
    await create(store, "dan", referrals_joined=1, leaderboard_opt_in=True)
    found = await store.journey.customer_by_code("ref-aaaaaaaaaaaa")
    assert found is not None and found.id == "test:ann"
    assert await store.journey.customer_by_code("ref-unknown0000") is None
    board = await store.journey.leaderboard(10)
    assert [(row.first_name, row.converted, row.joined) for row in board] == [
        ("Bob", 2, 3),
        ("Dan", 0, 1),
    ]
    assert len(await store.journey.leaderboard(1)) == 1


async def test_history_is_the_latest_entries_oldest_first(store: Storage) -> None:
    ann = await create(store, "ann")
    for n in range(5):
        log = (LogEntry(f"e{n}", Stage.CAPTURED, Stage.CAPTURED, str(n)),)
        await store.journey.commit(change(ann, n + 1, log=log, at=START + timedelta(minutes=n)))
    history = await store.journey.history(key("ann"), 3)
    assert [entry.event for entry in history] == ["e2", "e3", "e4"]
    assert history[0].at == START + timedelta(minutes=2)


# --- jobs ----------------------------------------------------------------------------------


async def test_jobs_are_claimed_when_due_once_per_lease(opener: Opener) -> None:
    first, second = await opener(), await opener()
    ann = await create(first, "ann")
    at = START + timedelta(hours=1)
    await first.journey.commit(
        change(ann, 1, schedule=(ScheduleJob(JobKind.CHECKIN, at, {"reason": "welcome"}),))
    )
    assert await first.jobs.next_due_at() == at
    assert await first.jobs.claim(START, 10, LEASE) == []
    (job,) = await first.jobs.claim(at, 10, LEASE)
    assert (job.key, job.kind, job.due_at, dict(job.payload)) == (
        key("ann"),
        JobKind.CHECKIN,
        at,
        {"reason": "welcome"},
    )
    assert await second.jobs.claim(at, 10, LEASE) == []  # taken, while the lease lasts
    (again,) = await second.jobs.claim(at + LEASE, 10, LEASE)  # its claimer is gone
    assert again.id == job.id
    assert not (await first.journey.load(key("ann"), job_id=job.id)).seen
    await first.journey.commit(change(ann, 2, job_done=job.id))
    assert (await first.journey.load(key("ann"), job_id=job.id)).seen
    assert await first.jobs.claim(at + 3 * LEASE, 10, LEASE) == []
    assert await first.jobs.next_due_at() is None


async def test_claims_from_two_processes_at_once_never_share_a_row(opener: Opener) -> None:
    first, second = await opener(), await opener()
    people = [fresh(f"c{n}") for n in range(60)]
    for person in people:
        await first.journey.commit(
            change(
                person,
                None,
                outbox=(message("hello"),),
                schedule=(ScheduleJob(JobKind.CHECKIN, START),),
            )
        )
    jobs: list[int] = []
    rows: list[int] = []
    for _ in range(10):  # rounds of claims racing each other, until everything is taken
        found = await asyncio.gather(
            first.jobs.claim(START, 7, LEASE),
            second.jobs.claim(START, 7, LEASE),
            first.outbox.claim(START, 7, LEASE),
            second.outbox.claim(START, 7, LEASE),
        )
        jobs += [job.id for job in found[0] + found[1]]
        rows += [row.id for row in found[2] + found[3]]
    assert len(jobs) == len(set(jobs)) == 60
    assert len(rows) == len(set(rows)) == 60


async def test_many_jobs_load_and_commit_together_each_as_alone(opener: Opener) -> None:
    first, second = await opener(), await opener()
    people = [await create(first, name) for name in ("ann", "bob", "cy")]
    for person in people:
        await first.journey.commit(
            change(person, 1, schedule=(ScheduleJob(JobKind.CHECKIN, START),))
        )
    jobs = {job.key: job.id for job in await first.jobs.claim(START, 10, LEASE)}
    wanted = [(key("cy"), jobs[key("cy")]), (key("nobody"), 424242), (key("ann"), jobs[key("ann")])]
    loaded = await first.journey.load_jobs(wanted)
    assert [(one.customer and one.customer.key, one.seen, one.version) for one in loaded] == [
        (key("cy"), False, 2),
        (None, True, None),
        (key("ann"), False, 2),
    ]
    assert [one.customer for one in loaded] == [
        (await first.journey.load(k, job_id=j)).customer for k, j in wanted
    ]
    # bob changes in another process meanwhile: only his commit is refused
    await second.journey.commit(change(people[1].evolve(purchases=1), 2))
    results = await first.journey.commit_many(
        [
            change(people[0].evolve(purchases=3), 2, job_done=jobs[key("ann")]),
            change(people[1].evolve(purchases=9), 2, job_done=jobs[key("bob")]),
            change(people[2], 2, job_done=jobs[key("cy")], outbox=(message("checkin"),)),
        ]
    )
    assert results[0] == () and isinstance(results[1], StaleCustomer)
    assert isinstance(results[2], tuple) and len(results[2]) == 1
    after = {k: await first.journey.load(k, job_id=jobs[k]) for k in jobs}
    assert after[key("ann")].seen and after[key("cy")].seen and not after[key("bob")].seen
    assert [after[k].customer.purchases for k in (key("ann"), key("bob"))] == [3, 1]  # type: ignore[union-attr]
    (row,) = await first.outbox.claim(START, 10, LEASE)
    assert (row.id, row.key, row.template) == (results[2][0], key("cy"), "checkin")


async def test_a_job_that_does_not_exist_counts_as_done(store: Storage) -> None:
    await create(store, "ann")
    assert (await store.journey.load(key("ann"), job_id=424242)).seen


async def test_one_live_job_per_kind_and_subject(store: Storage) -> None:
    ann = await create(store, "ann")
    day = timedelta(days=1)
    await store.journey.commit(
        change(
            ann,
            1,
            schedule=(
                ScheduleJob(JobKind.SURVEY, START + day),
                ScheduleJob(JobKind.SLA, START + day, {"case_id": "c1"}, subject="c1"),
                ScheduleJob(JobKind.SLA, START + day, {"case_id": "c2"}, subject="c2"),
            ),
        )
    )
    await store.journey.commit(
        change(
            ann,
            2,
            schedule=(
                ScheduleJob(JobKind.SURVEY, START + 2 * day, {"again": True}),
                ScheduleJob(JobKind.SLA, START + 3 * day, {"case_id": "c1"}, subject="c1"),
            ),
        )
    )
    due = await store.jobs.claim(START + 10 * day, 10, LEASE)
    assert sorted((job.kind.value, job.due_at - START) for job in due) == [
        ("sla", 1 * day),
        ("sla", 3 * day),
        ("survey", 2 * day),
    ]
    survey = next(job for job in due if job.kind is JobKind.SURVEY)
    assert dict(survey.payload) == {"again": True}


async def test_pending_lists_live_jobs_page_by_page(store: Storage) -> None:
    ann = await create(store, "ann")
    day = timedelta(days=1)
    jobs = (
        ScheduleJob(JobKind.SURVEY, START + day),
        ScheduleJob(JobKind.SLA, START + day, {"case_id": "c1"}, subject="c1"),
        ScheduleJob(JobKind.RECOVERY, START + 2 * day, {"case_id": "c0"}, subject="c0"),
    )
    await store.journey.commit(change(ann, 1, schedule=jobs))
    first = await store.jobs.pending(0, 2)
    rest = await store.jobs.pending(first[-1].id, 2)
    assert [(j.key, j.kind, j.subject) for j in [*first, *rest]] == [
        (key("ann"), JobKind.SURVEY, ""),
        (key("ann"), JobKind.SLA, "c1"),
        (key("ann"), JobKind.RECOVERY, "c0"),
    ]
    assert rest[0].due_at == START + 2 * day
    await store.journey.commit(change(ann, 2, cancel=(CancelJobs(frozenset({JobKind.SLA})),)))
    (claimed,) = await store.jobs.claim(START + day, 1, LEASE)  # claimed is still pending
    left = await store.jobs.pending(0, 10)
    assert [j.kind for j in left] == [JobKind.SURVEY, JobKind.RECOVERY]
    await store.jobs.finish([claimed.id], START + day)
    assert [j.kind for j in await store.jobs.pending(0, 10)] == [JobKind.RECOVERY]


async def test_cancel_then_schedule_in_one_change_keeps_the_new_job(store: Storage) -> None:
    ann = await create(store, "ann")
    await store.journey.commit(change(ann, 1, schedule=(ScheduleJob(JobKind.CHECKIN, START),)))
    await store.journey.commit(
        change(
            ann,
            2,
            cancel=(CancelJobs(frozenset({JobKind.CHECKIN, JobKind.SURVEY})),),
            schedule=(ScheduleJob(JobKind.CHECKIN, START + timedelta(days=1)),),
        )
    )
    due = await store.jobs.claim(START + timedelta(days=2), 10, LEASE)
    assert [job.due_at for job in due] == [START + timedelta(days=1)]
    await store.journey.commit(change(ann, 3, cancel=(CancelJobs(frozenset({JobKind.CHECKIN})),)))
    assert await store.jobs.next_due_at() is None


async def test_a_job_may_be_for_another_customer(store: Storage) -> None:
    bob = await create(store, "bob")
    await create(store, "ann")
    job = ScheduleJob(
        JobKind.REFERRAL_JOINED, START, {"friend": "Bob"}, customer=key("ann"), subject="test:bob"
    )
    await store.journey.commit(change(bob, 1, schedule=(job,)))
    (due,) = await store.jobs.claim(START, 10, LEASE)
    assert due.key == key("ann") and due.kind is JobKind.REFERRAL_JOINED


async def test_finished_and_planned_jobs(store: Storage) -> None:
    await create(store, "ann")
    planned = SystemJob(key("ann"), JobKind.AWARD, START, {"badge": "Top"}, subject="Top")
    await store.jobs.plan([planned], ("awards.last_month", "2026-02"))
    assert await store.meta.get("awards.last_month") == "2026-02"
    await store.jobs.plan([planned], ("awards.last_month", "2026-02"))  # replaces, no twin
    (job,) = await store.jobs.claim(START, 10, LEASE)
    assert job.kind is JobKind.AWARD and dict(job.payload) == {"badge": "Top"}
    await store.jobs.finish([job.id], START)
    assert await store.jobs.claim(START + 2 * LEASE, 10, LEASE) == []
    assert (await store.journey.load(key("ann"), job_id=job.id)).seen


# --- outbox --------------------------------------------------------------------------------


async def test_outbox_rows_go_out_one_at_a_time_per_recipient(opener: Opener) -> None:
    first, second = await opener(), await opener()
    ann, bob = fresh("ann"), fresh("bob")
    await first.journey.commit(change(ann, None, outbox=(message("a1"), message("a2"))))
    await first.journey.commit(
        change(bob, None, outbox=(message("b1"), message("s1", "staff", case_id="c")))
    )
    rows = await first.outbox.claim(START, 10, LEASE)
    assert sorted((r.key.external_id, r.audience, r.template) for r in rows) == [
        ("ann", "customer", "a1"),
        ("bob", "customer", "b1"),
        ("bob", "staff", "s1"),
    ]
    staff = next(r for r in rows if r.audience == "staff")
    assert dict(staff.context) == {"case_id": "c"} and staff.language == "en"
    assert await second.outbox.claim(START, 10, LEASE) == []  # a1 is in flight: a2 waits
    a1 = next(r for r in rows if r.template == "a1")
    await first.outbox.record([DeliveryResult(a1.id, "sent", START, platform_message_id="77")])
    (a2,) = await second.outbox.claim(START, 10, LEASE)
    assert a2.template == "a2" and a2.attempts == 0


async def test_a_retried_row_holds_back_its_recipients_later_rows(store: Storage) -> None:
    ann = fresh("ann")
    await store.journey.commit(change(ann, None, outbox=(message("a1"), message("a2"))))
    (a1,) = await store.outbox.claim(START, 10, LEASE)
    later = START + timedelta(seconds=30)
    await store.outbox.record([DeliveryResult(a1.id, "retry", START, "flood", retry_at=later)])
    assert await store.outbox.claim(START + timedelta(seconds=29), 10, LEASE) == []
    (again,) = await store.outbox.claim(later, 10, LEASE)
    assert again.id == a1.id and again.attempts == 1 and again.next_attempt_at == later
    await store.outbox.record([DeliveryResult(a1.id, "failed", later, "bad request")])
    (a2,) = await store.outbox.claim(later, 10, LEASE)
    assert a2.template == "a2"


async def test_a_claimed_row_is_taken_over_after_its_lease(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.journey.commit(change(fresh("ann"), None, outbox=(message("a1"),)))
    (row,) = await first.outbox.claim(START, 10, LEASE)
    assert await second.outbox.claim(START + LEASE - timedelta(seconds=1), 10, LEASE) == []
    (taken,) = await second.outbox.claim(START + LEASE, 10, LEASE)
    assert taken.id == row.id


async def test_rows_committed_with_a_lease_are_the_committers_own(store: Storage) -> None:
    until = START + LEASE
    await store.journey.commit(
        change(fresh("ann"), None, outbox=(message("a1"),), outbox_lease_until=until)
    )
    assert await store.outbox.claim(START, 10, LEASE) == []
    assert len(await store.outbox.claim(until, 10, LEASE)) == 1


async def test_load_tells_the_customers_pending_outbox_rows(store: Storage) -> None:
    """Both backends read `pending_outbox` with the customer (so replies go straight from the
    decision), and exactly: every pending row of the customer, any audience."""
    ann = fresh("ann")
    ids = await store.journey.commit(
        change(ann, None, outbox=(message("a1"), message("a2", audience="staff")))
    )
    await store.journey.commit(change(fresh("bob"), None, outbox=(message("b1"),)))
    pending = (await store.journey.load(key("ann"))).pending_outbox
    assert pending is not None, "this backend does not read pending outbox rows with the customer"
    assert sorted(pending) == sorted(ids)
    await store.outbox.record([DeliveryResult(ids[0], "sent", START)])
    assert (await store.journey.load(key("ann"))).pending_outbox == (ids[1],)
    await store.outbox.record([DeliveryResult(ids[1], "failed", START, "no")])
    assert (await store.journey.load(key("ann"))).pending_outbox == ()
    assert (await store.journey.load(key("nobody"))).pending_outbox == ()


async def test_the_message_that_asked_a_question_is_found(store: Storage) -> None:
    item = OutboxItem(kind="message", audience="customer", template="checkin", question_id=3)
    await store.journey.commit(change(fresh("ann"), None, outbox=(item,)))
    assert await store.outbox.question_message_id(key("ann"), 3) is None  # not sent yet
    (row,) = await store.outbox.claim(START, 10, LEASE)
    await store.outbox.record([DeliveryResult(row.id, "sent", START, platform_message_id="m9")])
    assert await store.outbox.question_message_id(key("ann"), 3) == "m9"
    assert await store.outbox.question_message_id(key("ann"), 4) is None


async def test_release_claims_ends_every_lease(store: Storage) -> None:
    ann = fresh("ann")
    await store.journey.commit(
        change(ann, None, outbox=(message("a1"),), schedule=(ScheduleJob(JobKind.SURVEY, START),))
    )
    await store.inbox.add([InboxItem("tg:1", "telegram:1", 1, "{}")], START)
    assert await store.outbox.claim(START, 10, LEASE)
    assert await store.jobs.claim(START, 10, LEASE)
    assert await store.inbox.claim(START, 10, LEASE)
    assert await store.release_claims() == 3
    assert await store.outbox.claim(START, 10, LEASE)
    assert await store.jobs.claim(START, 10, LEASE)
    assert await store.inbox.claim(START, 10, LEASE)


# --- inbox ---------------------------------------------------------------------------------


async def test_inbox_keeps_updates_once_in_update_order_per_customer(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.inbox.add(
        [
            InboxItem("tg:12", "telegram:7", 12, "seven-b"),
            InboxItem("tg:11", "telegram:7", 11, "seven-a"),
            InboxItem("tg:13", "telegram:8", 13, "eight"),
            InboxItem("tg:14", "", 14, "nobody"),
        ],
        START,
    )
    await first.inbox.add([InboxItem("tg:11", "telegram:7", 11, "again")], START)  # redelivered
    claimed = await first.inbox.claim(START, 2, LEASE)
    assert [row.body for row in claimed] == ["seven-a", "seven-b"]
    rest = await second.inbox.claim(START, 10, LEASE)
    assert [row.body for row in rest] == ["eight", "nobody"]
    await first.inbox.remove([claimed[0].id])
    assert await second.inbox.claim(START, 10, LEASE) == []  # seven-b is still claimed
    (retaken,) = await second.inbox.claim(START + LEASE, 1, LEASE)
    assert retaken.body == "seven-b" and retaken.group == "telegram:7" and retaken.key == "tg:12"


async def test_a_later_update_waits_while_an_earlier_one_is_claimed(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.inbox.add([InboxItem("tg:1", "telegram:7", 1, "first")], START)
    (one,) = await first.inbox.claim(START, 10, LEASE)
    await first.inbox.add([InboxItem("tg:2", "telegram:7", 2, "second")], START)
    assert await second.inbox.claim(START, 10, LEASE) == []
    await first.inbox.remove([one.id])
    (two,) = await second.inbox.claim(START, 10, LEASE)
    assert two.body == "second"


async def test_concurrent_claims_never_hand_out_a_later_update_of_a_claimed_group(
    opener: Opener,
) -> None:
    first, second = await opener(), await opener()
    groups = 40
    for round_ in range(5):  # a race either process may win; several rounds to meet it
        base = round_ * 1000
        await first.inbox.add(
            [InboxItem(f"a{base + g}", f"g{base + g}", base + g, "first") for g in range(groups)]
            + [
                InboxItem(f"b{base + g}", f"g{base + g}", base + groups + g, "second")
                for g in range(groups)
            ],
            START,
        )
        one, two = await asyncio.gather(
            first.inbox.claim(START, groups, LEASE), second.inbox.claim(START, groups, LEASE)
        )
        taken = one + two
        assert sorted(row.body for row in taken) == ["first"] * groups, "order broken"
        await first.inbox.remove([row.id for row in taken])
        rest = await second.inbox.claim(START, 2 * groups, LEASE)
        assert sorted(row.body for row in rest) == ["second"] * groups
        await second.inbox.remove([row.id for row in rest])


# --- cases, templates, meta ----------------------------------------------------------------


async def test_cases_their_view_and_their_thread(store: Storage) -> None:
    ann = await create(store, "ann", stage=Stage.CUSTOMER)
    records = (
        ScoreRow("nps", 3),
        ScoreComment("it broke"),
        CaseOpened("test:ann#1", "nps score 3", "it broke"),
        Line("customer", "hello?", "Ann", "test:ann#1"),
    )
    await store.journey.commit(change(ann, 1, records=records))
    assert await store.cases.customer_of("test:ann#1") == key("ann")
    assert await store.cases.customer_of("nope") is None
    assert await store.cases.latest() == "test:ann#1"
    view = await store.cases.view("test:ann#1")
    assert view is not None
    assert (view["status"], view["reason"], view["trigger"], view["customer_name"]) == (
        "open",
        "nps score 3",
        "it broke",
        "Ann",
    )
    assert view["scores"] == [
        {"scale": "nps", "score": 3, "comment": "it broke", "at": "2026-03-02 09:00 UTC"}
    ]
    assert [line["text"] for line in view["recent"]] == ["hello?"]  # type: ignore[index,union-attr]
    later = START + timedelta(minutes=90)
    await store.journey.commit(
        change(
            ann,
            2,
            at=later,
            records=(
                CaseChanged("test:ann#1", "claimed", "Sam"),
                CaseChanged("test:ann#1", "resolved", "Sam"),
            ),
        )
    )
    view = await store.cases.view("test:ann#1")
    assert view is not None
    assert (view["status"], view["resolved_by"], view["minutes_to_resolve"]) == (
        "resolved",
        "Sam",
        90,
    )
    await store.journey.commit(change(ann, 3, records=(CaseChanged("test:ann#1", "open"),)))
    view = await store.cases.view("test:ann#1")
    assert view is not None and view["status"] == "open" and view["reopened"] == 1
    assert await store.cases.view("nope") is None
    assert await store.cases.thread("test:ann#1") is None
    await store.cases.save_thread("test:ann#1", "C1", "111.1")
    await store.cases.save_thread("test:ann#1", "C1", "222.2")  # the card was posted again
    assert await store.cases.thread("test:ann#1") == ("C1", "222.2")
    assert await store.cases.case_at("C1", "222.2") == "test:ann#1"
    assert await store.cases.case_at("C1", "111.1") is None


async def test_template_versions_and_overrides(store: Storage) -> None:
    marker = await store.templates.marker()
    assert await store.templates.overrides() == (marker, {})
    assert await store.templates.add_version("welcome", "en", "Hi!", "ann", "first", START) == 2
    assert await store.templates.add_version("welcome", "en", "Hey!", "bob", "", START) == 3
    assert await store.templates.add_version("welcome", "de", "Hallo!", "ann", "", START) == 2
    now, overrides = await store.templates.overrides()
    assert now != marker and now == await store.templates.marker()
    assert overrides == {"en/welcome.j2": "Hey!", "de/welcome.j2": "Hallo!"}
    assert await store.templates.add_version("welcome", "en", None, "ann", "reset", START) == 4
    assert (await store.templates.overrides())[1] == {"de/welcome.j2": "Hallo!"}
    versions = await store.templates.versions("welcome", "en")
    assert [(v.number, v.source, v.author, v.comment) for v in versions] == [
        (2, "Hi!", "ann", "first"),
        (3, "Hey!", "bob", ""),
        (4, None, "ann", "reset"),
    ]
    assert versions[0].at == START


async def test_versions_saved_at_once_by_two_processes_get_numbers_of_their_own(
    opener: Opener,
) -> None:
    first, second = await opener(), await opener()
    seen = [await first.templates.marker()]
    numbers: list[int] = []
    for _ in range(3):
        numbers += await asyncio.gather(
            *(
                (first if n % 2 else second).templates.add_version(
                    "welcome", "en", f"v{n}", "ann", "", START
                )
                for n in range(6)
            )
        )
        seen.append(await second.templates.marker())
    assert sorted(numbers) == list(range(2, 20))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # the marker only moves on
    versions = await second.templates.versions("welcome", "en")
    assert [v.number for v in versions] == list(range(2, 20))


async def test_meta_values(opener: Opener) -> None:
    first, second = await opener(), await opener()
    assert await first.meta.get("k") is None
    await first.meta.set("k", "v1")
    await first.meta.set("k", "v2")
    assert await second.meta.get("k") == "v2"


async def test_a_default_value_is_stored_once_whoever_asks_first(opener: Opener) -> None:
    first, second = await opener(), await opener()
    kept = await asyncio.gather(
        *(
            (first if n % 2 else second).meta.setdefault("referral.secret", f"s{n}")
            for n in range(10)
        )
    )
    assert len(set(kept)) == 1 and kept[0] in {f"s{n}" for n in range(10)}
    assert await first.meta.get("referral.secret") == kept[0]
    assert await second.meta.setdefault("referral.secret", "later") == kept[0]


async def test_a_closed_storage_refuses_work_clearly(opener: Opener) -> None:
    store = await opener()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.meta.set("k", "v")
    await store.close()  # closing twice is harmless


# --- reports -------------------------------------------------------------------------------


async def test_report_figures(store: Storage) -> None:
    day = timedelta(days=1)
    ann = await create(store, "ann", stage=Stage.ADVOCATE, referrals_joined=2)
    bob = fresh("bob", stage=Stage.CUSTOMER, referred_by="test:ann", created_at=START + day)
    cat = fresh("cat", referred_by="test:ann", created_at=START + 2 * day)
    await store.journey.commit(
        change(bob, None, at=START + day, records=(ReferralJoined("test:ann"),))
    )
    await store.journey.commit(
        change(cat, None, at=START + 2 * day, records=(ReferralJoined("test:ann"),))
    )
    await store.journey.commit(
        change(bob, 1, at=START + 3 * day, records=(PurchaseRow("o1", 10.0), ReferralConverted()))
    )
    await store.journey.commit(
        change(
            ann,
            1,
            at=START + day,
            records=(
                ScoreRow("nps", 10),
                ScoreRow("nps", 10),
                ScoreRow("nps", 3),
                ScoreRow("csat", 4),
                BadgeAwarded("First referral"),
                CaseOpened("test:ann#1", "nps score 3", None),
            ),
        )
    )
    assert await store.reports.funnel() == {"advocate": 1, "customer": 1, "captured": 1}
    assert await store.reports.funnel(START + day, START + 2 * day) == {"customer": 1}
    assert await store.reports.score_histogram("nps") == {10: 2, 3: 1}
    assert await store.reports.score_histogram("csat", START + 2 * day) == {}
    activity = await store.reports.activity(None, None)
    assert (
        activity.cases_opened,
        activity.cases_resolved,
        activity.referrals_joined,
        activity.referrals_converted,
        activity.organic_customers,
    ) == (1, 0, 2, 1, 1)
    late = await store.reports.activity(START + 2 * day, None)
    assert (late.referrals_joined, late.referrals_converted, late.organic_customers) == (1, 1, 0)
    assert await store.reports.badge_counts(None, None) == {"First referral": 1}
    assert await store.reports.badge_counts(START + 2 * day, None) == {}
    (case,) = await store.reports.open_cases(10)
    assert (case.id, case.customer_name, case.channel) == ("test:ann#1", "Ann", None)
    (badge,) = await store.reports.recent_badges(5)
    assert (badge.badge, badge.first_name) == ("First referral", "Ann")
    assert await store.reports.top_referrer(START, START + 10 * day) == "test:ann"
    assert await store.reports.top_referrer(START + 5 * day, START + 10 * day) is None
    generations = await store.reports.generations(key("ann"))
    assert [(g.generation, g.joined, g.converted) for g in generations] == [(1, 2, 1)]
    assert await store.reports.count_customers() == 3


async def test_scores_per_period_and_their_span(store: Storage) -> None:
    day = timedelta(days=1)
    ann = await create(store, "ann")
    ratings = [(0, "nps", 10), (0, "nps", 3), (1, "nps", 9), (3, "nps", 7), (3, "csat", 5)]
    version = 1
    for days, scale, score in ratings:
        await store.journey.commit(
            change(ann, version, at=START + days * day, records=(ScoreRow(scale, score),))
        )
        version += 1
    edges = [START, START + day, START + 2 * day, START + 4 * day]
    assert await store.reports.score_histograms("nps", edges) == [{10: 1, 3: 1}, {9: 1}, {7: 1}]
    assert await store.reports.score_histograms("csat", edges) == [{}, {}, {5: 1}]
    # a period ends before its upper edge; nothing but the edges given is counted
    assert await store.reports.score_histograms("nps", [START + day, START + 3 * day]) == [{9: 1}]
    assert await store.reports.score_histograms("nps", [START]) == []
    assert await store.reports.score_span("nps") == (START, START + 3 * day)
    assert await store.reports.score_span("nps", START + day / 2, START + 3 * day) == (
        START + day,
        START + day,
    )
    assert await store.reports.score_span("nps", START + 5 * day) is None
    assert await store.reports.score_span("ces") is None


async def test_the_median_time_to_resolve_counts_resolved_cases_of_the_period(
    store: Storage,
) -> None:
    hour = timedelta(hours=1)
    assert await store.reports.median_time_to_resolve() is None
    took = {"ann": 1, "bob": 2, "cat": 4, "dan": 10}
    for name, hours in took.items():
        customer = await create(store, name)
        case = f"test:{name}#1"
        await store.journey.commit(
            change(customer, 1, at=START, records=(CaseOpened(case, "nps score 3", None),))
        )
        if name != "dan":  # dan's case is still open at first
            await store.journey.commit(
                change(
                    customer,
                    2,
                    at=START + hours * hour,
                    records=(CaseChanged(case, "resolved", "sam"),),
                )
            )
    # one of three: the middle one; an open case and a conversation do not count
    eve = await create(store, "eve")
    await store.journey.commit(
        change(
            eve, 1, at=START, records=(CaseOpened("test:eve#c1", "hello", None, "conversation"),)
        )
    )
    await store.journey.commit(
        change(
            eve, 2, at=START + 30 * hour, records=(CaseChanged("test:eve#c1", "resolved", "sam"),)
        )
    )
    assert await store.reports.median_time_to_resolve() == 2 * hour
    dan = await store.journey.customer(key("dan"))
    assert dan is not None
    await store.journey.commit(
        change(
            dan, 2, at=START + 10 * hour, records=(CaseChanged("test:dan#1", "resolved", "sam"),)
        )
    )
    # of four: the mean of the middle two
    assert await store.reports.median_time_to_resolve() == 3 * hour
    # by when they were resolved: only cat's (4h) and dan's (10h) after 3h
    assert await store.reports.median_time_to_resolve(START + 3 * hour) == 7 * hour
    assert (
        await store.reports.median_time_to_resolve(None, START + 90 * timedelta(minutes=1)) == hour
    )
    assert await store.reports.median_time_to_resolve(START + 11 * hour) is None


async def test_find_customers_by_name_or_id_treats_wildcards_literally(store: Storage) -> None:
    await create(store, "ann")
    await create(store, "anna")
    await create(store, "b_b")
    await create(store, "bxb")
    assert [c.id for c in await store.reports.find_customers("ann")] == ["test:ann", "test:anna"]
    assert [c.id for c in await store.reports.find_customers("Anna")] == ["test:anna"]
    assert [c.id for c in await store.reports.find_customers("b_b")] == ["test:b_b"]
    assert await store.reports.find_customers("%") == []
    assert len(await store.reports.find_customers("test:", limit=2)) == 2


async def test_replies_are_told_from_unprompted_messages(store: Storage) -> None:
    reply = OutboxItem(kind="message", audience="customer", template="fallback", prompted=True)
    await store.journey.commit(change(fresh("ann"), None, outbox=(reply,)))
    await store.journey.commit(change(fresh("bob"), None, outbox=(message("checkin"),)))
    rows = await store.outbox.claim(START, 10, LEASE)
    assert sorted((row.template, row.prompted) for row in rows) == [
        ("checkin", False),
        ("fallback", True),
    ]


# --- leases renewed, roles ---------------------------------------------------------------


async def test_renew_extends_a_running_lease_and_never_one_that_ended(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.journey.commit(
        change(
            fresh("ann"),
            None,
            outbox=(message("a1"),),
            schedule=(ScheduleJob(JobKind.SURVEY, START),),
        )
    )
    await first.inbox.add([InboxItem("tg:1", "telegram:1", 1, "{}")], START)
    (row,) = await first.outbox.claim(START, 10, LEASE)
    (job,) = await first.jobs.claim(START, 10, LEASE)
    (update,) = await first.inbox.claim(START, 10, LEASE)
    almost = START + LEASE - timedelta(seconds=1)
    later = START + 2 * LEASE
    assert await first.outbox.renew([row.id], almost, later) == 1
    assert await first.jobs.renew([job.id], almost, later) == 1
    assert await first.inbox.renew([update.id], almost, later) == 1
    # the original lease has ended, the renewed one has not: nobody else takes them
    assert await second.outbox.claim(START + LEASE, 10, LEASE) == []
    assert await second.jobs.claim(START + LEASE, 10, LEASE) == []
    assert await second.inbox.claim(START + LEASE, 10, LEASE) == []
    # once a lease has ended the row may be another's: renewing it then changes nothing
    assert await first.outbox.renew([row.id], later, later + LEASE) == 0
    assert await first.jobs.renew([job.id], later, later + LEASE) == 0
    assert await first.inbox.renew([update.id], later, later + LEASE) == 0
    assert [r.id for r in await second.outbox.claim(later, 10, LEASE)] == [row.id]
    assert [j.id for j in await second.jobs.claim(later, 10, LEASE)] == [job.id]
    assert [u.id for u in await second.inbox.claim(later, 10, LEASE)] == [update.id]
    assert await first.outbox.renew([], START, later) == 0


async def test_renew_leaves_a_delivered_row_alone(store: Storage) -> None:
    await store.journey.commit(change(fresh("ann"), None, outbox=(message("a1"),)))
    (row,) = await store.outbox.claim(START, 10, LEASE)
    await store.outbox.record([DeliveryResult(row.id, "sent", START)])
    assert await store.outbox.renew([row.id], START, START + LEASE) == 0


async def test_a_role_has_one_holder_until_released(store: Storage) -> None:
    assert await store.roles.holder("sender") is None
    held = await store.roles.try_hold("sender")
    assert held is not None and await held.alive()
    assert await store.roles.try_hold("sender") is None
    assert await store.roles.holder("sender") is not None
    other = await store.roles.try_hold("poller")  # roles are independent
    assert other is not None
    await held.release()
    assert not await held.alive()
    again = await store.roles.try_hold("sender")
    assert again is not None
    await again.release()
    await other.release()
