"""The storage contract, split by concern into small protocols (in the spirit of aiogram's
`BaseStorage`): a few primitives each, typed keys and values.

A backend is a `Storage`: a bundle of one store per concern sharing one database. Consumers
take only the store they need (the engine a `JourneyStore`, the outbox an `OutboxStore`, ...),
so each concern is implemented and tested on its own, and every backend passes the same
contract suite (`tests/storage/test_contract.py`).

Rules every backend keeps, whatever process writes:

- `JourneyStore.commit` writes a whole `Change` in one transaction, and only if the customer
  is still at the version the change was computed from; otherwise it raises `StaleCustomer`
  and writes nothing (the engine reloads and decides again). A committed inbound id makes a
  second commit with it raise `DuplicateInbound`.
- A customer never has two live jobs of one kind for one subject: scheduling such a job
  replaces the pending one.
- Work rows (outbox, jobs, inbox) are taken with `claim(..., lease)`: a claimed row is not
  handed out again until its lease expires, so a row taken by a process that died is taken
  over after the lease. Outbox rows of one recipient are handed out one at a time, in commit
  order; queued updates of one group in `seq` order, none while an earlier one is claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.flows.experiments import Experiment
from bot.flows.model import (
    CampaignInfo,
    Customer,
    CustomerKey,
    HistoryEntry,
    Json,
    LeaderRow,
    OrderKey,
    ShopContext,
    ShopNeeds,
)
from bot.flows.orders import Order
from bot.flows.segments import Rule
from bot.storage.campaign_types import Campaign, CampaignReport, NewCampaign
from bot.storage.segment_types import Segment, SegmentMember, Tag
from bot.storage.types import (
    ActivityCounts,
    AdminAccount,
    AdminSession,
    CaseView,
    ChainRevenue,
    Change,
    CustomerFilter,
    CustomerRecord,
    CustomerView,
    DeliveryResult,
    DueJob,
    Exposure,
    Generation,
    InboxItem,
    Loaded,
    OpenCase,
    OutboxRow,
    PendingJob,
    QueuedUpdate,
    RecentBadge,
    RevenueRow,
    StoredVersion,
    SystemJob,
    VariantOutcomes,
)

__all__ = [
    "AdminStore",
    "CampaignStore",
    "CaseStore",
    "ExperimentStore",
    "HeldRole",
    "InboxStore",
    "JobStore",
    "JourneyStore",
    "MetaStore",
    "OutboxStore",
    "RecordStore",
    "ReportStore",
    "RoleStore",
    "SegmentStore",
    "ShopLookup",
    "ShopStore",
    "Storage",
    "TemplateStore",
]


class JourneyStore(Protocol):
    """Customers: load one with what an event needs, commit a decision about them."""

    async def load(
        self,
        key: CustomerKey,
        *,
        inbound_id: str | None = None,
        job_id: int | None = None,
        history: int = 0,
    ) -> Loaded:
        """The customer (with up to `history` journey entries), its version, and whether the
        event (inbound id, or job no longer pending) was handled before."""

    async def commit(self, change: Change) -> tuple[int, ...]:
        """Write `change` atomically; return the ids of its outbox rows, in order.

        Raises `StaleCustomer` if the customer is no longer at `change.version`, and
        `DuplicateInbound` if its inbound id was committed before; either way nothing is written.
        """

    async def load_jobs(self, jobs: Sequence[tuple[CustomerKey, int]]) -> list[Loaded]:
        """`load(key, job_id=job)` for each (key, job), in order: many customers read at once
        (a scheduler tick), each as `load` would read it."""

    async def commit_many(self, changes: Sequence[Change]) -> list[tuple[int, ...] | Exception]:
        """`commit` each change, independently (one failing does not fail the others), handed
        over together so the backend can group them; each result in order: the outbox ids, or
        the `StaleCustomer` / `DuplicateInbound` / `StorageError` its commit raised."""

    async def customer(self, key: CustomerKey, history: int = 0) -> Customer | None: ...

    async def customer_by_code(self, code: str) -> Customer | None:
        """The customer whose referral code this is."""

    async def leaderboard(self, limit: int) -> list[LeaderRow]:
        """Top referrers among those who chose to appear."""

    async def history(self, key: CustomerKey, limit: int) -> tuple[HistoryEntry, ...]:
        """The customer's latest journey entries, oldest first."""


class OutboxStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxRow]:
        """Take up to `limit` rows due at `now`, for `lease`: of each recipient only the oldest
        pending row, and only once it is due."""

    async def record(self, results: Sequence[DeliveryResult]) -> None:
        """Mark rows sent or failed, or due again later (and release their lease)."""

    async def question_message_id(self, key: CustomerKey, question_id: int) -> str | None:
        """The platform id of the delivered message that asked `question_id`."""

    async def renew(self, ids: Sequence[int], now: datetime, until: datetime) -> int:
        """Extend to `until` the lease of those of `ids` still pending and leased beyond `now`
        (ours: a lease that ended may have been taken by another process); return how many."""


class JobStore(Protocol):
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[DueJob]:
        """Take up to `limit` pending jobs due at `now`, oldest first, for `lease`."""

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending job falls due."""

    async def finish(self, job_ids: Sequence[int], at: datetime) -> None:
        """Close jobs that concern nobody any more (their customer is gone)."""

    async def renew(self, ids: Sequence[int], now: datetime, until: datetime) -> int:
        """As `OutboxStore.renew`, for claimed jobs."""

    async def pending(self, after: int, limit: int) -> list[PendingJob]:
        """Up to `limit` live (pending) jobs with an id above `after`, by id: a page of all of
        them, for consistency checks (`bot.flows.invariants`)."""

    async def plan(self, jobs: Sequence[SystemJob], meta: tuple[str, str]) -> None:
        """Schedule system jobs and record `meta` (name, value) in one transaction, so that
        planning them is done exactly once."""


class InboxStore(Protocol):
    """Raw platform updates, stored before they are acknowledged."""

    async def add(self, items: Sequence[InboxItem], at: datetime) -> None:
        """Durably queue updates; a key seen before is ignored."""

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[QueuedUpdate]:
        """Take up to `limit` queued updates, oldest first per group, for `lease`."""

    async def remove(self, ids: Sequence[int]) -> None:
        """Handled: forget them."""

    async def renew(self, ids: Sequence[int], now: datetime, until: datetime) -> int:
        """As `OutboxStore.renew`, for claimed updates."""


class HeldRole(Protocol):
    """A role this process holds until `release` (or until it dies)."""

    async def alive(self) -> bool:
        """Still held (the database still sees this process)."""

    async def release(self) -> None: ...


class RoleStore(Protocol):
    """Roles one process at a time may hold among all those serving the database: `poller`
    (Telegram allows one `getUpdates` consumer per token) and `sender` (the one process that
    sends unprompted messages, so the platform's bulk limit holds for all of them together).
    A role held by a process that died is free again at once."""

    async def try_hold(self, role: str) -> HeldRole | None:
        """Take `role` for this process, or None if another holds it."""

    async def holder(self, role: str) -> str | None:
        """Who holds `role` (for an operator), or None if nobody does."""


class CaseStore(Protocol):
    """Escalation cases and where they live on the staff desk."""

    async def customer_of(self, case_id: str) -> CustomerKey | None: ...

    async def latest(self) -> str | None:
        """The case most recently opened or resolved."""

    async def view(self, case_id: str) -> CaseView | None:
        """The case as staff see it now."""

    async def save_thread(self, case_id: str, channel: str, ts: str) -> None: ...

    async def thread(self, case_id: str) -> tuple[str, str] | None:
        """The (channel, ts) of the case's card on the staff desk."""

    async def case_at(self, channel: str, ts: str) -> str | None:
        """The case whose card is at (channel, ts)."""


class TemplateStore(Protocol):
    """Admin versions of message templates (version 1 is always the shipped file)."""

    async def add_version(
        self, name: str, locale: str, source: str | None, author: str, comment: str, at: datetime
    ) -> int:
        """Store the next version (None: back to the shipped text); return its number."""

    async def versions(self, name: str, locale: str) -> list[StoredVersion]:
        """Stored versions, oldest first."""

    async def overrides(self) -> tuple[int, dict[str, str]]:
        """The newest stored version of each message where it is not the shipped text, keyed
        `"<locale>/<name>.j2"`; and a marker that changes whenever a version is added."""

    async def marker(self) -> int:
        """Changes whenever a version is added (one cheap query)."""


class ExperimentStore(Protocol):
    """Experiments on messages: their definitions, who was shown which variant (written with
    the delivery, `OutboxStore.record`), and what those customers did afterwards."""

    async def create(self, experiment: Experiment) -> None:
        """Store a new experiment with its variants. `InvalidInput` if the name is taken or
        another experiment runs on the same message and locale."""

    async def get(self, name: str) -> Experiment | None: ...

    async def all(self) -> list[Experiment]:
        """Every experiment, newest first."""

    async def running(self) -> list[Experiment]: ...

    async def stop(self, name: str, at: datetime, shipped: str | None) -> bool:
        """End a running experiment (naming the variant shipped, if any); False if it was not
        running."""

    async def assigned(self, experiment: str, customer_id: str) -> str | None:
        """The variant the customer was first shown, if they were."""

    async def expose(self, exposures: Sequence[Exposure], at: datetime) -> None:
        """Record exposures outside a delivery; a customer's first exposure stays."""

    async def note_replies(self, customer_ids: Sequence[str], at: datetime) -> None:
        """The customers wrote at `at`: as a journey commit with `Change.responded` does."""

    async def outcomes(self, name: str) -> list[VariantOutcomes]:
        """Per variant, in the experiment's order: exposures and outcomes within its window
        (replied, rated and the first ratings' sum, purchased, referred a friend who joined).
        Empty for an unknown experiment."""


class MetaStore(Protocol):
    """Small named values the system keeps (a generated secret, the playground's clock)."""

    async def get(self, name: str) -> str | None: ...

    async def set(self, name: str, value: str) -> None: ...

    async def setdefault(self, name: str, value: str) -> str:
        """Store `value` unless `name` already has one; return the stored value. Processes
        starting at once on a fresh database all end up with the value the first one stored."""


class ReportStore(Protocol):
    """Read-only figures; the business rules that turn them into NPS and K-factor live in
    `bot.reports`, not here."""

    async def funnel(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, int]:
        """Customers by current stage, among those captured in [since, until)."""

    async def score_histogram(
        self, scale: str, since: datetime | None = None, until: datetime | None = None
    ) -> dict[int, int]:
        """How many ratings of each score were given on `scale` in [since, until)."""

    async def activity(self, since: datetime | None, until: datetime | None) -> ActivityCounts: ...

    async def badge_counts(self, since: datetime | None, until: datetime | None) -> dict[str, int]:
        """Badges awarded in [since, until), by badge."""

    async def open_cases(self, limit: int) -> list[OpenCase]:
        """Cases not yet resolved, oldest first."""

    async def recent_badges(self, limit: int) -> list[RecentBadge]: ...

    async def top_referrer(self, since: datetime, until: datetime) -> str | None:
        """The customer id whose referrals converted most in [since, until) (ties: earliest)."""

    async def generations(self, key: CustomerKey, depth: int = 10) -> list[Generation]:
        """The people `key`'s referral chain brought, per generation."""

    async def find_customers(self, pattern: str, limit: int = 20) -> list[Customer]:
        """Customers whose id or first name contains `pattern`."""

    async def count_customers(self) -> int: ...

    async def score_histograms(self, scale: str, edges: Sequence[datetime]) -> list[dict[int, int]]:
        """For each period [edges[i], edges[i + 1]), how many ratings of each score were given
        on `scale` (one histogram fewer than there are edges; edges in ascending order)."""

    async def score_span(
        self, scale: str, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[datetime, datetime] | None:
        """When the first and the last rating on `scale` in [since, until) were given."""

    async def median_time_to_resolve(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> timedelta | None:
        """The median time from opening to resolving, over the cases resolved in [since,
        until) (a reopened case counts from when it was first opened); None: none resolved."""


class RecordStore(Protocol):
    """Customer records: list and filter, one customer's whole view, export and erasure.

    Filters are evaluated by the database, their values always passed as parameters."""

    async def customers(self, where: CustomerFilter, limit: int) -> list[CustomerRecord]:
        """Customers matching `where`, oldest first, at most `limit`."""

    async def find(self, query: str, limit: int) -> list[CustomerRecord]:
        """Customers by id, `@username` or part of their name."""

    async def view(self, key: CustomerKey, people: int = 25) -> CustomerView | None:
        """The customer as staff see them: up to `people` names per referral generation."""

    async def export(self, key: CustomerKey) -> dict[str, Json] | None:
        """Everything held about the customer (their right of access)."""

    async def erase(self, key: CustomerKey, by: str, at: datetime) -> str | None:
        """Erase the customer's personal data everywhere; return the tombstone id that keeps
        their anonymous counts and their place in referral chains (None: no such customer).
        The bot's own staff-desk messages about them are queued to be edited to "erased";
        an audit entry records `by` and `at`."""

    async def remember_post(self, key: CustomerKey, channel: str, ts: str, at: datetime) -> None:
        """The bot posted a message about the customer on the staff desk at (channel, ts)."""

    async def erasures(self) -> list[tuple[str, str, datetime]]:
        """The audit: (tombstone, erased by, when), oldest first."""


class ShopLookup(Protocol):
    async def lookup(self, needs: ShopNeeds) -> ShopContext:
        """What a linking decision needs: who redeemed a link token, the email the shop gave
        for a customer ref, the orders whose number (or confirmation number) is the one typed."""


class ShopStore(ShopLookup, Protocol):
    """Shop orders as their webhooks told them, and the links from a chat to the shop's
    customer. An order is attached to at most one customer, once."""

    async def seen(self, event_key: str) -> bool:
        """Whether the webhook delivery with this key was recorded already."""

    async def record(
        self,
        event_key: str,
        topic: str,
        key: OrderKey,
        merge: Callable[[Order | None], Order],
        at: datetime,
    ) -> tuple[Order, bool]:
        """In one transaction: note the delivery and store `merge(the order as stored)`. Returns
        the order and True; or, when the delivery was recorded before, the order as stored and
        False (nothing written). `merge` may run more than once; it must be pure. Only the
        order's own fields are written: whom it is attached to and what the journey counted of
        it are changed by `attach` and by journey commits alone."""

    async def order(self, key: OrderKey) -> Order | None: ...

    async def match(self, order: Order) -> str | None:
        """The customer a link ties `order` to: by its order id, else the shop's customer ref,
        else its phone, else its email (the newest link of the first kind that matches)."""

    async def attach(
        self,
        orders: Sequence[tuple[OrderKey, InboxItem | None]],
        customer_id: str,
        at: datetime,
    ) -> list[OrderKey]:
        """Attach those of `orders` still unmatched to `customer_id` and queue each one's item;
        return the keys attached now. One transaction: an order is attached once, to one."""

    async def unmatched_for(self, customer_id: str, limit: int) -> list[Order]:
        """Unmatched orders that the customer's links tie to them, oldest first."""

    async def unmatched(self, limit: int) -> list[Order]:
        """Orders attached to nobody yet, newest first."""

    async def remember_customer(
        self, customer_ref: str, email: str | None, phone: str | None, at: datetime
    ) -> None:
        """What the shop says about one of its customers (`escalator link --email`)."""

    async def revenue(self, since: datetime | None, until: datetime | None) -> list[RevenueRow]:
        """Paid orders placed in [since, until), net of partial refunds, by the current stage
        of the customer they are attached to (None: attached to nobody) and currency."""

    async def chain_revenue(self, limit: int, depth: int = 10) -> list[ChainRevenue]:
        """For each referrer, what the people of their chain (up to `depth` generations)
        spent, per currency; the `limit` largest."""


class AdminStore(Protocol):
    """The admin dashboard's accounts, their sessions, and failed sign-ins (for throttling).
    Names are stored as given; callers normalise them."""

    async def save_account(self, account: AdminAccount, *, replace: bool = False) -> bool:
        """Store `account`; False (nothing written) when the name is taken and not `replace`.
        Replacing an account ends its sessions."""

    async def account(self, name: str) -> AdminAccount | None: ...

    async def accounts(self) -> list[AdminAccount]:
        """Every account, by name."""

    async def remove_account(self, name: str) -> bool:
        """Remove the account and end its sessions; False when there was none."""

    async def open_session(self, session: AdminSession) -> None:
        """Store a new session, forgetting every session expired by its `created_at`."""

    async def session(self, session_id: str, now: datetime) -> AdminSession | None:
        """The session, unless it is unknown or expired at `now`."""

    async def close_session(self, session_id: str) -> None: ...

    async def note_failure(self, subjects: Sequence[str], at: datetime, forget: datetime) -> None:
        """A sign-in failed at `at` for each subject (an address, an account); failures before
        `forget` are forgotten in the same transaction."""

    async def failures(self, subjects: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """The failures of each subject at or after `since`, oldest first (subjects without
        any are left out)."""

    async def clear_failures(self, subject: str) -> None:
        """Forget the subject's failures (a successful sign-in)."""


class SegmentStore(Protocol):
    """Named segments, the customers their rules select, and the tags staff put on customers.

    Rules are evaluated by the database as parameterised conditions (`bot.storage.segment_sql`);
    `now` anchors the `days_since_*` fields and `scale` is the rating scale of `last_score`."""

    async def save(self, segment: Segment) -> bool:
        """Store `segment` (replacing one of that name, keeping when it was created); True when
        it is new."""

    async def get(self, name: str) -> Segment | None: ...

    async def all(self) -> list[Segment]:
        """Every segment, by name."""

    async def delete(self, name: str) -> bool: ...

    async def count(self, rule: Rule, now: datetime, scale: str) -> int:
        """How many customers (erased ones excepted) the rule selects."""

    async def sample(
        self, rule: Rule, now: datetime, scale: str, limit: int
    ) -> list[SegmentMember]:
        """Up to `limit` of them, most recently captured first."""

    async def tag(self, key: CustomerKey, tag: str, by: str, at: datetime) -> bool:
        """Put `tag` on the customer; False when it was there already (or no such customer)."""

    async def untag(self, key: CustomerKey, tag: str) -> bool: ...

    async def tags(self, key: CustomerKey) -> list[Tag]:
        """The customer's tags, by name."""


class CampaignStore(Protocol):
    """Campaigns: planned for a whole segment in one set-based transaction, then one job per
    customer that the engine decides (`bot.flows.campaigns`)."""

    async def create(self, campaign: NewCampaign) -> Campaign | None:
        """Store a draft; None when the name is taken."""

    async def get(self, name: str) -> Campaign | None: ...

    async def info(self, campaign_id: int) -> CampaignInfo | None:
        """What its messages need (the engine reads it for each campaign job)."""

    async def all(self) -> list[Campaign]:
        """Every campaign, newest first."""

    async def plan(
        self, campaign_id: int, rule: Rule, scale: str, at: datetime, now: datetime
    ) -> int | None:
        """Start a draft: in one transaction, a first job due at `at` and a target row for every
        customer the rule selects now, and the campaign running. Returns how many customers;
        None (nothing written) when the campaign is not a draft."""

    async def set_status(self, campaign_id: int, status: str, now: datetime) -> bool:
        """Pause (its pending jobs wait), resume ("running": they are pending again) or cancel
        (they are cancelled, its planned messages skipped). False when already so, or cancelled."""

    async def report(self, campaign_id: int, window: timedelta) -> CampaignReport:
        """What it did; replies, purchases and referrals within `window` of a message."""


class Storage(Protocol):
    """One database: a store per concern, opened by `bot.storage.open_storage`."""

    @property
    def journey(self) -> JourneyStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def jobs(self) -> JobStore: ...

    @property
    def inbox(self) -> InboxStore: ...

    @property
    def cases(self) -> CaseStore: ...

    @property
    def templates(self) -> TemplateStore: ...

    @property
    def meta(self) -> MetaStore: ...

    @property
    def reports(self) -> ReportStore: ...

    @property
    def records(self) -> RecordStore: ...

    @property
    def shop(self) -> ShopStore: ...

    @property
    def admin(self) -> AdminStore: ...

    @property
    def roles(self) -> RoleStore: ...

    @property
    def segments(self) -> SegmentStore: ...

    @property
    def campaigns(self) -> CampaignStore: ...

    @property
    def experiments(self) -> ExperimentStore: ...

    async def release_claims(self) -> int:
        """End every lease on outbox rows, jobs and queued updates; return how many.

        Only for a process that knows it is the only one serving the database (the SQLite bot,
        once it holds its exclusive claim): every lease then belongs to a predecessor that died,
        and its work need not wait for the lease to end."""

    async def close(self) -> None:
        """Finish pending writes and close every connection."""
