"""The durable inbox: platform updates are stored before they are acknowledged, then handled.

Polling and webhooks both write raw updates here (one group-committed insert) and only then
confirm them to the platform, so an update is never lost between "received" and "handled". A
consumer claims them and hands them to the platform handler: one customer's updates in order
(the claim hands out a customer's next update only once no earlier one is claimed elsewhere),
different customers concurrently. A row is removed after it is handled; a crash in between hands
it over again when its lease ends, and the engine's inbound-id check makes that second time a
no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.clock import Clock
from bot.delivery.loops import nap
from bot.errors import StorageError
from bot.storage.protocols import InboxStore
from bot.storage.types import QueuedUpdate

__all__ = ["LEASE", "InboxConsumer"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=1)
"""Longer than handling one batch takes; an update claimed by a process that died is handed
out again after this."""


class InboxConsumer:
    def __init__(
        self,
        storage: InboxStore,
        handle: Callable[[QueuedUpdate], Awaitable[object]],
        clock: Clock,
        *,
        batch: int = 256,
        stop: asyncio.Event | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.lease = lease
        self._in_hand: list[int] = []
        self._storage = storage
        self._handle = handle
        self._clock = clock
        self._batch = batch
        self._wake = asyncio.Event()
        self._stop = stop or asyncio.Event()
        """Once set, no further update is handed out (those claimed stay queued)."""

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Handle everything queued now; return how many updates were handled."""
        handled = 0
        while not self._stop.is_set() and (
            rows := await self._storage.claim(self._clock.now(), self._batch, self.lease)
        ):
            self._in_hand = [row.id for row in rows]
            groups: dict[str, list[QueuedUpdate]] = {}
            for row in rows:
                # an update without a group (no customer in it) is a group of its own
                groups.setdefault(row.group or f"#{row.id}", []).append(row)
            done = await asyncio.gather(*(self._handle_group(group) for group in groups.values()))
            finished = [ident for group in done for ident in group]
            if finished:
                await self._storage.remove(finished)
            handled += len(finished)
            self._in_hand = []
            if len(finished) < len(rows):
                return handled  # a storage failure: the rest is handed out again later
        return handled

    def held_ids(self) -> list[int]:
        """Updates claimed and not yet handled (their leases must outlive their stay here)."""
        return list(self._in_hand)

    async def _handle_group(self, group: list[QueuedUpdate]) -> list[int]:
        finished: list[int] = []
        for row in group:
            if self._stop.is_set():
                break  # shutting down: the rest is handed out again after the next start
            try:
                await self._handle(row)
            except StorageError:
                log.exception("inbox update %s not handled: storage failed; will retry", row.id)
                break
            except Exception:
                # A bug must not wedge the queue: the update is dropped, loudly.
                log.exception("inbox update %s could not be handled and was dropped", row.id)
            finished.append(row.id)
        return finished

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("inbox round failed; retrying")
            await nap(self._wake, stop, poll)
