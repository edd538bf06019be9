"""Send pacing in two lanes, as Telegram's limits are meant.

- **Replies** (a message caused by what the customer did a moment ago) are paced only per chat
  and by a high local ceiling (`TELEGRAM_REPLY_RATE`): answering people who just wrote is not
  what the platform's bulk limit is for.
- **Unprompted** sends (check-ins, surveys, follow-ups, recognitions, staff messages the customer
  did not just ask for) share the overall budget (`TELEGRAM_RATE_OVERALL`, 30/s), a `Budget`.
  The local one lives in this process; a budget shared by several workers (the PostgreSQL
  backend) implements the same protocol, while replies stay local to the worker that took the
  update and never wait for it.

A reply never queues behind unprompted sends: it does not touch their budget, and it goes first
for a free HTTP connection. An unprompted send that waits for the budget while a reply to the
same customer is queued behind it is raised to the reply lane (`Priority.promote`), so the order
of one customer's messages never makes an answer wait for a campaign.

**Windows.** A server counts requests when they arrive, which we never see: only that it lies
between the request's start and its response. So a send occupies its lane's one-second window
from its start until one second after its response, and the next message to a chat starts no
sooner than one second after the previous one's response. A server counting any one-second
window never sees more than the rate, whatever the network or the event loop's lag did. The
price is the round trip: about `rate / (1 s + round trip)` (`LocalBudget`'s `credit` can take
part of it back, at a risk measured in bench/README.md).

**429.** `flooded` pauses what the platform refused: the chat for its `retry_after`; for an
unprompted send also the unprompted budget; and when two different chats are refused within one
pause, the whole bot (both lanes). The refused request still counts in its window (it did
arrive), and nothing else is learnt from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Protocol

__all__ = ["MARGIN", "Budget", "Lane", "LocalBudget", "Pacer", "Priority"]

MARGIN = 0.030
"""Seconds of the credited round trip kept back for the event loop's lag (`LocalBudget`)."""

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Lane(StrEnum):
    REPLY = "reply"
    UNPROMPTED = "unprompted"


class Priority:
    """The lane one send asks for; an unprompted send may be promoted to a reply while it waits.

    `waiting` is True until the send is on its way: while its sender prepares it, and while the
    pacer holds it back. A send still waiting can be abandoned (at shutdown) with nothing sent.
    """

    __slots__ = ("_promoted", "reply", "waiting")

    def __init__(self, reply: bool = False) -> None:
        self.reply = reply
        self.waiting = True
        self._promoted: asyncio.Event | None = None

    def promote(self) -> None:
        self.reply = True
        if self._promoted is not None:
            self._promoted.set()

    async def promoted(self) -> None:
        if self.reply:
            return
        if self._promoted is None:
            self._promoted = asyncio.Event()
        await self._promoted.wait()


class Budget(Protocol):
    """A lane's overall budget. `acquire` waits for room for one request (first come, first
    served) and returns a token; `release(token)` says its response arrived (or it failed);
    `pause` stops every start for a while (the platform said 429)."""

    async def acquire(self) -> float: ...

    def release(self, token: float) -> None: ...

    def pause(self, seconds: float) -> None: ...


class LocalBudget:
    """A sliding one-second window in this process (see the module docstring).

    `credit` is the share of the fastest round trip seen so far that a send gives back: it
    occupies the window until one second after its response, less `credit` times that fastest
    round trip, less `MARGIN`. The next request is then counted at least the window's span
    after the previous one, less the credit, plus the new request's way there and the old
    one's way back; so this rests on one assumption: the credit is no longer than the fastest
    way there plus the fastest way back. The fastest round trip *ever* seen is their sum plus
    whatever the event loop's lag added to that one sample; lag only lengthens round trips, so
    a lagging stretch never raises the credit (the fastest of the recent ones could, and
    provoked a 429), and `MARGIN` covers the lag of a process that is never idle (with the
    share at 0.8, up to 37 ms of it). At 0 nothing is assumed (the window costs the whole round
    trip: `rate / (1 s + round trip)`); at 0.8 and a 100 ms round trip a send occupies 1.05 s
    instead of 1.1 (28.6/s of 30 instead of 27.3); below 37 ms nothing is credited. Measured
    against a local server on a loaded machine, even that provoked a 429 at the start of a wave
    (the first round trips were all our own lag, and the fastest of a few is no floor), so
    production credits nothing.
    """

    def __init__(
        self,
        rate: float,
        *,
        credit: float = 0.0,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        # below one message a second the window widens, so that it still holds a whole send
        self._span = max(1.0, 1.0 / rate)
        self._limit = max(1, math.floor(rate * self._span))
        self._spacing = 1.0 / (2 * rate)  # spreads a burst over half its second
        self._monotonic = monotonic
        self._sleep = sleep
        self._in_flight = 0
        # when each answered request stops occupying the window, in order: expiry pops left
        self._answered: deque[float] = deque()
        self._next_start = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._returned: asyncio.Event | None = None
        self._credit = credit
        self._fastest = math.inf

    def _wait(self, now: float) -> float:
        answered = self._answered
        while answered and answered[0] <= now:
            answered.popleft()
        wait = max(self._next_start, self._paused_until) - now
        if self._in_flight + len(answered) >= self._limit:
            wait = max(wait, answered[0] - now if answered else math.inf)
        return wait

    async def acquire(self) -> float:
        now = self._monotonic()
        if not self._lock.locked() and self._wait(now) <= 0:
            self._take(now)  # the common case: room now, nobody waiting
            return now
        async with self._lock:  # first come, first served: only the head waiter sleeps
            while (wait := self._wait(now := self._monotonic())) > 0:
                if math.isinf(wait):  # every slot in flight: wait for one to come back
                    self._returned = self._returned or asyncio.Event()
                    await self._returned.wait()
                    self._returned.clear()
                else:
                    await self._sleep(wait)
            self._take(now)
            return now

    def _take(self, now: float) -> None:
        self._in_flight += 1
        self._next_start = now + self._spacing

    def release(self, token: float) -> None:
        now = self._monotonic()
        self._in_flight -= 1
        credit = 0.0
        if self._credit:
            self._fastest = min(self._fastest, now - token)
            credit = max(0.0, self._credit * self._fastest - MARGIN)
        until = now + self._span - credit
        answered = self._answered
        answered.append(max(until, answered[-1]) if answered else until)  # kept in order
        if self._returned is not None:
            self._returned.set()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)


class _Connections:
    """At most `size` requests in flight; replies are let in before unprompted sends."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    async def acquire(self, reply: bool) -> None:
        if self._free > 0 and not self._waiting[True] and not self._waiting[False]:
            self._free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting[reply].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted as we were cancelled: pass it on
            else:
                self._waiting[reply].remove(future)
            raise

    def release(self) -> None:
        for lane in (True, False):
            waiting = self._waiting[lane]
            while waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(None)  # the slot passes straight to the waiter
                    return
        self._free += 1


class Pacer:
    """`async with pacer.slot(chat, priority) as lane:` around one request to the platform."""

    def __init__(
        self,
        unprompted: Budget,
        reply_rate: float,
        per_chat: float,
        *,
        connections: int = 16,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._unprompted = unprompted
        self._replies = LocalBudget(reply_rate, monotonic=monotonic, sleep=sleep)
        self._chat_interval = 1.0 / per_chat
        self._connections = _Connections(connections)
        self._monotonic = monotonic
        self._sleep = sleep
        self._chat_free: dict[str, float] = {}
        """When a chat may next get a message: an interval after the previous one's response."""
        self._chat_busy: dict[str, asyncio.Event] = {}
        self._flood: tuple[str, float] = ("", 0.0)
        """The chat of the last 429 and when its pause ends."""

    @asynccontextmanager
    async def slot(
        self, chat: str, priority: Priority | None = None, *, message: bool = True
    ) -> AsyncIterator[Lane]:
        """Wait for room to send to `chat`; hold it while the request is made.

        `message=False` is for requests that notify nobody (removing a message's buttons): they
        count against the reply ceiling only, not the chat's message spacing or the bulk budget.
        """
        if priority is not None:
            priority.waiting = True
        if message:
            await self._chat_turn(chat)
        try:
            lane, token = await self._enter(priority if message else Priority(reply=True))
            try:
                await self._connections.acquire(lane is Lane.REPLY)
            except BaseException:
                self._budget(lane).release(token)
                raise
            if priority is not None:
                priority.waiting = False
            try:
                yield lane
            finally:
                self._connections.release()
                self._budget(lane).release(token)
        finally:
            if message:
                self._chat_done(chat)

    def sent_before(self, chat: str, seconds_ago: float) -> None:
        """The platform answered a message to `chat` `seconds_ago` (another process may have
        sent it: the database says so): the next one to it waits its interval from then."""
        free = self._monotonic() - max(0.0, seconds_ago) + self._chat_interval
        if free > self._chat_free.get(chat, 0.0):
            self._chat_free[chat] = free

    def flooded(self, chat: str, lane: Lane, seconds: float) -> None:
        """The platform answered 429 with `retry_after` = `seconds` to a request in `lane`."""
        now = self._monotonic()
        until = now + seconds
        self._chat_free[chat] = max(self._chat_free.get(chat, 0.0), until)
        if lane is Lane.UNPROMPTED:
            self._unprompted.pause(seconds)
        last_chat, last_until = self._flood
        if last_chat != chat and last_until > now:
            # two chats refused within one pause: the platform is limiting the whole bot
            self._unprompted.pause(seconds)
            self._replies.pause(seconds)
        self._flood = (chat, max(until, last_until if last_chat == chat else until))

    def _budget(self, lane: Lane) -> Budget:
        return self._replies if lane is Lane.REPLY else self._unprompted

    async def _enter(self, priority: Priority | None) -> tuple[Lane, float]:
        if priority is None or not priority.reply:
            if priority is None:
                return Lane.UNPROMPTED, await self._unprompted.acquire()
            token = await self._unprompted_unless_promoted(priority)
            if token is not None:
                return Lane.UNPROMPTED, token
        return Lane.REPLY, await self._replies.acquire()

    async def _unprompted_unless_promoted(self, priority: Priority) -> float | None:
        """Wait for the unprompted budget; None if promoted to a reply first."""
        budget = asyncio.ensure_future(self._unprompted.acquire())
        promoted = asyncio.ensure_future(priority.promoted())
        try:
            await asyncio.wait({budget, promoted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            promoted.cancel()
            if not budget.done():
                budget.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await budget
        if budget.cancelled():
            return None
        return budget.result()  # raises what the budget raised

    async def _chat_turn(self, chat: str) -> None:
        while (busy := self._chat_busy.get(chat)) is not None:
            await busy.wait()  # another message to this chat is on its way
        self._chat_busy[chat] = asyncio.Event()
        try:
            while (wait := self._chat_free.get(chat, 0.0) - self._monotonic()) > 0:
                await self._sleep(wait)
        except BaseException:
            self._chat_busy.pop(chat).set()
            raise

    def _chat_done(self, chat: str) -> None:
        now = self._monotonic()
        self._chat_free[chat] = max(self._chat_free.get(chat, 0.0), now + self._chat_interval)
        self._chat_busy.pop(chat).set()
        if len(self._chat_free) > 10_000:
            for idle in [c for c, free in self._chat_free.items() if free < now]:
                del self._chat_free[idle]
