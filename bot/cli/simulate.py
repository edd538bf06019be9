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
from bot.errors import InvalidInput
from bot.experiments import build_report
from bot.simulation import simulate
from bot.simulation_experiment import EXPERIMENT, run_fast
from bot.storage import open_storage
from bot.storage.url import DatabaseUrl

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
    parser.add_argument(
        "--experiment-lift",
        type=float,
        metavar="L",
        help="run an experiment on the referral prompt whose variant B customers act on with "
        "a probability higher by L (e.g. 0.05); its report follows the figures",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="with --experiment-lift: show each customer the prompt once, without the rest of "
        "the journey (the real assignment, exposures and report; seconds for 10,000)",
    )


def simulate_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.fast and args.experiment_lift is None:
        raise InvalidInput("--fast is for experiment runs: add --experiment-lift")
    if args.fast:
        return asyncio.run(_fast(settings, args))
    return asyncio.run(_simulate(settings, args))


async def _fast(settings: Settings, args: argparse.Namespace) -> int:
    kept: Path | None = getattr(args, "db", None)
    with tempfile.TemporaryDirectory() as scratch:
        database = kept or Path(scratch) / "simulation.db"
        report = await run_fast(settings, args.customers, args.seed, args.experiment_lift, database)
    print(
        f"simulated {args.customers} customers shown the referral prompt once "
        f"(seed {args.seed}, variant B lift {args.experiment_lift})"
    )
    print("\n".join(report.lines()))
    return DONE


async def _experiment_report(database: Path) -> list[str]:
    storage = await open_storage(DatabaseUrl("sqlite", path=database))
    try:
        experiment = await storage.experiments.get(EXPERIMENT)
        assert experiment is not None
        return build_report(experiment, await storage.experiments.outcomes(EXPERIMENT)).lines()
    finally:
        await storage.close()


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
        result = await simulate(
            settings,
            args.customers,
            args.days,
            args.seed,
            database,
            progress,
            experiment_lift=args.experiment_lift,
        )
        experiment = None
        if args.experiment_lift is not None:
            experiment = await _experiment_report(database)
    print(f"simulated {args.customers} customers over {args.days} days (seed {args.seed})")
    print("\n".join(result.lines()))
    if experiment is not None:
        print()
        print("\n".join(experiment))
    print(f"finished in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return DONE
