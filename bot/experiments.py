"""Experiments as an admin runs them: create one on a message, read its report, stop it and
ship the winner as the message's new version (so the template history can roll it back).

The report's rules live here, once: every outcome of every variant gets its rate with a 95%
Wilson interval; each variant is compared with the first (the control) on the experiment's goal
by Newcombe's interval for the difference and a two-proportion z-test (`bot.stats`). Below
`MIN_EXPOSURES` customers per variant, or while the goal was reached (or missed) fewer than
`MIN_EVENTS` times in a variant, the normal approximations behind those figures do not hold
and the report says "not enough data yet" instead of a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.errors import InvalidInput
from bot.flows.experiments import (
    MAX_WINDOW_DAYS,
    Experiment,
    Goal,
    Variant,
    check_name,
    check_variants,
)
from bot.messages.validation import ValidationFailed
from bot.messages.versions import TemplateVersions
from bot.stats import Difference, difference, two_proportion_test, wilson
from bot.storage.protocols import ExperimentStore
from bot.storage.types import VariantOutcomes

__all__ = [
    "MIN_EVENTS",
    "MIN_EXPOSURES",
    "Comparison",
    "ExperimentReport",
    "Experiments",
    "Rate",
    "VariantReport",
    "build_report",
]

MIN_EXPOSURES = 100
"""Customers per variant before a report draws a conclusion."""
MIN_EVENTS = 5
"""Times the goal was reached, and missed, in each variant before a report draws a conclusion."""
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.successes / self.trials if self.trials else 0.0

    @classmethod
    def of(cls, successes: int, trials: int) -> Rate:
        low, high = wilson(successes, trials)
        return cls(successes, trials, low, high)


@dataclass(frozen=True)
class VariantReport:
    label: str
    weight: int
    exposed: int
    rates: dict[Goal, Rate]
    mean_score: float | None


@dataclass(frozen=True)
class Comparison:
    variant: str
    control: str
    lift: Difference
    """The variant's goal rate minus the control's, with its 95% interval."""
    p_value: float


@dataclass(frozen=True)
class ExperimentReport:
    experiment: Experiment
    variants: tuple[VariantReport, ...]
    comparisons: tuple[Comparison, ...]
    enough: bool
    """Enough data for the comparisons to mean something (see the module's docstring)."""

    def lines(self) -> list[str]:
        e = self.experiment
        since = e.created_at.strftime("%Y-%m-%d %H:%M UTC")
        state = "running" if e.status == "running" else "stopped"
        shipped = f", shipped {e.shipped}" if e.shipped else ""
        out = [
            f"experiment {e.name} on {e.template} [{e.locale}]: {state} since {since}{shipped}",
            f"goal: {e.goal.value} within {e.window_days} days of seeing the message",
        ]
        for v in self.variants:
            out.append("")
            out.append(f"variant {v.label} (weight {v.weight}): {v.exposed:,} exposed")
            for goal in Goal:
                mark = "  <- goal" if goal is e.goal else ""
                out.append(f"  {goal.value:<10}{_rate(v.rates[goal])}{mark}")
            if v.mean_score is not None:
                out.append(f"  {'score':<10}{v.mean_score:6.2f} mean of the first rating given")
        out.append("(rates with their 95% confidence interval, Wilson score method)")
        out.append("")
        if not self.enough:
            out.append(
                f"not enough data yet: each variant needs at least {MIN_EXPOSURES} customers "
                f"exposed and {e.goal.value} reached and missed at least {MIN_EVENTS} times "
                "each before the difference can be judged"
            )
            return out
        for c in self.comparisons:
            verdict = (
                f"{c.variant} is {'better' if c.lift.estimate > 0 else 'worse'} than {c.control}"
                f" (p < {SIGNIFICANCE})"
                if c.p_value < SIGNIFICANCE and c.lift.excludes_zero
                else f"no real difference shown between {c.variant} and {c.control} yet"
            )
            out.append(
                f"{c.variant} vs {c.control} on {e.goal.value}: {_points(c.lift.estimate)} "
                f"(95% CI {_points(c.lift.low)} to {_points(c.lift.high)}), "
                f"{_p(c.p_value)} (two-proportion z-test): {verdict}"
            )
        return out


def _rate(rate: Rate) -> str:
    if not rate.trials:
        return "     -"
    return f"{rate.value:6.1%}  (95% CI {rate.low:.1%} to {rate.high:.1%})"


def _p(value: float) -> str:
    return "p < 0.0001" if value < 0.0001 else f"p = {value:.4f}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def build_report(experiment: Experiment, outcomes: Sequence[VariantOutcomes]) -> ExperimentReport:
    by_label = {o.variant: o for o in outcomes}
    variants: list[VariantReport] = []
    for variant in experiment.variants:
        o = by_label.get(variant.label) or VariantOutcomes(variant.label, 0, 0, 0, 0.0, 0, 0)
        counts = {
            Goal.REPLY: o.replied,
            Goal.RATING: o.rated,
            Goal.PURCHASE: o.purchased,
            Goal.REFERRAL: o.referred,
        }
        variants.append(
            VariantReport(
                variant.label,
                variant.weight,
                o.exposed,
                {goal: Rate.of(n, o.exposed) for goal, n in counts.items()},
                o.score_total / o.rated if o.rated else None,
            )
        )
    goal = experiment.goal
    enough = all(
        v.exposed >= MIN_EXPOSURES
        and v.rates[goal].successes >= MIN_EVENTS
        and v.exposed - v.rates[goal].successes >= MIN_EVENTS
        for v in variants
    )
    comparisons: list[Comparison] = []
    control = variants[0]
    if all(v.exposed for v in variants):
        a = control.rates[goal]
        for v in variants[1:]:
            b = v.rates[goal]
            lift = difference(a.successes, a.trials, b.successes, b.trials)
            test = two_proportion_test(a.successes, a.trials, b.successes, b.trials)
            comparisons.append(Comparison(v.label, control.label, lift, test.p_value))
    return ExperimentReport(experiment, tuple(variants), tuple(comparisons), enough)


@dataclass(frozen=True)
class NewVariant:
    label: str
    weight: int
    source: str | None
    """None: the message's current text (in the experiment's locale)."""


class Experiments:
    def __init__(self, store: ExperimentStore, versions: TemplateVersions, clock: Clock) -> None:
        self._store = store
        self._versions = versions
        self._clock = clock

    async def create(
        self,
        name: str,
        template: str,
        variants: Sequence[NewVariant],
        *,
        locale: str | None,
        goal: Goal,
        window: timedelta,
        author: str,
    ) -> Experiment:
        check_name(name)
        spec = self._versions.catalog[template]
        if spec.audience != "customer":
            raise InvalidInput(
                f"{template} is a {spec.audience} message: experiments are on messages to customers"
            )
        chosen = self._versions.locale(locale)
        days = window / timedelta(days=1)
        if days != int(days) or not 1 <= days <= MAX_WINDOW_DAYS:
            raise InvalidInput(f"the window is whole days, 1 to {MAX_WINDOW_DAYS} (e.g. 7d)")
        stored: list[Variant] = []
        for new in variants:
            source = new.source
            if source is None:
                source = self._versions.current(template, chosen)
                if source is None:
                    raise InvalidInput(f"{template} has no text in {chosen!r} to start from")
            problems = self._versions.check(template, source, chosen)
            if problems:
                raise ValidationFailed(f"{template} (variant {new.label})", problems)
            stored.append(Variant(new.label, new.weight, source))
        experiment = Experiment(
            name=name,
            template=template,
            locale=chosen,
            goal=goal,
            window_days=int(days),
            variants=check_variants(stored),
            author=author[:80] or "admin",
            created_at=self._clock.now(),
        )
        await self._store.create(experiment)
        return experiment

    async def get(self, name: str) -> Experiment:
        experiment = await self._store.get(name)
        if experiment is None:
            raise InvalidInput(f"no experiment named {name!r} (`escalator experiments list`)")
        return experiment

    async def report(self, name: str) -> ExperimentReport:
        experiment = await self.get(name)
        return build_report(experiment, await self._store.outcomes(name))

    async def stop(self, name: str, *, ship: str | None, author: str) -> int | None:
        """End the experiment; with `ship`, that variant's text becomes the message's current
        version, a new one (returned), which `templates rollback` can undo."""
        experiment = await self.get(name)
        if experiment.status != "running":
            raise InvalidInput(f"experiment {name} was already stopped")
        shipped = None if ship is None else experiment.variant(ship)
        number = None
        if shipped is not None:
            number = await self._versions.save(
                experiment.template,
                shipped.source,
                locale=experiment.locale,
                author=author,
                comment=f"experiment {name}: variant {shipped.label} shipped",
            )
        label = None if shipped is None else shipped.label
        if not await self._store.stop(name, self._clock.now(), label):
            raise InvalidInput(f"experiment {name} was stopped meanwhile")
        return number
