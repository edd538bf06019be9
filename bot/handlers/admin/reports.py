"""Campaigns and experiments: the reports other features register (`sections`), listed with
their figures and charts. Until a feature registers one, the page says that nothing exists yet.
"""

from __future__ import annotations

from aiohttp import web

from bot.handlers.admin.site import Site

__all__ = ["routes"]


def routes(site: Site) -> list[web.RouteDef]:
    async def reports(request: web.Request) -> web.StreamResponse:
        sections = [
            (section.title, list(await section.entries())) for section in site.parts.sections
        ]
        return site.views.page(request, "reports.html", section="reports", sections=sections)

    return [web.get("/reports", reports)]
