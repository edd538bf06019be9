"""Delivery of committed outbox rows through channels, with retries, in per-recipient order.

A row is delivered after the transaction that wrote it has committed, and marked sent as soon
as the platform accepted it. Only a crash in the instant between the two sends it again after
restart: the Bot API has no idempotency key, so at-least-once is the most any sender can promise,
and a lost message is worse than a repeated one. Transient
failures are retried with capped exponential backoff (or the platform's `retry_after`) until the
platform accepts; permanent ones are recorded with their reason. A recipient's rows go out in
commit order: a row waits while an earlier row to the same recipient is pending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from jinja2 import TemplateError

from bot.clock import Clock
from bot.delivery.loops import nap
from bot.errors import (
    PermanentDeliveryError,
    RecipientUnreachable,
    TransientDeliveryError,
)
from bot.flows.model import CustomerKey, Json
from bot.messages.templates import Format, Renderer, TemplateMissing
from bot.storage.protocols import CaseStore, OutboxStore
from bot.storage.types import DeliveryResult, OutboxRow

__all__ = ["Channel", "Outbox", "Rendered"]

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=10)
LEASE = timedelta(minutes=2)
"""How long a claimed row is ours: longer than any one delivery (retries wait in the table,
not in flight), so a row is only taken over from a process that is gone."""


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Rows of (label, callback data)."""
    case: Mapping[str, Json] | None = None
    """For staff messages about a case: the case as staff see it now."""


class Channel(Protocol):
    """Where rendered messages go: a customer platform or the staff desk."""

    format: Format

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        """Deliver; return the platform's message id. Raise a `DeliveryError` on failure."""

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        """Remove the buttons of an earlier message (no-op where there are none)."""


class Outbox:
    def __init__(
        self,
        storage: OutboxStore,
        cases: CaseStore,
        renderer: Renderer,
        clock: Clock,
        customer_channels: Mapping[str, Channel],
        staff_channel: Channel,
        on_failure: Callable[[CustomerKey, str, bool, str | None], Awaitable[object]] | None = None,
        *,
        defaults: Mapping[str, object] | None = None,
        before_round: Callable[[], Awaitable[object]] | None = None,
        batch: int = 500,
        concurrency: int = 64,
    ) -> None:
        self._defaults = dict(defaults or {})
        self._before_round = before_round
        self._storage = storage
        self._cases = cases
        self._renderer = renderer
        self._clock = clock
        self._customer_channels = customer_channels
        self._staff_channel = staff_channel
        self._on_failure = on_failure
        self._batch = batch
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._drain_lock = asyncio.Lock()

    def wake(self) -> None:
        """New rows were committed: deliver them without waiting for the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        """Deliver until `stop` is set, waking on new commits and polling for retries."""
        while not stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("outbox delivery round failed; retrying")
            await nap(self._wake, stop, poll)

    async def drain(self) -> int:
        """Deliver every row that is due now; return how many were handled."""
        handled = 0
        async with self._drain_lock:
            if self._before_round is not None:
                await self._before_round()  # e.g. pick up an admin's new template version
            while True:
                rows = await self._storage.claim(self._clock.now(), self._batch, LEASE)
                if not rows:
                    return handled
                results = await asyncio.gather(*(self._deliver_one(row) for row in rows))
                handled += len(results)
                if all(result.outcome == "retry" for result in results):
                    return handled

    async def _deliver_one(self, row: OutboxRow) -> DeliveryResult:
        async with self._semaphore:
            result = await self._deliver(row)
            # Recorded at once (the writer groups concurrent records into one commit): the
            # window in which a crash would send an accepted message again stays tiny.
            await self._storage.record([result])
        return result

    async def _deliver(self, row: OutboxRow) -> DeliveryResult:
        channel = (
            self._staff_channel
            if row.audience == "staff"
            else self._customer_channels.get(row.key.channel)
        )
        now = self._clock.now()
        if channel is None:
            return DeliveryResult(row.id, "failed", now, f"no channel {row.key.channel!r}")
        try:
            if row.kind == "clear_buttons":
                assert row.question_id is not None
                message_id = await self._storage.question_message_id(row.key, row.question_id)
                await channel.clear_buttons(row.key, message_id)
                return DeliveryResult(row.id, "sent", self._clock.now())
            case = None
            if row.audience == "staff" and isinstance(row.context.get("case_id"), str):
                case = await self._cases.view(str(row.context["case_id"]))
            rendered = self._render(row, channel, case)
            platform_id = await channel.send(row, rendered)
            return DeliveryResult(
                row.id, "sent", self._clock.now(), platform_message_id=platform_id
            )
        except TransientDeliveryError as exc:
            delay = _backoff(row.attempts, exc.retry_after)
            log.warning("delivery of outbox row %s deferred %s: %s", row.id, delay, exc)
            return DeliveryResult(row.id, "retry", now, str(exc), retry_at=now + delay)
        except RecipientUnreachable as exc:
            log.info("customer %s is unreachable: %s", row.key.id, exc)
            await self._report(row, str(exc), unreachable=True)
            return DeliveryResult(row.id, "failed", now, f"unreachable: {exc}")
        except PermanentDeliveryError as exc:
            log.error("outbox row %s refused by the platform: %s", row.id, exc)
            await self._report(row, str(exc), unreachable=False)
            return DeliveryResult(row.id, "failed", now, str(exc))
        except (TemplateMissing, TemplateError) as exc:
            log.error("outbox row %s could not be rendered: %s", row.id, exc)
            await self._report(row, f"message {row.template!r} could not be rendered", False)
            return DeliveryResult(row.id, "failed", now, f"template: {exc}")

    async def _report(self, row: OutboxRow, reason: str, unreachable: bool) -> None:
        """Tell the engine a customer's message failed for good (staff on their case are told)."""
        if self._on_failure is not None and row.audience == "customer":
            try:
                # `ref`: the staff message this was (so staff see that it failed)
                ref = row.context.get("ref")
                await self._on_failure(
                    row.key, reason, unreachable, ref if isinstance(ref, str) else None
                )
            except Exception:
                log.exception("could not record the failed delivery of row %s", row.id)

    def _render(
        self, row: OutboxRow, channel: Channel, case: Mapping[str, Json] | None
    ) -> Rendered:
        fmt = channel.format
        # A channel may add values it alone knows (the bot's username, the on-call mention).
        context: dict[str, object] = {
            **self._defaults,
            **getattr(channel, "extra_context", {}),
            **row.context,
        }
        if row.audience == "staff":
            context["case"] = case
        locale = None if row.audience == "staff" else row.language
        text = self._renderer.render(row.template, context, locale=locale, fmt=fmt)
        buttons = tuple(
            tuple(
                (
                    self._renderer.render(
                        b.template, b.context, locale=row.language, fmt=Format.TEXT
                    ),
                    b.data,
                )
                for b in line
            )
            for line in row.buttons
        )
        return Rendered(text, buttons, case)


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(retry_after, 0.0))
    delay: timedelta = BACKOFF_BASE * (2 ** min(attempts, 16))
    return min(delay, BACKOFF_CAP)
