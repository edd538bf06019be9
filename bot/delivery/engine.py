"""The engine: for one event, lock the customer, load, decide, commit. Nothing else joins
flows and storage.

Events of one customer are handled one at a time and in arrival order (a per-customer lock,
taken *before* loading, so no decision in this process is computed from stale state); different
customers run concurrently, and their commits are grouped by the storage. Another process (the
CLI, a second worker) may change the same customer meanwhile: a commit names the version it was
computed from and is refused if that is no longer current, and the engine then loads the
customer again and decides again. A redelivered event (same inbound id) or an
already-finished job changes nothing.

The replies to a customer's own message go out straight from the decision (`Courier`): the
change commits them already claimed by this process, and the courier gets them with the ids the
commit gave them, with no claim and no read-back. Everything else is claimed by the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bot.clock import Clock
from bot.delivery.locks import KeyedLock
from bot.errors import DuplicateInbound, StaleCustomer, StorageError
from bot.flows import FlowPolicy, decide
from bot.flows.common import attributes
from bot.flows.journey import CUSTOMER_INITIATED, Needs, needs
from bot.flows.model import ClearButtons, Context, Decision, Event, JobDue, Json, OutMessage
from bot.storage.protocols import CampaignStore, JourneyStore, RecordStore, ShopLookup
from bot.storage.types import Change, Loaded, OutboxItem, OutboxRow

__all__ = ["Courier", "Engine", "Outcome"]

log = logging.getLogger(__name__)

HISTORY_SHOWN = 20
MAX_ATTEMPTS = 20
"""Decisions refused as stale before giving up: each refusal means another writer committed a
change to this customer in between, so this is never reached by honest contention."""


class Outcome(StrEnum):
    DONE = "done"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class Courier(Protocol):
    """Delivers a decision's rows straight away (the outbox)."""

    lease: timedelta
    """How long rows handed over stay claimed for it."""

    def takes(self, customer_id: str, pending: tuple[int, ...] | None) -> bool:
        """Whether it can deliver this customer's new rows in order, given their pending ones."""

    def take(self, rows: Sequence[OutboxRow]) -> None:
        """Deliver rows committed claimed for it."""


class Engine:
    def __init__(
        self,
        storage: JourneyStore,
        policy: FlowPolicy,
        clock: Clock,
        on_commit: Callable[[bool, bool], None] = lambda messages, jobs: None,
        records: RecordStore | None = None,
        shop: ShopLookup | None = None,
        courier: Courier | None = None,
        campaigns: CampaignStore | None = None,
    ) -> None:
        self._storage = storage
        self._campaigns = campaigns
        self._records = records
        self._shop = shop
        self._policy = policy
        self._clock = clock
        self._on_commit = on_commit
        self.courier = courier
        """Set once the outbox exists (it needs the engine to report failures)."""
        self._locks = KeyedLock()

    @property
    def customers_in_flight(self) -> int:
        return len(self._locks)

    async def handle(self, event: Event) -> Outcome:
        job_id = event.job_id if isinstance(event, JobDue) else None
        need = needs(event)
        async with self._locks.hold(event.key.id):
            for _ in range(MAX_ATTEMPTS):
                loaded = await self._storage.load(
                    event.key,
                    inbound_id=event.inbound_id,
                    job_id=job_id,
                    history=HISTORY_SHOWN if need.history else 0,
                )
                if loaded.seen:
                    log.info("ignored a redelivered event for %s", event.key.id)
                    return Outcome.DUPLICATE
                context = await self._context(need, event)
                now = self._clock.now()
                decision = decide(loaded.customer, event, now, self._policy, context)
                if decision is None:
                    log.warning("event for unknown customer %s ignored", event.key.id)
                    return Outcome.IGNORED
                courier = self.courier
                direct = (
                    courier is not None
                    and bool(decision.messages)
                    and isinstance(event, CUSTOMER_INITIATED)
                    and courier.takes(event.key.id, loaded.pending_outbox)
                )
                lease = now + courier.lease if direct and courier is not None else None
                change = _to_change(decision, event, job_id, now, loaded, lease)
                try:
                    ids = await self._storage.commit(change)
                except DuplicateInbound:
                    return Outcome.DUPLICATE
                except StaleCustomer:
                    log.info("customer %s changed meanwhile; deciding again", event.key.id)
                    continue
                break
            else:
                raise StorageError(f"customer {event.key.id} kept changing; event not handled")
        if lease is not None and courier is not None:
            courier.take(_rows(change, ids, loaded.last_sent_at))
        due_now = any(job.due_at <= now for job in change.schedule)
        queued = bool(change.outbox) and lease is None
        if queued or due_now:
            self._on_commit(queued, due_now)
        return Outcome.DONE

    async def handle_jobs(self, jobs: Sequence[JobDue]) -> list[Outcome | BaseException]:
        """Handle due jobs as `handle` would one by one, in order per customer, with their
        outcomes (or exceptions) in order; but read every free customer at once, decide, and
        hand all the decisions to the storage together (one group commit, no task, lock or
        read per job). A job whose customer is busy here or appears twice, or whose decision
        turns out stale (another process changed the customer), goes through `handle`."""
        results: list[Outcome | BaseException | None] = [None] * len(jobs)
        first: dict[str, int] = {}
        for n, job in enumerate(jobs):
            first.setdefault(job.key.id, n)
        # only jobs that need nothing read besides the customer (a campaign step reads its
        # campaign: it goes through `handle`)
        plain = {c for c, n in first.items() if needs(jobs[n]) == Needs()}
        taken = await self._locks.take_free(plain)
        batch = [n for customer, n in first.items() if customer in taken]
        try:
            loads = await self._storage.load_jobs([(jobs[n].key, jobs[n].job_id) for n in batch])
            now = self._clock.now()
            decided: list[int] = []
            changes: list[Change] = []
            for n, loaded in zip(batch, loads, strict=True):
                job = jobs[n]
                if loaded.seen:
                    results[n] = Outcome.DUPLICATE
                    continue
                try:
                    decision = decide(loaded.customer, job, now, self._policy)
                except Exception as exc:
                    results[n] = exc
                    continue
                if decision is None:
                    results[n] = Outcome.IGNORED
                    continue
                decided.append(n)
                changes.append(_to_change(decision, job, job.job_id, now, loaded, None))
            committed = await self._storage.commit_many(changes) if changes else []
        finally:
            self._locks.give_back(taken)
        queued = due_now = False
        for n, change, result in zip(decided, changes, committed, strict=True):
            if isinstance(result, StaleCustomer):
                log.info("customer %s changed meanwhile; deciding again", jobs[n].key.id)
            elif isinstance(result, DuplicateInbound):
                results[n] = Outcome.DUPLICATE
            elif isinstance(result, Exception):
                results[n] = result
            else:
                results[n] = Outcome.DONE
                queued = queued or bool(change.outbox)
                due_now = due_now or any(job.due_at <= now for job in change.schedule)
        if queued or due_now:
            self._on_commit(queued, due_now)
        rest = [n for n, result in enumerate(results) if result is None]
        again = await asyncio.gather(*(self.handle(jobs[n]) for n in rest), return_exceptions=True)
        done: list[Outcome | BaseException] = []
        for n, outcome in zip(rest, again, strict=True):
            results[n] = outcome
        for each in results:
            assert each is not None
            done.append(each)
        return done

    async def _context(self, need: Needs, event: Event) -> Context | None:
        """Read what a few events need besides the customer; most need nothing."""
        if need.export and self._records is not None:
            return Context(export=await self._records.export(event.key))
        if need.campaign is not None:
            found = None if self._campaigns is None else await self._campaigns.info(need.campaign)
            return Context(campaign=found)
        if need.referral_code is None and not need.leaderboard and need.shop is None:
            return None
        referrer = None
        if need.referral_code is not None:
            referrer = await self._storage.customer_by_code(need.referral_code)
        board = tuple(await self._storage.leaderboard(10)) if need.leaderboard else ()
        shop = None
        if need.shop is not None and self._shop is not None:
            shop = await self._shop.lookup(need.shop)
        return Context(referrer=referrer, leaderboard=board, shop=shop)


def _to_change(
    decision: Decision,
    event: Event,
    job_id: int | None,
    now: datetime,
    loaded: Loaded,
    lease: datetime | None,
) -> Change:
    shared = attributes(decision.customer)
    return Change(
        customer=decision.customer.evolve(updated_at=now),
        at=now,
        version=loaded.version,
        before=loaded.customer,
        inbound_id=event.inbound_id,
        job_done=job_id,
        log=decision.log,
        outbox=tuple(
            _outbox_item(message, isinstance(event, CUSTOMER_INITIATED), shared)
            for message in decision.messages
        ),
        schedule=decision.schedule,
        cancel=decision.cancel,
        records=decision.records,
        erase_by=decision.erase_by,
        outbox_lease_until=lease,
        responded=isinstance(event, CUSTOMER_INITIATED),
    )


def _rows(change: Change, ids: Sequence[int], last_sent: datetime | None) -> list[OutboxRow]:
    """The committed rows as the outbox would have claimed them, without reading them back."""
    customer = change.customer
    return [
        OutboxRow(
            id=ident,
            key=customer.key,
            audience=item.audience,
            kind=item.kind,
            template=item.template,
            context=item.context,
            buttons=item.buttons,
            question_id=item.question_id,
            language=customer.language,
            attempts=0,
            next_attempt_at=change.at,
            created_at=change.at,
            prompted=item.prompted,
            previous_sent_at=last_sent,
        )
        for ident, item in zip(ids, change.outbox, strict=True)
    ]


def _outbox_item(
    message: OutMessage | ClearButtons, prompted: bool, shared: Mapping[str, Json]
) -> OutboxItem:
    if isinstance(message, ClearButtons):
        return OutboxItem(
            kind="clear_buttons",
            audience="customer",
            question_id=message.question_id,
            prompted=prompted,
        )
    return OutboxItem(
        kind="message",
        audience=message.audience,
        template=message.template,
        context={**shared, **message.context}
        if message.audience == "customer"
        else message.context,
        buttons=message.buttons,
        question_id=message.question_id,
        prompted=prompted and message.audience == "customer",
    )
