"""`escalator customers list`: who the customers are, filtered by the database, as a table,
CSV (opens in a spreadsheet as is) or JSON.

    escalator customers list --score-group detractor --since 2026-03-01 --format csv > sad.csv
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import DONE, add_command, customer_key, open_existing
from bot.cli.spreadsheet import COLUMNS, csv_text, record_row
from bot.config import Settings
from bot.durations import parse_duration
from bot.errors import InvalidInput
from bot.flows.policy import ScoreGroup, group_scores
from bot.flows.stages import Stage
from bot.storage.types import CustomerFilter, CustomerRecord
from bot.terminal import inert

__all__ = ["add_parsers", "since"]

LIMIT = 100_000


def since(text: str) -> datetime:
    """`2026-03-01` (UTC midnight), an ISO time, or a duration back from now (`30d`)."""
    value = text.strip()
    if value and value[-1].lower() in "wdhms":
        try:
            return datetime.now(UTC) - parse_duration(value)
        except InvalidInput:
            raise argparse.ArgumentTypeError(
                f"not a date: {text!r} (use e.g. 2026-03-01, 2026-03-01T09:00 or 30d)"
            ) from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (use e.g. 2026-03-01, 2026-03-01T09:00 or 30d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_parsers(commands: Any) -> None:
    group = commands.add_parser("customers", help="list, filter and export customers")
    actions = group.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    listing = add_command(actions, "list", list_command, help="customers matching filters")
    listing.add_argument("--stage", choices=[stage.value for stage in Stage])
    listing.add_argument(
        "--score-group",
        choices=["promoter", "passive", "detractor"],
        help="by their latest score (CSAT: satisfied / neutral / dissatisfied)",
    )
    listing.add_argument("--source", help="the campaign or link they came from")
    listing.add_argument(
        "--since", type=since, help="last wrote since (2026-03-01, or 30d for the last 30 days)"
    )
    listing.add_argument("--referred-by", type=customer_key, metavar="ID", help="brought by ID")
    listing.add_argument("--has-open-case", action="store_true", help="only with an open case")
    listing.add_argument("--text", help="words in their comments and messages")
    listing.add_argument("--format", choices=["table", "csv", "json"], default="table")
    listing.add_argument("--limit", type=int, default=LIMIT, help=argparse.SUPPRESS)


def list_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings, args))


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    group: ScoreGroup | None = args.score_group
    where = CustomerFilter(
        stage=args.stage,
        score=None
        if group is None
        else (settings.survey_scale, *group_scores(settings.survey_scale, group)),
        source=args.source,
        active_since=args.since,
        referred_by=None if args.referred_by is None else args.referred_by.id,
        has_open_case=True if args.has_open_case else None,
        text=args.text or None,
    )
    storage = await open_existing(settings)
    try:
        found = await storage.records.customers(where, max(1, args.limit))
    finally:
        await storage.close()
    if args.format == "csv":
        sys.stdout.buffer.write(csv_text(found).encode("utf-8"))
        sys.stdout.flush()
    elif args.format == "json":
        print(json.dumps([_json(record) for record in found], ensure_ascii=False, indent=2))
    else:
        print("\n".join(_table(found)))
    return DONE


def _json(record: CustomerRecord) -> dict[str, object]:
    return dict(zip(COLUMNS, record_row(record), strict=True))


def _table(found: list[CustomerRecord]) -> list[str]:
    head = (
        f"{'id':<22} {'name':<16} {'stage':<10} {'score':>5} {'buys':>4} {'gen 1/2/3':<10} comment"
    )
    lines = [head]
    for r in found:
        score = "-" if r.last_score is None else str(r.last_score)
        gens = "/".join(str(g) for g in r.generations)
        lines.append(
            f"{inert(r.id)[:22]:<22} {inert(r.name or '-')[:16]:<16} {r.stage:<10} "
            f"{score:>5} {r.purchases:>4} {gens:<10} {inert(r.last_comment or '')[:60]}"
        )
    lines.append(f"{len(found)} customer{'s' if len(found) != 1 else ''}")
    return lines
