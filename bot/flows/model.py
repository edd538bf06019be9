"""Typed values passed between layers: who the customer is, what happened, what to do.

Everything here is a frozen dataclass: flows receive them and return new ones; nothing mutates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeAlias

from bot.flows.dialogue import DialogueState
from bot.flows.stages import Stage

__all__ = [
    "KEYBOARD_CONTACT",
    "KEYBOARD_REMOVE",
    "BadgeAwarded",
    "Blocked",
    "Button",
    "ButtonPress",
    "CampaignInfo",
    "CampaignStep",
    "CancelJobs",
    "CaseChanged",
    "CaseOpened",
    "ClearButtons",
    "Command",
    "ContactShared",
    "Context",
    "Customer",
    "CustomerKey",
    "Decision",
    "DeliveryFailed",
    "Event",
    "HistoryEntry",
    "JobDue",
    "JobKind",
    "Json",
    "LeaderRow",
    "Line",
    "LinkTokenUsed",
    "LogEntry",
    "NonText",
    "OrderApplied",
    "OrderCandidate",
    "OrderKey",
    "OutMessage",
    "Outbound",
    "Profile",
    "PurchaseRecorded",
    "PurchaseReversed",
    "PurchaseRow",
    "Record",
    "ReferralConverted",
    "ReferralJoined",
    "ReferralWithdrawn",
    "RefundApplied",
    "RefundIssued",
    "ScheduleJob",
    "ScoreComment",
    "ScoreRow",
    "ShopContext",
    "ShopLinked",
    "ShopNeeds",
    "StaffAction",
    "StaffVerb",
    "Start",
    "Text",
    "WorkQueued",
]

Json: TypeAlias = str | int | float | bool | list["Json"] | dict[str, "Json"] | None


@dataclass(frozen=True, order=True)
class CustomerKey:
    """A customer's address: the channel they talk on and their id there."""

    channel: str
    external_id: str

    @property
    def id(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @classmethod
    def parse(cls, text: str, default_channel: str = "telegram") -> CustomerKey:
        channel, sep, external = text.partition(":")
        return cls(channel, external) if sep else cls(default_channel, text)


@dataclass(frozen=True)
class Profile:
    """What the platform tells us about the customer, refreshed on every inbound update."""

    first_name: str | None = None
    language: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class Customer:
    key: CustomerKey
    stage: Stage
    dialogue: DialogueState
    created_at: datetime
    updated_at: datetime
    first_name: str | None = None
    language: str | None = None
    source: str | None = None
    question_id: int = 0
    opted_out: bool = False
    unreachable: bool = False
    reasks: int = 0
    """How often the open rating question was asked again after an unusable answer."""
    last_survey_at: datetime | None = None
    pending_score: int | None = None
    """The score whose follow-up comment the bot is waiting for."""
    case_id: str | None = None
    """The open escalation case, if any: while set, automation pauses and messages go to staff."""
    case_claimed_by: str | None = None
    cases_opened: int = 0
    referral_code: str | None = None
    referred_by: str | None = None
    """The id of the customer whose link brought this one."""
    referrals_joined: int = 0
    referrals_converted: int = 0
    purchases: int = 0
    promoter_streak: int = 0
    """Promoter scores in a row (reset by any other score)."""
    badges: tuple[str, ...] = ()
    leaderboard_opt_in: bool = False
    history: tuple[HistoryEntry, ...] = ()
    username: str | None = None
    """The platform's public handle (Telegram @username), if they have one."""
    conversation_id: str | None = None
    """The open conversation with staff, if any: lighter than a case (the bot keeps working),
    but what the customer writes unprompted goes to a person."""
    conversations_opened: int = 0
    last_contact_at: datetime | None = None
    """When the customer last wrote, pressed or commanded anything."""
    timezone: str | None = None
    """The IANA zone quiet hours are kept in (None: defaulted by language when first needed)."""
    contacts: tuple[datetime, ...] = ()
    """When the recent unprompted messages that count against the contact budget were sent."""

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def proactive_allowed(self) -> bool:
        """May the bot message this customer unprompted?"""
        return not (self.opted_out or self.unreachable)

    def evolve(self, **changes: object) -> Customer:
        """A copy with `changes`. Faster than `dataclasses.replace` (no `__init__` over all the
        fields), which matters: flows evolve a customer several times per event."""
        unknown = changes.keys() - self.__dict__.keys()
        if unknown:
            raise TypeError(f"Customer has no field(s) {sorted(unknown)}")
        copy = object.__new__(Customer)
        copy.__dict__.update(self.__dict__)
        copy.__dict__.update(changes)
        return copy


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    event: str
    from_stage: str | None
    to_stage: str | None
    detail: str | None = None


# --- inbound events -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Inbound:
    key: CustomerKey
    inbound_id: str | None = None
    """The platform's id for this update (Telegram update_id, ...): a redelivery is ignored."""
    profile: Profile | None = None


@dataclass(frozen=True, kw_only=True)
class Start(_Inbound):
    payload: str | None = None


@dataclass(frozen=True, kw_only=True)
class Text(_Inbound):
    text: str


@dataclass(frozen=True, kw_only=True)
class ButtonPress(_Inbound):
    data: str


@dataclass(frozen=True, kw_only=True)
class Command(_Inbound):
    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NonText(_Inbound):
    """A sticker, photo, voice note, ... where the bot can only read text."""

    kind: str


@dataclass(frozen=True, kw_only=True)
class Blocked(_Inbound):
    """The customer blocked the bot (or the platform refused delivery for good)."""


class JobKind(StrEnum):
    CHECKIN = "checkin"
    SURVEY = "survey"
    RECOVERY = "recovery"
    SLA = "sla"
    REFERRAL_JOINED = "referral_joined"
    REFERRAL_CONVERTED = "referral_converted"
    AWARD = "award"
    INBOX_CLOSE = "inbox_close"
    CAMPAIGN = "campaign"


@dataclass(frozen=True, kw_only=True)
class JobDue(_Inbound):
    job_id: int
    kind: JobKind
    payload: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderKey:
    """A shop order: the platform it came from (`shopify`, `woocommerce`, `purchases`) and the
    shop's own id for it."""

    source: str
    order_id: str

    @property
    def ref(self) -> str:
        """`source/order_id`: unique across platforms (the purchase's id in the journey)."""
        return f"{self.source}/{self.order_id}"


@dataclass(frozen=True, kw_only=True)
class PurchaseRecorded(_Inbound):
    order_id: str
    amount: float | None = None
    order: OrderKey | None = None
    """The shop order this purchase is (None: reported by hand, `escalator purchase`)."""
    refunds: tuple[str, ...] = ()
    """Refunds of the order made before it reached the journey: settled with it, silently."""


@dataclass(frozen=True, kw_only=True)
class PurchaseReversed(_Inbound):
    """A counted shop order was cancelled or refunded in full."""

    order: OrderKey
    order_number: str
    reason: Literal["cancelled", "refunded"]
    amount: str | None = None
    currency: str | None = None
    refunds: tuple[str, ...] = ()
    """Its partial refunds not yet followed up: the reversal settles them."""


@dataclass(frozen=True, kw_only=True)
class RefundIssued(_Inbound):
    """Part of a counted shop order was refunded (the purchase stands)."""

    order: OrderKey
    refund_id: str
    order_number: str
    amount: str | None = None
    currency: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContactShared(_Inbound):
    """The customer shared a phone number with Telegram's contact button."""

    phone: str
    own: bool
    """It is the sender's own contact (Telegram's `contact.user_id` is theirs)."""


StaffVerb = Literal["claim", "reply", "note", "resolve", "handback", "close", "escalate", "message"]


@dataclass(frozen=True, kw_only=True)
class StaffAction(_Inbound):
    """A staff member acting on a case or conversation; `key` is its customer. `message`
    writes to the customer unprompted: into their open conversation, or a new one (`case_id`
    is then empty)."""

    case_id: str
    action: StaffVerb
    staff_name: str
    text: str = ""
    ref: str | None = None
    """The staff desk's id of the staff member's message (to react to it), if any."""


@dataclass(frozen=True, kw_only=True)
class DeliveryFailed(_Inbound):
    """The platform refused a message to the customer for good."""

    reason: str
    unreachable: bool = False
    ref: str | None = None
    """The staff desk's id of the staff message that could not be delivered, if it was one."""


Event: TypeAlias = (
    Start
    | Text
    | ButtonPress
    | Command
    | NonText
    | Blocked
    | JobDue
    | PurchaseRecorded
    | PurchaseReversed
    | RefundIssued
    | ContactShared
    | StaffAction
    | DeliveryFailed
)


# --- the decision ---------------------------------------------------------------------------


KEYBOARD_CONTACT = "keyboard:contact"
"""Button data for Telegram's contact button: a reply keyboard whose one button shares the
customer's own phone number (never a callback: real callback data starts with a number)."""
KEYBOARD_REMOVE = "keyboard:remove"
"""Button data that removes a reply keyboard shown earlier (the button itself is not shown)."""


@dataclass(frozen=True)
class Button:
    """An inline button: its label is a template, its data comes back in the press."""

    template: str
    data: str
    context: Mapping[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class OutMessage:
    template: str
    context: Mapping[str, Json] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    audience: Literal["customer", "staff"] = "customer"
    question_id: int | None = None
    """Set when the buttons ask a question, so they can be cleared once it is answered."""


@dataclass(frozen=True)
class ClearButtons:
    """Remove the buttons of an asked question so it cannot be answered twice."""

    question_id: int


Outbound: TypeAlias = OutMessage | ClearButtons


@dataclass(frozen=True)
class ScheduleJob:
    kind: JobKind
    due_at: datetime
    payload: Mapping[str, Json] = field(default_factory=dict)
    customer: CustomerKey | None = None
    """Another customer the job is for (a referrer to tell); None for the deciding customer."""
    subject: str = ""
    """What the job is about (a case id, a friend's id): a customer has at most one live job of
    a kind per subject, so scheduling it again replaces the pending one."""


@dataclass(frozen=True)
class CancelJobs:
    kinds: frozenset[JobKind]


@dataclass(frozen=True)
class LogEntry:
    event: str
    from_stage: Stage | None
    to_stage: Stage | None
    detail: str | None = None


# --- records a decision writes besides the customer ---------------------------------------


@dataclass(frozen=True)
class PurchaseRow:
    order_id: str
    amount: float | None


@dataclass(frozen=True)
class ScoreRow:
    scale: str
    score: int


@dataclass(frozen=True)
class ScoreComment:
    """The comment on the customer's latest score."""

    text: str


@dataclass(frozen=True)
class CaseOpened:
    case_id: str
    reason: str
    trigger: str | None
    kind: Literal["case", "conversation"] = "case"
    """A conversation is kept like a case (one thread on the staff desk, the same relay) but
    carries no SLA and does not pause the bot."""


@dataclass(frozen=True)
class CaseChanged:
    case_id: str
    status: Literal["open", "claimed", "resolved"]
    by: str | None = None


@dataclass(frozen=True)
class Line:
    """One line of conversation kept for context: a customer message, staff reply or note."""

    author: Literal["customer", "staff", "note"]
    text: str
    name: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class ReferralJoined:
    """The deciding customer joined through `referrer`'s link."""

    referrer: str


@dataclass(frozen=True)
class ReferralConverted:
    """The deciding customer, who was referred, made their first purchase."""


@dataclass(frozen=True)
class BadgeAwarded:
    badge: str


@dataclass(frozen=True)
class ReferralWithdrawn:
    """The deciding customer's purchase was reversed before their referrer was rewarded for it:
    the conversion is undone and the reward (the referrer's pending job) cancelled. Once the
    reward went out, both stand."""

    referrer: str


@dataclass(frozen=True)
class OrderApplied:
    """What the journey has counted of a shop order (`purchase`, then `reversed`)."""

    order: OrderKey
    applied: Literal["purchase", "reversed"]


@dataclass(frozen=True)
class RefundApplied:
    """A shop refund the journey has dealt with."""

    source: str
    refund_id: str


@dataclass(frozen=True)
class ShopLinked:
    """The customer is the shop's customer with this identity (`kind`: ref, order, phone,
    email). `replace`: a stronger proof takes the identity over from whoever held it; otherwise
    an identity already linked stays with its holder."""

    kind: Literal["ref", "order", "phone", "email"]
    value: str
    method: str
    replace: bool = True


@dataclass(frozen=True)
class LinkTokenUsed:
    """A link token was redeemed (tokens are single-use)."""

    token_id: str


@dataclass(frozen=True)
class WorkQueued:
    """Work for the durable inbox, queued in the same commit (e.g. attach the orders a new link
    ties to the customer)."""

    key: str
    group: str
    body: str


@dataclass(frozen=True)
class CampaignStep:
    """What became of one step of a campaign for the customer (`bot.flows.campaigns`)."""

    campaign_id: int
    step: int
    status: Literal["planned", "sent", "deferred", "skipped", "left"]
    reason: str = ""
    """Why it was deferred or skipped (budget, quiet_hours, stopped, case_open, blocked,
    cancelled), or left (bought)."""


@dataclass(frozen=True)
class CampaignInfo:
    """A campaign as its messages need it (read by the engine for a campaign job)."""

    id: int
    name: str
    template: str
    segment: str
    status: Literal["draft", "running", "paused", "cancelled"]
    steps: tuple[int, ...] = (0,)
    """Days after the start each message of the sequence goes."""
    stop_on_purchase: bool = False


Record: TypeAlias = (
    PurchaseRow
    | ScoreRow
    | ScoreComment
    | CaseOpened
    | CaseChanged
    | Line
    | ReferralJoined
    | ReferralConverted
    | BadgeAwarded
    | ReferralWithdrawn
    | OrderApplied
    | RefundApplied
    | ShopLinked
    | LinkTokenUsed
    | WorkQueued
    | CampaignStep
)


@dataclass(frozen=True)
class LeaderRow:
    first_name: str
    converted: int
    joined: int


@dataclass(frozen=True)
class ShopNeeds:
    """What a linking decision needs read from the shop's data."""

    token_id: str | None = None
    customer_ref: str | None = None
    order_number: str | None = None
    """Normalised (`bot.flows.linking.order_number_key`)."""


@dataclass(frozen=True)
class OrderCandidate:
    """An order whose number matches what a customer typed."""

    order: OrderKey
    order_number: str
    customer_id: str | None
    placed_at: datetime


@dataclass(frozen=True)
class ShopContext:
    token_used_by: str | None = None
    """The customer who redeemed the link token already, if anyone."""
    ref_email: str | None = None
    """The email the shop gave for the token's customer ref (`escalator link --email`)."""
    ref_phone: str | None = None
    """The phone number the shop gave for it (`escalator link --phone`)."""
    orders: tuple[OrderCandidate, ...] = ()


@dataclass(frozen=True)
class Context:
    """What some events need read from storage besides the customer (loaded by the engine)."""

    referrer: Customer | None = None
    leaderboard: tuple[LeaderRow, ...] = ()
    shop: ShopContext | None = None
    export: Mapping[str, Json] | None = None
    """Everything held about the customer (for `/mydata`)."""
    campaign: CampaignInfo | None = None


@dataclass(frozen=True)
class Decision:
    """What one event does: the customer's new state and everything it causes, committed at once."""

    customer: Customer
    messages: tuple[Outbound, ...] = ()
    schedule: tuple[ScheduleJob, ...] = ()
    cancel: tuple[CancelJobs, ...] = ()
    log: tuple[LogEntry, ...] = ()
    records: tuple[Record, ...] = ()
    erase_by: str | None = None
    """Erase the customer's personal data once this decision is written (who asked for it);
    only the messages of this decision are kept, to be delivered."""

    def then(self, other: Decision) -> Decision:
        """Chain a further decision taken on this one's resulting customer."""
        return Decision(
            customer=other.customer,
            messages=self.messages + other.messages,
            schedule=self.schedule + other.schedule,
            cancel=self.cancel + other.cancel,
            log=self.log + other.log,
            records=self.records + other.records,
            erase_by=other.erase_by or self.erase_by,
        )
