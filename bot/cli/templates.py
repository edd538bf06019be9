"""`escalator templates ...`: list, show, edit, set, preview, validate, history, rollback, reset,
export and import the message templates. Every save is validated and kept as a version."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bot.app import Runtime, open_runtime
from bot.cli.common import Nowhere, add_command, author_of, customer_key, global_options
from bot.clock import SystemClock
from bot.config import Settings
from bot.errors import InvalidInput
from bot.messages.templates import html_to_text
from bot.messages.validation import FORMATS
from bot.messages.versions import TemplateVersions
from bot.terminal import inert_lines

__all__ = ["add_parsers", "templates_command"]


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser(
        "templates",
        parents=[global_options()],
        help="view, edit and version the bot's messages",
    )
    sub = parser.add_subparsers(dest="templates_command", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return add_command(sub, name, templates_command, help=help)

    def with_locale(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--locale", help="the language (default: DEFAULT_LOCALE)")
        return p

    def authored(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--author", default=None, help="who makes the change (default: $USER)")
        p.add_argument("--comment", default="", help="why (kept in the history)")
        return with_locale(p)

    action("list", "every message, its audience and whether it was edited")
    with_locale(action("show", "the current text")).add_argument("name")
    authored(action("edit", "edit in $EDITOR; validated when you save")).add_argument("name")
    set_ = authored(action("set", "save a file as the new version"))
    set_.add_argument("name")
    set_.add_argument("--file", type=Path, required=True)
    preview = with_locale(action("preview", "render with sample values"))
    preview.add_argument("name")
    preview.add_argument(
        "--customer",
        type=customer_key,
        help="use this customer's name and language (telegram:12345, console:1, or 12345)",
    )
    validate = action("validate", "check the current texts")
    validate.add_argument("name", nargs="?")
    validate.add_argument("--all", action="store_true", help="every message in every locale")
    with_locale(action("history", "all versions")).add_argument("name")
    rollback = authored(action("rollback", "make an earlier version current"))
    rollback.add_argument("name")
    rollback.add_argument("version", type=int)
    authored(action("reset", "back to the shipped text")).add_argument("name")
    action("export", "write the current texts to DIR").add_argument("dir", type=Path)
    imp = action("import", "save every changed DIR/<locale>/<name>.j2 (all or none)")
    imp.add_argument("dir", type=Path)
    imp.add_argument("--author", default=None)
    imp.add_argument("--comment", default="imported")


def templates_command(settings: Settings, args: argparse.Namespace) -> int:
    action: Callable[[TemplateVersions, Runtime, argparse.Namespace], Coroutine[Any, Any, int]]
    action = _ACTIONS[args.templates_command]

    async def main() -> int:
        async with open_runtime(settings, SystemClock(), {}, Nowhere()) as rt:
            return await action(rt.templates, rt, args)

    return asyncio.run(main())


async def _list(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    overrides = (await rt.storage.templates.overrides())[1]
    locales = rt.renderer.locales()
    for name in t.catalog.names():
        spec = t.catalog[name]
        edited = sorted(key.split("/")[0] for key in overrides if key.endswith(f"/{name}.j2"))
        missing = [loc for loc in locales if rt.renderer.current(name, loc) is None]
        notes = []
        if edited:
            notes.append(f"edited: {', '.join(edited)}")
        if missing:
            notes.append(f"falls back to {rt.renderer.default_locale}: {', '.join(missing)}")
        suffix = f"  [{'; '.join(notes)}]" if notes else ""
        print(f"{name:<24} {spec.audience:<8} {spec.description}{suffix}")
    return 0


async def _show(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    t.catalog[args.name]
    source = rt.renderer.current(args.name, t.locale(args.locale))
    if source is None:
        raise InvalidInput(f"{args.name} has no text in {t.locale(args.locale)!r} yet")
    sys.stdout.write(inert_lines(source.removesuffix("\n")) + "\n")
    spec = t.catalog[args.name]
    names = ", ".join(f"{v.name} ({v.type})" for v in spec.variables) or "none"
    print(f"# variables: {names}", file=sys.stderr)
    return 0


async def _edit(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    locale = t.locale(args.locale)
    t.catalog[args.name]
    original = rt.renderer.current(args.name, locale) or ""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    command = _editor_command(editor)
    interactive = sys.stdin.isatty()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{args.name}.{locale}.j2"
        path.write_text(original, encoding="utf-8")
        while True:
            # The editor and the question below wait for a person; nothing else runs meanwhile.
            try:
                code = await asyncio.to_thread(subprocess.call, [*command, str(path)])
            except OSError as exc:
                raise InvalidInput(
                    f"the editor {editor!r} (VISUAL or EDITOR) could not be started: "
                    f"{exc.strerror or exc}; nothing was saved"
                ) from None
            if code != 0:
                raise InvalidInput(f"the editor ({editor}) exited with {code}; nothing was saved")
            source = path.read_text(encoding="utf-8")
            if source == original:
                print("no changes: nothing was saved")
                return 0
            problems = t.check(args.name, source, locale)
            if not problems:
                break
            print(f"template {args.name!r} was not saved:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            if not interactive:
                return 1
            again = await asyncio.to_thread(input, "Edit again? [Y/n] ")
            if again.strip().lower() in {"n", "no"}:
                return 1
    number = await t.save(
        args.name, source, locale=locale, author=author_of(args), comment=args.comment
    )
    print(f"saved {args.name} [{locale}] as version {number}")
    return 0


def _editor_command(editor: str) -> list[str]:
    """The editor's command line, checked before anything is written (`EDITOR=nowhere`)."""
    try:
        command = shlex.split(editor)
    except ValueError as exc:
        raise InvalidInput(f"VISUAL/EDITOR {editor!r} is not a command line: {exc}") from None
    if not command or shutil.which(command[0]) is None:
        raise InvalidInput(
            f"the editor {editor!r} (VISUAL or EDITOR) was not found: set EDITOR to an "
            "installed editor, e.g. EDITOR=nano, or use `templates set NAME --file FILE`"
        )
    return command


async def _set(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    try:
        source = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc}") from None
    locale = t.locale(args.locale)
    number = await t.save(
        args.name, source, locale=locale, author=author_of(args), comment=args.comment
    )
    print(f"saved {args.name} [{locale}] as version {number}")
    return 0


async def _preview(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    spec = t.catalog[args.name]
    values = spec.samples()
    locale = args.locale
    if args.customer:
        customer = await rt.storage.journey.customer(args.customer)
        if customer is None:
            raise InvalidInput(f"no customer {args.customer.id!r}")
        values["first_name"] = customer.first_name or ""
        locale = locale or customer.language
    text = rt.renderer.render(args.name, values, locale=locale, fmt=FORMATS[spec.audience])
    if spec.audience == "customer":
        text = html_to_text(text)
    print(inert_lines(text))  # a customer's name may hold control characters
    return 0


async def _validate(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    names = t.catalog.names() if args.all or not args.name else [args.name]
    failures = 0
    checked = 0
    for name in names:
        for locale in rt.renderer.locales():
            source = rt.renderer.current(name, locale)
            if source is None:
                continue
            checked += 1
            for problem in t.check(name, source, locale):
                failures += 1
                print(f"{name}: {problem}")
    print(f"{checked} texts checked, {failures} problem{'s' if failures != 1 else ''}")
    return 1 if failures else 0


async def _history(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    versions = await t.history(args.name, args.locale)
    current = versions[-1].number
    for v in versions:
        when = "" if v.at is None else v.at.strftime("%Y-%m-%d %H:%M")
        mark = "*" if v.number == current else " "
        kind = " (shipped text)" if v.shipped else ""
        print(f"{mark} v{v.number:<3} {when:<16} {v.author:<12} {v.comment}{kind}")
    return 0


async def _rollback(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    number = await t.rollback(args.name, args.version, locale=args.locale, author=author_of(args))
    print(f"{args.name}: version {args.version} is current again (saved as version {number})")
    return 0


async def _reset(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    number = await t.reset(args.name, locale=args.locale, author=author_of(args))
    if number is None:
        print(f"{args.name}: already at the shipped text; nothing changed")
    else:
        print(f"{args.name}: back to the shipped text (version {number})")
    return 0


async def _export(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    written = 0
    for locale in rt.renderer.locales():
        for name in t.catalog.names():
            source = rt.renderer.current(name, locale)
            if source is not None:
                target = args.dir / locale / f"{name}.j2"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(source, encoding="utf-8")
                written += 1
    print(f"exported {written} texts to {args.dir}")
    return 0


async def _import(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    files = sorted(args.dir.glob("*/*.j2"))
    if not files:
        raise InvalidInput(f"no <locale>/<name>.j2 files in {args.dir}")
    changes: list[tuple[str, str, str]] = []
    problems = []
    for path in files:
        name, locale = path.stem, t.locale(path.parent.name)
        source = path.read_text(encoding="utf-8")
        if name not in t.catalog:
            problems.append(f"{path}: no message named {name!r}")
            continue
        if source == rt.renderer.current(name, locale):
            continue
        problems += [f"{path}: {p}" for p in t.check(name, source, locale)]
        changes.append((name, locale, source))
    if problems:
        print("nothing was imported:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for name, locale, source in changes:
        await t.save(name, source, locale=locale, author=author_of(args), comment=args.comment)
    print(f"imported {len(changes)} changed texts ({len(files) - len(changes)} unchanged)")
    return 0


_ACTIONS: dict[str, Any] = {
    "list": _list,
    "show": _show,
    "edit": _edit,
    "set": _set,
    "preview": _preview,
    "validate": _validate,
    "history": _history,
    "rollback": _rollback,
    "reset": _reset,
    "export": _export,
    "import": _import,
}
