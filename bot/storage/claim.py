"""One SQLite file, one running bot: the long-running bot holds an exclusive claim on its
database for its whole life.

SQLite is the embedded store of one bot process (plus CLI calls and the playground, which take
no claim): two bots on one file would each pace Telegram on their own and each take over the
other's leased work. The claim is an advisory lock (`flock`) on a file beside the database,
`<database>.lock`, holding the holder's pid, host and start time so that a refused second
process can say who holds it. The operating system releases the lock when the holder's process
ends however it ends (kill -9, a crash), so a stale claim never blocks the next start; the file
itself stays and is simply locked again. On PostgreSQL, several processes are the supported way
to scale, and no claim is taken.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bot.errors import DatabaseInUse
from bot.storage.url import DatabaseUrl

__all__ = ["claim_path", "exclusive_claim"]


def claim_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@asynccontextmanager
async def exclusive_claim(url: DatabaseUrl) -> AsyncIterator[None]:
    """Hold the database for this process until the block ends; raise `DatabaseInUse` naming
    the holder if another process holds it. A no-op on PostgreSQL."""
    if url.backend != "sqlite":
        yield
        return
    assert url.path is not None
    path = claim_path(url.path)
    # Opened without truncating: the holder's details must survive a refused opener.
    # a local lock file opens at once; it is held for the block's life
    handle = open(path, "a+", encoding="utf-8")  # noqa: ASYNC230, SIM115
    try:
        if not _try_lock(handle):
            handle.seek(0)
            raise DatabaseInUse(url.path, _describe(handle.read()))
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {int(holder['pid'])} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that is still starting"
