"""WAL checkpoints off the commit path.

SQLite copies the write-ahead log back into the database file (a checkpoint) from inside the
commit that crossed `wal_autocheckpoint` pages, so that commit (and every caller waiting on its
group) also waits for the copy and the database file's sync: measured on this project's tick of
1,000 check-ins, about 230 ms of a commit's 290. Here a thread with its own connection runs a
`PASSIVE` checkpoint whenever the writer has committed since the last one (at most every
`interval` seconds), while the writer goes on committing to the log. A commit still reaches the
disk before its callers hear of it (the log's sync is the commit's); only the copy moves.

The writer keeps its own automatic checkpoint at a higher threshold (`BACKSTOP_PAGES`), so the
log stays bounded even if this thread falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["BACKSTOP_PAGES", "Checkpointer"]

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 16_000
"""The writer's own `wal_autocheckpoint` (pages of 4 KiB: about 64 MB of log)."""


class Checkpointer:
    def __init__(
        self, path: Path, synchronous: str, busy_timeout_ms: int, interval: float = 0.2
    ) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # the database file's sync after the copy follows this connection's setting
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._interval = interval
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: a checkpoint is due."""
        self._due.set()

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait()
            if self._stop.is_set():
                return
            self._due.clear()
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the writer's backstop keeps the log bounded
                log.warning("background checkpoint failed: %s", exc)
            self._stop.wait(self._interval)  # let commits accumulate: a page copied once
