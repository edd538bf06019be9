"""Per-key asyncio locks that are dropped once nobody holds or waits for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

__all__ = ["KeyedLock"]


class KeyedLock:
    """`async with locks.hold(key)`: one holder per key; idle keys cost no memory."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock_now, users_now = self._locks[key]
            if users_now == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock_now, users_now - 1)

    async def take_free(self, keys: Iterable[str]) -> set[str]:
        """Take every key of `keys` that nobody holds or waits for (never waiting: a new lock is
        acquired without suspending, so no other task runs meanwhile); return those taken, each
        given back with `give_back`."""
        taken: set[str] = set()
        for key in keys:
            if key not in self._locks and key not in taken:
                lock = asyncio.Lock()
                await lock.acquire()
                self._locks[key] = (lock, 1)
                taken.add(key)
        return taken

    def give_back(self, keys: Iterable[str]) -> None:
        for key in keys:
            lock, users = self._locks[key]
            lock.release()  # wakes the first waiter, if any
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
