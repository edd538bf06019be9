"""The shared shape of the background loops: work, then nap until woken, stopped or timed out."""

from __future__ import annotations

import asyncio

__all__ = ["nap"]


async def nap(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Sleep until `wake` or `stop` is set, or `seconds` pass; then clear `wake`."""
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
    finally:
        for waiter in waiters:
            waiter.cancel()
        wake.clear()
