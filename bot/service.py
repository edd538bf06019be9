"""The long-running bot: Telegram (polling or webhook), the Slack staff desk (Socket Mode or
HTTP), engine, outbox and scheduler, all on one asyncio loop.

Start-up order: storage, Telegram `getMe`, then the loops; polling deletes any webhook first
(two pollers on one token conflict, and polling with a production token removes its webhook).

Shutdown: SIGTERM or SIGINT stops taking updates (polling stops, the webhook server closes, the
inbox hands out no further update), lets the sends already on their way to the platform finish
and records them, and exits within `SHUTDOWN_GRACE` seconds; every message not yet sent stays in
the outbox, and every update not yet handled in the inbox, for the next start. A second signal
exits at once, after recording what the platform had already accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot
from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut
from telegram.ext import Application, ApplicationBuilder

from bot.api import staff_act, staff_message
from bot.app import Runtime, open_runtime
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.dashboard import dashboard
from bot.delivery.election import hold_and_run
from bot.delivery.inbox import InboxConsumer
from bot.delivery.leases import LeaseKeeper
from bot.delivery.outbox import Channel
from bot.delivery.ratelimit import LocalBudget, Pacer
from bot.delivery.routing import InboxRouter
from bot.errors import AlreadyPolling, ConfigError, InvalidInput
from bot.flows.model import CustomerKey, Json, StaffVerb
from bot.handlers.slack import SlackBridge, SlackDesk, make_client, run_socket_mode
from bot.handlers.slack_campaigns import CampaignDesk
from bot.handlers.slack_records import RecordDesk
from bot.handlers.staff_log import LogStaffChannel
from bot.handlers.telegram import (
    ALLOWED_UPDATES,
    CHANNEL,
    TelegramBridge,
    TelegramChannel,
    inbox_item,
)
from bot.handlers.telegram_http import AiohttpRequest
from bot.handlers.web import WebServer, build_web_app
from bot.messages.templates import Renderer
from bot.reports import desk_summary
from bot.shop_service import shop_service
from bot.storage import Storage
from bot.storage.claim import exclusive_claim

__all__ = ["build_application", "run_service"]

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25
CONNECTIONS = 16
"""Requests in flight to the Bot API at once: enough for the reply ceiling at a distant
server's round trip, few enough that a burst does not open a connection per message."""
UNPROMPTED_CREDIT = 0.0
"""The share of the fastest round trip an unprompted send gives back to the window (see
`LocalBudget`): 0.8 provoked 429s in two runs of three on a loaded machine, so none."""


def build_application(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    assert settings.telegram_bot_token is not None
    return (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        # the outbox's requests (bounded by the pacer) plus answers to button presses
        .request(AiohttpRequest(CONNECTIONS + 8))
        .get_updates_request(AiohttpRequest(1, read_timeout=POLL_TIMEOUT + 10))
        .updater(None)
        .build()
    )


async def run_service(
    settings: Settings,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    ready: Callable[[Runtime], Awaitable[None]] | None = None,
    hurry: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set, then shut down within `SHUTDOWN_GRACE` (at once once `hurry` is
    set); without a `stop` given, SIGTERM and SIGINT set it, and a second signal `hurry`."""
    hurry = hurry or asyncio.Event()
    if stop is None:
        stop = asyncio.Event()
        _install_signal_handlers(stop, hurry)
    application = build_application(settings)
    pacer = Pacer(
        # no credit for the round trip in production: even the fastest round trip ever seen can
        # be our own loop's lag at the start of a wave, and a credit provoked 429s there
        # (bench/README.md, broadcast); UNPROMPTED_CREDIT is the measured alternative
        LocalBudget(settings.telegram_rate_overall, credit=UNPROMPTED_CREDIT),
        settings.telegram_reply_rate,
        settings.telegram_rate_per_chat,
        connections=CONNECTIONS,
    )
    clock = clock or SystemClock()
    channel = TelegramChannel(application.bot, pacer, clock)
    slack = None
    if settings.slack_bot_token is not None:
        slack = make_client(
            settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url
        )
    else:
        log.warning("no Slack settings (SLACK_BOT_TOKEN): staff notifications go to this log")

    def staff_desk(storage: Storage, renderer: Renderer) -> Channel:
        if slack is None:
            return LogStaffChannel()
        assert settings.slack_escalation_channel is not None
        return SlackDesk(
            slack,
            storage.cases,
            renderer,
            settings.slack_escalation_channel,
            settings.slack_oncall,
            inbox_channel=settings.inbox_channel,
            posts=storage.records,
            clock=clock,
            thread_default=settings.slack_thread_default,
        )

    runtime = open_runtime(settings, clock, {CHANNEL: channel}, staff_desk)
    intake = settings.escalator_role != "worker"
    # SQLite serves one bot: the claim comes first, so a second bot touches nothing
    async with exclusive_claim(settings.database), runtime as rt, _sole_poller(settings, rt):
        if not await _initialize(application, stop):
            return
        if settings.database.backend == "sqlite":
            # the only process on this file: every lease is a dead predecessor's
            released = await rt.storage.release_claims()
            if released:
                log.info("took over %d messages, jobs and updates left by the last run", released)
        keeper = LeaseKeeper(rt.clock, timedelta(seconds=settings.work_lease))
        keeper.keep("outbox", rt.outbox.held_ids, rt.storage.outbox.renew)
        keeper.keep("jobs", rt.scheduler.held_ids, rt.storage.jobs.renew)
        kept = asyncio.Event()  # renewals go on until the sends in flight are recorded
        keeping = asyncio.create_task(keeper.run(kept), name="leases")
        loops = [
            # one process at a time claims queued messages: the unprompted sender (README)
            asyncio.create_task(
                hold_and_run(rt.storage.roles, "sender", rt.outbox.run, stop), name="outbox"
            ),
            asyncio.create_task(rt.scheduler.run(stop, settings.scheduler_interval), name="jobs"),
        ]
        server: WebServer | None = None
        poller: asyncio.Task[None] | None = None
        try:
            if intake:
                server, poller = await _take_updates(
                    settings, application, rt, stop, loops, keeper, pacer, slack
                )
            log.info(
                "Escalator is running on Telegram (%s)",
                f"{settings.telegram_mode} mode" if intake else "worker: delivery and jobs only",
            )
            if ready is not None:
                await ready(rt)
            await stop.wait()
        finally:
            await _shut_down(settings.shutdown_grace, stop, hurry, rt, poller, server, loops)
            kept.set()
            await keeping
            await application.shutdown()
            log.info("Escalator stopped")


@asynccontextmanager
async def _sole_poller(settings: Settings, rt: Runtime) -> AsyncIterator[None]:
    """Polling is for one process (one getUpdates consumer per bot): hold the poller role for
    this process's life, or refuse to start, naming the holder."""
    if settings.escalator_role == "worker" or settings.telegram_mode != "polling":
        yield
        return
    held = await rt.storage.roles.try_hold("poller")
    if held is None:
        raise AlreadyPolling(await rt.storage.roles.holder("poller"))
    try:
        yield
    finally:
        await held.release()


async def _take_updates(
    settings: Settings,
    application: Application[Any, Any, Any, Any, Any, Any],
    rt: Runtime,
    stop: asyncio.Event,
    loops: list[asyncio.Task[None]],
    keeper: LeaseKeeper,
    pacer: Pacer,
    slack: AsyncWebClient | None,
) -> tuple[WebServer | None, asyncio.Task[None] | None]:
    """Start what takes updates in (Telegram, Slack, the shop, the dashboard) and the inbox
    that hands them to the engine; return the web server and the poller, if any."""
    bridge = TelegramBridge(application, rt.engine.handle, rt.renderer, pacer)
    shop = await shop_service(settings, rt, lambda: inbox.wake(), application.bot.username)
    router = InboxRouter({"tg": lambda item: bridge.process_raw(item.body), **shop.consumers})
    inbox = InboxConsumer(
        rt.storage.inbox,
        router.handle,
        rt.clock,
        stop=stop,
        lease=timedelta(seconds=settings.work_lease),
    )
    keeper.keep("inbox", inbox.held_ids, rt.storage.inbox.renew)
    desk = None if slack is None else _slack_bridge(settings, slack, rt)
    admin = await dashboard(settings, rt)  # the pages under /admin, or None when off
    loops.append(asyncio.create_task(inbox.run(stop), name="inbox"))
    if desk is not None and settings.slack_app_token is not None:
        token = settings.slack_app_token.get_secret_value()
        loops.append(asyncio.create_task(run_socket_mode(desk.app, token, stop), name="slack"))
    slack_http = desk.app if desk is not None and settings.slack_app_token is None else None
    if settings.telegram_mode == "webhook":
        hook = await _start_webhook(
            settings, application.bot, rt, inbox, slack_http, shop.routes, admin
        )
        return hook, None
    server: WebServer | None = None
    # the shop's webhooks and the dashboard need the web server too
    if slack_http is not None or shop.routes or admin is not None:
        server = WebServer(
            build_web_app(
                telegram_path=None,
                telegram_secret=None,
                accept_update=None,
                slack_app=slack_http,
                routes=shop.routes,
                admin=admin,
            ),
            settings.host,
            settings.port,
        )
        await server.start()
    await application.bot.delete_webhook(drop_pending_updates=False)
    poller = asyncio.create_task(_poll(application.bot, rt, inbox, stop), name="poll")
    return server, poller


async def _shut_down(
    grace: float,
    stop: asyncio.Event,
    hurry: asyncio.Event,
    rt: Runtime,
    poller: asyncio.Task[None] | None,
    server: WebServer | None,
    loops: list[asyncio.Task[None]],
) -> None:
    """Stop taking work, let what is on its way finish within `grace`, leave the rest queued."""
    stop.set()
    deadline = asyncio.get_running_loop().time() + grace
    log.info("stopping: finishing the sends on their way (at most %gs)", grace)
    if poller is not None:
        poller.cancel()  # an update fetched but not yet stored is fetched again next time
        with contextlib.suppress(asyncio.CancelledError):
            await poller
    if server is not None:
        await server.stop()
    # The loops end at their next turn: the update or job in hand is decided and committed.
    await _within(loops, deadline, hurry)
    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    await rt.outbox.close(remaining, hurry)


async def _within(tasks: list[asyncio.Task[None]], deadline: float, hurry: asyncio.Event) -> None:
    """Wait for `tasks` until `deadline` or `hurry`; cancel what is left."""
    hurried = asyncio.ensure_future(hurry.wait())
    pending: set[asyncio.Future[Any]] = {task for task in tasks if not task.done()}
    try:
        while pending and not hurried.done():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            _, pending = await asyncio.wait(
                {*pending, hurried}, timeout=remaining, return_when="FIRST_COMPLETED"
            )
            pending.discard(hurried)
    finally:
        hurried.cancel()
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _initialize(
    application: Application[Any, Any, Any, Any, Any, Any], stop: asyncio.Event
) -> bool:
    """`getMe` until it answers; a rejected token is a configuration error."""
    delay = 1.0
    while not stop.is_set():
        try:
            await application.initialize()
            log.info("connected as @%s", application.bot.username)
            return True
        except InvalidToken:
            # PTB's message quotes the token itself: say which setting, never its value
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN was rejected by the Bot API (check it with @BotFather)"
            ) from None
        except NetworkError as exc:
            log.warning("Bot API not reachable (%s); retrying in %.0fs", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
    return False


def _slack_bridge(settings: Settings, client: AsyncWebClient, rt: Runtime) -> SlackBridge:
    assert settings.slack_escalation_channel is not None

    async def act(
        case_id: str, verb: StaffVerb, name: str, text: str, ref: str | None, inbound: str | None
    ) -> None:
        try:
            await staff_act(
                rt.engine, rt.storage.cases, case_id, verb, name, text, ref=ref, inbound_id=inbound
            )
        except InvalidInput as exc:
            log.warning("staff action %s on %s refused: %s", verb, case_id, exc)

    async def summary() -> dict[str, Json]:
        now = rt.clock.now()
        day_start = now.astimezone(settings.tz).replace(hour=0, minute=0, second=0, microsecond=0)
        return await desk_summary(rt.storage.reports, settings.survey_scale, day_start, now)

    async def write(key: CustomerKey, name: str, text: str, inbound: str | None) -> str | None:
        try:
            await staff_message(rt.engine, rt.storage.journey, key, name, text, inbound_id=inbound)
        except InvalidInput as exc:
            return str(exc)
        return None

    def month_start(now: datetime) -> datetime:
        local = now.astimezone(settings.tz)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def records(bridge: SlackBridge) -> RecordDesk:
        return RecordDesk(
            bridge.app,
            rt.storage.records,
            rt.renderer,
            is_staff=bridge.is_staff,
            display_name=bridge.display_name,
            write=write,
            scale=settings.survey_scale,
            now=rt.clock.now,
            month_start=month_start,
        )

    def campaigns(bridge: SlackBridge) -> CampaignDesk:
        return CampaignDesk(
            bridge.app,
            rt.storage,
            rt.renderer,
            is_staff=bridge.is_staff,
            is_admin=bridge.is_admin,
            display_name=bridge.display_name,
            scale=settings.survey_scale,
            attribution=settings.campaign_attribution,
            now=rt.clock.now,
        )

    secret = settings.slack_signing_secret
    return SlackBridge(
        client,
        signing_secret=None if secret is None else secret.get_secret_value(),
        channel=settings.slack_escalation_channel,
        staff_users=settings.staff_user_ids,
        staff_group=settings.slack_staff_group,
        admin_users=settings.admin_user_ids,
        act=act,
        cases=rt.storage.cases,
        renderer=rt.renderer,
        summary=summary,
        templates=rt.templates,
        inbox_channel=settings.inbox_channel,
        thread_default=settings.slack_thread_default,
        records=records,
        campaigns=campaigns,
    )


async def _start_webhook(
    settings: Settings,
    bot: Bot,
    rt: Runtime,
    inbox: InboxConsumer,
    slack_app: AsyncApp | None,
    routes: list[web.RouteDef],
    admin: web.Application | None,
) -> WebServer:
    assert settings.telegram_webhook_secret is not None and settings.telegram_webhook_url
    secret = settings.telegram_webhook_secret.get_secret_value()

    async def accept(update_id: int, body: str) -> None:
        await rt.storage.inbox.add([inbox_item(update_id, body)], rt.clock.now())
        inbox.wake()

    app = build_web_app(
        telegram_path=settings.telegram_webhook_path,
        telegram_secret=secret,
        accept_update=accept,
        slack_app=slack_app,
        routes=routes,
        admin=admin,
    )
    server = WebServer(app, settings.host, settings.port)
    await server.start()
    await bot.set_webhook(
        settings.telegram_webhook_url,
        secret_token=secret,
        allowed_updates=list(ALLOWED_UPDATES),
    )
    return server


async def _poll(bot: Bot, rt: Runtime, inbox: InboxConsumer, stop: asyncio.Event) -> None:
    """Long-poll getUpdates; confirm an update (advance the offset) only once it is stored."""
    offset: int | None = None
    delay = 1.0
    while not stop.is_set():
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=POLL_TIMEOUT, allowed_updates=list(ALLOWED_UPDATES)
            )
            delay = 1.0
        except TimedOut:
            continue
        except InvalidToken:
            log.error("TELEGRAM_BOT_TOKEN was rejected while polling (check it with @BotFather)")
            stop.set()
            return
        except (Conflict, NetworkError) as exc:
            hint = (
                " (is another instance polling with this token?)"
                if isinstance(exc, Conflict)
                else ""
            )
            log.warning("getUpdates failed: %s%s; retrying in %.0fs", exc, hint, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
            continue
        if not updates:
            continue
        items = [
            inbox_item(update.update_id, json.dumps(update.to_dict(), ensure_ascii=False))
            for update in updates
        ]
        await rt.storage.inbox.add(items, rt.clock.now())
        inbox.wake()
        offset = updates[-1].update_id + 1


def _install_signal_handlers(stop: asyncio.Event, hurry: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def signalled() -> None:
        if stop.is_set():
            log.warning("second signal: exiting now")
            hurry.set()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, signalled)
        except NotImplementedError:
            # Windows event loops have no add_signal_handler; the plain handler still works
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(signalled))
        except (RuntimeError, ValueError) as exc:
            # not the main thread: whoever started us must set `stop` to shut down
            log.warning("cannot handle %s here (%s); stop the bot from its caller", sig.name, exc)
