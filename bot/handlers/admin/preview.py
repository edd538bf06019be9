"""A draft message rendered as it would be sent: in Telegram's HTML and in Slack's mrkdwn, with
a chosen customer's values (the catalogue's samples for everything the customer does not
have), inside the same sandbox and bounds as every message.

Telegram's HTML is shown in the page as formatted text. It is cleaned first by nh3 (the Rust
`ammonia` sanitiser): only the tags Telegram itself understands survive, links keep only an
`href` of a safe scheme, and anything else (a `<script>`, an `onerror=`) is removed, so a
preview can never run code in the admin's browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nh3
from jinja2 import TemplateError
from jinja2.exceptions import SecurityError

from bot.flows.model import Customer
from bot.flows.stages import Stage
from bot.messages.catalog import MessageSpec
from bot.messages.templates import Format, Renderer
from bot.messages.validation import TELEGRAM_TAGS

__all__ = ["Preview", "customer_values", "render_preview", "telegram_html"]

# What Telegram renders, minus its custom emoji, which a browser cannot show
_TAGS = set(TELEGRAM_TAGS - {"tg-emoji"})


def telegram_html(text: str) -> str:
    """Telegram HTML made safe to place in a page."""
    cleaned: str = nh3.clean(
        text,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "tg", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return cleaned


def customer_values(spec: MessageSpec, customer: Customer | None) -> dict[str, Any]:
    """The message's sample values, with what `customer` has instead where it has it."""
    values = spec.samples()
    if customer is None:
        return values
    known: dict[str, Any] = {
        "first_name": customer.first_name or "",
        "stage": customer.stage.value,
        "level": Stage(customer.stage).level,
        "source": customer.source,
        "since": f"{customer.created_at:%Y-%m-%d}",
        "opted_out": customer.opted_out,
        "dialogue": customer.dialogue.value,
    }
    values.update({name: value for name, value in known.items() if name in spec.names})
    return values


@dataclass(frozen=True)
class Preview:
    telegram: str
    """Safe HTML."""
    slack: str
    """mrkdwn source, to be shown as text."""
    problem: str = ""


def render_preview(
    renderer: Renderer, spec: MessageSpec, source: str, values: dict[str, Any]
) -> Preview:
    """Render `source` both ways; a template that fails says why instead."""
    try:
        context = spec.check(values)
        telegram = renderer.environment(Format.HTML).from_string(source).render(**context)
        slack = renderer.environment(Format.MRKDWN).from_string(source).render(**context)
    except SecurityError as exc:
        return Preview("", "", f"not allowed in a message: {exc}")
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        return Preview("", "", f"cannot render: {exc}")
    return Preview(telegram_html(telegram.strip()), slack.strip())
