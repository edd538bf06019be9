"""Shared pieces of the benchmarks: the environment line, figures with their spread, seeding a
large database, a stub channel that notes when each reply was handed to it."""

from __future__ import annotations

import importlib.util
import os
import platform
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("ESCALATOR_ROOT", HERE))
"""The tree whose `bot` is measured: this one, or another checkout (figures "before")."""
sys.path.insert(0, str(ROOT))

from bot.delivery.outbox import Rendered
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.storage.codec import CUSTOMER_COLUMNS, CUSTOMER_LIST
from bot.storage.sqlite import SQLiteStorage
from bot.storage.types import OutboxRow

__all__ = [
    "ROOT",
    "Result",
    "StubChannel",
    "bot_api_stand_in",
    "environment",
    "peak_rss_mb",
    "quantile",
    "rss_mb",
    "seed_customers",
    "spread",
]


@dataclass
class Result:
    name: str
    figure: float
    unit: str
    target: str
    met: bool | None
    """None: a reference figure, no target of its own."""
    notes: str = ""

    def row(self) -> str:
        mark = "reference" if self.met is None else "met" if self.met else "MISSED"
        figure = f"{self.figure:,.1f} {self.unit}"
        return f"| {self.name} | {figure} | {self.target} | {mark} | {self.notes} |"


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    """'median (min–max, n=N)' of repeated measurements."""
    return (
        f"median of {len(values)} runs; range {min(values):{fmt}}–{max(values):{fmt}}"
        if len(values) > 1
        else "1 run"
    )


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile of already sorted values (nearest rank)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def bot_api_stand_in() -> Any:
    """The Bot API stand-in class of this tree (whichever tree's `bot` is measured)."""
    path = HERE / "tests" / "fakes" / "telegram_api.py"
    spec = importlib.util.spec_from_file_location("bench_telegram_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module.FakeBotApi


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


STATES = {
    # state -> (stage, dialogue, question_id, pending_score)
    "idle": ("engaged", "idle", 1, None),
    "checkin": ("engaged", "awaiting_checkin", 1, None),
    "rating": ("customer", "awaiting_rating", 2, None),
    "comment": ("customer", "awaiting_comment", 3, 7),
}


async def seed_customers(
    path: Path,
    count: int,
    channel: str = "bench",
    states: Sequence[str] = ("idle",),
) -> None:
    """`count` customers written straight into a migrated database (fast); customer n is in
    state `states[n % len(states)]` (see `STATES`)."""
    store = await SQLiteStorage.open(path)
    await store.close()
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA synchronous=OFF")
        placeholders = ",".join("?" * len(CUSTOMER_COLUMNS))
        batch = []
        for n in range(count):
            stage, dialogue, question, pending = STATES[states[n % len(states)]]
            # by column name: columns added later keep their defaults here
            values: dict[str, object] = {
                "id": f"{channel}:{n}",
                "channel": channel,
                "external_id": str(n),
                "stage": stage,
                "dialogue": dialogue,
                "question_id": question,
                "first_name": f"C{n}",
                "language": "en",
                "opted_out": 0,
                "unreachable": 0,
                "created_at": now,
                "updated_at": now,
                "reasks": 0,
                "pending_score": pending,
                "cases_opened": 0,
                "referral_code": f"ref-{n:012d}",
                "referrals_joined": 0,
                "referrals_converted": 0,
                "purchases": 1 if stage == "customer" else 0,
                "promoter_streak": 0,
                "badges": "[]",
                "leaderboard_opt_in": 0,
                "conversations_opened": 0,
                "contacts": "[]",
            }
            batch.append(tuple(values.get(column) for column in CUSTOMER_COLUMNS))
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
    """The platform send, stubbed: counts what it is given and notes when each customer's
    message was handed over (`handed[customer id]`, perf_counter seconds)."""

    format: Format = Format.HTML
    sent: int = 0
    handed: dict[str, float] = field(default_factory=dict)
    templates: dict[str, int] = field(default_factory=dict)

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        self.sent += 1
        self.handed.setdefault(row.key.id, time.perf_counter())
        self.templates[row.template] = self.templates.get(row.template, 0) + 1
        return str(self.sent)

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None
