"""The journey: one pure function from (customer, event, now) to a `Decision`.

`decide` routes each event to the flow that owns it. It never awaits, sends or reads the clock;
the engine persists what it returns. Events the bot did not expect get a polite answer.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows import checkin, onboarding
from bot.flows.common import (
    advance_stage,
    engage,
    new_customer,
    parse_button_data,
    reply,
    with_profile,
)
from bot.flows.model import (
    Blocked,
    ButtonPress,
    Command,
    Customer,
    Decision,
    Event,
    JobDue,
    JobKind,
    LogEntry,
    NonText,
    OutMessage,
    PurchaseRecorded,
    StaffAction,
    Start,
    Text,
)
from bot.flows.policy import FlowPolicy
from bot.flows.stages import StageTrigger

__all__ = ["COMMANDS", "CUSTOMER_INITIATED", "decide", "needs_history"]

COMMANDS = ("start", "help", "stop", "status")
"""Commands a customer can send; `me` is an alias of `status`."""

CUSTOMER_INITIATED = (Start, Text, ButtonPress, Command, NonText)


def needs_history(event: Event) -> bool:
    """Whether the engine must load the customer's journey history before deciding."""
    return isinstance(event, Command) and event.name in {"status", "me"}


def decide(
    customer: Customer | None, event: Event, now: datetime, policy: FlowPolicy
) -> Decision | None:
    """Decide what `event` does to `customer`; None when it concerns nobody we know."""
    if customer is None:
        if not isinstance(event, CUSTOMER_INITIATED):
            return None
        fresh = new_customer(event.key, event.profile, now)
        captured = onboarding.capture(
            fresh, event.payload if isinstance(event, Start) else None, now, policy
        )
        if isinstance(event, Start):
            return captured
        # Someone wrote before /start (e.g. after clearing the chat): capture, then answer.
        follow_up = _route(captured.customer, event, now, policy)
        return captured.then(follow_up)
    if isinstance(event, CUSTOMER_INITIATED):
        customer = with_profile(customer, event.profile)
        if customer.unreachable:
            # They are writing to us, so they have unblocked the bot.
            customer = customer.evolve(unreachable=False)
    return _route(customer, event, now, policy)


def _route(customer: Customer, event: Event, now: datetime, policy: FlowPolicy) -> Decision:
    match event:
        case Start(payload=payload):
            return onboarding.restart(customer, payload, now, policy)
        case Command(name=name):
            return _command(customer, name)
        case ButtonPress(data=data):
            return _button(customer, data)
        case Text(text=text):
            return _text(customer, text, policy)
        case NonText(kind=kind):
            return _non_text(customer, kind)
        case JobDue(kind=JobKind.CHECKIN):
            return checkin.ask(customer, now)
        case PurchaseRecorded(order_id=order_id):
            return _purchase(customer, order_id)
        case Blocked():
            return _blocked(customer)
        case StaffAction():
            return Decision(
                customer=customer,
                messages=(
                    OutMessage("staff_no_case", {"customer": customer.id}, audience="staff"),
                ),
            )
    raise AssertionError(f"unrouted event {event!r}")  # pragma: no cover - exhaustive match


def _command(customer: Customer, name: str) -> Decision:
    match name:
        case "help":
            return onboarding.help_(customer)
        case "stop":
            return onboarding.opt_out(customer)
        case "status" | "me":
            return onboarding.status(customer)
    return Decision(
        customer=customer, messages=(reply(customer, "unknown_command", command=name[:64]),)
    )


def _button(customer: Customer, data: str) -> Decision:
    parsed = parse_button_data(data)
    if parsed is not None and checkin.is_pending(customer):
        question, value = parsed
        if question == customer.question_id and value in checkin.ANSWERS:
            return checkin.answer(customer, value)
    return Decision(customer=customer, messages=(reply(customer, "stale_button"),))


def _text(customer: Customer, text: str, policy: FlowPolicy) -> Decision:
    cleaned = text.strip()
    if not cleaned:
        return Decision(customer=customer, messages=(reply(customer, "empty_text"),))
    if checkin.is_pending(customer):
        return checkin.answer(customer, "comment", comment=cleaned[: policy.max_text_length])
    engaged = engage(customer)
    return engaged.then(
        Decision(
            customer=engaged.customer,
            messages=(reply(engaged.customer, "fallback", too_long=len(cleaned) > 4096),),
        )
    )


def _non_text(customer: Customer, kind: str) -> Decision:
    """A sticker or photo: they are talking to us, but we can only read text."""
    pending = checkin.is_pending(customer)
    engaged = engage(customer)
    message = reply(engaged.customer, "non_text", kind=kind[:32], awaiting_answer=pending)
    return engaged.then(Decision(customer=engaged.customer, messages=(message,)))


def _purchase(customer: Customer, order_id: str) -> Decision:
    return advance_stage(customer, StageTrigger.PURCHASE, order_id)


def _blocked(customer: Customer) -> Decision:
    if customer.unreachable:
        return Decision(customer=customer)
    return Decision(
        customer=customer.evolve(unreachable=True),
        log=(LogEntry("unreachable", customer.stage, customer.stage),),
    )
