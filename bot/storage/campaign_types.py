"""Typed values of campaigns crossing the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.flows.model import CampaignInfo

__all__ = ["Campaign", "CampaignReport", "NewCampaign"]


@dataclass(frozen=True)
class NewCampaign:
    name: str
    segment: str
    template: str
    steps: tuple[int, ...]
    stop_on_purchase: bool
    start_at: datetime | None
    """When the first message goes (None: when started)."""
    author: str
    at: datetime


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    segment: str
    template: str
    steps: tuple[int, ...]
    stop_on_purchase: bool
    status: str
    start_at: datetime | None
    started_at: datetime | None
    author: str
    created_at: datetime

    def info(self) -> CampaignInfo:
        status = self.status if self.status in ("running", "paused", "cancelled") else "draft"
        return CampaignInfo(
            id=self.id,
            name=self.name,
            template=self.template,
            segment=self.segment,
            status=status,  # type: ignore[arg-type]
            steps=self.steps,
            stop_on_purchase=self.stop_on_purchase,
        )


@dataclass(frozen=True)
class CampaignReport:
    """What a campaign did. Messages count per step; replies, purchases and referrals count
    customers who did so within the attribution window after a message of it reached them."""

    targeted: int = 0
    """Customers in the segment when it started."""
    planned: int = 0
    """Messages still to go (waiting for their time, or deferred)."""
    sent: int = 0
    deferred: int = 0
    """Messages that had to wait (quiet hours) at least once."""
    skipped: dict[str, int] = field(default_factory=dict)
    """By reason: budget, quiet_hours, stopped, case_open, blocked, cancelled."""
    left: int = 0
    """Customers who left a sequence that stops on purchase (they bought)."""
    blocked: int = 0
    """Customers who were sent a message and have blocked the bot since (or before)."""
    replies: int = 0
    purchases: int = 0
    referrals: int = 0
