"""Send pacing: an overall rate and a per-chat rate, as in Telegram's published limits.

Per chat, the generic cell rate algorithm; a send's booking is renewed when it really starts, so
a send held back by the overall limit cannot crowd the next one to the same chat.

Overall, a sliding one-second window over the sends themselves. A server counts requests by
when they arrive, which we never see: only that it lies between the send's start and its
response. So a send occupies the window from its start until one second after its response (or
its failure). A server counting any one-second window then never sees more than `rate`,
whatever jitter or the event loop's lag did to the timing. Any credit for the round trip would
rest on a guess about where in it the server counted the send: against a server that counts
exactly, a credit of half the fastest round trip provoked a 429 in 2,000 sends. The price is
the round trip: the rate achieved is about `rate / (1 s + round trip)`, 27/s of 30 at 110 ms.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

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
        # below one message a second the window widens, so that it still holds a whole send
        self._window = max(1.0, 1.0 / overall)
        self._window_limit = max(1, math.floor(overall * self._window))
        self._min_spacing = 1.0 / (2 * overall)
        self._chat_interval = 1.0 / per_chat
        self._chat_tolerance = (chat_burst - 1) * self._chat_interval
        self._monotonic = monotonic
        self._sleep = sleep
        # The window is the sends in flight plus those answered recently: each entry is when a
        # send stops occupying it, kept in order so that expiry only ever pops from the left.
        self._in_flight = 0
        self._answered: deque[float] = deque()
        self._next_start = 0.0
        self._overall_lock = asyncio.Lock()
        self._chat_tat: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, chat: str) -> AsyncIterator[None]:
        """Wait for room to send one message to `chat`; hold it while the request is made."""
        await self._acquire(chat)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._answered.append(self._monotonic() + self._window)

    async def _acquire(self, chat: str) -> None:
        now = self._monotonic()
        tat = max(self._chat_tat.get(chat, now), now)
        chat_at = max(now, tat - self._chat_tolerance)
        self._chat_tat[chat] = max(tat, chat_at) + self._chat_interval
        if chat_at > now:
            await self._sleep(chat_at - now)
        async with self._overall_lock:
            while True:
                now = self._monotonic()
                answered = self._answered
                while answered and answered[0] <= now:
                    answered.popleft()
                wait = self._next_start - now
                if self._in_flight + len(answered) >= self._window_limit:
                    # all in flight: look again shortly, one of them will come back
                    free_at = answered[0] if answered else now + 0.005
                    wait = max(wait, free_at - now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._in_flight += 1
            self._next_start = now + self._min_spacing
        self._chat_tat[chat] = max(self._chat_tat.get(chat, now), now + self._chat_interval)
        if len(self._chat_tat) > 10_000:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        for chat in [chat for chat, tat in self._chat_tat.items() if tat < now]:
            del self._chat_tat[chat]
