"""The `escalator` command line (also `python -m bot`): the parser and the dispatch only; each
command group lives in its own module.

escalator [--db PATH] [COMMAND ...]     with no command: `run`

Global options (`--db`) are accepted before the command or after it, for every command. Exit
codes are the same for every command (`bot.cli.common`): 0 done, 1 refused, 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.cli import (
    admin,
    campaigns,
    customer,
    customers,
    db,
    experiments,
    purchase,
    reports,
    run,
    segments,
    shop,
    simulate,
    templates,
)
from bot.cli.common import REFUSED, global_options, with_database
from bot.config import load_settings
from bot.errors import EscalatorError
from bot.logs import configure_logging
from bot.terminal import inert_lines

__all__ = ["build_parser", "main"]

GROUPS = (
    run,
    customer,
    customers,
    purchase,
    simulate,
    reports,
    templates,
    experiments,
    db,
    shop,
    admin,
    segments,
    campaigns,
)
"""Each module adds its commands with `add_parsers(commands)`."""

EXIT_CODES = """exit codes: 0 done, 1 refused (bad configuration or input, nothing found, problems
found by a check, a database in use), 2 the command line is wrong (usage)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalator",
        description="Escalator: walks customers up the customer escalator.",
        epilog=EXIT_CODES,
        parents=[global_options()],
    )
    commands = parser.add_subparsers(dest="command_name", metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(commands)
    parser.set_defaults(command=run.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a usage error
    try:
        settings = with_database(load_settings(), args)
        configure_logging("WARNING", secrets=settings.secrets())  # `run` says more
        code: int = args.command(settings, args)
        return code
    except EscalatorError as exc:
        print(f"escalator: {inert_lines(exc)}", file=sys.stderr)
        return REFUSED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `escalator templates list | head`
        sys.stderr.close()
        return 0
