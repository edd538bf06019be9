"""What every command group shares: the global options, exit codes, how a customer is named on
the command line, and opening the database.

Exit codes, the same for every command: 0 done; 1 refused (bad configuration, bad input, a
check that found problems, a database in use, nothing found); 2 the command line itself is
wrong (unknown command or option, a malformed argument), as argparse reports it.
"""

from __future__ import annotations

import argparse
import getpass
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.delivery.outbox import Rendered
from bot.errors import InvalidInput, TransientDeliveryError
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.storage import Storage, open_storage
from bot.storage.types import OutboxRow
from bot.storage.url import DatabaseUrl

__all__ = [
    "DONE",
    "REFUSED",
    "USAGE",
    "Command",
    "Nowhere",
    "add_command",
    "amount",
    "author_of",
    "customer_key",
    "global_options",
    "open_existing",
    "prepare_directory",
    "with_database",
]

DONE, REFUSED, USAGE = 0, 1, 2

Command = Callable[[Settings, argparse.Namespace], int]
"""A command: run with the settings (`--db` applied) and the parsed arguments; an exit code."""


def global_options() -> argparse.ArgumentParser:
    """Options every command accepts, before or after its name (`escalator --db x.db report`
    or `escalator report --db x.db`)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--db",
        type=Path,
        default=argparse.SUPPRESS,  # a subcommand's default must not undo the top-level value
        metavar="PATH",
        help="the SQLite file (instead of DATABASE_URL)",
    )
    return options


def with_database(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with `--db`, if given, in place of DATABASE_URL."""
    database: Path | None = getattr(args, "db", None)
    if database is None:
        return settings
    if database.is_dir():
        raise InvalidInput(f"--db {database} is a directory, not a database file")
    return settings.model_copy(update={"database_url": f"sqlite:///{database}"})


def customer_key(text: str) -> CustomerKey:
    """`telegram:12345`, `console:1`, or a bare id, which means Telegram (everywhere)."""
    key = CustomerKey.parse(text.strip(), default_channel="telegram")
    if not key.channel or not key.external_id or any(c.isspace() for c in key.id):
        raise argparse.ArgumentTypeError(
            f"not a customer id: {text!r} (use e.g. telegram:12345, console:1 or 12345)"
        )
    return key


def amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r} (a number, 0 or more)")
    return value


async def open_existing(settings: Settings) -> Storage:
    """The existing database (commands that read never create one)."""
    url: DatabaseUrl = settings.database
    return await open_storage(url, synchronous=settings.sqlite_synchronous)


def prepare_directory(settings: Settings) -> None:
    """`run` and `console` create the database's missing directory, and say so."""
    url = settings.database
    if url.backend == "sqlite" and url.path is not None and not url.path.parent.exists():
        url.path.parent.mkdir(parents=True)
        print(
            f"escalator: created the directory {url.path.parent} for the database",
            file=sys.stderr,
        )


class Nowhere:
    """The CLI delivers nothing itself: the running bot's outbox sends what it commits."""

    format = Format.TEXT

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        raise TransientDeliveryError("the command line does not deliver messages")

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        raise TransientDeliveryError("the command line does not deliver messages")


def add_command(
    commands: Any, name: str, command: Command, **options: Any
) -> argparse.ArgumentParser:
    """A sub-command that accepts the global options and runs `command`."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=[global_options()], **options
    )
    parser.set_defaults(command=command)
    return parser


def author_of(args: argparse.Namespace) -> str:
    """Who a change is recorded as: `--author`, else the operating-system user."""
    if args.author:
        return str(args.author)
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "admin"
