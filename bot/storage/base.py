"""The storage protocol: a few async primitives the engine, outbox and scheduler are built on.

One inbound event becomes one `Change`, written atomically by `commit`: the customer's new
state, journey log rows, outbox rows, jobs scheduled, cancelled or finished, and the inbound id
that makes a redelivery a no-op. Implementations may group the commits of many customers into
one transaction, but each `commit` call returns only once its own change is durable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from bot.flows.model import (
    Button,
    CancelJobs,
    Customer,
    CustomerKey,
    HistoryEntry,
    JobKind,
    Json,
    LeaderRow,
    LogEntry,
    Record,
    ScheduleJob,
)

__all__ = [
    "Change",
    "DeliveryResult",
    "DueJob",
    "DuplicateInbound",
    "Loaded",
    "OutboxItem",
    "OutboxRow",
    "Storage",
]


class DuplicateInbound(Exception):
    """The inbound id was committed before: the event has already been handled."""


@dataclass(frozen=True)
class Loaded:
    customer: Customer | None
    seen: bool
    """The event's inbound id (or job) was already handled."""


@dataclass(frozen=True)
class OutboxItem:
    """A message (or a button clearing) to deliver once the change is committed."""

    kind: Literal["message", "clear_buttons"]
    audience: Literal["customer", "staff"]
    template: str = ""
    context: Mapping[str, Json] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    question_id: int | None = None


@dataclass(frozen=True)
class Change:
    customer: Customer
    at: datetime
    inbound_id: str | None = None
    job_done: int | None = None
    log: tuple[LogEntry, ...] = ()
    outbox: tuple[OutboxItem, ...] = ()
    schedule: tuple[ScheduleJob, ...] = ()
    cancel: tuple[CancelJobs, ...] = ()
    records: tuple[Record, ...] = ()


@dataclass(frozen=True)
class DueJob:
    id: int
    key: CustomerKey
    kind: JobKind
    due_at: datetime
    payload: Mapping[str, Json]


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


@dataclass(frozen=True)
class DeliveryResult:
    outbox_id: int
    outcome: Literal["sent", "retry", "failed"]
    at: datetime
    error: str | None = None
    retry_at: datetime | None = None
    platform_message_id: str | None = None


class Storage(Protocol):
    async def load(
        self, key: CustomerKey, *, inbound_id: str | None, job_id: int | None, history: int
    ) -> Loaded:
        """The customer (with up to `history` journey entries) and whether the event was seen."""

    async def commit(self, change: Change) -> None:
        """Write `change` atomically; raise `DuplicateInbound` if its inbound id was committed."""

    async def due_jobs(self, now: datetime, limit: int) -> list[DueJob]:
        """Pending jobs due at `now`, oldest first."""

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending job falls due."""

    async def pending_outbox(self, limit: int) -> list[OutboxRow]:
        """Undelivered rows in commit order (due now or later)."""

    async def question_message_id(self, key: CustomerKey, question_id: int) -> str | None:
        """The platform id of the delivered message that asked `question_id`."""

    async def record_deliveries(self, results: Sequence[DeliveryResult]) -> None:
        """Mark outbox rows sent, failed, or due again."""

    async def customer(self, key: CustomerKey, history: int = 0) -> Customer | None: ...

    async def find_customers(self, pattern: str, limit: int = 20) -> list[Customer]: ...

    async def customer_by_code(self, code: str) -> Customer | None:
        """The customer whose referral code this is."""

    async def leaderboard(self, limit: int) -> list[LeaderRow]: ...

    async def history(self, key: CustomerKey, limit: int) -> tuple[HistoryEntry, ...]: ...

    async def inbox_add(self, items: Sequence[tuple[str, str]], at: datetime) -> None:
        """Durably queue raw platform updates `(key, body)`; a key seen before is ignored."""

    async def inbox_fetch(self, limit: int) -> list[tuple[int, str, str]]:
        """Queued updates `(id, key, body)`, oldest first."""

    async def inbox_remove(self, ids: Sequence[int]) -> None: ...

    async def case_customer(self, case_id: str) -> CustomerKey | None: ...

    async def latest_case(self) -> str | None:
        """The case most recently opened or resolved."""

    async def case_view(self, case_id: str) -> dict[str, Json] | None: ...

    async def get_meta(self, name: str) -> str | None: ...

    async def set_meta(self, name: str, value: str) -> None: ...

    async def close(self) -> None: ...
