"""Where other features put their reports on the dashboard (campaigns, experiments, ...).

A feature registers a `ReportSection` (at the composition root, `bot.dashboard`); the page
`/admin/reports` lists every section with its entries: a title, a status, a few figures and,
if given, a chart drawn by the dashboard's own script from the typed data here (so a feature
never writes HTML or JavaScript of its own, and its values are escaped like every other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.flows.model import Json

__all__ = ["Chart", "ReportEntry", "ReportSection", "Series"]


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Chart:
    kind: Literal["bar", "line"]
    labels: tuple[str, ...]
    series: tuple[Series, ...]

    def data(self) -> dict[str, Json]:
        """What the page's script draws."""
        return {
            "kind": self.kind,
            "labels": list(self.labels),
            "series": [{"label": s.label, "values": list(s.values)} for s in self.series],
        }


@dataclass(frozen=True)
class ReportEntry:
    title: str
    status: str = ""
    figures: tuple[tuple[str, str], ...] = ()
    """(label, value) pairs, shown as a small table."""
    chart: Chart | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Plain sentences, e.g. "not enough data yet"."""


class ReportSection(Protocol):
    """One kind of report (all campaigns, all experiments)."""

    @property
    def title(self) -> str: ...

    async def entries(self) -> Sequence[ReportEntry]:
        """What exists now, newest first."""
