"""The admin dashboard joined to the running bot: settings and the runtime's parts in, the
pages to mount on the web server out, or None while the dashboard is off (no
ADMIN_PASSWORD_HASH and no account: `escalator admin add NAME`)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.app import Runtime
from bot.config import Settings
from bot.handlers.admin import AdminOptions, AdminParts, GateOptions, ReportSection, admin_app
from bot.report_sections import CampaignsSection, ExperimentsSection

__all__ = ["admin_options", "dashboard"]

log = logging.getLogger(__name__)


def admin_options(settings: Settings) -> AdminOptions:
    env_hash = settings.admin_password_hash
    return AdminOptions(
        gate=GateOptions(
            env_hash=None if env_hash is None else env_hash.get_secret_value(),
            session_ttl=settings.admin_session_ttl,
            attempts=settings.admin_login_attempts,
            window=settings.admin_login_window,
        ),
        scale=settings.survey_scale,
        zone=settings.tz,
        trust_proxy=settings.admin_trust_proxy,
    )


async def dashboard(settings: Settings, rt: Runtime) -> web.Application | None:
    """The dashboard's pages for `/admin`, or None when no one could sign in."""
    options = admin_options(settings)
    if options.gate.env_hash is None and not await rt.storage.admin.accounts():
        log.info("admin dashboard off: set ADMIN_PASSWORD_HASH or run `escalator admin add NAME`")
        return None
    sections: tuple[ReportSection, ...] = (
        CampaignsSection(rt.storage.campaigns, settings.campaign_attribution),
        ExperimentsSection(rt.storage.experiments),
    )
    parts = AdminParts(rt.storage, rt.templates, rt.renderer, rt.clock, sections)
    log.info("admin dashboard on at /admin (port %s)", settings.port)
    return admin_app(options, parts)
