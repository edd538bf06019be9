"""Shared pieces of the benchmarks: the environment line, seeding a large database, stubs."""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.flows.model import CustomerKey
from bot.delivery.outbox import Rendered
from bot.storage.types import OutboxRow
from bot.storage.codec import CUSTOMER_COLUMNS, CUSTOMER_LIST
from bot.storage.sqlite import SQLiteStorage
from bot.messages.templates import Format

__all__ = [
    "ROOT",
    "Result",
    "StubChannel",
    "environment",
    "peak_rss_mb",
    "rss_mb",
    "seed_customers",
]


@dataclass
class Result:
    name: str
    figure: float
    unit: str
    target: str
    met: bool
    notes: str = ""

    def row(self) -> str:
        mark = "yes" if self.met else "NO"
        figure = f"{self.figure:,.1f} {self.unit}"
        return f"| {self.name} | {figure} | {self.target} | {mark} | {self.notes} |"


def environment() -> str:
    cpus = os.cpu_count()
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {cpus} cores ({model}); "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def rss_mb() -> float:
    """Resident memory now, in MB of 10^6 bytes (where /proc is missing, the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """The process's peak resident memory, in MB of 10^6 bytes (macOS reports bytes, Linux KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


async def seed_customers(path: Path, count: int, channel: str = "bench") -> None:
    """`count` engaged customers, written straight into a migrated database (fast)."""
    store = await SQLiteStorage.open(path)
    await store.close()
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA synchronous=OFF")
        placeholders = ",".join("?" * len(CUSTOMER_COLUMNS))
        batch = []
        for n in range(count):
            batch.append(
                (
                    f"{channel}:{n}",
                    channel,
                    str(n),
                    "engaged",
                    "idle",
                    1,
                    f"C{n}",
                    "en",
                    None,
                    0,
                    0,
                    now,
                    now,
                    0,
                    None,
                    None,
                    None,
                    None,
                    0,
                    f"ref-{n:012d}",
                    None,
                    0,
                    0,
                    0,
                    0,
                    "[]",
                    0,
                )
            )
            if len(batch) == 50_000:
                db.executemany(
                    f"INSERT INTO customers ({CUSTOMER_LIST}) VALUES ({placeholders})", batch
                )
                batch.clear()
        if batch:
            db.executemany(
                f"INSERT INTO customers ({CUSTOMER_LIST}) VALUES ({placeholders})", batch
            )


@dataclass
class StubChannel:
    """The platform send, stubbed: counts what it is given."""

    format: Format = Format.HTML
    sent: int = 0
    keys: set[str] = field(default_factory=set)

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        self.sent += 1
        return str(self.sent)

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None
