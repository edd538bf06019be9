"""Typed values of segments and staff tags crossing the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Segment", "SegmentMember", "Tag"]


@dataclass(frozen=True)
class Segment:
    name: str
    rules: str
    """The rule as JSON text (`bot.flows.segments`), normalised."""
    description: str
    author: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SegmentMember:
    """One customer of a segment's sample, as an operator sees them in a preview."""

    id: str
    first_name: str | None
    stage: str
    language: str | None
    created_at: datetime


@dataclass(frozen=True)
class Tag:
    tag: str
    by: str
    at: datetime
