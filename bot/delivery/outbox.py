"""Delivery of committed outbox rows through channels, with retries, in per-recipient order.

Rows reach the outbox two ways:

- **Straight from the decision.** The engine commits the replies to a customer's own message
  already claimed by this process (`Change.outbox_lease_until`) and hands them over (`take`) with
  the ids the commit gave them: no claim, no read-back, rendered once. It does so only when every
  pending row of that customer is one this process holds (`takes`), so nothing goes out ahead of
  an older message.
- **Claimed** (`claim`): everything else (check-ins and other jobs, rows of another process,
  retries, what a previous run left).

Both meet in one chain per recipient (audience, customer) that sends one row at a time, in commit
order. A customer's message on which an experiment runs renders the customer's variant
(`bot.messages.variants`); the exposure is recorded with the send, so a message that never went
out exposed nobody. A reply queued behind an unprompted row promotes it to the reply lane (see
`bot.delivery.ratelimit`), so an answer never waits for a campaign.

A row is marked sent as soon as the platform accepted it; the chain moves on once that is
recorded. Only a crash between the platform's answer and that record (a few milliseconds: one
group commit) sends it again after restart: the Bot API has no idempotency key, so at-least-once
is the most any sender can promise, and a lost message is worse than a repeated one. Transient
failures are retried with capped exponential backoff (or the platform's `retry_after`) until the
platform accepts; the rest of that recipient's chain goes back to the table behind it. Permanent
failures are recorded with their reason.

Shutdown (`close`): no new send starts; sends already on the wire finish and are recorded within
the grace period (or at once when hurried); everything else stays in the table for the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from jinja2 import TemplateError

from bot.clock import Clock
from bot.delivery.loops import nap
from bot.delivery.ratelimit import Priority
from bot.errors import (
    PermanentDeliveryError,
    RecipientUnreachable,
    TransientDeliveryError,
)
from bot.flows.model import CustomerKey, Json
from bot.messages.templates import Format, Renderer, TemplateMissing
from bot.messages.variants import Choice, Variants
from bot.storage.protocols import CaseStore, OutboxStore
from bot.storage.types import DeliveryResult, Exposure, OutboxRow

__all__ = ["LEASE", "REPLY_WINDOW", "Channel", "Outbox", "Rendered"]

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=10)
LEASE = timedelta(minutes=2)
"""How long a claimed row is ours: longer than any one delivery (retries wait in the table,
not in flight), so a row is only taken over from a process that is gone."""
REPLY_WINDOW = timedelta(seconds=10)
"""A prompted row is sent as a reply while it is younger than this; later (after a restart, a
long retry) it is an unprompted message like any other."""


@dataclass(frozen=True)
class Rendered:
    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Rows of (label, callback data)."""
    case: Mapping[str, Json] | None = None
    """For staff messages about a case: the case as staff see it now."""
    priority: Priority | None = None
    """The pacing lane asked for (None: unprompted); channels that pace nothing ignore it."""
    variant: str | None = None
    """The experiment variant the text is (None: the message's current version)."""


class Channel(Protocol):
    """Where rendered messages go: a customer platform or the staff desk."""

    format: Format

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        """Deliver; return the platform's message id. Raise a `DeliveryError` on failure."""

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        """Remove the buttons of an earlier message (no-op where there are none)."""


Recipient = tuple[str, str]
"""(audience, customer id): one chain, one row at a time."""


@dataclass(eq=False)
class _Item:
    row: OutboxRow
    priority: Priority
    claimed: bool
    """Came from `claim` (counted against the claim batch)."""


@dataclass(eq=False)
class _Chain:
    queue: deque[_Item]
    task: asyncio.Task[None] | None = None
    sending: Priority | None = None
    """Set while the head row is being sent: a request of this chain may be with the platform
    (shutdown lets it finish), unless the pacer still holds it back (`Priority.waiting`)."""

    @property
    def on_wire(self) -> bool:
        return self.sending is not None and not self.sending.waiting


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
        batch: int = 200,
        lease: timedelta = LEASE,
        variants: Variants | None = None,
    ) -> None:
        self.lease = lease
        self._variants = variants
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
        self._wake = asyncio.Event()
        self._drain_lock = asyncio.Lock()
        self._chains: dict[Recipient, _Chain] = {}
        self._held: dict[str, set[int]] = {}
        """Ids of rows in the chains, by customer: pending in the table, delivered by us."""
        self._claimed = 0
        """Rows in the chains that came from `claim` (a claim takes no more than `batch`)."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._admitted: dict[str, bool] = {}
        """Customers whose new rows `takes` admitted; False once their chain was deferred."""
        self._background: set[asyncio.Future[None]] = set()
        self._left: list[OutboxRow] = []
        """Rows of chains stopped at shutdown, not sent: given back by `close`."""
        self.finished = 0
        """Rows delivered or given up on since start (a counter for drains and benchmarks)."""
        self._retried = 0

    # --- straight from the decision -------------------------------------------------------

    def takes(self, customer_id: str, pending: tuple[int, ...] | None) -> bool:
        """May the engine hand over this customer's new rows? Only if every row of theirs
        still pending (`pending`, as loaded with the customer) is one this process holds."""
        if self._closing or pending is None:
            return False
        if pending:
            held = self._held.get(customer_id)
            if held is None or not all(ident in held for ident in pending):
                return False
        # The engine holds the customer's lock until `take`: at most one admission per customer.
        self._admitted[customer_id] = True
        return True

    def take(self, rows: Sequence[OutboxRow]) -> None:
        """Deliver rows committed claimed by this process (see `takes`)."""
        if not rows:
            return
        if not self._admitted.pop(rows[0].key.id, True) or self._closing:
            # an earlier row of theirs went back to the table meanwhile: these follow it there
            self._left.extend(rows)
            self._spawn(self._give_back("waits for an earlier message"))
            return
        for row in rows:
            self._enqueue(row)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def held_ids(self) -> list[int]:
        """Rows this process holds (their leases must outlive their stay here)."""
        return [ident for ids in self._held.values() for ident in ids]

    # --- claimed from the table -----------------------------------------------------------

    def wake(self) -> None:
        """New rows were committed: deliver them without waiting for the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        """Claim and deliver until `stop` is set, waking on new commits and polling for retries."""
        while not stop.is_set():
            try:
                if self._claimed < self._batch // 2:
                    await self._claim_round()
            except Exception:
                log.exception("outbox delivery round failed; retrying")
            await nap(self._wake, stop, poll)

    async def drain(self) -> int:
        """Deliver every row that is due now and wait for it; return how many were handled."""
        start = self.finished
        await self._idle.wait()
        async with self._drain_lock:
            while True:
                retried = self._retried
                claimed = await self._claim_round()
                if not claimed:
                    break
                await self._idle.wait()
                if self._retried - retried >= claimed:
                    break  # only retries, due again at once: the next round would repeat them
        return self.finished - start

    async def close(self, grace: float, hurry: asyncio.Event | None = None) -> None:
        """Stop: start nothing new; let requests already with the platform finish and be
        recorded for up to `grace` seconds (until `hurry` is set, if that comes first); the
        rest stays queued in the table."""
        self._closing = True
        self._wake.set()
        chains = [c for c in self._chains.values() if c.task is not None]
        for chain in chains:
            if not chain.on_wire:
                assert chain.task is not None
                chain.task.cancel()  # held back by pacing or between rows: nothing sent yet
        pending: set[asyncio.Future[Any]] = {c.task for c in chains if c.task and not c.task.done()}
        hurried: asyncio.Future[Any] = asyncio.ensure_future((hurry or asyncio.Event()).wait())
        deadline = asyncio.get_running_loop().time() + grace
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
        if pending:
            log.warning(
                "%d sends unanswered at shutdown: they are sent again after restart", len(pending)
            )
            for task in pending:
                task.cancel()
        await asyncio.gather(*(c.task for c in chains if c.task), return_exceptions=True)
        for recipient, chain in list(self._chains.items()):
            self._stop_chain(recipient, chain)  # a task cancelled before it ever ran
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._give_back("not sent before shutdown")

    async def _give_back(self, reason: str) -> None:
        """End our claim on rows we will not send (recorded as due again now), so the next
        start, or another worker, takes them at once rather than when the lease ends."""
        rows, self._left = self._left, []
        if rows:
            now = self._clock.now()
            await self._storage.record(
                [DeliveryResult(row.id, "retry", now, reason, retry_at=now) for row in rows]
            )

    async def _claim_round(self) -> int:
        if self._closing:
            return 0
        if self._before_round is not None:
            await self._before_round()  # e.g. pick up an admin's new template version
        room = self._batch - self._claimed
        if room <= 0:
            return 0
        rows = await self._storage.claim(self._clock.now(), room, self.lease)
        for row in rows:
            self._claimed += 1
            self._enqueue(row, claimed=True)
        return len(rows)

    # --- the chains -----------------------------------------------------------------------

    def _enqueue(self, row: OutboxRow, *, claimed: bool = False) -> None:
        self._held.setdefault(row.key.id, set()).add(row.id)
        priority = Priority(
            row.prompted and self._clock.now() - row.created_at <= REPLY_WINDOW,
        )
        recipient = (row.audience, row.key.id)
        chain = self._chains.get(recipient)
        if chain is None:
            chain = self._chains[recipient] = _Chain(deque())
            self._idle.clear()
            chain.task = asyncio.create_task(self._run(recipient, chain))
        elif priority.reply:
            for earlier in chain.queue:  # an answer must not wait behind a campaign
                earlier.priority.promote()
        chain.queue.append(_Item(row, priority, claimed))

    async def _run(self, recipient: Recipient, chain: _Chain) -> None:
        try:
            while chain.queue and not self._closing:
                head = chain.queue[0]
                result = await self._deliver(head, chain)
                if result.outcome == "retry":
                    await self._defer(recipient, chain, result)
                    return
                await self._storage.record([result])
                self._finish(head.row)
                chain.queue.popleft()
        finally:
            self._stop_chain(recipient, chain)

    async def _defer(self, recipient: Recipient, chain: _Chain, result: DeliveryResult) -> None:
        """The head row is due again later: it and every later row of its recipient go back to
        the table (a later one must not overtake it), and the chain ends."""
        rows = [item.row for item in chain.queue]
        chain.queue.clear()
        del self._chains[recipient]  # rows taken from now on start a new chain...
        customer = recipient[1]
        if customer in self._admitted:
            self._admitted[customer] = False  # ...or go back too, if admitted before this
        for row in rows:
            self._forget(row)
        self._retried += 1
        self.finished += len(rows)
        await self._storage.record(
            [result]
            + [
                DeliveryResult(
                    row.id, "retry", result.at, "waits for an earlier message", result.retry_at
                )
                for row in rows[1:]
            ]
        )

    def _stop_chain(self, recipient: Recipient, chain: _Chain) -> None:
        for left in chain.queue:  # only at shutdown: `close` gives them back
            self._forget(left.row)
            self._left.append(left.row)
        chain.queue.clear()
        if self._chains.get(recipient) is chain:
            del self._chains[recipient]
        if not self._chains:
            self._idle.set()

    def _finish(self, row: OutboxRow) -> None:
        self.finished += 1
        self._forget(row)

    def _forget(self, row: OutboxRow) -> None:
        held = self._held.get(row.key.id)
        if held is not None:
            held.discard(row.id)
            if not held:
                del self._held[row.key.id]

    async def _deliver(self, item: _Item, chain: _Chain) -> DeliveryResult:
        chain.sending = item.priority
        try:
            return await self._attempt(item.row, item.priority)
        finally:
            chain.sending = None
            if item.claimed:
                self._claimed -= 1
                if self._claimed < self._batch // 2:
                    self._wake.set()

    async def _attempt(self, row: OutboxRow, priority: Priority) -> DeliveryResult:
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
                priority.waiting = False
                await channel.clear_buttons(row.key, message_id)
                return DeliveryResult(row.id, "sent", self._clock.now())
            case = None
            if row.audience == "staff" and isinstance(row.context.get("case_id"), str):
                case = await self._cases.view(str(row.context["case_id"]))
            choice = None
            if row.audience == "customer" and self._variants is not None:
                choice = await self._variants.choose(row.key.id, row.template, row.language)
            rendered = self._render(row, channel, case, priority, choice)
            priority.waiting = False  # the channel's pacer holds it back again if it must
            platform_id = await channel.send(row, rendered)
            # the exposure is recorded with the send: a message that never went out shows nothing
            shown = None
            if choice is not None and rendered.variant is not None:
                shown = Exposure(choice.experiment, row.key.id, rendered.variant)
            return DeliveryResult(
                row.id, "sent", self._clock.now(), platform_message_id=platform_id, exposure=shown
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
        self,
        row: OutboxRow,
        channel: Channel,
        case: Mapping[str, Json] | None,
        priority: Priority,
        choice: Choice | None = None,
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
        text = None
        if choice is not None:
            try:
                text = self._renderer.render_variant(choice.source, context, fmt=fmt)
            except Exception as exc:
                log.error(
                    "variant %s of %s (experiment %s) failed at run time: %s; sending the message",
                    choice.variant,
                    row.template,
                    choice.experiment,
                    exc,
                )
                choice = None
        if text is None:
            text = self._renderer.render(row.template, context, locale=locale, fmt=fmt)
        buttons = tuple(
            tuple(
                (self._renderer.label(b.template, b.context, locale=row.language), b.data)
                for b in line
            )
            for line in row.buttons
        )
        return Rendered(text, buttons, case, priority, None if choice is None else choice.variant)


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(retry_after, 0.0))
    delay: timedelta = BACKOFF_BASE * (2 ** min(attempts, 16))
    return min(delay, BACKOFF_CAP)
