"""The knobs flows need from configuration, as one immutable value (no settings import in flows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["FlowPolicy"]


@dataclass(frozen=True)
class FlowPolicy:
    checkin_delay: timedelta = timedelta(days=2)
    """How long after capture the first check-in is sent."""
    max_text_length: int = 4000
    """Longer customer text is accepted but trimmed where it is quoted back."""
