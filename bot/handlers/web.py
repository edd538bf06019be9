"""The web server (aiohttp): the Telegram webhook, Slack's `/slack/events`, `/healthz`, and the
admin dashboard under `/admin` (`bot.handlers.admin`).

The webhook answers at once: it checks the secret token in constant time (403 when it is wrong
or missing, and nothing is processed), rejects a body that is not a JSON update, or an update of
the wrong shape (400), stores the update in the durable inbox and returns 200. Handling happens
after, from the inbox.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from telegram import Update

from bot.handlers.admin import PREFIX as ADMIN_PREFIX

__all__ = ["SECRET_HEADER", "WebServer", "build_web_app"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
SLACK_TIMESTAMP = "X-Slack-Request-Timestamp"
MAX_BODY = 1024 * 1024


def _shape_problem(update: dict[str, object]) -> str | None:
    """Why `update` is not a Bot API update python-telegram-bot can read, or None. Checked
    before it is stored: a malformed update is refused (400), not dropped later."""
    try:
        Update.de_json(update, None)
    except Exception as exc:  # whatever the malformed shape makes the parser raise
        return f"{type(exc).__name__}"
    return None


def build_web_app(
    *,
    telegram_path: str | None,
    telegram_secret: str | None,
    accept_update: Callable[[int, str], Awaitable[None]] | None,
    slack_app: AsyncApp | None = None,
    routes: Sequence[web.RouteDef] = (),
    admin: web.Application | None = None,
) -> web.Application:
    """The server's pages; `routes` adds more (the shop's webhooks, `bot.handlers.shop`)."""
    app = web.Application(client_max_size=MAX_BODY)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def telegram_webhook(request: web.Request) -> web.Response:
        assert accept_update is not None and telegram_secret is not None
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), telegram_secret.encode()):
            log.warning("webhook call with a wrong or missing secret token from %s", request.remote)
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        try:
            body = await request.text()
            update = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            return web.json_response(
                {"ok": False, "error": "not an update: no integer update_id"}, status=400
            )
        problem = _shape_problem(update)
        if problem is not None:
            log.warning("webhook update %s refused: %s", update_id, problem)
            return web.json_response(
                {"ok": False, "error": f"not an update: {problem}"}, status=400
            )
        await accept_update(update_id, body)
        return web.json_response({"ok": True})

    async def slack_events(request: web.Request) -> web.Response:
        # Bolt verifies the signature and timestamp (401 otherwise) and acks within 3 s; a
        # timestamp that is not a number would make it fail with a 500 instead.
        assert slack_app is not None
        stamp = request.headers.get(SLACK_TIMESTAMP, "")
        if stamp and not (stamp.isascii() and stamp.isdigit()):
            return web.json_response({"error": "invalid request"}, status=401)
        response = await slack_app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    app.router.add_get("/healthz", health)
    if slack_app is not None:
        app.router.add_post("/slack/events", slack_events)
    if telegram_path is not None and accept_update is not None:
        app.router.add_post(telegram_path, telegram_webhook)
    app.add_routes(routes)
    if admin is not None:
        app.add_subapp(ADMIN_PREFIX, admin)
    return app


class WebServer:
    """Runs an aiohttp application on our event loop (not `web.run_app`, which blocks)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        log.info("web server listening on %s:%s", self._host, self._port)

    async def stop(self) -> None:
        await self._runner.cleanup()
