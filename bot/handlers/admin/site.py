"""The dashboard as an aiohttp application, mounted under `/admin` on the bot's web server.

Every request passes three middlewares, outermost first: security headers on whatever comes
back (errors too); the session (who is signed in; anyone else is sent to the sign-in page);
and the CSRF check, which refuses any state-changing request (POST) whose token does not match
its session's (or, for the sign-in form, the token in its own cookie). Only the sign-in page
and the static files are served without a session.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from bot.clock import Clock
from bot.handlers.admin.gate import Gate, GateOptions, Refused
from bot.handlers.admin.sections import ReportSection
from bot.handlers.admin.security import (
    UNSAFE_METHODS,
    client_address,
    is_https,
    protect,
    same_token,
)
from bot.handlers.admin.views import ADMIN_KEY, PREFIX, Views
from bot.messages.templates import Renderer
from bot.messages.versions import TemplateVersions
from bot.storage.protocols import Storage

__all__ = ["COOKIE", "PREFIX", "AdminOptions", "AdminParts", "Site", "admin_app"]

log = logging.getLogger(__name__)

COOKIE = "escalator_admin"
LOGIN_COOKIE = "escalator_admin_login"
STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class AdminOptions:
    gate: GateOptions
    scale: str
    """SURVEY_SCALE: the score the overview draws per week."""
    zone: tzinfo
    """TIMEZONE: where weeks start."""
    trust_proxy: bool = False


@dataclass(frozen=True)
class AdminParts:
    storage: Storage
    templates: TemplateVersions
    renderer: Renderer
    clock: Clock
    sections: Sequence[ReportSection] = field(default_factory=tuple)
    """Reports other features add (campaigns, experiments): listed on one page."""


class Site:
    """What the pages share."""

    def __init__(self, options: AdminOptions, parts: AdminParts) -> None:
        self.options = options
        self.parts = parts
        self.gate = Gate(parts.storage.admin, options.gate, parts.clock)
        self.views = Views()

    def cookie(self, response: web.StreamResponse, request: web.Request, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.options.gate.session_ttl.total_seconds()),
            path=PREFIX,
            secure=is_https(request),
            httponly=True,
            samesite="Lax",
        )

    # --- middlewares ----------------------------------------------------------------------

    @web.middleware
    async def headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        page = not request.path.startswith(f"{PREFIX}/static/")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            protect(exc, page=page)
            raise
        protect(response, page=page)
        return response

    @web.middleware
    async def session(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(f"{PREFIX}/static/"):
            return await handler(request)  # the package's own files: no session needed
        admin = await self.gate.admin(request.cookies.get(COOKIE, ""))
        if admin is not None:
            request[ADMIN_KEY] = admin
            return await handler(request)
        if request.path == f"{PREFIX}/login":
            return await handler(request)
        if request.method in UNSAFE_METHODS:
            return self.views.refusal(
                request, 401, "Signed out", "Your session has ended: sign in again and retry."
            )
        target = quote(request.path_qs, safe="/?=&")
        raise web.HTTPSeeOther(f"{PREFIX}/login?next={target}")

    @web.middleware
    async def csrf(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in UNSAFE_METHODS:
            return await handler(request)
        admin = request.get(ADMIN_KEY)
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in {
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }:
            form = await request.post()
            value = form.get("csrf")
            given = value if isinstance(value, str) else None
        if admin is not None:
            expected: str | None = admin.csrf
        elif request.path == f"{PREFIX}/login":
            expected = request.cookies.get(LOGIN_COOKIE)
        else:
            expected = None
        if not same_token(given, expected):
            return self.views.refusal(
                request,
                403,
                "Not accepted",
                "This form was not sent from a page of this dashboard, or it is too old. "
                "Reload the page and try again.",
            )
        return await handler(request)

    # --- signing in and out ---------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        if request.get(ADMIN_KEY) is not None:
            raise web.HTTPSeeOther(_next(request.query.get("next")))
        return self._login(request, 200, "", request.query.get("next", ""))

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        name, password, target = (
            str(form.get("name", "")),
            str(form.get("password", "")),
            str(form.get("next", "")),
        )
        address = client_address(request, self.options.trust_proxy)
        result = await self.gate.sign_in(name, password, address)
        if isinstance(result, Refused):
            log.warning(
                "dashboard sign-in as %r from %s refused%s",
                name[:64],
                address,
                " (too many failures)" if result.throttled else "",
            )
            if result.throttled is not None:
                minutes = max(1, round(result.throttled.total_seconds() / 60))
                response = self._login(
                    request,
                    429,
                    "Too many failed sign-ins from here or for this account. "
                    f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                    target,
                    name,
                )
                response.headers["Retry-After"] = str(int(result.throttled.total_seconds()) + 1)
                return response
            return self._login(request, 401, "Wrong name or password.", target, name)
        log.info("%s signed in to the dashboard from %s", result.admin.name, address)
        response = _see_other(_next(target))
        self.cookie(response, request, result.token)
        response.del_cookie(LOGIN_COOKIE, path=f"{PREFIX}/login")
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        admin = request.get(ADMIN_KEY)
        if admin is not None:
            await self.gate.sign_out(admin)
        response = _see_other(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        return response

    def _login(
        self, request: web.Request, status: int, problem: str, target: str, name: str = ""
    ) -> web.Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = self.views.page(
            request,
            "login.html",
            status=status,
            problem=problem,
            next=target,
            name=name,
            login_csrf=token,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            path=f"{PREFIX}/login",
            secure=is_https(request),
            httponly=True,
            samesite="Strict",
        )
        return response


def _see_other(location: str) -> web.Response:
    """A redirect that carries cookies (returning `HTTPSeeOther` is deprecated)."""
    return web.Response(status=303, headers={"Location": location})


def _next(target: str | None) -> str:
    """Where to go after signing in: a dashboard page, never another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/"


def admin_app(options: AdminOptions, parts: AdminParts) -> web.Application:
    """The dashboard, to mount at `PREFIX` (`app.add_subapp(PREFIX, admin_app(...))`)."""
    from bot.handlers.admin import customers, editor, overview, reports

    site = Site(options, parts)
    app = web.Application(middlewares=[site.headers, site.session, site.csrf])
    app.router.add_get("/login", site.login_page)
    app.router.add_post("/login", site.login)
    app.router.add_post("/logout", site.logout)
    for module in (overview, customers, editor, reports):
        app.router.add_routes(module.routes(site))
    app.router.add_static("/static/", STATIC, append_version=False)
    return app
