"""Injected time. Nothing in Escalator reads the system clock except `SystemClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """The real time plus an offset that only grows (the playground's `/wait`), or a fixed time.

    With `start` given, time stands still until `advance` moves it: what tests want.
    """

    def __init__(self, start: datetime | None = None, offset: timedelta = timedelta(0)) -> None:
        self._fixed = start
        self.offset = offset

    def now(self) -> datetime:
        base = self._fixed if self._fixed is not None else datetime.now(UTC)
        return base + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
