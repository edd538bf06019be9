"""Conversations: every customer message reaches a person.

A message no flow is waiting for (not an answer, not a command, no trigger word) opens a
conversation for staff, or continues the open one. A conversation is lighter than an escalation
case: no SLA, the bot keeps working (check-ins, ratings), and the customer is told honestly when
to expect an answer (now, within business hours; otherwise when the team is back). Staff reply
in its thread (relayed to the customer, signed), keep notes, close it or turn it into a case.
Idle for `inbox_autoclose`, it closes itself: one job per conversation, planned again on every
message. Staff may also start one with any customer who has not opted out.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows.common import reply
from bot.flows.escalation import end_conversation, fate, open_case, staff_message
from bot.flows.escalation import staff_action as case_action
from bot.flows.model import (
    CaseChanged,
    CaseOpened,
    Customer,
    Decision,
    JobKind,
    Json,
    Line,
    LogEntry,
    ScheduleJob,
    StaffAction,
)
from bot.flows.policy import FlowPolicy

__all__ = [
    "autoclose_due",
    "conversation_of",
    "expectation",
    "human",
    "is_conversation",
    "staff_action",
    "talk",
]


def conversation_of(customer: Customer, number: int) -> str:
    return f"{customer.id}~{number}"


def is_conversation(customer: Customer, ident: str) -> bool:
    """Is `ident` one of this customer's conversations (open or not)?"""
    prefix = f"{customer.id}~"
    return ident.startswith(prefix) and ident[len(prefix) :].isdigit()


def expectation(now: datetime, policy: FlowPolicy) -> dict[str, Json]:
    """What the customer may honestly be told about when a person answers."""
    hours = policy.business_hours
    if hours is None:
        return {"hours_known": False, "open_now": False}
    opening = hours.next_opening(now)
    return {
        "hours_known": True,
        "open_now": hours.is_open(now),
        "back_days_away": opening.days_away,
        "back_weekday": opening.at.weekday(),
        "back_time": opening.at.strftime("%H:%M"),
        "back_date": opening.at.strftime("%Y-%m-%d"),
        "tz": hours.tz.key,
    }


def _autoclose(ident: str, now: datetime, policy: FlowPolicy) -> ScheduleJob:
    return ScheduleJob(
        JobKind.INBOX_CLOSE, now + policy.inbox_autoclose, {"conversation_id": ident}, subject=ident
    )


def _open(
    customer: Customer, reason: str, text: str | None, now: datetime, policy: FlowPolicy, by: str
) -> Decision:
    number = customer.conversations_opened + 1
    ident = conversation_of(customer, number)
    customer = customer.evolve(conversation_id=ident, conversations_opened=number)
    clipped = None if text is None else text[: policy.max_text_length]
    return Decision(
        customer=customer,
        messages=(staff_message("staff_conversation_opened", ident, reason=reason, by=by),),
        schedule=(_autoclose(ident, now, policy),),
        records=(CaseOpened(ident, reason, clipped, kind="conversation"),),
        log=(LogEntry("conversation_opened", customer.stage, customer.stage, ident),),
    )


def talk(customer: Customer, text: str, now: datetime, policy: FlowPolicy) -> Decision:
    """A message no flow was waiting for: to the open conversation, or a new one."""
    clipped = text[: policy.max_text_length]
    line = Line("customer", clipped, customer.first_name, customer.conversation_id)
    if customer.conversation_id is not None:
        ident = customer.conversation_id
        return Decision(
            customer=customer,
            messages=(staff_message("staff_customer_message", ident, text=clipped),),
            schedule=(_autoclose(ident, now, policy),),
            records=(line,),
        )
    opened = _open(customer, "question", clipped, now, policy, by="customer")
    told = reply(
        opened.customer,
        "inbox_opened",
        asked=False,
        too_long=len(text) > len(clipped),
        **expectation(now, policy),
    )
    return opened.then(
        Decision(
            customer=opened.customer,
            messages=(told,),
            records=(
                Line("customer", clipped, customer.first_name, opened.customer.conversation_id),
            ),
        )
    )


def human(customer: Customer, now: datetime, policy: FlowPolicy) -> Decision:
    """`/human` or the "Talk to a person" button: a conversation, opened on purpose."""
    told = reply(customer, "inbox_opened", asked=True, too_long=False, **expectation(now, policy))
    if customer.case_id is not None or customer.conversation_id is not None:
        # a person already has them: say when to expect an answer, open nothing new
        return Decision(customer=customer, messages=(told,))
    opened = _open(customer, "asked for a person", None, now, policy, by="customer")
    return opened.then(Decision(customer=opened.customer, messages=(told,)))


def autoclose_due(customer: Customer, ident: str) -> Decision:
    """Nobody wrote in the conversation for a while: it closes itself."""
    if customer.conversation_id != ident:
        return Decision(customer=customer)
    return end_conversation(customer, None, "idle")


def staff_action(
    customer: Customer, action: StaffAction, now: datetime, policy: FlowPolicy
) -> Decision:
    """Staff act on a conversation (or start one with `message`)."""
    ident = action.case_id or customer.conversation_id or ""
    name = action.staff_name
    if action.action == "message" or (
        action.action == "reply"
        and customer.conversation_id is None
        and customer.case_id is None
        and is_conversation(customer, ident)
    ):
        return _staff_writes(customer, action, now, policy)
    if customer.conversation_id is None or customer.conversation_id != ident:
        problem = staff_message("staff_error", ident, problem="not_open", action=action.action)
        return Decision(customer=customer, messages=(problem,))
    match action.action:
        case "reply":
            return _reply(customer, ident, name, action.text, action.ref, now, policy)
        case "note":
            text = action.text[: policy.max_text_length]
            saved = staff_message("staff_note_saved", ident, staff_name=name, ref=action.ref)
            return Decision(
                customer=customer,
                messages=(saved,),
                records=(Line("note", text, name, ident),),
                schedule=(_autoclose(ident, now, policy),),
            )
        case "escalate":
            ended = end_conversation(customer, name, "escalated")
            reason = f"from a conversation, by {name}"
            return ended.then(open_case(ended.customer, reason, None, now, policy))
        case "close" | "resolve" | "handback" | "claim":
            return end_conversation(customer, name, "closed")
    raise AssertionError(action.action)  # pragma: no cover


def _staff_writes(
    customer: Customer, action: StaffAction, now: datetime, policy: FlowPolicy
) -> Decision:
    """Staff write to a customer with no open conversation: open one (or reopen the thread's)."""
    if customer.opted_out:
        problem = staff_message(
            "staff_error", action.case_id, problem="opted_out", action="message"
        )
        return Decision(customer=customer, messages=(problem,))
    if customer.case_id is not None:
        # the customer has a case: the message belongs there
        redirected = StaffAction(
            key=action.key,
            case_id=customer.case_id,
            action=action.action,
            staff_name=action.staff_name,
            text=action.text,
            ref=action.ref,
        )
        return case_action(customer, redirected, now, policy)
    if customer.conversation_id is not None:
        ident = customer.conversation_id
        copy = action.action == "message"
        return _reply(
            customer, ident, action.staff_name, action.text, action.ref, now, policy, copy
        )
    if action.case_id and is_conversation(customer, action.case_id):
        # a reply in the thread of a closed conversation opens it again
        ident = action.case_id
        reopened = Decision(
            customer=customer.evolve(conversation_id=ident),
            messages=(staff_message("staff_conversation_updated", ident, change="reopened"),),
            records=(CaseChanged(ident, "open"),),
            log=(LogEntry("conversation_reopened", customer.stage, customer.stage, ident),),
        )
    else:
        reopened = _open(customer, f"started by {action.staff_name}", None, now, policy, "staff")
        ident = reopened.customer.conversation_id or ""
    copy = action.action == "message"
    return reopened.then(
        _reply(
            reopened.customer, ident, action.staff_name, action.text, action.ref, now, policy, copy
        )
    )


def _reply(
    customer: Customer,
    ident: str,
    name: str,
    text: str,
    ref: str | None,
    now: datetime,
    policy: FlowPolicy,
    copy: bool = False,
) -> Decision:
    text = text.strip()[: policy.max_text_length]
    if not text:
        problem = staff_message("staff_error", ident, problem="empty_reply", action="reply")
        return Decision(customer=customer, messages=(problem,))
    to_customer = reply(customer, "staff_reply", staff_name=name, text=text, ref=ref)
    return Decision(
        customer=customer,
        messages=(to_customer, *fate(ident, name, text, ref, copy)),
        records=(Line("staff", text, name, ident),),
        schedule=(_autoclose(ident, now, policy),),
    )
