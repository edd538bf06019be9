"""Checks an admin's template before it is saved, so an edit can never break the bot.

In order: size; syntax (with the line); only the message's declared variables (with the line of
the first use of an unknown one); a test render with the sample values inside the sandbox (which
refuses internals such as `''.__class__` and huge values); the rendered length (Telegram allows
4096 characters); and, for Telegram, only the HTML tags Telegram understands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from bot.errors import EscalatorError
from bot.messages.catalog import LIMITS, MessageSpec
from bot.messages.templates import Format, Renderer, html_to_text

__all__ = ["FORMATS", "MAX_SOURCE", "Problem", "ValidationFailed", "validate"]

MAX_SOURCE = 20_000
FORMATS = {"customer": Format.HTML, "staff": Format.MRKDWN, "button": Format.TEXT}
TELEGRAM_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ]
)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)")
_WHERE = {"customer": "Telegram", "staff": "a Slack card section", "button": "a button label"}


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None
    locale: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                f"[{self.locale}]" if self.locale else "",
                f"line {self.line}:" if self.line else "",
            )
            if part
        )
        return f"{where} {self.message}".strip()


class ValidationFailed(EscalatorError):
    def __init__(self, name: str, problems: list[Problem]) -> None:
        lines = "\n  ".join(str(p) for p in problems)
        super().__init__(f"template {name!r} was not saved:\n  {lines}")
        self.problems = problems


def validate(spec: MessageSpec, source: str, renderer: Renderer, locale: str) -> list[Problem]:
    """Everything wrong with `source` as the `locale` text of message `spec` (empty: fine)."""
    if len(source) > MAX_SOURCE:
        return [Problem(f"the template is {len(source)} characters; at most {MAX_SOURCE}")]
    fmt = FORMATS[spec.audience]
    env = renderer.environment(fmt)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [Problem(f"syntax error: {exc.message}", exc.lineno, locale)]
    unknown = meta.find_undeclared_variables(tree) - spec.names - set(env.globals)
    if unknown:
        allowed = ", ".join(sorted(spec.names)) or "none"
        return [
            Problem(
                f"unknown variable '{name}' (this message can use: {allowed})",
                _first_use(tree, name),
                locale,
            )
            for name in sorted(unknown)
        ]
    try:
        text = env.from_string(source).render(**spec.check(spec.samples())).strip()
    except SecurityError as exc:
        return [Problem(f"not allowed in a message: {exc}", None, locale)]
    except UndefinedError as exc:
        return [Problem(f"{exc.message} (rendering with the sample values)", None, locale)]
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        return [Problem(f"rendering with the sample values failed: {exc}", None, locale)]
    problems = []
    shown = html_to_text(text) if fmt is Format.TEXT else text
    limit = LIMITS[spec.audience]
    if len(shown) > limit:
        problems.append(
            Problem(
                f"renders to {len(shown)} characters with the sample values; "
                f"{_WHERE[spec.audience]} allows {limit}",
                None,
                locale,
            )
        )
    if not shown:
        problems.append(Problem("renders to nothing with the sample values", None, locale))
    if fmt is Format.HTML:
        for tag in sorted({t.lower() for t in _TAG.findall(text)} - TELEGRAM_TAGS):
            problems.append(Problem(f"Telegram does not support the tag <{tag}>", None, locale))
    return problems


def _first_use(tree: nodes.Template, name: str) -> int | None:
    lines = [node.lineno for node in tree.find_all(nodes.Name) if node.name == name]
    return min(lines) if lines else None
