"""The composition root: builds storage, renderer, engine, outbox and scheduler, and closes them.

Every entry point (the bot, the playground, the CLI) gets its parts from `open_runtime`, so
there is one place where the pieces are joined and one order in which they are shut down.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from bot.clock import Clock
from bot.config import Settings
from bot.delivery.awards import MonthlyAwards
from bot.delivery.engine import Engine
from bot.delivery.outbox import Channel, Outbox
from bot.delivery.scheduler import Scheduler
from bot.flows import FlowPolicy
from bot.flows.model import CustomerKey, DeliveryFailed
from bot.messages.catalog import Catalog
from bot.messages.templates import Renderer
from bot.messages.variants import Variants
from bot.messages.versions import TemplateVersions
from bot.storage import Storage, open_storage
from bot.storage.protocols import MetaStore
from bot.storage.url import DatabaseUrl

__all__ = ["Runtime", "link_secret", "open_runtime", "policy_from"]

log = logging.getLogger(__name__)


def policy_from(
    settings: Settings, referral_secret: bytes, link_secret: bytes = b"escalator-link"
) -> FlowPolicy:
    return FlowPolicy(
        referral_secret=referral_secret,
        link_secret=link_secret,
        shop_linking=settings.shop_webhooks,
        phone_country=settings.shop_phone_country,
        referral_reward_delay=settings.referral_reward_delay,
        reversal_follow_up=settings.order_reversal_follow_up,
        recognition_rules=settings.recognition_rules(),
        advocate_on=settings.advocate_on,
        checkin_delay=settings.checkin_delay,
        post_purchase_checkin=settings.post_purchase_checkin,
        periodic_checkin=settings.periodic_checkin,
        survey_scale=settings.survey_scale,
        survey_throttle=settings.survey_throttle,
        recovery_delay=settings.recovery_delay,
        escalation_sla=settings.escalation_sla,
        business_hours=settings.hours(),
        inbox_autoclose=settings.inbox_autoclose,
        contact=settings.contact_rules(),
        escalation_triggers=tuple(
            word.strip() for word in settings.escalation_triggers.split(",") if word.strip()
        ),
    )


async def link_secret(settings: Settings, meta: MetaStore) -> bytes:
    """SHOP_LINK_SECRET, or one generated once per database and kept in it (the bot and
    `escalator link` must sign and check link tokens with the same one)."""
    if settings.shop_link_secret is not None:
        return settings.shop_link_secret.get_secret_value().encode()
    stored = await meta.get("shop.link_secret")
    if stored is None:
        stored = await meta.setdefault("shop.link_secret", secrets.token_urlsafe(32))
    return stored.encode()


async def _referral_secret(settings: Settings, meta: MetaStore) -> bytes:
    """REFERRAL_SECRET, or one generated once per database and kept in it (codes stay stable)."""
    if settings.referral_secret is not None:
        return settings.referral_secret.get_secret_value().encode()
    stored = await meta.get("referral.secret")
    if stored is None:
        # Processes starting at once on a fresh database all keep the first one stored.
        stored = await meta.setdefault("referral.secret", secrets.token_urlsafe(32))
    return stored.encode()


@dataclass
class Runtime:
    settings: Settings
    policy: FlowPolicy
    clock: Clock
    storage: Storage
    renderer: Renderer
    engine: Engine
    outbox: Outbox
    scheduler: Scheduler
    templates: TemplateVersions
    variants: Variants

    async def settle(self) -> None:
        """Run due jobs and deliver messages until nothing more is due (the playground's beat)."""
        while True:
            ran = await self.scheduler.tick()
            sent = await self.outbox.drain()
            if not ran and not sent:
                return


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    clock: Clock,
    customer_channels: Mapping[str, Channel],
    staff_channel: Channel | Callable[[Storage, Renderer], Channel],
    *,
    database: Path | None = None,
    create: bool = True,
) -> AsyncIterator[Runtime]:
    """Open everything; `staff_channel` may be a factory of the storage and renderer.

    `database` (a SQLite file) overrides DATABASE_URL; with `create`, a missing database is
    created (the bot and the playground), else it is an error (commands that only act on an
    existing one).
    """
    url = DatabaseUrl("sqlite", path=database) if database is not None else settings.database
    storage = await open_storage(url, create=create, synchronous=settings.sqlite_synchronous)
    try:
        renderer = Renderer(settings.templates_dir, settings.default_locale)
        catalog = Catalog.load(settings.templates_dir / "catalog.toml")
        versions = TemplateVersions(
            storage.templates, renderer, catalog, clock, refresh_every=settings.template_refresh
        )
        await versions.refresh(force=True)
        variants = Variants(
            storage.experiments, storage.meta, renderer, refresh_every=settings.template_refresh
        )
        await variants.refresh(force=True)
        staff: Channel
        if hasattr(staff_channel, "send"):
            staff = cast(Channel, staff_channel)
        else:
            staff = staff_channel(storage, renderer)

        def committed(messages: bool, jobs_due_now: bool) -> None:
            # Wake only what has work: a tick per commit would cost a query each.
            # outbox and scheduler are built below; commits start after the yield.
            if messages:
                outbox.wake()
            if jobs_due_now:
                scheduler.wake()

        policy = policy_from(
            settings,
            await _referral_secret(settings, storage.meta),
            await link_secret(settings, storage.meta),
        )
        engine = Engine(
            storage.journey,
            policy,
            clock,
            on_commit=committed,
            records=storage.records,
            shop=storage.shop,
            campaigns=storage.campaigns,
        )

        async def failed(key: CustomerKey, reason: str, unreachable: bool, ref: str | None) -> None:
            await engine.handle(
                DeliveryFailed(key=key, reason=reason, unreachable=unreachable, ref=ref)
            )

        outbox = Outbox(
            storage.outbox,
            storage.cases,
            renderer,
            clock,
            customer_channels,
            staff,
            failed,
            defaults={"bot_username": settings.bot_username, "oncall": "@on-call"},
            before_round=versions.refresh,
            variants=variants,
        )
        engine.courier = outbox  # replies go out straight from the decision
        awards = MonthlyAwards(storage.jobs, storage.meta, storage.reports, policy, settings.tz)
        scheduler = Scheduler(storage.jobs, engine, clock, periodic=(awards.run,))
        try:
            yield Runtime(
                settings,
                policy,
                clock,
                storage,
                renderer,
                engine,
                outbox,
                scheduler,
                versions,
                variants,
            )
        finally:
            # sends on their way finish and are recorded; the rest stays queued for next time
            await outbox.close(settings.shutdown_grace)
    finally:
        await storage.close()
