"""Send pacing: an overall rate and a per-chat rate, as in Telegram's published limits.

Per chat, the generic cell rate algorithm reserves a slot without awaiting. Overall, callers
pass one at a time (a fair lock) and each is spaced from the moment the previous one actually
went, not from when it was planned to: when the event loop lags, planned slots would bunch up
and a server counting a sliding one-second window would see more than the rate.
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
        # 5% under the limit: requests spaced exactly 1/rate apart still arrive bunched when the
        # event loop is busy, and a server counting a sliding one-second window would see rate+1.
        # The margin absorbs 50 ms of such jitter at 30/s.
        self._overall_interval = 1.05 / overall
        self._chat_interval = 1.0 / per_chat
        self._chat_tolerance = (chat_burst - 1) * self._chat_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._overall_next = 0.0
        self._overall_lock = asyncio.Lock()
        self._chat_tat: dict[str, float] = {}

    async def acquire(self, chat: str) -> None:
        """Wait until one more message to `chat` keeps within both rates."""
        now = self._monotonic()
        tat = max(self._chat_tat.get(chat, now), now)
        chat_at = max(now, tat - self._chat_tolerance)
        self._chat_tat[chat] = max(tat, chat_at) + self._chat_interval
        if chat_at > now:
            await self._sleep(chat_at - now)
        async with self._overall_lock:
            wait = self._overall_next - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            self._overall_next = self._monotonic() + self._overall_interval
        if len(self._chat_tat) > 10_000:
            self._forget_idle(self._monotonic())

    def _forget_idle(self, now: float) -> None:
        for chat in [chat for chat, tat in self._chat_tat.items() if tat < now]:
            del self._chat_tat[chat]
