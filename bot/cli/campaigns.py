"""`escalator campaigns create|list|show|start|pause|cancel`: one template to a segment, now or
at a time, optionally as a sequence; its report (`show`).

    escalator campaigns create nurture --segment never-bought --template campaign_message \\
        --sequence 0,7,21 --stop-on-purchase
    escalator campaigns start nurture
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from bot import campaign_service
from bot.cli.common import DONE, REFUSED, add_command, open_existing
from bot.cli.segments import campaign_name, segment_name
from bot.config import Settings
from bot.durations import parse_duration
from bot.errors import InvalidInput
from bot.messages.catalog import Catalog
from bot.terminal import inert

__all__ = ["add_parsers"]


def _sequence(text: str) -> tuple[int, ...]:
    try:
        return campaign_service.parse_sequence(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when(text: str) -> datetime:
    """An ISO time (UTC unless it says otherwise), or a duration from now (`2h`)."""
    value = text.strip()
    if value and value[-1].lower() in "wdhms":
        try:
            return datetime.now(UTC) + parse_duration(value)
        except InvalidInput:
            pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use e.g. 2026-03-01T10:00, 2026-03-01T10:00+01:00 or 2h)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_parsers(commands: Any) -> None:
    group = commands.add_parser("campaigns", help="send a template to a segment")
    actions = group.add_subparsers(dest="campaigns_command", metavar="ACTION", required=True)
    create = add_command(actions, "create", create_command, help="a draft campaign")
    create.add_argument("name", type=campaign_name)
    create.add_argument("--segment", required=True, type=segment_name)
    create.add_argument("--template", required=True, help="a customer message of the catalogue")
    create.add_argument("--at", type=_when, help="when the first message goes (default: on start)")
    create.add_argument(
        "--sequence", type=_sequence, default=(0,), help="days of each message, e.g. 0,7,21"
    )
    create.add_argument(
        "--stop-on-purchase", action="store_true", help="a customer who buys leaves the sequence"
    )
    create.add_argument("--by", default=None, help="who creates it (default: your login name)")
    add_command(actions, "list", list_command, help="every campaign")
    for name, command, about in (
        ("show", show_command, "what it did: targeted, sent, deferred, skipped, outcomes"),
        ("start", start_command, "plan a draft for its segment, or resume a paused one"),
        ("pause", pause_command, "hold its messages"),
        ("cancel", cancel_command, "send none of its remaining messages"),
    ):
        add_command(actions, name, command, help=about).add_argument("name", type=campaign_name)


def create_command(settings: Settings, args: argparse.Namespace) -> int:
    request = campaign_service.CampaignRequest(
        name=args.name,
        segment=args.segment,
        template=args.template,
        steps=args.sequence,
        stop_on_purchase=args.stop_on_purchase,
        start_at=args.at,
        author=args.by or getpass.getuser(),
    )
    catalog = Catalog.load(settings.templates_dir / "catalog.toml")

    async def run() -> str:
        storage = await open_existing(settings)
        try:
            created = await campaign_service.create(storage, catalog, request, datetime.now(UTC))
        finally:
            await storage.close()
        return f"campaign {created.name} created (draft): escalator campaigns start {created.name}"

    return _say(run)


def list_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        storage = await open_existing(settings)
        try:
            campaigns = await storage.campaigns.all()
        finally:
            await storage.close()
        if not campaigns:
            return "no campaigns yet (escalator campaigns create NAME --segment S --template T)"
        return "\n".join(campaign_service.describe(c) for c in campaigns)

    return _say(run)


def show_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        storage = await open_existing(settings)
        try:
            campaign = await storage.campaigns.get(args.name)
            if campaign is None:
                raise InvalidInput(f"no campaign {args.name!r} (escalator campaigns list)")
            window = settings.campaign_attribution
            report = await storage.campaigns.report(campaign.id, window)
        finally:
            await storage.close()
        return "\n".join(campaign_service.report_lines(campaign, report, window))

    return _say(run)


def start_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        storage = await open_existing(settings)
        try:
            return await campaign_service.start(
                storage, args.name, settings.survey_scale, datetime.now(UTC)
            )
        finally:
            await storage.close()

    return _say(run)


def pause_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        storage = await open_existing(settings)
        try:
            return await campaign_service.pause(storage, args.name, datetime.now(UTC))
        finally:
            await storage.close()

    return _say(run)


def cancel_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        storage = await open_existing(settings)
        try:
            return await campaign_service.cancel(storage, args.name, datetime.now(UTC))
        finally:
            await storage.close()

    return _say(run)


def _say(run: Any) -> int:
    try:
        text: str = asyncio.run(run())
    except InvalidInput as exc:
        print(f"escalator: {inert(str(exc))}", file=sys.stderr)
        return REFUSED
    print(text)
    return DONE
