"""`escalator experiments ...`: create, list, show, report and stop experiments on messages.

    escalator experiments create invite --template referral_invite \\
        --variant A=current --variant B=b.j2 --goal referral --window 7d
    escalator experiments report invite
    escalator experiments stop invite --ship B
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import Runtime, open_runtime
from bot.cli.common import DONE, Nowhere, add_command, author_of, global_options
from bot.clock import SystemClock
from bot.config import Settings
from bot.durations import parse_duration
from bot.errors import InvalidInput
from bot.experiments import Experiments, NewVariant
from bot.flows.experiments import Goal
from bot.terminal import inert_lines

__all__ = ["add_parsers", "experiments_command"]

_VARIANT = re.compile(r"(?P<label>[^:=\s]+)(?::(?P<weight>\d+))?=(?P<source>.+)")
MAX_FILE = 64_000


def variant_option(text: str) -> NewVariant:
    """`LABEL[:WEIGHT]=current` or `LABEL[:WEIGHT]=FILE` (a template file)."""
    match = _VARIANT.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a variant: {text!r} (use LABEL=FILE, LABEL:WEIGHT=FILE or LABEL=current)"
        )
    weight = int(match["weight"] or 1)
    source = match["source"]
    if source == "current":
        return NewVariant(match["label"], weight, None)
    path = Path(source)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"variant {match['label']}: no file {path}")
    if path.stat().st_size > MAX_FILE:
        raise argparse.ArgumentTypeError(f"variant {match['label']}: {path} is too large")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(
            f"variant {match['label']}: cannot read {path}: {exc}"
        ) from None
    return NewVariant(match["label"], weight, text)


def _window(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser(
        "experiments",
        parents=[global_options()],
        help="test variants of a message against each other",
    )
    sub = parser.add_subparsers(dest="experiments_command", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, experiments_command, help=help)

    create = action("create", "start an experiment on a message")
    create.add_argument("name", help="lowercase letters, digits, - and _")
    create.add_argument("--template", required=True, help="the message (templates list)")
    create.add_argument(
        "--variant",
        type=variant_option,
        action="append",
        required=True,
        metavar="LABEL[:WEIGHT]=FILE|current",
        help="a variant: its text from FILE, or the message's current text; weight 1 unless "
        "given (A:3=current --variant B:1=b.j2 shows A to three customers in four)",
    )
    create.add_argument(
        "--goal", choices=[g.value for g in Goal], default=Goal.REPLY.value, help="what wins"
    )
    create.add_argument(
        "--window", type=_window, default=parse_duration("7d"), help="outcomes within (7d)"
    )
    create.add_argument("--locale", help="the language (default: DEFAULT_LOCALE)")
    create.add_argument("--author", default=None, help="who starts it (default: $USER)")
    action("list", "every experiment, newest first")
    action("show", "an experiment and its variants' texts").add_argument("name")
    action("report", "exposures and outcomes per variant, and whether B beats A").add_argument(
        "name"
    )
    stop = action("stop", "end an experiment; --ship makes a variant the message's text")
    stop.add_argument("name")
    stop.add_argument("--ship", metavar="LABEL", help="the winning variant to ship")
    stop.add_argument("--author", default=None, help="who stops it (default: $USER)")


def experiments_command(settings: Settings, args: argparse.Namespace) -> int:
    action: Callable[[Experiments, Runtime, argparse.Namespace], Coroutine[Any, Any, int]]
    action = _ACTIONS[args.experiments_command]

    async def main() -> int:
        async with open_runtime(settings, SystemClock(), {}, Nowhere()) as rt:
            service = Experiments(rt.storage.experiments, rt.templates, rt.clock)
            return await action(service, rt, args)

    return asyncio.run(main())


async def _create(service: Experiments, rt: Runtime, args: argparse.Namespace) -> int:
    experiment = await service.create(
        args.name,
        args.template,
        args.variant,
        locale=args.locale,
        goal=Goal(args.goal),
        window=args.window,
        author=author_of(args),
    )
    total = sum(v.weight for v in experiment.variants)
    split = ", ".join(f"{v.label} {v.weight / total:.0%}" for v in experiment.variants)
    print(
        f"experiment {experiment.name} started on {experiment.template} [{experiment.locale}]: "
        f"{split}; goal {experiment.goal.value} within {experiment.window_days} days"
    )
    return DONE


async def _list(service: Experiments, rt: Runtime, args: argparse.Namespace) -> int:
    found = await rt.storage.experiments.all()
    if not found:
        print("no experiments yet (`escalator experiments create --help`)")
    for e in found:
        outcomes = await rt.storage.experiments.outcomes(e.name)
        exposed = sum(o.exposed for o in outcomes)
        weights = "/".join(f"{v.label}:{v.weight}" for v in e.variants)
        shipped = f" shipped {e.shipped}" if e.shipped else ""
        print(
            f"{e.name:<24} {e.status}{shipped:<10} {e.template} [{e.locale}] {weights}  "
            f"goal {e.goal.value}  {exposed:,} exposed"
        )
    return DONE


async def _show(service: Experiments, rt: Runtime, args: argparse.Namespace) -> int:
    e = await service.get(args.name)
    print(f"experiment {e.name} on {e.template} [{e.locale}], {e.status}")
    print(f"goal: {e.goal.value} within {e.window_days} days of seeing the message")
    print(f"started {e.created_at:%Y-%m-%d %H:%M} UTC by {inert_lines(e.author)}")
    if e.stopped_at is not None:
        print(f"stopped {e.stopped_at:%Y-%m-%d %H:%M} UTC, shipped: {e.shipped or 'nothing'}")
    for v in e.variants:
        print(f"\n--- variant {v.label} (weight {v.weight}) ---")
        sys.stdout.write(inert_lines(v.source.removesuffix("\n")) + "\n")
    return DONE


async def _report(service: Experiments, rt: Runtime, args: argparse.Namespace) -> int:
    report = await service.report(args.name)
    print("\n".join(report.lines()))
    return DONE


async def _stop(service: Experiments, rt: Runtime, args: argparse.Namespace) -> int:
    number = await service.stop(args.name, ship=args.ship, author=author_of(args))
    e = await service.get(args.name)
    if number is None:
        print(f"experiment {e.name} stopped; {e.template} keeps its current text")
    else:
        print(
            f"experiment {e.name} stopped; variant {e.shipped} is now {e.template} [{e.locale}] "
            f"version {number} (`escalator templates rollback {e.template} {number - 1}` undoes "
            "it)"
        )
    return DONE


_ACTIONS: dict[str, Any] = {
    "create": _create,
    "list": _list,
    "show": _show,
    "report": _report,
    "stop": _stop,
}
