"""A seeded simulation of customers going through the real engine, flows, storage and scheduler.

Synthetic customers arrive over the first two thirds of the period; each has a temperament
(how happy, how responsive, how likely to buy and to recommend) drawn from a random generator of
their own, seeded from the run's seed and their id, so the outcome does not depend on the order
in which concurrent work happens to finish. The clock is fake and moves in six-hour steps; in
each step customers answer what they received, staff pick up escalations, and the scheduler and
outbox run as they do in production. The same seed gives the same figures.

It is a demo, a regression check and a load generator. Memory grows with the number of
customers (a temperament of four numbers each, and their rows in the database, which is on
disk), so `MAX_CUSTOMERS` bounds it; randomness for each decision is drawn from a generator
seeded by the customer and the moment, so nothing else per customer is kept. After every
simulated day the job invariants are checked (`bot.delivery.invariants`).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.api import record_purchase, staff_act
from bot.app import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.delivery.outbox import Rendered
from bot.errors import InvalidInput, InvariantBroken
from bot.flows.experiments import Goal
from bot.flows.invariants import job_problems
from bot.flows.model import ButtonPress, CustomerKey, Event, JobKind, Profile, Start, Text
from bot.flows.referral import code_for
from bot.messages.templates import Format
from bot.reports import JourneyReport, journey_report
from bot.simulation_experiment import check_lift, start_experiment
from bot.storage import Storage
from bot.storage.types import OutboxRow

__all__ = ["MAX_CUSTOMERS", "MAX_DAYS", "check_jobs", "simulate"]

CHANNEL = "sim"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jack", "Kim", "Lea")


MAX_CUSTOMERS = 500_000
MAX_DAYS = 3_650


@dataclass(slots=True)
class Persona:
    happiness: float
    responsiveness: float
    buys: float
    recommends: float


@dataclass(frozen=True, slots=True)
class Received:
    template: str
    buttons: tuple[tuple[str, str], ...]
    variant: str | None
    """The experiment variant of the message, if it was one."""


@dataclass
class Inbox:
    """What the outbox delivered to each synthetic customer since they last looked."""

    format: Format = Format.TEXT
    received: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        buttons = tuple(b for line in message.buttons for b in line)
        self.received[row.key.external_id].append(Received(row.template, buttons, message.variant))
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None


@dataclass
class StaffQueue:
    format: Format = Format.MRKDWN
    opened: list[str] = field(default_factory=list)

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        if row.template in {"staff_case_opened", "staff_case_reopened"}:
            self.opened.append(str(row.context["case_id"]))
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None


class World:
    def __init__(
        self, rt: Runtime, clock: ManualClock, seed: int, inbox: Inbox, lift: float = 0.0
    ) -> None:
        self.rt = rt
        self.lift = lift
        """How much likelier customers are to act on variant B of the referral prompt."""
        self.clock = clock
        self.seed = seed
        self.inbox = inbox
        self.people: dict[str, Persona] = {}
        self.arrivals: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        self.purchases: dict[int, list[str]] = defaultdict(list)
        self.cases: dict[int, list[str]] = defaultdict(list)
        self.friends = 0

    def persona(self, ident: str, referred: bool) -> tuple[Persona, random.Random]:
        rng = random.Random(f"{self.seed}:{ident}")
        # Friends of advocates start a little happier: they were told what to expect.
        happiness = min(1.0, rng.betavariate(5, 2) + (0.05 if referred else 0.0))
        person = Persona(happiness, rng.uniform(0.4, 0.95), rng.uniform(0.3, 0.8), rng.random())
        self.people[ident] = person
        return person, rng

    def rng(self, ident: str, index: int, turn: int) -> random.Random:
        """The randomness of one decision: the same seed, customer and moment, the same draw."""
        return random.Random(f"{self.seed}:{ident}:{index}:{turn}")

    async def act(self, events: list[Event]) -> None:
        await asyncio.gather(*(self.rt.engine.handle(event) for event in events))

    async def step(self, index: int) -> None:
        arriving = sorted(self.arrivals.pop(index, []))
        await self.act([self._start(ident, payload) for ident, payload in arriving])
        for ident in sorted(self.purchases.pop(index, [])):
            await record_purchase(
                self.rt.engine, self.rt.storage.journey, _key(ident), f"{ident}-{index}", 25.0
            )
        for case_id in sorted(self.cases.pop(index, [])):
            await self._staff_resolves(case_id)
        await self.rt.settle()
        for round_ in range(3):  # customers answer; answers can bring follow-up questions
            replies = self._answers(index, round_)
            if not replies:
                break
            await self.act(replies)
            await self.rt.settle()

    def _start(self, ident: str, payload: str | None) -> Start:
        person, rng = self.persona(ident, payload is not None)
        name = rng.choice(NAMES)
        if payload is None and rng.random() < 0.3:
            payload = rng.choice(("spring_sale", "newsletter", "qr_store"))
        if rng.random() < person.buys:
            self.purchases[self.now_index + rng.randint(4, 60)].append(ident)
        return Start(key=_key(ident), payload=payload, profile=Profile(name, "en"))

    @property
    def now_index(self) -> int:
        return int((self.clock.now() - START) / STEP)

    def _answers(self, index: int, round_: int) -> list[Event]:
        events: list[Event] = []
        received = self.inbox.received
        for ident in sorted(received):
            messages, received[ident] = received[ident], []
            person = self.people[ident]
            for turn, message in enumerate(messages):
                rng = self.rng(ident, index, round_ * 1000 + turn)
                event = self._answer(ident, person, rng, message, index)
                if event is not None:
                    events.append(event)
        return events

    def _answer(
        self,
        ident: str,
        person: Persona,
        rng: random.Random,
        message: Received,
        index: int,
    ) -> Event | None:
        key = _key(ident)
        template, buttons = message.template, message.buttons
        if template == "referral_invite":
            boost = self.lift if message.variant == "B" else 0.0
            if rng.random() < person.recommends * person.happiness + boost:
                code = code_for(key.id, self.rt.policy.referral_secret)
                for _ in range(rng.choice((1, 1, 2, 3))):
                    self.friends += 1
                    friend = f"f{self.friends:05d}"
                    self.arrivals[index + rng.randint(2, 40)].append((friend, code))
            return None
        if template == "escalated":
            self.cases[index + rng.randint(1, 8)].append(f"{key.id}#")
            return None
        if not buttons or rng.random() > person.responsiveness:
            if template.startswith("followup_") and rng.random() < 0.5:
                return Text(key=key, text=rng.choice(("fast delivery", "the quality", "ok")))
            return None
        data = dict(buttons)
        if template == "checkin":
            mood = person.happiness + rng.uniform(-0.25, 0.25)
            label = next(
                label
                for label, value in buttons
                if value.endswith("great" if mood > 0.7 else "okay" if mood > 0.35 else "bad")
            )
            return ButtonPress(key=key, data=data[label])
        if template in {"nps_question", "csat_question"}:
            top = len(buttons) - 1
            score = round(min(max(rng.gauss(person.happiness * top + 0.7, 1.4), 0), top))
            return ButtonPress(key=key, data=buttons[score][1])
        if template.startswith("followup_"):
            if rng.random() < 0.6:
                return Text(key=key, text=rng.choice(("fast delivery", "it broke", "too pricey")))
            return ButtonPress(key=key, data=buttons[0][1])
        if template == "recovery_question":
            return ButtonPress(key=key, data=buttons[0 if rng.random() < 0.75 else 1][1])
        return None

    async def _staff_resolves(self, prefix: str) -> None:
        customer = await self.rt.storage.journey.customer(CustomerKey.parse(prefix[:-1]))
        if customer is None or customer.case_id is None:
            return
        case = customer.case_id
        try:
            cases = self.rt.storage.cases
            await staff_act(self.rt.engine, cases, case, "reply", "Sim", "Sorted it!")
            await staff_act(self.rt.engine, cases, case, "resolve", "Sim")
        except InvalidInput:
            return


async def check_jobs(storage: Storage) -> None:
    """Raise `InvariantBroken` if any customer's live jobs break `bot.flows.invariants`."""
    jobs: dict[CustomerKey, list[tuple[JobKind, str]]] = defaultdict(list)
    after = 0
    while page := await storage.jobs.pending(after, 5000):
        for job in page:
            jobs[job.key].append((job.kind, job.subject))
        after = page[-1].id
    problems: list[str] = []
    for key, live in jobs.items():
        subjects = [job for job in live if job[0] in {JobKind.SLA, JobKind.RECOVERY}]
        if len(set(live)) == len(live) and not subjects:
            continue  # nothing that depends on the customer's state: no need to load them
        customer = await storage.journey.customer(key)
        if customer is not None:
            problems += job_problems(customer, live)
    if problems:
        raise InvariantBroken(problems)


def _key(ident: str) -> CustomerKey:
    return CustomerKey(CHANNEL, ident)


async def simulate(
    settings: Settings,
    customers: int,
    days: int,
    seed: int,
    database: Path,
    progress: Callable[[int, int], None] = lambda done, total: None,
    *,
    experiment_lift: float | None = None,
) -> JourneyReport:
    """Run the simulation on `database` (which must hold no customers) and report; `progress`
    is told (steps done, steps in all) as the simulated clock moves. Raises `InvariantBroken`
    if a customer's jobs are ever inconsistent with their state.

    With `experiment_lift`, an experiment runs on the referral prompt in which customers act
    on variant B that much more often (`bot.simulation_experiment`); its report is read from
    `database` afterwards."""
    if not 1 <= customers <= MAX_CUSTOMERS or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(
            f"simulate takes 1 to {MAX_CUSTOMERS:,} customers over 1 to {MAX_DAYS:,} days "
            "(its memory grows with the customers)"
        )
    clock = ManualClock(START)
    inbox = Inbox()
    staff = StaffQueue()
    async with open_runtime(settings, clock, {CHANNEL: inbox}, staff, database=database) as rt:
        if await rt.storage.reports.count_customers():
            raise InvalidInput(f"{database} already has customers: simulate needs a fresh database")
        lift = 0.0
        if experiment_lift is not None:
            lift = check_lift(experiment_lift)
            await start_experiment(rt, Goal.REFERRAL, seed)
        world = World(rt, clock, seed, inbox, lift)
        arrivals = random.Random(seed)
        steps = int(timedelta(days=days) / STEP)
        for n in range(customers):
            world.arrivals[arrivals.randrange(max(1, steps * 2 // 3))].append((f"c{n:05d}", None))
        per_day = int(timedelta(days=1) / STEP)
        for index in range(steps):
            await world.step(index)
            clock.advance(STEP)
            if (index + 1) % per_day == 0:
                await check_jobs(rt.storage)
            progress(index + 1, steps)
        await rt.settle()
        await check_jobs(rt.storage)
        return await journey_report(
            rt.storage.reports, scale=settings.survey_scale, zone=settings.tz
        )
