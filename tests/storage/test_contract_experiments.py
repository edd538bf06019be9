"""The experiment store's contract (definitions, exposures written with deliveries, replies
written with journey commits, outcomes per variant) on every backend (`conftest.BACKENDS`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import InvalidInput
from bot.flows.experiments import Experiment, Goal, Variant
from bot.flows.model import PurchaseRow, ReferralJoined, ScoreRow
from bot.storage import Storage
from bot.storage.types import DeliveryResult, Exposure, VariantOutcomes
from tests.conftest import START
from tests.storage.conftest import Opener
from tests.storage.test_contract import change, create, fresh, message

DAY = timedelta(days=1)
AB = (Variant("A", 50, "Share your link: {{ link }}"), Variant("B", 50, "Tell a friend!"))


def experiment(
    name: str = "invite", template: str = "referral_invite", **fields: object
) -> Experiment:
    values: dict[str, object] = {
        "goal": Goal.REFERRAL,
        "window_days": 7,
        "variants": AB,
        "author": "ann",
        "created_at": START,
    }
    values.update(fields)
    return Experiment(name, template, "en", **values)  # type: ignore[arg-type]


async def test_experiments_are_created_listed_and_stopped(store: Storage) -> None:
    assert await store.experiments.all() == [] and await store.experiments.get("x") is None
    await store.experiments.create(experiment())
    later = experiment("welcome-test", "welcome", created_at=START + DAY, goal=Goal.REPLY)
    await store.experiments.create(later)
    assert await store.experiments.get("invite") == experiment()
    assert [e.name for e in await store.experiments.all()] == ["welcome-test", "invite"]
    assert {e.name for e in await store.experiments.running()} == {"invite", "welcome-test"}

    with pytest.raises(InvalidInput, match="already an experiment named invite"):
        await store.experiments.create(experiment(template="checkin"))
    with pytest.raises(InvalidInput, match="invite already runs on referral_invite"):
        await store.experiments.create(experiment("second"))

    assert await store.experiments.stop("invite", START + 2 * DAY, "B")
    assert not await store.experiments.stop("invite", START + 3 * DAY, None)
    stopped = await store.experiments.get("invite")
    assert stopped is not None
    assert (stopped.status, stopped.stopped_at, stopped.shipped) == (
        "stopped",
        START + 2 * DAY,
        "B",
    )
    assert [e.name for e in await store.experiments.running()] == ["welcome-test"]
    await store.experiments.create(experiment("second"))  # the message is free again
    assert (await store.experiments.get("second")) == experiment("second")


async def test_the_first_exposure_sticks_whoever_records_it(opener: Opener) -> None:
    first, second = await opener(), await opener()
    await first.experiments.create(experiment())
    await first.journey.commit(change(fresh("ann"), None, outbox=(message("referral_invite"),)))
    (row,) = await first.outbox.claim(START, 10, timedelta(minutes=1))
    assert await first.experiments.assigned("invite", "test:ann") is None
    shown = Exposure("invite", "test:ann", "B")
    await first.outbox.record([DeliveryResult(row.id, "sent", START, exposure=shown)])
    assert await second.experiments.assigned("invite", "test:ann") == "B"
    # later exposures (another process, a weight change) move nobody
    await second.experiments.expose([Exposure("invite", "test:ann", "A")], START + DAY)
    assert await first.experiments.assigned("invite", "test:ann") == "B"
    # a retry is not an exposure
    retried = Exposure("invite", "test:bob", "A")
    await first.outbox.record([DeliveryResult(row.id, "retry", START, "flood", exposure=retried)])
    assert await first.experiments.assigned("invite", "test:bob") is None
    (outcomes,) = [o for o in await first.experiments.outcomes("invite") if o.variant == "B"]
    assert outcomes.exposed == 1


async def test_outcomes_count_what_happened_within_the_window(store: Storage) -> None:
    await store.experiments.create(experiment())
    people = {"ann": "A", "bob": "B", "cat": "B", "dan": "A", "eve": "A"}
    customers = {name: await create(store, name) for name in people}
    # eve wrote before she was shown anything: that is not a reply
    eve = customers["eve"]
    await store.journey.commit(change(eve, 1, at=START - DAY, responded=True))
    await store.experiments.expose(
        [Exposure("invite", f"test:{name}", variant) for name, variant in people.items()], START
    )
    # ... nor is the rating she gave at the moment she was shown it (it brought the message)
    await store.journey.commit(change(eve, 2, at=START, records=(ScoreRow("nps", 10),)))
    # ann replies within the hour; a second message changes nothing
    await store.journey.commit(change(customers["ann"], 1, at=START + DAY / 24, responded=True))
    await store.journey.commit(change(customers["ann"], 2, at=START + DAY, responded=True))
    # bob rates twice: his first rating counts
    bob = customers["bob"]
    await store.journey.commit(
        change(bob, 1, at=START + DAY, records=(ScoreRow("nps", 9),), responded=True)
    )
    await store.journey.commit(change(bob, 2, at=START + 2 * DAY, records=(ScoreRow("nps", 3),)))
    # cat buys and brings a friend who joins
    cat = customers["cat"]
    await store.journey.commit(
        change(cat, 1, at=START + 3 * DAY, records=(PurchaseRow("o1", 5.0),))
    )
    friend = fresh("fay", referred_by="test:cat")
    await store.journey.commit(
        change(friend, None, at=START + 4 * DAY, records=(ReferralJoined("test:cat"),))
    )
    # dan does everything, but too late (the window is 7 days)
    dan = customers["dan"]
    late = START + 8 * DAY
    await store.journey.commit(
        change(
            dan,
            1,
            at=late,
            responded=True,
            records=(ScoreRow("nps", 10), PurchaseRow("o2", 5.0)),
        )
    )
    await store.journey.commit(
        change(fresh("gus"), None, at=late, records=(ReferralJoined("test:dan"),))
    )

    assert await store.experiments.outcomes("invite") == [
        VariantOutcomes(
            "A", exposed=3, replied=1, rated=0, score_total=0.0, purchased=0, referred=0
        ),
        VariantOutcomes(
            "B", exposed=2, replied=1, rated=1, score_total=9.0, purchased=1, referred=1
        ),
    ]
    assert await store.experiments.outcomes("unknown") == []


async def test_variants_nobody_saw_yet_are_reported_with_zeros(store: Storage) -> None:
    await store.experiments.create(experiment())
    await store.experiments.expose([Exposure("invite", "test:ann", "B")], START)
    await store.experiments.note_replies(["test:ann", "test:nobody"], START + DAY)
    assert await store.experiments.outcomes("invite") == [
        VariantOutcomes("A", 0, 0, 0, 0.0, 0, 0),
        VariantOutcomes("B", 1, 1, 0, 0.0, 0, 0),
    ]


async def test_erasure_keeps_the_exposure_under_the_tombstone(store: Storage) -> None:
    await store.experiments.create(experiment())
    ann = await create(store, "ann")
    await store.experiments.expose([Exposure("invite", "test:ann", "A")], START)
    tombstone = await store.records.erase(ann.key, "staff", START + DAY)
    assert tombstone is not None
    assert await store.experiments.assigned("invite", "test:ann") is None
    assert await store.experiments.assigned("invite", tombstone) == "A"
    (a, _) = await store.experiments.outcomes("invite")
    assert a.exposed == 1
