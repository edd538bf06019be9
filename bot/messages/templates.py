"""Message rendering: Jinja2 in a hardened immutable sandbox, strict about undefined names.

Templates live in `templates/messages/<locale>/<name>.j2`; an admin's override (a version stored
in the database) takes the shipped file's place; a message missing in the customer's locale
falls back to the default locale. Each output format escapes the *values* it is given for where
they are shown, while the template's own markup stays as written:

- `html`   Telegram HTML: values are HTML-escaped, so an admin writes `<b>` literally.
- `mrkdwn` Slack: values have `&`, `<`, `>` escaped, so `<!channel>` in a name pings nobody.
- `text`   the console and button labels: rendered as HTML, then tags dropped, entities decoded.

The sandbox blocks internals (`''.__class__`), and because Jinja bounds neither CPU nor memory,
every render runs within the bounds of `bot.messages.bounds` (loop iterations, call depth,
widths, value and output sizes, time), checked while it renders. An override that fails at run
time (validation makes that unlikely: a template can still behave differently with real values)
falls back to the last version that rendered, then to the shipped file, and the failure is
logged.
"""

from __future__ import annotations

import copy
import html
import logging
import operator
import re
from collections.abc import Callable, Mapping
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
    nodes,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from markupsafe import Markup, soft_str

from bot.errors import EscalatorError
from bot.messages import bounds

__all__ = ["Format", "Renderer", "TemplateMissing", "escape_mrkdwn", "html_to_text"]

log = logging.getLogger(__name__)

MAX_RANGE = 500
LABELS_KEPT = 4096
"""Button labels remembered at most (`Renderer.label`)."""
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


class BoundedTemplate(Template):
    """Every render runs within one budget (`bot.messages.bounds`)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        with bounds.render_budget():
            return super().render(*args, **kwargs)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with loops counted and `~` checked before it joins."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Each iteration may write the body's literal text again: count it as built.
        weight = sum(
            len(data.data) for part in node.body for data in part.find_all(nodes.TemplateData)
        )
        counted = copy.copy(node)
        counted.iter = nodes.Call(
            nodes.EnvironmentAttribute("bounded_iter"),
            [node.iter, nodes.Const(weight)],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        super().visit_For(counted, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {markup})")


class _BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: object, format_spec: str) -> Any:
        bounds.check_format_spec(format_spec)
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


class HardenedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on what a render may cost (`bot.messages.bounds`):
    checked while rendering, so a template that would take gigabytes is stopped before it does.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator
    template_class = BoundedTemplate

    def __init__(self, **options: Any) -> None:
        shown = options.pop("finalize", None)

        def finalize(value: Any) -> Any:
            if shown is not None:
                value = shown(value)
            bounds.charge_value(value)
            return value

        super().__init__(finalize=finalize, **options)
        self.globals["range"] = _capped_range
        del self.globals["lipsum"]  # lipsum(n=10**9) would be a way to build a huge value
        self.filters = {
            name: bounds.bounded_filter(name, func) for name, func in self.filters.items()
        }

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        bounds.check_call(obj, args, kwargs)
        if isinstance(getattr(obj, "__self__", None), LoopContext) and args:
            # `loop(children)` of a recursive loop: its items count like any loop's
            args = (bounds.bounded_iter(args[0], 0), *args[1:])
        bounds.enter_call()
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            bounds.leave_call()
        if isinstance(result, str | list | tuple):
            size = bounds.size_of(result)
            bounds.check_size(size)
            bounds.charge(size)
        return result

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponents above 64 are not allowed in messages")
            return operator.pow(left, right)
        if operator_ == "%":
            if isinstance(left, str):
                bounds.check_percent(left, right)
            return self._built(operator.mod(left, right))
        if operator_ == "+":
            size = bounds.size_of(left) + bounds.size_of(right)
            if isinstance(left, str | list | tuple):
                bounds.check_size(size)
            return self._built(operator.add(left, right))
        size = max(_length(left) * _count(right), _length(right) * _count(left))
        if size > MAX_VALUE:
            raise SecurityError(f"a value of {size} items is too large for a message")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > 4096
        ):
            raise SecurityError("numbers that large are not allowed in messages")
        return self._built(operator.mul(left, right))

    @staticmethod
    def _built(value: Any) -> Any:
        if isinstance(value, str | list | tuple):
            bounds.charge(bounds.size_of(value))
        return value

    def bounded_iter(self, iterable: Any, weight: int) -> Any:
        return bounds.bounded_iter(iterable, weight)

    def bounded_concat(self, parts: tuple[Any, ...], markup: bool) -> str:
        texts = [soft_str(part) for part in parts]
        size = sum(len(text) for text in texts)
        bounds.check_size(size)
        bounds.charge(size)
        return markup_join(texts) if markup else str_join(texts)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """As the sandbox does, with widths and precisions checked (`'{:>999999999}'`)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        owner: str = value.__self__
        formatter: SandboxedFormatter = (
            _BoundedEscapeFormatter(self, escape=owner.escape)
            if isinstance(owner, Markup)
            else _BoundedFormatter(self)
        )
        kind = type(owner)
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return kind(formatter.vformat(owner, (), args[0]))
            return kind(formatter.vformat(owner, args, kwargs))

        return checked


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
        self._labels: dict[tuple[object, ...], str] = {}
        self._variants: dict[tuple[Format, str], Template] = {}
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
        self._labels.clear()
        for env in self._envs.values():
            if env.cache is not None:  # an override of a cached file is only seen after this
                env.cache.clear()

    def shipped(self, name: str, locale: str) -> str | None:
        path = self.root / locale / f"{name}.j2"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def is_overridden(self, name: str, locale: str) -> bool:
        """Is an admin version, rather than the shipped file, current for this message?"""
        return f"{locale}/{name}.j2" in self._overrides

    def current(self, name: str, locale: str) -> str | None:
        key = f"{locale}/{name}.j2"
        return self._overrides.get(key, self.shipped(name, locale))

    def resolve(self, name: str, locale: str | None) -> str | None:
        """The locale whose version of `name` a customer with `locale` gets (None: none has it)."""
        for candidate in self.candidates(locale):
            key = f"{candidate}/{name}.j2"
            if key in self._overrides or (self.root / key).is_file():
                return candidate
        return None

    def render_variant(self, source: str, context: Mapping[str, object], *, fmt: Format) -> str:
        """Render an experiment's variant of `name` (its text, validated when it was stored) in
        the same sandbox and bounds as any message; compiled once per text. Raises what the
        render raises: the caller sends the message itself instead, and exposes nobody."""
        env = self.environment(fmt)
        template = self._variants.get((fmt, source))
        if template is None:
            if len(self._variants) >= 256:  # texts of stopped experiments: let them go
                self._variants.clear()
            template = self._variants[(fmt, source)] = env.from_string(source)
        text = template.render(**context).strip()
        return html_to_text(text) if fmt is Format.TEXT else text

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

    def label(self, name: str, context: Mapping[str, object], *, locale: str | None) -> str:
        """A button label (`Format.TEXT`), remembered by template, locale and values until the
        templates change (`set_overrides`, which every new version reaches, from any process,
        through `TemplateVersions.refresh`): a rating question has eleven, the same for every
        customer, and a render costs tens of microseconds."""
        key = (name, locale, *sorted(context.items()))
        try:
            text = self._labels.get(key)
        except TypeError:  # a value that cannot be a key (a list): rendered each time
            return self.render(name, context, locale=locale, fmt=Format.TEXT)
        if text is None:
            text = self.render(name, context, locale=locale, fmt=Format.TEXT)
            if len(self._labels) >= LABELS_KEPT:
                self._labels.clear()
            self._labels[key] = text
        return text

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
