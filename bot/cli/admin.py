"""`escalator admin ...`: the accounts of the admin dashboard (`/admin` on PORT).

    escalator admin add NAME [--role viewer|editor] [--replace]   asks for the password
    escalator admin list | remove NAME | hash

The password is read without echo from a terminal (asked twice), or as one line from standard
input when it is piped (`printf '%s\\n' "$PW" | escalator admin add ann`); it is stored only as
a scrypt hash (`bot.passwords`). `hash` prints a hash for ADMIN_PASSWORD_HASH instead of storing
an account. The dashboard is on once an account exists (restart a running bot to serve it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import DONE, add_command, global_options, open_existing, prepare_directory
from bot.config import Settings
from bot.errors import InvalidInput
from bot.handlers.admin.gate import ENV_ACCOUNT, normal_name
from bot.passwords import check_new_password, hash_password
from bot.storage import open_storage
from bot.storage.types import AdminAccount

__all__ = ["add_parsers", "read_password"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser(
        "admin", help="accounts of the admin dashboard (/admin)", parents=[global_options()]
    )
    sub = parser.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    add = add_command(sub, "add", add_command_, help="add an account (asks for its password)")
    add.add_argument("name", help="the name to sign in with")
    add.add_argument(
        "--role",
        choices=["viewer", "editor"],
        default="editor",
        help="viewers see everything and change nothing; editors also change templates",
    )
    add.add_argument(
        "--replace", action="store_true", help="give an existing account a new password and role"
    )
    add_command(sub, "list", list_command, help="the accounts and their roles")
    remove = add_command(sub, "remove", remove_command, help="remove an account and its sessions")
    remove.add_argument("name")
    add_command(sub, "hash", hash_command, help="print a password hash for ADMIN_PASSWORD_HASH")


def read_password(confirm: bool) -> str:
    """The new password: asked without echo on a terminal, else one line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Password again: ") != first:
            raise InvalidInput("the two passwords differ; nothing was changed")
        password = first
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    check_new_password(password)
    return password


def _name(text: str) -> str:
    name = normal_name(text)
    if not _NAME.match(name):
        raise InvalidInput(
            f"not an account name: {text!r} (letters, digits, and . _ @ -, at most 64)"
        )
    return name


def add_command_(settings: Settings, args: argparse.Namespace) -> int:
    name = _name(args.name)
    if name == ENV_ACCOUNT and settings.admin_password_hash is not None:
        raise InvalidInput(
            "the account admin is ADMIN_PASSWORD_HASH's; choose another name, or unset "
            "ADMIN_PASSWORD_HASH to store admin's password in the database"
        )
    password = read_password(confirm=True)
    encoded = hash_password(password)
    return asyncio.run(_add(settings, name, encoded, args.role, args.replace))


async def _add(settings: Settings, name: str, encoded: str, role: str, replace: bool) -> int:
    prepare_directory(settings)  # the first thing a new install may do: create the database
    storage = await open_storage(
        settings.database, create=True, synchronous=settings.sqlite_synchronous
    )
    try:
        now = datetime.now(UTC)
        account = AdminAccount(name, encoded, "viewer" if role == "viewer" else "editor", now, now)
        if not await storage.admin.save_account(account, replace=replace):
            raise InvalidInput(
                f"there is an account {name!r} already (--replace gives it a new password)"
            )
    finally:
        await storage.close()
    verb = "updated" if replace else "added"
    print(f"{verb} the {account.role} {name}; sign in at http://localhost:{settings.port}/admin")
    if replace:
        print("their sessions ended: they sign in again with the new password")
    return DONE


def list_command(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        storage = await open_existing(settings)
        try:
            accounts = await storage.admin.accounts()
        finally:
            await storage.close()
        if settings.admin_password_hash is not None:
            print(f"{ENV_ACCOUNT:<24} editor   (ADMIN_PASSWORD_HASH)")
        for account in accounts:
            print(f"{account.name:<24} {account.role:<8} since {account.created_at:%Y-%m-%d}")
        if not accounts and settings.admin_password_hash is None:
            print("no accounts: the dashboard is off (escalator admin add NAME)")
        return DONE

    return asyncio.run(run())


def remove_command(settings: Settings, args: argparse.Namespace) -> int:
    name = _name(args.name)

    async def run() -> int:
        storage = await open_existing(settings)
        try:
            removed = await storage.admin.remove_account(name)
        finally:
            await storage.close()
        if not removed:
            raise InvalidInput(f"no account {name!r} (escalator admin list shows them)")
        print(f"removed {name} and ended their sessions")
        return DONE

    return asyncio.run(run())


def hash_command(settings: Settings, args: argparse.Namespace) -> int:
    print(hash_password(read_password(confirm=True)))
    return DONE
