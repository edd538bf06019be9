"""One process at a time does some work among all those serving a database (the unprompted
sender): each candidate tries to take the role, the holder does the work, and when the holder
dies the role is free and the next candidate's try takes it (failover within `retry` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.errors import StorageError
from bot.storage.protocols import HeldRole, RoleStore

__all__ = ["hold_and_run"]

log = logging.getLogger(__name__)

RETRY = 1.0
"""Seconds between a candidate's tries: the longest the role stays vacant after its holder died."""
CHECK = 2.0
"""Seconds between the holder's checks that it still holds the role (its connection is up)."""


async def hold_and_run(
    roles: RoleStore,
    role: str,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    retry: float = RETRY,
    check: float = CHECK,
) -> None:
    """Until `stop`: take `role` when it is free and run `work(resign)` while holding it;
    `resign` is set when `stop` is, or when the role is lost (then `work` must end, and this
    process becomes a candidate again)."""
    while not stop.is_set():
        try:
            held = await roles.try_hold(role)
        except StorageError as exc:
            log.warning("could not try for the %s role: %s", role, exc)
            held = None
        if held is None:
            await _pause(stop, retry)
            continue
        log.info("this process is now the %s", role)
        try:
            await _run_while_held(held, role, work, stop, check)
        finally:
            with contextlib.suppress(StorageError):
                await held.release()


async def _run_while_held(
    held: HeldRole,
    role: str,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    check: float,
) -> None:
    resign = asyncio.Event()
    task: asyncio.Future[None] = asyncio.ensure_future(work(resign))
    try:
        while not task.done():
            stopped: asyncio.Future[None] = asyncio.ensure_future(_wait(stop))
            try:
                await asyncio.wait({task, stopped}, timeout=check, return_when="FIRST_COMPLETED")
            finally:
                stopped.cancel()
            if stop.is_set():
                break
            if not task.done() and not await held.alive():
                log.warning("lost the %s role (the database connection went); standing down", role)
                break
    finally:
        resign.set()
        await asyncio.gather(task, return_exceptions=True)


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
