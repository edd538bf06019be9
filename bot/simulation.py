"""A seeded simulation of customers going through the real engine, flows, storage and scheduler.

Synthetic customers arrive over the first two thirds of the period; each has a temperament
(how happy, how responsive, how likely to buy and to recommend) drawn from a random generator of
their own, seeded from the run's seed and their id, so the outcome does not depend on the order
in which concurrent work happens to finish. The clock is fake and moves in six-hour steps; in
each step customers answer what they received, staff pick up escalations, and the scheduler and
outbox run as they do in production. The same seed gives the same figures.

It is a demo, a regression check and a load generator.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.api import record_purchase, staff_act
from bot.app import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.delivery.outbox import Rendered
from bot.errors import InvalidInput
from bot.flows.model import ButtonPress, CustomerKey, Event, Profile, Start, Text
from bot.flows.referral import code_for
from bot.messages.templates import Format
from bot.reports import JourneyReport, journey_report
from bot.storage.types import OutboxRow

__all__ = ["simulate"]

CHANNEL = "sim"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jack", "Kim", "Lea")


@dataclass
class Persona:
    happiness: float
    responsiveness: float
    buys: float
    recommends: float
    rng: random.Random


@dataclass
class Inbox:
    """What the outbox delivered to each synthetic customer since they last looked."""

    format: Format = Format.TEXT
    received: dict[str, list[tuple[str, tuple[tuple[str, str], ...]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        buttons = tuple(b for line in message.buttons for b in line)
        self.received[row.key.external_id].append((row.template, buttons))
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
    def __init__(self, rt: Runtime, clock: ManualClock, seed: int, inbox: Inbox) -> None:
        self.rt = rt
        self.clock = clock
        self.seed = seed
        self.inbox = inbox
        self.people: dict[str, Persona] = {}
        self.arrivals: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        self.purchases: dict[int, list[str]] = defaultdict(list)
        self.cases: dict[int, list[str]] = defaultdict(list)
        self.friends = 0

    def persona(self, ident: str, referred: bool) -> Persona:
        rng = random.Random(f"{self.seed}:{ident}")
        # Friends of advocates start a little happier: they were told what to expect.
        happiness = min(1.0, rng.betavariate(5, 2) + (0.05 if referred else 0.0))
        person = Persona(
            happiness, rng.uniform(0.4, 0.95), rng.uniform(0.3, 0.8), rng.random(), rng
        )
        self.people[ident] = person
        return person

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
        for _ in range(3):  # customers answer; answers can bring follow-up questions
            replies = self._answers(index)
            if not replies:
                break
            await self.act(replies)
            await self.rt.settle()

    def _start(self, ident: str, payload: str | None) -> Start:
        person = self.persona(ident, payload is not None)
        name = person.rng.choice(NAMES)
        if payload is None and person.rng.random() < 0.3:
            payload = person.rng.choice(("spring_sale", "newsletter", "qr_store"))
        if person.rng.random() < person.buys:
            self.purchases[self._later(person, 4, 60)].append(ident)
        return Start(key=_key(ident), payload=payload, profile=Profile(name, "en"))

    def _later(self, person: Persona, low: int, high: int) -> int:
        return self.now_index + person.rng.randint(low, high)

    @property
    def now_index(self) -> int:
        return int((self.clock.now() - START) / STEP)

    def _answers(self, index: int) -> list[Event]:
        events: list[Event] = []
        received = self.inbox.received
        for ident in sorted(received):
            messages, received[ident] = received[ident], []
            person = self.people[ident]
            for template, buttons in messages:
                event = self._answer(ident, person, template, buttons, index)
                if event is not None:
                    events.append(event)
        return events

    def _answer(
        self,
        ident: str,
        person: Persona,
        template: str,
        buttons: tuple[tuple[str, str], ...],
        index: int,
    ) -> Event | None:
        rng = person.rng
        key = _key(ident)
        if template == "referral_invite":
            if rng.random() < person.recommends * person.happiness:
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


def _key(ident: str) -> CustomerKey:
    return CustomerKey(CHANNEL, ident)


async def simulate(
    settings: Settings, customers: int, days: int, seed: int, database: Path
) -> JourneyReport:
    """Run the simulation on `database` (which must hold no customers) and report."""
    clock = ManualClock(START)
    inbox = Inbox()
    staff = StaffQueue()
    async with open_runtime(settings, clock, {CHANNEL: inbox}, staff, database=database) as rt:
        if await rt.storage.reports.count_customers():
            raise InvalidInput(f"{database} already has customers: simulate needs a fresh database")
        world = World(rt, clock, seed, inbox)
        arrivals = random.Random(seed)
        steps = int(timedelta(days=days) / STEP)
        for n in range(customers):
            world.arrivals[arrivals.randrange(max(1, steps * 2 // 3))].append((f"c{n:05d}", None))
        for index in range(steps):
            await world.step(index)
            clock.advance(STEP)
        await rt.settle()
        return await journey_report(rt.storage.reports)
