"""The durable inbox: platform updates are stored before they are acknowledged, then handled.

Polling and webhooks both write raw updates here (one group-committed insert) and only then
confirm them to the platform, so an update is never lost between "received" and "handled". A
consumer hands them to the platform handler: one customer's updates in order, different
customers concurrently. A row is removed after it is handled; a crash in between hands it over
again, and the engine's inbound-id check makes that second time a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.delivery.loops import nap
from bot.errors import StorageError
from bot.storage.base import Storage

__all__ = ["InboxConsumer"]

log = logging.getLogger(__name__)


class InboxConsumer:
    def __init__(
        self,
        storage: Storage,
        handle: Callable[[str], Awaitable[object]],
        group_of: Callable[[str], str],
        *,
        batch: int = 256,
    ) -> None:
        self._storage = storage
        self._handle = handle
        self._group_of = group_of
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Handle everything queued now; return how many updates were handled."""
        handled = 0
        while rows := await self._storage.inbox_fetch(self._batch):
            groups: dict[str, list[tuple[int, str]]] = {}
            for ident, _, body in rows:
                groups.setdefault(self._group_of(body), []).append((ident, body))
            done = await asyncio.gather(*(self._handle_group(group) for group in groups.values()))
            finished = [ident for group in done for ident in group]
            if finished:
                await self._storage.inbox_remove(finished)
            handled += len(finished)
            if len(finished) < len(rows):
                return handled  # a storage failure: leave the rest for the next round
        return handled

    async def _handle_group(self, group: list[tuple[int, str]]) -> list[int]:
        finished: list[int] = []
        for ident, body in group:
            try:
                await self._handle(body)
            except StorageError:
                log.exception("inbox update %s not handled: storage failed; will retry", ident)
                break
            except Exception:
                # A bug must not wedge the queue: the update is dropped, loudly.
                log.exception("inbox update %s could not be handled and was dropped", ident)
            finished.append(ident)
        return finished

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("inbox round failed; retrying")
            await nap(self._wake, stop, poll)
