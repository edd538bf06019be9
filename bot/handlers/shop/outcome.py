"""What translating a delivery can give besides an order update."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ignored"]


@dataclass(frozen=True)
class Ignored:
    """A well-formed delivery the bot has no use for (another topic): acknowledged, not kept."""

    reason: str
