"""Keeping the work this process holds: its leases are renewed while it holds it.

Outbox rows, jobs and queued updates are claimed under a lease, and a row whose lease ended is
taken over by any process. A lease therefore has to outlast the work, and also be short: it is
how long the customers of a process that died wait for another to take over. Rather than guess
the longest delivery (an unprompted message may wait its turn for the shared budget a long
while), claims use a short lease (`WORK_LEASE`) and this keeper extends it, a third of a lease
at a time, for every row still in hand. A process that stalls longer than a lease loses its rows
to the others, and the renewal, which only extends leases still running, never takes them back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.errors import StorageError

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)

Renew = Callable[[Sequence[int], datetime, datetime], Awaitable[int]]


class LeaseKeeper:
    def __init__(self, clock: Clock, lease: timedelta) -> None:
        self._clock = clock
        self.lease = lease
        self._work: list[tuple[str, Callable[[], Sequence[int]], Renew]] = []

    def keep(self, name: str, held: Callable[[], Sequence[int]], renew: Renew) -> None:
        """Renew with `renew` the leases of the rows `held()` names."""
        self._work.append((name, held, renew))

    async def renew(self) -> int:
        """Extend every lease in hand by a whole lease from now; return how many."""
        total = 0
        for name, held, renew in self._work:
            ids = held()
            if not ids:
                continue
            now = self._clock.now()
            try:
                renewed = await renew(ids, now, now + self.lease)
            except StorageError as exc:
                log.warning("could not renew the leases on %s: %s; trying again", name, exc)
                continue
            total += renewed
            still = len(set(ids).intersection(held()))  # some may have finished meanwhile
            if renewed < still:
                log.warning(
                    "%d rows of %s were held past their lease (this process stalled): another "
                    "process may take them over",
                    still - renewed,
                    name,
                )
        return total

    async def run(self, stop: asyncio.Event) -> None:
        every = self.lease.total_seconds() / 3
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            late = loop.time() - started - every
            if late > every and not stop.is_set():
                log.warning(
                    "this process was held up %.1fs (a busy machine?): leases run short", late
                )
            if not stop.is_set():
                await self.renew()
