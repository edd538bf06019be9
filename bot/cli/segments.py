"""`escalator segments define|list|show|preview|delete`: named segments of customers, defined
by rules that are JSON (see `bot.flows.segments` and the README), evaluated by the database.

    escalator segments define happy-quiet '{"score_group": "promoter", "referrals_made": 0}'
    escalator segments preview happy-quiet
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.common import DONE, REFUSED, add_command, open_existing
from bot.config import Settings
from bot.errors import InvalidInput
from bot.flows.segments import FIELDS, Rule, check_name, parse_text
from bot.storage.segment_types import Segment
from bot.terminal import inert

__all__ = ["add_parsers", "rule_argument", "segment_name"]

SAMPLE = 10


def segment_name(text: str) -> str:
    try:
        return check_name(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def campaign_name(text: str) -> str:
    try:
        return check_name(text, "campaign")
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rule_argument(text: str) -> tuple[str, Rule]:
    """A rule given as JSON, or `@file` holding it; (normalised JSON, parsed rule)."""
    source = text
    if text.startswith("@"):
        try:
            source = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        rule = parse_text(source)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return json.dumps(json.loads(source), ensure_ascii=False, sort_keys=True), rule


def add_parsers(commands: Any) -> None:
    fields = "; ".join(f"{name} ({spec.kind.value})" for name, spec in FIELDS.items())
    group = commands.add_parser("segments", help="define and preview segments of customers")
    actions = group.add_subparsers(dest="segments_command", metavar="ACTION", required=True)
    define = add_command(
        actions,
        "define",
        define_command,
        help="create or replace a segment",
        description=f"Fields: {fields}. Combine with all, any, not.",
    )
    define.add_argument("name", type=segment_name)
    define.add_argument("rule", type=rule_argument, help="the rule as JSON, or @FILE")
    define.add_argument("--description", default="", help="what the segment is for")
    define.add_argument("--by", default=None, help="who defines it (default: your login name)")
    add_command(actions, "list", list_command, help="every segment")
    show = add_command(actions, "show", show_command, help="a segment's rule and size")
    show.add_argument("name", type=segment_name)
    preview = add_command(
        actions, "preview", preview_command, help="how many customers match, and a sample"
    )
    target = preview.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", type=segment_name)
    target.add_argument("--rule", type=rule_argument, help="try a rule without saving it")
    preview.add_argument("--sample", type=int, default=SAMPLE, help="customers shown")
    delete = add_command(actions, "delete", delete_command, help="forget a segment")
    delete.add_argument("name", type=segment_name)


def define_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_define(settings, args))


def list_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings))


def show_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_show(settings, args.name))


def preview_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_preview(settings, args))


def delete_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_delete(settings, args.name))


async def _define(settings: Settings, args: argparse.Namespace) -> int:
    text, rule = args.rule
    now = datetime.now(UTC)
    storage = await open_existing(settings)
    try:
        new = await storage.segments.save(
            Segment(args.name, text, args.description, args.by or getpass.getuser(), now, now)
        )
        count = await storage.segments.count(rule, now, settings.survey_scale)
    finally:
        await storage.close()
    verb = "defined" if new else "replaced"
    print(f"segment {args.name} {verb}: {count} customers match now")
    return DONE


async def _list(settings: Settings) -> int:
    storage = await open_existing(settings)
    try:
        segments = await storage.segments.all()
    finally:
        await storage.close()
    if not segments:
        print("no segments yet (escalator segments define NAME RULE)")
        return DONE
    for segment in segments:
        about = f"  {inert(segment.description)}" if segment.description else ""
        print(f"{segment.name}  {segment.rules}{about}")
    return DONE


async def _show(settings: Settings, name: str) -> int:
    storage = await open_existing(settings)
    try:
        segment = await storage.segments.get(name)
        if segment is None:
            return _unknown(name)
        count = await storage.segments.count(
            parse_text(segment.rules), datetime.now(UTC), settings.survey_scale
        )
    finally:
        await storage.close()
    print(f"segment {segment.name}")
    if segment.description:
        print(f"  description: {inert(segment.description)}")
    print(f"  rule: {segment.rules}")
    print(f"  defined by {inert(segment.author)}, updated {segment.updated_at:%Y-%m-%d %H:%M} UTC")
    print(f"  customers now: {count}")
    return DONE


async def _preview(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    storage = await open_existing(settings)
    try:
        if args.rule is not None:
            rule = args.rule[1]
            label = "the rule"
        else:
            segment = await storage.segments.get(args.name)
            if segment is None:
                return _unknown(args.name)
            rule = parse_text(segment.rules)
            label = f"segment {args.name}"
        count = await storage.segments.count(rule, now, settings.survey_scale)
        sample = await storage.segments.sample(
            rule, now, settings.survey_scale, max(0, args.sample)
        )
    finally:
        await storage.close()
    print(f"{label}: {count} customers")
    for member in sample:
        name = inert(member.first_name or "")
        print(
            f"  {inert(member.id)}  {name}  {member.stage}  {member.language or '-'}  "
            f"since {member.created_at:%Y-%m-%d}"
        )
    if count > len(sample):
        print(f"  ... and {count - len(sample)} more")
    return DONE


async def _delete(settings: Settings, name: str) -> int:
    storage = await open_existing(settings)
    try:
        removed = await storage.segments.delete(name)
    finally:
        await storage.close()
    if not removed:
        return _unknown(name)
    print(f"segment {name} deleted")
    return DONE


def _unknown(name: str) -> int:
    print(f"escalator: no segment {name!r} (escalator segments list)", file=sys.stderr)
    return REFUSED
