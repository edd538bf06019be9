"""Typed values crossing the storage boundary: what a decision writes, what the runtime claims.

One inbound event becomes one `Change`, written atomically: the customer's new state, journey
log rows, outbox rows, jobs scheduled, cancelled or finished, and the inbound id that makes a
redelivery a no-op. A change names the version of the customer it was computed from, and
commits only if that is still the stored version (see `JourneyStore.commit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.flows.model import (
    Button,
    CancelJobs,
    Customer,
    CustomerKey,
    JobKind,
    Json,
    LogEntry,
    Record,
    ScheduleJob,
)

__all__ = [
    "ActivityCounts",
    "AdminAccount",
    "AdminRole",
    "AdminSession",
    "CaseView",
    "ChainRevenue",
    "Change",
    "CustomerFilter",
    "CustomerRecord",
    "CustomerView",
    "DeliveryResult",
    "DueJob",
    "Exposure",
    "Generation",
    "InboxItem",
    "Loaded",
    "OpenCase",
    "OutboxItem",
    "OutboxRow",
    "PendingJob",
    "QueuedUpdate",
    "RecentBadge",
    "RevenueRow",
    "StoredVersion",
    "SystemJob",
    "VariantOutcomes",
]

CaseView = dict[str, Json]
"""Everything staff see about a case (customer, scores, trigger, recent lines): template data."""


@dataclass(frozen=True)
class Loaded:
    customer: Customer | None
    seen: bool
    """The event's inbound id (or job) was already handled."""
    version: int | None = None
    """The stored version of `customer` (None: no such customer yet)."""
    pending_outbox: tuple[int, ...] | None = None
    """Ids of the customer's outbox rows still pending (any audience), read with the customer;
    None where a backend does not read them. The engine sends a decision's replies straight
    away only when every one of these is held by its own process, so none overtakes an older
    message (with None it never does, and leaves the rows to `OutboxStore.claim`)."""
    last_sent_at: datetime | None = None
    """When the customer's latest message was accepted by their platform (None: never, or a
    backend served by one process, whose pacing already knows)."""


@dataclass(frozen=True)
class OutboxItem:
    """A message (or a button clearing) to deliver once the change is committed."""

    kind: Literal["message", "clear_buttons"]
    audience: Literal["customer", "staff"]
    template: str = ""
    context: Mapping[str, Json] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    question_id: int | None = None
    prompted: bool = False
    """Caused by something the customer just did (their message, button, command): a reply,
    not an unprompted message (a check-in, a campaign), which platforms pace differently."""


@dataclass(frozen=True)
class Change:
    customer: Customer
    at: datetime
    version: int | None = None
    """The stored version the decision was computed from; None for a new customer."""
    inbound_id: str | None = None
    job_done: int | None = None
    log: tuple[LogEntry, ...] = ()
    outbox: tuple[OutboxItem, ...] = ()
    schedule: tuple[ScheduleJob, ...] = ()
    cancel: tuple[CancelJobs, ...] = ()
    records: tuple[Record, ...] = ()
    outbox_lease_until: datetime | None = None
    """Commit the outbox rows already claimed by this process until then (it delivers them
    itself, straight from the decision); None leaves them to whoever claims them."""
    erase_by: str | None = None
    """Erase the customer in the same transaction, once the rest is written (who asked); the
    outbox rows of this change are kept, to be delivered."""
    before: Customer | None = None
    """The customer as loaded at `version`, if known: a backend may then write only the columns
    that changed (every index of an unchanged column stays untouched)."""
    responded: bool = False
    """The customer wrote or pressed something: their experiment exposures still waiting for a
    reply count this as it (in this transaction)."""


@dataclass(frozen=True)
class DueJob:
    id: int
    key: CustomerKey
    kind: JobKind
    due_at: datetime
    payload: Mapping[str, Json]


@dataclass(frozen=True)
class PendingJob:
    """A live job as stored, for checks over all of them (`JobStore.pending`)."""

    id: int
    key: CustomerKey
    kind: JobKind
    subject: str
    due_at: datetime


@dataclass(frozen=True)
class SystemJob:
    """A job planned by the system rather than by one customer's event (monthly awards)."""

    key: CustomerKey
    kind: JobKind
    due_at: datetime
    payload: Mapping[str, Json]
    subject: str = ""


@dataclass(frozen=True)
class OutboxRow:
    """A committed, undelivered outbox row with what the channel needs to deliver it."""

    id: int
    key: CustomerKey
    audience: Literal["customer", "staff"]
    kind: Literal["message", "clear_buttons"]
    template: str
    context: Mapping[str, Json]
    buttons: tuple[tuple[Button, ...], ...]
    question_id: int | None
    language: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    prompted: bool = False
    """See `OutboxItem.prompted`."""
    previous_sent_at: datetime | None = None
    """When the platform accepted the recipient's message before this one, as stored (where
    several processes send: another may have sent it); None when unknown or not needed."""


@dataclass(frozen=True)
class DeliveryResult:
    outbox_id: int
    outcome: Literal["sent", "retry", "failed"]
    at: datetime
    error: str | None = None
    retry_at: datetime | None = None
    platform_message_id: str | None = None
    exposure: Exposure | None = None
    """The experiment variant this message showed (recorded with the send, first one wins)."""


@dataclass(frozen=True)
class Exposure:
    """A customer was shown a variant of an experiment's message."""

    experiment: str
    customer_id: str
    variant: str


@dataclass(frozen=True)
class VariantOutcomes:
    """What the customers shown one variant did within the experiment's window."""

    variant: str
    exposed: int
    replied: int
    rated: int
    score_total: float
    """Sum of the first rating each customer gave (its mean is `score_total / rated`)."""
    purchased: int
    referred: int


@dataclass(frozen=True)
class InboxItem:
    """A raw platform update to queue: `key` makes a redelivery a no-op; updates of one `group`
    (the customer) are handed out one at a time, in `seq` order (Telegram's update_id)."""

    key: str
    group: str
    seq: int
    body: str


@dataclass(frozen=True)
class QueuedUpdate:
    id: int
    key: str
    group: str
    body: str


@dataclass(frozen=True)
class StoredVersion:
    number: int
    source: str | None
    """None: this version returned the message to its shipped text."""
    author: str
    comment: str
    at: datetime


@dataclass(frozen=True)
class OpenCase:
    id: str
    status: str
    reason: str
    opened_at: datetime
    claimed_by: str | None
    customer_name: str
    channel: str | None
    ts: str | None


@dataclass(frozen=True)
class RecentBadge:
    badge: str
    at: datetime
    first_name: str


@dataclass(frozen=True)
class Generation:
    """People a customer's chain brought in one generation (1 = brought directly)."""

    generation: int
    joined: int
    converted: int


@dataclass(frozen=True)
class ActivityCounts:
    """What happened in a period."""

    cases_opened: int
    cases_resolved: int
    referrals_joined: int
    referrals_converted: int
    organic_customers: int


CustomerView = dict[str, Json]
"""Everything staff see about a customer (profile, scores with comments, cases and
conversations, the referral tree by generation): template data."""


@dataclass(frozen=True)
class CustomerFilter:
    """Which customers to list; every condition given must hold. Erased customers never do."""

    stage: str | None = None
    score: tuple[str, int, int] | None = None
    """(scale, lowest, highest) that the customer's latest score must fall in."""
    scored_since: datetime | None = None
    """The latest score (with `score`) was given at or after this."""
    source: str | None = None
    active_since: datetime | None = None
    """The customer last wrote or pressed something at or after this."""
    referred_by: str | None = None
    """Brought directly by this customer id."""
    has_open_case: bool | None = None
    has_open_conversation: bool | None = None
    has_referred: bool | None = None
    """Has (True) or has not (False) brought anyone who joined."""
    text: str | None = None
    """Occurs (case-insensitively) in their rating comments or in what they wrote."""


@dataclass(frozen=True)
class CustomerRecord:
    """One customer as a row of a list or a spreadsheet."""

    id: str
    name: str | None
    username: str | None
    stage: str
    source: str | None
    created_at: datetime
    last_contact_at: datetime | None
    last_scale: str | None
    last_score: int | None
    last_score_at: datetime | None
    purchases: int
    revenue: float | None
    """The sum of recorded purchase amounts; None when no amount was ever recorded."""
    generations: tuple[int, ...]
    """People brought per generation: (directly, their friends, their friends' friends)."""
    badges: tuple[str, ...]
    case_id: str | None
    conversation_id: str | None
    last_comment: str | None = None
    """What they wrote with their latest score."""


@dataclass(frozen=True)
class RevenueRow:
    """Shop revenue (paid orders, net of partial refunds) of customers at one stage."""

    stage: str | None
    """None: orders not linked to any chat yet."""
    currency: str | None
    orders: int
    amount_micros: int


@dataclass(frozen=True)
class ChainRevenue:
    """What the people a customer's referral chain brought spent at the shop (seed 004's
    "Jack": every generation of introductions, counted in money)."""

    referrer_id: str
    first_name: str
    currency: str | None
    buyers: int
    generations: int
    amount_micros: int


AdminRole = Literal["viewer", "editor"]
"""What a dashboard account may do: viewers read; editors also change message templates."""


@dataclass(frozen=True)
class AdminAccount:
    """Someone who may sign in to the admin dashboard."""

    name: str
    password_hash: str
    """`bot.passwords` format: the algorithm and its parameters travel with it."""
    role: AdminRole
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AdminSession:
    """A signed-in browser. Only a digest of its token is stored: reading the database does not
    give anyone a live session."""

    id: str
    """The SHA-256 (hex) of the token in the browser's cookie."""
    account: str
    credential: str
    """A fingerprint of the password hash it was opened with: a new password ends it."""
    address: str
    created_at: datetime
    expires_at: datetime
