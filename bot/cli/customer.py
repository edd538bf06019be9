"""`escalator customer show|export|erase|tag ID`: one customer, everything held about them, and
erasure on request (with an audit entry)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import DONE, REFUSED, add_command, customer_key, open_existing
from bot.config import Settings
from bot.errors import InvalidInput
from bot.flows.model import Customer, HistoryEntry, Json
from bot.flows.segments import check_tag
from bot.terminal import inert

__all__ = ["add_parsers", "describe", "describe_view"]

PEOPLE_SHOWN = 50
"""Names per referral generation in `show` (the rest are counted)."""


def add_parsers(commands: Any) -> None:
    customer = commands.add_parser("customer", help="look at, export or erase a customer")
    actions = customer.add_subparsers(dest="customer_command", metavar="ACTION", required=True)
    show = add_command(
        actions, "show", show_command, help="stage, scores and comments, cases, referral tree"
    )
    export = add_command(actions, "export", export_command, help="everything held, as JSON")
    erase = add_command(
        actions, "erase", erase_command, help="erase their personal data (cannot be undone)"
    )
    for parser in (show, export, erase):
        parser.add_argument(
            "id", type=customer_key, help="telegram:12345, console:1, or 12345 (Telegram)"
        )
    tag = add_command(
        actions, "tag", tag_command, help="put a tag on a customer (segments can select it)"
    )
    tag.add_argument("id", type=customer_key, help="telegram:12345, console:1, or 12345")
    tag.add_argument("tag", nargs="?", type=_tag, help="the tag; without it: list their tags")
    tag.add_argument("--remove", action="store_true", help="take the tag off instead")
    tag.add_argument("--by", default=None, help="who tags (default: your login name)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument(
        "--by", default=None, help="who erases, for the audit (default: your login name)"
    )


def _tag(text: str) -> str:
    try:
        return check_tag(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tag_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_tag_customer(settings, args))


async def _tag_customer(settings: Settings, args: argparse.Namespace) -> int:
    storage = await open_existing(settings)
    try:
        if await storage.journey.customer(args.id) is None:
            return _unknown(args)
        if args.tag is None:
            tags = await storage.segments.tags(args.id)
            print(", ".join(tag.tag for tag in tags) or "no tags")
            return DONE
        if args.remove:
            changed = await storage.segments.untag(args.id, args.tag)
        else:
            by = args.by or _login()
            changed = await storage.segments.tag(args.id, args.tag, by, datetime.now(UTC))
    finally:
        await storage.close()
    who = inert(args.id.id)
    if args.remove:
        print(f"{who}: tag {args.tag} removed" if changed else f"{who} had no tag {args.tag}")
    else:
        print(f"{who}: tagged {args.tag}" if changed else f"{who} already had tag {args.tag}")
    return DONE


def show_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_show(settings, args))


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_export(settings, args))


def erase_command(settings: Settings, args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            print("escalator: erasing cannot be undone; add --yes to confirm", file=sys.stderr)
            return REFUSED
        answer = input(f"Erase {inert(args.id.id)} for good? Type 'erase' to confirm: ")
        if answer.strip().lower() != "erase":
            print("escalator: nothing erased", file=sys.stderr)
            return REFUSED
    return asyncio.run(_erase(settings, args))


def _unknown(args: argparse.Namespace) -> int:
    print(f"escalator: no customer {inert(args.id.id)!r}", file=sys.stderr)
    return REFUSED


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    storage = await open_existing(settings)
    try:
        customer = await storage.journey.customer(args.id, history=200)
        view = await storage.records.view(args.id, people=PEOPLE_SHOWN)
    finally:
        await storage.close()
    if customer is None or view is None:
        return _unknown(args)
    print("\n".join([*describe(customer), *describe_view(view)]))
    return DONE


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    storage = await open_existing(settings)
    try:
        data = await storage.records.export(args.id)
    finally:
        await storage.close()
    if data is None:
        return _unknown(args)
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return DONE


async def _erase(settings: Settings, args: argparse.Namespace) -> int:
    by = args.by or _login()
    storage = await open_existing(settings)
    try:
        tombstone = await storage.records.erase(args.id, by, datetime.now(UTC))
    finally:
        await storage.close()
    if tombstone is None:
        return _unknown(args)
    print(
        f"erased {inert(args.id.id)}: their anonymous figures are kept as {tombstone}; "
        f"the running bot edits its Slack messages about them to 'erased' (audit: {inert(by)})"
    )
    return DONE


def _login() -> str:
    try:
        return f"{getpass.getuser()} (command line)"
    except OSError:
        return "command line"


def describe(customer: Customer) -> list[str]:
    """The customer as lines for a terminal: every value they control made inert."""
    flags = [
        name
        for name, on in (("opted out", customer.opted_out), ("unreachable", customer.unreachable))
        if on
    ]
    lines = [
        f"customer  {inert(customer.id)}",
        f"name      {inert(customer.first_name or '-')}"
        + (f" (@{inert(customer.username)})" if customer.username else ""),
        f"stage     {customer.stage.value} (level {customer.stage.level})",
        f"dialogue  {customer.dialogue.value}",
        f"source    {inert(customer.source or '-')}",
        f"flags     {', '.join(flags) or '-'}",
        f"since     {customer.created_at:%Y-%m-%d %H:%M} UTC",
        "history",
    ]
    lines.extend(_entry(entry) for entry in customer.history)
    return lines


def describe_view(view: dict[str, Json]) -> list[str]:
    """Scores with their comments, cases and conversations, the referral tree by generation."""
    lines = ["scores"]
    scores = view.get("scores") or []
    assert isinstance(scores, list)
    for score in scores:
        assert isinstance(score, dict)
        comment = f"  “{inert(score['comment'])}”" if score.get("comment") else ""
        lines.append(f"  {score['at']}  {str(score['scale']).upper()} {score['score']}{comment}")
    if not scores:
        lines.append("  none")
    lines.append("cases and conversations")
    cases = view.get("cases") or []
    assert isinstance(cases, list)
    for case in cases:
        assert isinstance(case, dict)
        state = f"closed {case['closed_at']}" if case["status"] == "resolved" else "open"
        lines.append(f"  {case['kind']:<12} {inert(case['id'])}  {inert(case['reason'])} · {state}")
    if not cases:
        lines.append("  none")
    lines.append("referral tree")
    tree = view.get("tree") or []
    assert isinstance(tree, list)
    for generation in tree:
        assert isinstance(generation, dict)
        people = generation["people"]
        assert isinstance(people, list)
        names = ", ".join(
            inert(person["name"] or person["id"]) for person in people if isinstance(person, dict)
        )
        more = f" and {generation['more']} more" if generation["more"] else ""
        lines.append(
            f"  generation {generation['generation']}: {generation['joined']} joined, "
            f"{generation['converted']} bought — {names}{more}"
        )
    if not tree:
        lines.append("  nobody brought yet")
    return lines


def _entry(entry: HistoryEntry) -> str:
    move = ""
    if entry.to_stage and entry.from_stage != entry.to_stage:
        # the first entry (capture) has no stage before it
        move = f" {entry.from_stage} -> {entry.to_stage}" if entry.from_stage else ""
        move = move or f" -> {entry.to_stage}"
    detail = f" ({inert(entry.detail)})" if entry.detail else ""
    return f"  {entry.at:%Y-%m-%d %H:%M}  {entry.event}{move}{detail}"
