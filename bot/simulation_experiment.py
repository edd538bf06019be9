"""The simulation's experiment run: does the report find a difference that is really there?

`escalator simulate --experiment-lift L` adds an experiment on the referral prompt to the
simulation: variant B is the same prompt reworded, and the simulated customers act on B with a
probability higher by `L` than on A (the control). The report (`bot.experiments`) should then
show B's lift with an interval that excludes zero once there are enough customers, and say
"not enough data yet" while there are few.

Two ways to run it:

- through the whole bot (`bot.simulation.simulate`): customers live through the journey, the
  promoters among them are sent the prompt by the satisfaction flow, the outbox picks their
  variant and records the exposure with the delivery, and friends they bring join through the
  engine (the goal: a referral). Realistic, and as slow as the rest of the simulation.
- `--fast` (`run_fast`): each customer is shown the prompt once. Their variant comes from the
  production picker (`bot.messages.variants`: the keyed hash, the stored first exposure), the
  exposure is written with the statement a delivery uses, their answer with the statement a
  journey commit uses, and the report reads them back with the production SQL. What it skips is
  the conversation around the prompt (engine, flows, outbox), so 10,000 customers take seconds.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.delivery.outbox import Rendered
from bot.errors import InvalidInput
from bot.experiments import ExperimentReport, Experiments, NewVariant
from bot.flows.experiments import Goal
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.messages.variants import KEY_NAME
from bot.storage.types import Exposure, OutboxRow

__all__ = ["BASE_RATE", "EXPERIMENT", "TEMPLATE", "run_fast", "start_experiment"]

EXPERIMENT = "sim-referral-prompt"
TEMPLATE = "referral_invite"
B_TEXT = (
    "You've been a great customer, so here's a gift to share: your personal link "
    "https://t.me/{{ bot_username }}?start={{ code }} — a friend who joins through it is "
    "welcomed with a treat."
)
BASE_RATE = 0.2
"""In the fast run, the chance that a customer shown A answers it (B: this plus the lift)."""
BATCH = 500
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def check_lift(lift: float) -> float:
    if not 0 <= lift <= 0.5:
        raise InvalidInput(f"--experiment-lift is a probability between 0 and 0.5, not {lift}")
    return lift


async def start_experiment(rt: Runtime, goal: Goal, seed: int) -> None:
    """Variant A: the prompt as it is; B: reworded. Equal weights. The assignment key comes
    from the seed (an install's is random), so the same seed splits customers the same way."""
    await rt.storage.meta.set(KEY_NAME, f"simulation-{seed}")
    await Experiments(rt.storage.experiments, rt.templates, rt.clock).create(
        EXPERIMENT,
        TEMPLATE,
        [NewVariant("A", 1, None), NewVariant("B", 1, B_TEXT)],
        locale=None,
        goal=goal,
        window=timedelta(days=7),
        author="simulation",
    )
    await rt.variants.refresh(force=True)


async def run_fast(
    settings: Settings, customers: int, seed: int, lift: float, database: Path
) -> ExperimentReport:
    """Show the prompt to `customers` simulated customers once each; report (see the module)."""
    check_lift(lift)
    if not 1 <= customers <= 1_000_000:
        raise InvalidInput("the fast experiment run takes 1 to 1,000,000 customers")
    clock = ManualClock(START)
    async with open_runtime(settings, clock, {}, _Desk(), database=database) as rt:
        if await rt.storage.experiments.all():
            raise InvalidInput(f"{database} already has experiments: simulate needs a fresh one")
        await start_experiment(rt, Goal.REPLY, seed)
        for first in range(0, customers, BATCH):
            idents = [f"sim:c{n:06d}" for n in range(first, min(first + BATCH, customers))]
            choices = await asyncio.gather(
                *(rt.variants.choose(ident, TEMPLATE, "en") for ident in idents)
            )
            shown = [
                Exposure(choice.experiment, ident, choice.variant)
                for ident, choice in zip(idents, choices, strict=True)
                if choice is not None  # the experiment runs on the prompt in English
            ]
            await rt.storage.experiments.expose(shown, clock.now())
            clock.advance(timedelta(minutes=10))
            answered = [
                e.customer_id
                for e in shown
                if random.Random(f"{seed}:{e.customer_id}").random()
                < BASE_RATE + (lift if e.variant == "B" else 0.0)
            ]
            await rt.storage.experiments.note_replies(answered, clock.now())
            clock.advance(timedelta(minutes=10))
        return await Experiments(rt.storage.experiments, rt.templates, clock).report(EXPERIMENT)


class _Desk:
    """The fast run has no conversations, so nothing reaches the staff desk."""

    format = Format.MRKDWN

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None
