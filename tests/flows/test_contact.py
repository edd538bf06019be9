"""The contact budget and quiet hours, on the pure flows with a fake clock: check-ins, surveys,
a campaign and a nurture sequence sharing one budget; quiet hours in two time zones; a buyer
leaving the nurture sequence; /stop and an open case suppressing campaigns."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidInput
from bot.flows import decide
from bot.flows.common import new_customer
from bot.flows.contact import (
    ContactRules,
    check,
    parse_budget,
    parse_quiet_hours,
    parse_zones,
    spend,
)
from bot.flows.model import (
    CampaignInfo,
    CampaignStep,
    Command,
    Context,
    Customer,
    CustomerKey,
    Decision,
    JobDue,
    JobKind,
    Json,
    OutMessage,
    Profile,
    PurchaseRecorded,
)
from bot.flows.policy import FlowPolicy
from bot.flows.stages import Stage

DAY = timedelta(days=1)
MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AFTERNOON = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 13:00 in New York
RULES = ContactRules(
    budget=3,
    window=7 * DAY,
    quiet=(time(21), time(9)),
    default_zones=(("de", "Europe/Berlin"), ("en", "America/New_York")),
    fallback_zone="UTC",
)
POLICY = FlowPolicy(contact=RULES)
COUNTED = {"checkin", "nps_question", "campaign_message"}
OFFER = CampaignInfo(1, "spring-offer", "campaign_message", "everyone", "running")
NURTURE = CampaignInfo(
    2, "nurture", "campaign_message", "leads", "running", steps=(0, 7, 21), stop_on_purchase=True
)


def customer(language: str = "en", **fields: object) -> Customer:
    key = CustomerKey("test", language)
    return new_customer(key, Profile("Ada", language), MONDAY - 30 * DAY).evolve(**fields)


def campaign_job(info: CampaignInfo, at: datetime, step: int = 0, purchases: int = 0) -> JobDue:
    payload: dict[str, Json] = {
        "campaign": info.id,
        "step": step,
        "start": at.timestamp(),
        "purchases": purchases,
    }
    return JobDue(key=CustomerKey("test", "en"), job_id=1, kind=JobKind.CAMPAIGN, payload=payload)


@dataclass(order=True)
class Due:
    at: datetime
    seq: int
    event: JobDue = field(compare=False)


@dataclass
class World:
    """One customer and their jobs, run in time order as the scheduler would."""

    customer: Customer
    queue: list[Due] = field(default_factory=list)
    sent: list[tuple[datetime, str]] = field(default_factory=list)
    steps: list[CampaignStep] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    seq: int = 0

    def add(self, at: datetime, kind: JobKind, payload: dict[str, Json] | None = None) -> None:
        self.seq += 1
        event = JobDue(key=self.customer.key, job_id=self.seq, kind=kind, payload=payload or {})
        heapq.heappush(self.queue, Due(at, self.seq, event))

    def apply(self, decision: Decision, now: datetime) -> None:
        self.customer = decision.customer
        for message in decision.messages:
            if isinstance(message, OutMessage) and message.template in COUNTED:
                self.sent.append((now, message.template))
        self.steps.extend(r for r in decision.records if isinstance(r, CampaignStep))
        self.logs.extend(entry.event for entry in decision.log)
        for job in decision.schedule:
            # one live job per kind and subject: a new one replaces the pending one
            self.queue = [
                d
                for d in self.queue
                if not (d.event.kind == job.kind and _subject(d.event) == job.subject)
            ]
            heapq.heapify(self.queue)
            self.add(job.due_at, job.kind, dict(job.payload))

    def run(self, until: datetime) -> None:
        while self.queue and self.queue[0].at <= until:
            due = heapq.heappop(self.queue)
            ident = due.event.payload.get("campaign")
            info = {1: OFFER, 2: NURTURE}.get(ident) if isinstance(ident, int) else None
            decision = decide(self.customer, due.event, due.at, POLICY, Context(campaign=info))
            assert decision is not None
            self.apply(decision, due.at)


def _subject(event: JobDue) -> str:
    ident = event.payload.get("campaign")
    return f"campaign:{ident}" if event.kind == JobKind.CAMPAIGN else ""


def test_budget_across_checkins_surveys_a_campaign_and_nurture_is_never_exceeded() -> None:
    world = World(customer("en", stage=Stage.CUSTOMER, purchases=1))
    # a check-in a day, a survey every other day, a campaign, and the nurture sequence
    for day in range(0, 40):
        at = MONDAY + day * DAY + timedelta(hours=day % 13)
        world.add(at, JobKind.CHECKIN, {"reason": "periodic"})
    world.run(MONDAY + 41 * DAY)  # check-ins alone first: they wait for the budget
    start = MONDAY + 41 * DAY
    for day in range(0, 20, 2):
        world.add(start + day * DAY + timedelta(hours=3), JobKind.SURVEY)
    world.add(start + 2 * DAY, JobKind.CAMPAIGN, dict(campaign_job(OFFER, start + 2 * DAY).payload))
    world.add(start, JobKind.CAMPAIGN, dict(campaign_job(NURTURE, start, purchases=1).payload))
    world.run(start + 120 * DAY)

    times = [at for at, _ in world.sent]
    assert len(times) >= 10  # plenty went out, so the check below means something
    for at in times:
        in_window = [t for t in times if at - 7 * DAY < t <= at]
        assert len(in_window) <= 3, (at, in_window)
        local = at.astimezone(ZoneInfo("America/New_York")).time()
        assert time(9) <= local < time(21), at  # never in quiet hours
    kinds = {template for _, template in world.sent}
    assert kinds == COUNTED  # every kind of message shared the one budget
    assert "checkin_deferred" in world.logs  # check-ins waited rather than break it
    budget_skips = [s for s in world.steps if s.status == "skipped" and s.reason == "budget"]
    sent_steps = [s for s in world.steps if s.status == "sent"]
    assert len(budget_skips) + len(sent_steps) == 1 + 3  # each campaign message decided once
    assert world.customer.timezone == "America/New_York"  # the zone used is kept


def test_quiet_hours_in_two_time_zones() -> None:
    berlin, new_york = customer("de"), customer("en")
    evening = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)  # 21:30 in Berlin, 15:30 in New York
    assert check(new_york, evening, RULES).allowed
    late = check(berlin, evening, RULES)
    assert late.reason == "quiet_hours"
    assert late.until == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    morning = datetime(2026, 3, 3, 13, 30, tzinfo=UTC)  # 14:30 Berlin, 08:30 New York
    assert check(berlin, morning, RULES).allowed
    early = check(new_york, morning, RULES)
    assert early.reason == "quiet_hours" and early.until == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)

    # through the flows: the Berlin check-in waits for the morning, then goes
    job = JobDue(key=berlin.key, job_id=1, kind=JobKind.CHECKIN, payload={"reason": "welcome"})
    waited = decide(berlin, job, evening, POLICY)
    assert waited is not None and not waited.messages
    assert [j.due_at for j in waited.schedule] == [datetime(2026, 3, 3, 8, 0, tzinfo=UTC)]
    went = decide(berlin, job, datetime(2026, 3, 3, 8, 0, tzinfo=UTC), POLICY)
    assert went is not None and [m.template for m in went.messages] == ["checkin"]  # type: ignore[union-attr]
    assert went.customer.timezone == "Europe/Berlin"
    # a zone the customer has is kept over the language's
    travelled = berlin.evolve(timezone="America/New_York")
    assert check(travelled, evening, RULES).allowed


def test_a_campaign_message_in_quiet_hours_is_deferred_and_counted_once() -> None:
    night = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # 22:00 in New York
    decision = decide(
        customer("en"), campaign_job(OFFER, night), night, POLICY, Context(campaign=OFFER)
    )
    assert decision is not None and not decision.messages
    assert decision.records == (CampaignStep(1, 0, "deferred", "quiet_hours"),)
    assert [j.due_at for j in decision.schedule] == [datetime(2026, 3, 3, 14, 0, tzinfo=UTC)]


def test_a_buyer_leaves_the_nurture_sequence() -> None:
    world = World(customer("en"))
    world.add(MONDAY, JobKind.CAMPAIGN, dict(campaign_job(NURTURE, MONDAY).payload))
    world.run(MONDAY + DAY)
    assert [t for _, t in world.sent] == ["campaign_message"]
    bought = decide(
        world.customer,
        PurchaseRecorded(key=world.customer.key, order_id="o-1"),
        MONDAY + 3 * DAY,
        POLICY,
    )
    assert bought is not None
    world.customer = bought.customer
    world.run(MONDAY + 60 * DAY)
    assert [t for _, t in world.sent if t == "campaign_message"] == ["campaign_message"]
    assert world.steps[-1] == CampaignStep(2, 1, "left", "bought")
    assert not [d for d in world.queue if d.event.kind == JobKind.CAMPAIGN]  # nothing more


def test_a_lead_who_never_buys_gets_the_whole_sequence_on_its_days() -> None:
    world = World(customer("en"))
    world.add(AFTERNOON, JobKind.CAMPAIGN, dict(campaign_job(NURTURE, AFTERNOON).payload))
    world.run(AFTERNOON + 60 * DAY)
    assert [at for at, _ in world.sent] == [AFTERNOON, AFTERNOON + 7 * DAY, AFTERNOON + 21 * DAY]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"opted_out": True}, "stopped"), ({"case_id": "test:en#1"}, "case_open")],
)
def test_stop_and_an_open_case_suppress_campaigns(fields: dict[str, object], reason: str) -> None:
    someone = customer("en", **fields)
    decision = decide(someone, campaign_job(OFFER, MONDAY), MONDAY, POLICY, Context(campaign=OFFER))
    assert decision is not None and decision.messages == ()
    assert decision.records == (CampaignStep(1, 0, "skipped", reason),)
    assert decision.customer.contacts == ()  # nothing counted against the budget


def test_a_cancelled_campaign_sends_nothing_and_a_paused_one_waits() -> None:
    someone = customer("en")
    cancelled = CampaignInfo(1, "x", "campaign_message", "s", "cancelled")
    gone = decide(someone, campaign_job(OFFER, MONDAY), MONDAY, POLICY, Context(campaign=cancelled))
    assert gone is not None and not gone.messages and not gone.schedule
    paused = CampaignInfo(1, "x", "campaign_message", "s", "paused")
    held = decide(someone, campaign_job(OFFER, MONDAY), MONDAY, POLICY, Context(campaign=paused))
    assert held is not None and not held.messages and len(held.schedule) == 1


def test_spend_keeps_only_what_the_window_still_counts() -> None:
    someone = customer("en")
    for day in range(10):
        someone = spend(someone, MONDAY + day * DAY, RULES)
    assert len(someone.contacts) == 3 and someone.contacts[-1] == MONDAY + 9 * DAY
    verdict = check(someone, MONDAY + 9 * DAY + timedelta(hours=1), RULES)
    assert verdict.reason == "budget" and verdict.until == MONDAY + 14 * DAY


def test_settings_are_parsed_strictly() -> None:
    assert parse_budget("3/7d") == (3, 7 * DAY)
    assert parse_budget("5/2w") == (5, 14 * DAY)
    assert parse_quiet_hours("21:00-09:00") == (time(21), time(9))
    assert parse_quiet_hours("off") is None
    assert parse_zones("de=Europe/Berlin, en=Europe/London") == (
        ("de", "Europe/Berlin"),
        ("en", "Europe/London"),
    )
    for bad in ("3", "0/7d", "3/7x", "three/7d"):
        with pytest.raises(InvalidInput, match="CONTACT_BUDGET"):
            parse_budget(bad)
    for bad in ("9pm-9am", "09:00-09:00", "21:00"):
        with pytest.raises(InvalidInput, match="QUIET_HOURS"):
            parse_quiet_hours(bad)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        parse_zones("de=Mars/Olympus")


def test_a_customer_sets_their_time_zone_and_it_is_kept() -> None:
    someone = customer("de")
    asked = decide(someone, Command(key=someone.key, name="timezone"), MONDAY, POLICY)
    assert asked is not None and asked.customer.timezone is None
    (shown,) = asked.messages
    assert isinstance(shown, OutMessage) and shown.context["zone"] == "Europe/Berlin"
    assert shown.context["quiet"] == "21:00–09:00"
    wrong = decide(
        someone, Command(key=someone.key, name="timezone", args=("Mars",)), MONDAY, POLICY
    )
    assert wrong is not None and wrong.customer.timezone is None
    assert wrong.messages[0].context["unknown"] == "Mars"  # type: ignore[union-attr]
    moved = decide(
        someone,
        Command(key=someone.key, name="timezone", args=("america/new_york",)),
        MONDAY,
        POLICY,
    )
    assert moved is not None and moved.customer.timezone == "America/New_York"
    evening = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)  # 21:30 in Berlin, 15:30 in New York
    assert check(moved.customer, evening, RULES).allowed
    assert not check(someone, evening, RULES).allowed
