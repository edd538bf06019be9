"""Message rendering: Jinja2 in an immutable sandbox, strict about undefined names.

Templates live in `templates/messages/<locale>/<name>.j2`; a message missing in the customer's
locale falls back to the default locale. Each output format escapes the *values* it is given
for where it is shown, while the template's own markup stays as written:

- `html`   Telegram HTML: values are HTML-escaped, so an admin writes `<b>` literally.
- `mrkdwn` Slack: values have `&`, `<`, `>` escaped, so `<!channel>` in a name pings nobody.
- `text`   the console: rendered as HTML, then tags dropped and entities decoded.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from bot.errors import EscalatorError

__all__ = ["Format", "Renderer", "TemplateMissing", "escape_mrkdwn", "html_to_text"]


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


class Renderer:
    """Renders `templates/messages/<locale>/<name>.j2` for one output format at a time."""

    def __init__(self, root: Path, default_locale: str = "en") -> None:
        if not (root / default_locale).is_dir():
            raise EscalatorError(f"templates folder {root / default_locale} not found")
        self.root = root
        self.default_locale = default_locale
        loader = FileSystemLoader(str(root))
        common = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "auto_reload": True,
        }
        self._envs = {
            Format.HTML: ImmutableSandboxedEnvironment(autoescape=True, **common),
            Format.MRKDWN: ImmutableSandboxedEnvironment(
                autoescape=False,
                finalize=escape_mrkdwn,
                **common,
            ),
        }

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

    def render(
        self, name: str, context: Mapping[str, object], *, locale: str | None, fmt: Format
    ) -> str:
        env = self._envs[Format.HTML if fmt is Format.TEXT else fmt]
        tried = self.candidates(locale)
        for candidate in tried:
            try:
                template = env.get_template(f"{candidate}/{name}.j2")
            except TemplateNotFound:
                continue
            text = template.render(**context).strip()
            return html_to_text(text) if fmt is Format.TEXT else text
        raise TemplateMissing(name, tried)
