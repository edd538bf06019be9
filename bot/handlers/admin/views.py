"""Dashboard pages from Jinja2 templates in `templates/` (next to this file), autoescaped: every
value a page shows (a customer's name, a comment, an admin's comment) is HTML-escaped, so
`<script>` in a name is text. These are not the bot's message templates: those are the admins'
to edit; these are the product's own pages.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.handlers.admin.gate import Admin

__all__ = ["ADMIN_KEY", "PREFIX", "Views"]

PREFIX = "/admin"
TEMPLATES = Path(__file__).resolve().parent / "templates"
ADMIN_KEY = web.RequestKey("admin", Admin)  # who is signed in, set by the session middleware
NAVIGATION = (
    ("overview", "Overview", f"{PREFIX}/"),
    ("customers", "Customers", f"{PREFIX}/customers"),
    ("templates", "Templates", f"{PREFIX}/templates"),
    ("reports", "Campaigns & experiments", f"{PREFIX}/reports"),
)


def _query(base: str, **params: object) -> str:
    """`base` with the given parameters (None and empty ones left out)."""
    kept = {key: str(value) for key, value in params.items() if value not in (None, "", False)}
    return f"{base}?{urlencode(kept)}" if kept else base


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


class Views:
    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(prefix=PREFIX, navigation=NAVIGATION, query=_query)
        self._env.filters["when"] = _when

    def page(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        section: str = "",
        **context: Any,
    ) -> web.Response:
        admin = request.get(ADMIN_KEY)
        text = self._env.get_template(template).render(
            admin=admin, csrf=admin.csrf if admin else "", section=section, **context
        )
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def refusal(self, request: web.Request, status: int, title: str, message: str) -> web.Response:
        """An error page: what went wrong and what to do, never a traceback."""
        return self.page(request, "error.html", status=status, title=title, message=message)
