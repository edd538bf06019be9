"""Send pacing: an overall rate and a per-chat rate, as in Telegram's published limits.

Both use the generic cell rate algorithm (a reservation per call, no background task): a
caller reserves its slot without awaiting, then sleeps until it. Slots are handed out in call
order, so pacing is fair, and a caller that is cancelled while waiting wastes only its slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self,
        overall: float,
        per_chat: float,
        *,
        chat_burst: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # 3% under the limit: requests spaced exactly 1/rate apart can still arrive bunched by
        # network jitter, and a server counting a sliding one-second window would see rate + 1.
        self._overall_interval = 1.03 / overall
        self._chat_interval = 1.0 / per_chat
        self._chat_tolerance = (chat_burst - 1) * self._chat_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._overall_next = 0.0
        self._chat_tat: dict[str, float] = {}

    async def acquire(self, chat: str) -> None:
        """Wait until one more message to `chat` keeps within both rates."""
        now = self._monotonic()
        tat = max(self._chat_tat.get(chat, now), now)
        chat_at = max(now, tat - self._chat_tolerance)
        self._chat_tat[chat] = max(tat, chat_at) + self._chat_interval
        if chat_at > now:
            await self._sleep(chat_at - now)
            now = self._monotonic()
        send_at = max(now, self._overall_next)
        self._overall_next = send_at + self._overall_interval
        if send_at > now:
            await self._sleep(send_at - now)
        if len(self._chat_tat) > 10_000:
            self._forget_idle(self._monotonic())

    def _forget_idle(self, now: float) -> None:
        for chat in [chat for chat, tat in self._chat_tat.items() if tat < now]:
            del self._chat_tat[chat]
