"""`escalator db ...`: bring a database to the current schema (`upgrade`), or move every row of
one database into another, empty one (`copy`, e.g. from SQLite to PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.cli.common import DONE, add_command, global_options
from bot.config import Settings
from bot.errors import InvalidInput
from bot.storage import upgrade
from bot.storage.transfer import Copied, copy_database
from bot.storage.url import DatabaseUrl, parse_database_url

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser(
        "db", help="upgrade the database schema, or copy a database", parents=[global_options()]
    )
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = add_command(
        sub,
        "upgrade",
        upgrade_command,
        help="apply pending migrations and print the schema version (safe to run any time)",
    )
    up.add_argument("--url", help="the database (default: DATABASE_URL, or --db)")
    copy = add_command(
        sub, "copy", copy_command, help="copy every table into an empty database, checking counts"
    )
    copy.add_argument("--from", dest="source", required=True, help="e.g. sqlite:///escalator.db")
    copy.add_argument(
        "--to", dest="target", required=True, help="e.g. postgresql://user:pass@host:5432/db"
    )


def upgrade_command(settings: Settings, args: argparse.Namespace) -> int:
    url = _url(args.url, "--url") if args.url else settings.database
    version = asyncio.run(upgrade(url))
    print(f"{url}: schema version {version}")
    return DONE


def copy_command(settings: Settings, args: argparse.Namespace) -> int:
    source, target = _url(args.source, "--from"), _url(args.target, "--to")
    print(f"copying {source} -> {target}")

    def show(copied: Copied) -> None:
        print(f"  {copied.table:<18} {copied.rows:>12,}", flush=True)

    copied = asyncio.run(copy_database(source, target, progress=show))
    total = sum(item.rows for item in copied)
    print(f"copied {total:,} rows in {len(copied)} tables; every count checked against the source")
    return DONE


def _url(text: str, option: str) -> DatabaseUrl:
    try:
        return parse_database_url(text)
    except ValueError as exc:
        raise InvalidInput(f"{option} {exc}") from None
