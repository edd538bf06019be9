"""`escalator simulate`: synthetic customers through the real engine, flows, storage and
scheduler with a fake clock; prints the same figures as `report`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.cli.common import DONE, add_command
from bot.config import Settings
from bot.simulation import simulate

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    parser = add_command(
        commands,
        "simulate",
        simulate_command,
        help="drive synthetic customers through the real bot with a fake clock",
    )
    parser.add_argument("--customers", type=int, default=1000, help="organic customers")
    parser.add_argument("--days", type=int, default=120, help="simulated days")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same figures")


def simulate_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(settings, args))


async def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    kept: Path | None = getattr(args, "db", None)
    # the bar goes to stderr, and only on a terminal: piped output stays the figures alone
    with (
        tempfile.TemporaryDirectory() as scratch,
        tqdm(desc="simulated days", unit="day", file=sys.stderr, disable=None) as bar,
    ):
        per_day = 4

        def progress(done: int, total: int) -> None:
            bar.total = total // per_day
            if done % per_day == 0:
                bar.update(1)

        database = kept or Path(scratch) / "simulation.db"
        result = await simulate(settings, args.customers, args.days, args.seed, database, progress)
    print(f"simulated {args.customers} customers over {args.days} days (seed {args.seed})")
    print("\n".join(result.lines()))
    print(f"finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return DONE
