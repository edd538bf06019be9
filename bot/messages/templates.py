"""Message rendering: Jinja2 in a hardened immutable sandbox, strict about undefined names.

Templates live in `templates/messages/<locale>/<name>.j2`; an admin's override (a version stored
in the database) takes the shipped file's place; a message missing in the customer's locale
falls back to the default locale. Each output format escapes the *values* it is given for where
they are shown, while the template's own markup stays as written:

- `html`   Telegram HTML: values are HTML-escaped, so an admin writes `<b>` literally.
- `mrkdwn` Slack: values have `&`, `<`, `>` escaped, so `<!channel>` in a name pings nobody.
- `text`   the console and button labels: rendered as HTML, then tags dropped, entities decoded.

The sandbox blocks internals (`''.__class__`), and because Jinja bounds neither CPU nor memory,
`range` is capped and `*`/`**` refuse to build huge values. An override that fails at run time
(validation should make that impossible) falls back to the last version that rendered, then to
the shipped file, and the failure is logged.
"""

from __future__ import annotations

import html
import logging
import operator
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from bot.errors import EscalatorError

__all__ = ["Format", "Renderer", "TemplateMissing", "escape_mrkdwn", "html_to_text"]

log = logging.getLogger(__name__)

MAX_RANGE = 500
MAX_VALUE = 20_000
"""The largest string or list `*` and `**` may build in a template."""


class Format(StrEnum):
    HTML = "html"
    MRKDWN = "mrkdwn"
    TEXT = "text"


class TemplateMissing(EscalatorError):
    def __init__(self, name: str, locales: list[str]) -> None:
        super().__init__(f"no template {name!r} in locales {locales}")
        self.name = name


def escape_mrkdwn(value: object) -> object:
    """Slack treats only `&`, `<` and `>` as control characters; `Markup` is trusted as is."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, str):
        return html.escape(value, quote=False)
    return value


_TAG = re.compile(r"<[^>]+>")


def html_to_text(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def _capped_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in messages")
    return result


class HardenedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on what a template can make the process build."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _capped_range

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponents above 64 are not allowed in messages")
            return operator.pow(left, right)
        size = max(_length(left) * _count(right), _length(right) * _count(left))
        if size > MAX_VALUE:
            raise SecurityError(f"a value of {size} items is too large for a message")
        return operator.mul(left, right)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Renderer:
    """Renders messages for one output format at a time, admin overrides first."""

    def __init__(self, root: Path, default_locale: str = "en") -> None:
        if not (root / default_locale).is_dir():
            raise EscalatorError(f"templates folder {root / default_locale} not found")
        self.root = root
        self.default_locale = default_locale
        self._overrides: dict[str, str] = {}
        self._last_good: dict[str, str] = {}
        loader = ChoiceLoader([DictLoader(self._overrides), FileSystemLoader(str(root))])
        self._envs = {
            Format.HTML: self._environment(loader, autoescape=True),
            Format.MRKDWN: self._environment(loader, autoescape=False, finalize=escape_mrkdwn),
        }

    @staticmethod
    def _environment(loader: Any, **options: Any) -> HardenedSandbox:
        return HardenedSandbox(
            loader=loader,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Shipped files change only with a deploy; admin versions come through the
            # DictLoader, whose freshness check is a dict lookup. Not stat()ing a file on
            # every render is measurable (bench/README.md).
            auto_reload=False,
            **options,
        )

    def environment(self, fmt: Format) -> HardenedSandbox:
        return self._envs[Format.HTML if fmt is Format.TEXT else fmt]

    def locales(self) -> list[str]:
        return sorted(path.name for path in self.root.iterdir() if path.is_dir())

    def candidates(self, locale: str | None) -> list[str]:
        """`pt-BR` -> ["pt-br", "pt", default]."""
        found: list[str] = []
        if locale:
            tag = locale.strip().lower().replace("_", "-")
            found.extend([tag, tag.split("-")[0]])
        found.append(self.default_locale)
        return list(dict.fromkeys(found))

    def set_overrides(self, overrides: Mapping[str, str]) -> None:
        """Replace the admin overrides (`"<locale>/<name>.j2"` -> source)."""
        self._overrides.clear()
        self._overrides.update(overrides)
        for env in self._envs.values():
            if env.cache is not None:  # an override of a cached file is only seen after this
                env.cache.clear()

    def shipped(self, name: str, locale: str) -> str | None:
        path = self.root / locale / f"{name}.j2"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def current(self, name: str, locale: str) -> str | None:
        key = f"{locale}/{name}.j2"
        return self._overrides.get(key, self.shipped(name, locale))

    def render(
        self, name: str, context: Mapping[str, object], *, locale: str | None, fmt: Format
    ) -> str:
        env = self.environment(fmt)
        tried = self.candidates(locale)
        for candidate in tried:
            key = f"{candidate}/{name}.j2"
            try:
                template = env.get_template(key)
            except TemplateNotFound:
                continue
            text = self._render(env, key, template, context).strip()
            return html_to_text(text) if fmt is Format.TEXT else text
        raise TemplateMissing(name, tried)

    def _render(
        self, env: HardenedSandbox, key: str, template: Template, context: Mapping[str, object]
    ) -> str:
        override = self._overrides.get(key)
        if override is None:
            return template.render(**context)
        try:
            text = template.render(**context)
        except Exception as exc:
            log.error("template %s (admin version) failed at run time: %s; falling back", key, exc)
            for source in (self._last_good.get(key), self._shipped_source(key)):
                if source is not None and source != override:
                    return env.from_string(source).render(**context)
            raise
        self._last_good[key] = override
        return text

    def _shipped_source(self, key: str) -> str | None:
        locale, _, file = key.partition("/")
        return self.shipped(file.removesuffix(".j2"), locale)
