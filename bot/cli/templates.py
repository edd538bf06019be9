"""`escalator templates ...`: list, show, edit, set, preview, validate, history, rollback, reset,
export and import the message templates. Every save is validated and kept as a version."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.errors import InvalidInput
from bot.flows.model import CustomerKey
from bot.messages.templates import html_to_text
from bot.messages.validation import FORMATS
from bot.messages.versions import TemplateVersions

__all__ = ["add_parser", "run"]

Opener = Callable[[], AbstractAsyncContextManager[Runtime]]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("templates", help="view, edit and version the bot's messages")
    parser.add_argument("--db", type=Path, help="SQLite file (default: DATABASE_URL)")
    sub = parser.add_subparsers(dest="templates_command", metavar="ACTION", required=True)

    def with_locale(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--locale", help="the language (default: DEFAULT_LOCALE)")
        return p

    def authored(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--author", default=None, help="who makes the change (default: $USER)")
        p.add_argument("--comment", default="", help="why (kept in the history)")
        return with_locale(p)

    sub.add_parser("list", help="every message, its audience and whether it was edited")
    with_locale(sub.add_parser("show", help="the current text")).add_argument("name")
    authored(sub.add_parser("edit", help="edit in $EDITOR; validated when you save")).add_argument(
        "name"
    )
    set_ = authored(sub.add_parser("set", help="save a file as the new version"))
    set_.add_argument("name")
    set_.add_argument("--file", type=Path, required=True)
    preview = with_locale(sub.add_parser("preview", help="render with sample values"))
    preview.add_argument("name")
    preview.add_argument("--customer", help="use this customer's name (e.g. telegram:12345)")
    validate = sub.add_parser("validate", help="check the current texts")
    validate.add_argument("name", nargs="?")
    validate.add_argument("--all", action="store_true", help="every message in every locale")
    with_locale(sub.add_parser("history", help="all versions")).add_argument("name")
    rollback = authored(sub.add_parser("rollback", help="make an earlier version current"))
    rollback.add_argument("name")
    rollback.add_argument("version", type=int)
    authored(sub.add_parser("reset", help="back to the shipped text")).add_argument("name")
    sub.add_parser("export", help="write the current texts to DIR").add_argument("dir", type=Path)
    imp = sub.add_parser("import", help="save every changed DIR/<locale>/<name>.j2 (all or none)")
    imp.add_argument("dir", type=Path)
    imp.add_argument("--author", default=None)
    imp.add_argument("--comment", default="imported")


def run(args: argparse.Namespace, open_runtime: Opener) -> int:
    action: Callable[[TemplateVersions, Runtime, argparse.Namespace], Coroutine[Any, Any, int]]
    action = _ACTIONS[args.templates_command]

    async def main() -> int:
        async with open_runtime() as rt:
            return await action(rt.templates, rt, args)

    return asyncio.run(main())


def _author(args: argparse.Namespace) -> str:
    if args.author:
        return str(args.author)
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "admin"


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
    sys.stdout.write(source if source.endswith("\n") else source + "\n")
    spec = t.catalog[args.name]
    names = ", ".join(f"{v.name} ({v.type})" for v in spec.variables) or "none"
    print(f"# variables: {names}", file=sys.stderr)
    return 0


async def _edit(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    locale = t.locale(args.locale)
    t.catalog[args.name]
    original = rt.renderer.current(args.name, locale) or ""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    interactive = sys.stdin.isatty()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{args.name}.{locale}.j2"
        path.write_text(original, encoding="utf-8")
        while True:
            # The editor and the question below wait for a person; nothing else runs meanwhile.
            code = await asyncio.to_thread(subprocess.call, [*shlex.split(editor), str(path)])
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
        args.name, source, locale=locale, author=_author(args), comment=args.comment
    )
    print(f"saved {args.name} [{locale}] as version {number}")
    return 0


async def _set(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    try:
        source = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc}") from None
    locale = t.locale(args.locale)
    number = await t.save(
        args.name, source, locale=locale, author=_author(args), comment=args.comment
    )
    print(f"saved {args.name} [{locale}] as version {number}")
    return 0


async def _preview(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    spec = t.catalog[args.name]
    values = spec.samples()
    locale = args.locale
    if args.customer:
        customer = await rt.storage.journey.customer(CustomerKey.parse(args.customer))
        if customer is None:
            raise InvalidInput(f"no customer {args.customer!r}")
        values["first_name"] = customer.first_name or ""
        locale = locale or customer.language
    text = rt.renderer.render(args.name, values, locale=locale, fmt=FORMATS[spec.audience])
    if spec.audience == "customer":
        text = html_to_text(text)
    print(text)
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
    number = await t.rollback(args.name, args.version, locale=args.locale, author=_author(args))
    print(f"{args.name}: version {args.version} is current again (saved as version {number})")
    return 0


async def _reset(t: TemplateVersions, rt: Runtime, args: argparse.Namespace) -> int:
    number = await t.reset(args.name, locale=args.locale, author=_author(args))
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
        await t.save(name, source, locale=locale, author=_author(args), comment=args.comment)
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
