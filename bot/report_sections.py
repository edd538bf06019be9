"""Campaign and experiment reports as dashboard sections: the figures `escalator campaigns show`
and `escalator experiments report` print, from the same code, as typed entries and charts the
dashboard draws (`bot.handlers.admin.sections`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot import campaign_service
from bot.experiments import SIGNIFICANCE, ExperimentReport, build_report
from bot.flows.experiments import Goal
from bot.handlers.admin.sections import Chart, ReportEntry, Series
from bot.storage.campaign_types import Campaign, CampaignReport
from bot.storage.protocols import CampaignStore, ExperimentStore

__all__ = ["CampaignsSection", "ExperimentsSection", "campaign_entry", "experiment_entry"]


def campaign_entry(campaign: Campaign, report: CampaignReport, window: timedelta) -> ReportEntry:
    skipped = sum(report.skipped.values())
    reasons = sorted(report.skipped.items())
    days = f"{window.total_seconds() / 86400:g}"
    figures: list[tuple[str, str]] = [
        ("segment", campaign.segment),
        ("template", campaign.template),
        ("targeted", f"{report.targeted:,}"),
        ("sent", f"{report.sent:,}"),
        ("waiting", f"{report.planned:,}"),
        ("deferred (quiet hours)", f"{report.deferred:,}"),
        ("skipped", f"{skipped:,}"),
        *((f"skipped: {reason.replace('_', ' ')}", f"{n:,}") for reason, n in reasons),
        ("blocked the bot", f"{report.blocked:,}"),
    ]
    if campaign.stop_on_purchase:
        figures.append(("left the sequence (bought)", f"{report.left:,}"))
    figures += [
        (f"replied within {days} days", f"{report.replies:,}"),
        (f"bought within {days} days", f"{report.purchases:,}"),
        (f"referred within {days} days", f"{report.referrals:,}"),
    ]
    chart = Chart(
        "bar",
        ("targeted", "sent", "replied", "bought", "referred"),
        (
            Series(
                "customers",
                tuple(
                    float(n)
                    for n in (
                        report.targeted,
                        report.sent,
                        report.replies,
                        report.purchases,
                        report.referrals,
                    )
                ),
            ),
        ),
    )
    return ReportEntry(
        title=campaign.name,
        status=campaign.status,
        figures=tuple(figures),
        chart=chart,
        notes=(campaign_service.describe(campaign),),
    )


def experiment_entry(report: ExperimentReport) -> ReportEntry:
    e = report.experiment
    goal = e.goal
    figures: list[tuple[str, str]] = [
        ("template", f"{e.template} [{e.locale}]"),
        ("goal", f"{goal.value} within {e.window_days} days"),
    ]
    for v in report.variants:
        rate = v.rates[goal]
        figures.append(
            (
                f"variant {v.label} (weight {v.weight})",
                f"{rate.value:.1%} of {v.exposed:,} (95% CI {rate.low:.1%} to {rate.high:.1%})",
            )
        )
    notes: list[str] = []
    if not report.enough:
        notes.append("Not enough data yet to judge the difference.")
    else:
        for c in report.comparisons:
            real = c.p_value < SIGNIFICANCE and c.lift.excludes_zero
            notes.append(
                f"{c.variant} vs {c.control}: {c.lift.estimate * 100:+.1f} points "
                f"(95% CI {c.lift.low * 100:+.1f} to {c.lift.high * 100:+.1f}), "
                f"p = {c.p_value:.3g}: "
                + (
                    f"{c.variant} is {'better' if c.lift.estimate > 0 else 'worse'}."
                    if real
                    else "no real difference shown yet."
                )
            )
    if e.shipped:
        notes.append(f"Stopped; variant {e.shipped} shipped.")
    labels = tuple(v.label for v in report.variants)
    chart = Chart(
        "bar",
        labels,
        tuple(
            Series(
                f"{g.value} rate, %" + (" (goal)" if g is goal else ""),
                tuple(round(v.rates[g].value * 100, 2) for v in report.variants),
            )
            for g in Goal
        ),
    )
    return ReportEntry(
        title=e.name, status=e.status, figures=tuple(figures), chart=chart, notes=tuple(notes)
    )


class CampaignsSection:
    def __init__(self, store: CampaignStore, window: timedelta) -> None:
        self._store, self._window = store, window

    @property
    def title(self) -> str:
        return "Campaigns"

    async def entries(self) -> Sequence[ReportEntry]:
        campaigns = sorted(await self._store.all(), key=lambda c: c.created_at, reverse=True)
        return [
            campaign_entry(c, await self._store.report(c.id, self._window), self._window)
            for c in campaigns
        ]


class ExperimentsSection:
    def __init__(self, store: ExperimentStore) -> None:
        self._store = store

    @property
    def title(self) -> str:
        return "Experiments"

    async def entries(self) -> Sequence[ReportEntry]:
        found = sorted(await self._store.all(), key=lambda e: e.created_at, reverse=True)
        return [
            experiment_entry(build_report(e, await self._store.outcomes(e.name))) for e in found
        ]
