"""Escalation cases: an unhappy customer is handed to a person, and followed up after the fix.

While a case is open, automated proactive messages pause and whatever the customer writes goes
to the staff desk instead of being answered by the bot. Staff claim, reply (signed with their
name), add internal notes and resolve; a resolved case brings a recovery question a day later
("did we sort it out?"): yes leads to a fresh rating question after the throttle, no reopens it.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows.common import buttons_row, reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.invariants import latest_case
from bot.flows.model import (
    CancelJobs,
    CaseChanged,
    CaseOpened,
    ClearButtons,
    Customer,
    Decision,
    JobKind,
    Json,
    Line,
    LogEntry,
    OutMessage,
    ScheduleJob,
    StaffAction,
)
from bot.flows.policy import FlowPolicy

__all__ = [
    "ask_recovery",
    "delivery_failed",
    "end_conversation",
    "fate",
    "open_case",
    "recovery_answer",
    "relay",
    "sla_due",
    "staff_action",
    "staff_message",
]

RECOVERY_ANSWERS = ("yes", "no")

_CASE_JOBS = CancelJobs(frozenset({JobKind.SLA, JobKind.RECOVERY}))
"""Jobs about the customer's case: a customer has at most one case at a time, so when the
case changes (opened, claimed, closed, reopened) what was planned for it is cancelled and
planned again as needed (cancelling runs before scheduling in one commit)."""
_REMINDERS = CancelJobs(frozenset({JobKind.SLA}))


def staff_message(template: str, case_id: str, **context: str | None) -> OutMessage:
    """A note for the staff desk about a case; the desk adds the case's details."""
    return OutMessage(template, {"case_id": case_id, **context}, audience="staff")


def end_conversation(customer: Customer, by: str | None, outcome: str) -> Decision:
    """Close the customer's open conversation (`outcome`: closed, idle, escalated)."""
    ident = customer.conversation_id
    if ident is None:
        return Decision(customer=customer)
    customer = customer.evolve(conversation_id=None)
    return Decision(
        customer=customer,
        messages=(
            staff_message(
                "staff_conversation_updated", ident, change=outcome, staff_name=by or None
            ),
        ),
        cancel=(CancelJobs(frozenset({JobKind.INBOX_CLOSE})),),
        records=(CaseChanged(ident, "resolved", by or outcome),),
        log=(LogEntry(f"conversation_{outcome}", customer.stage, customer.stage, ident),),
    )


def open_case(
    customer: Customer,
    reason: str,
    trigger: str | None,
    now: datetime,
    policy: FlowPolicy,
    *,
    notice: OutMessage | None = None,
    silent: bool = False,
) -> Decision:
    """Hand the customer to a person: open a case, tell staff, tell the customer (`notice`, by
    default that a person will answer; nothing when `silent`). An open conversation becomes
    part of the case (it is closed as escalated)."""
    if customer.case_id is not None:
        return relay(customer, trigger or reason, policy)
    if customer.conversation_id is not None:
        ended = end_conversation(customer, None, "escalated")
        return ended.then(open_case(ended.customer, reason, trigger, now, policy))
    number = customer.cases_opened + 1
    case_id = f"{customer.id}#{number}"
    pending = customer.dialogue in {
        DialogueState.AWAITING_CHECKIN,
        DialogueState.AWAITING_RATING,
        DialogueState.AWAITING_RECOVERY,
    }
    customer = customer.evolve(
        case_id=case_id,
        case_claimed_by=None,
        cases_opened=number,
        pending_score=None,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ESCALATE),
    )
    clipped = None if trigger is None else trigger[: policy.max_text_length]
    return Decision(
        customer=customer,
        messages=(
            *((ClearButtons(customer.question_id),) if pending else ()),
            *(() if silent else (notice or reply(customer, "escalated"),)),
            staff_message("staff_case_opened", case_id, reason=reason),
        ),
        schedule=_sla(case_id, 1, now, policy),
        # a question about an earlier case is moot now; reminders belong to this case only
        cancel=(_CASE_JOBS,),
        records=(CaseOpened(case_id, reason, clipped),),
        log=(LogEntry("case_opened", customer.stage, customer.stage, f"{case_id}: {reason}"),),
    )


def _sla(case_id: str, reminder: int, now: datetime, policy: FlowPolicy) -> tuple[ScheduleJob, ...]:
    if policy.escalation_sla is None or reminder > policy.sla_reminders:
        return ()
    due = now + policy.escalation_sla
    payload: dict[str, Json] = {"case_id": case_id, "reminder": reminder}
    return (ScheduleJob(JobKind.SLA, due, payload, subject=case_id),)


def sla_due(
    customer: Customer, case_id: str, reminder: int, now: datetime, policy: FlowPolicy
) -> Decision:
    """Nobody claimed the case in time: remind staff (and the on-call person), then again."""
    if customer.case_id != case_id or customer.case_claimed_by is not None:
        return Decision(customer=customer)
    return Decision(
        customer=customer,
        messages=(staff_message("staff_sla_reminder", case_id, reminder=str(reminder)),),
        schedule=_sla(case_id, reminder + 1, now, policy),
        log=(
            LogEntry("case_sla_reminder", customer.stage, customer.stage, f"{case_id} #{reminder}"),
        ),
    )


def delivery_failed(
    customer: Customer, reason: str, unreachable: bool, ref: str | None = None
) -> Decision:
    """A message to the customer was refused for good; staff handling their case or
    conversation must know (and the staff message that failed, `ref`, is marked)."""
    log: tuple[LogEntry, ...] = ()
    if unreachable and not customer.unreachable:
        customer = customer.evolve(unreachable=True)
        log = (LogEntry("unreachable", customer.stage, customer.stage, reason[:200]),)
    messages: tuple[OutMessage, ...] = ()
    desk = customer.case_id or customer.conversation_id
    if desk is not None:
        messages = (staff_message("staff_delivery_failed", desk, reason=reason[:500], ref=ref),)
    return Decision(customer=customer, messages=messages, log=log)


def relay(customer: Customer, text: str, policy: FlowPolicy) -> Decision:
    """While a case is open, the customer's message goes to staff, not to the bot."""
    assert customer.case_id is not None
    clipped = text[: policy.max_text_length]
    return Decision(
        customer=customer,
        messages=(staff_message("staff_customer_message", customer.case_id, text=clipped),),
        records=(Line("customer", clipped, customer.first_name, customer.case_id),),
    )


def staff_action(
    customer: Customer, action: StaffAction, now: datetime, policy: FlowPolicy
) -> Decision:
    if customer.case_id != action.case_id:
        return Decision(
            customer=customer,
            messages=(
                staff_message(
                    "staff_error", action.case_id, problem="not_open", action=action.action
                ),
            ),
        )
    case_id = action.case_id
    name = action.staff_name
    match action.action:
        case "claim":
            return _claim(customer, case_id, name)
        case "reply" | "message":
            copy = action.action == "message"
            return _staff_reply(customer, case_id, name, action.text, policy, action.ref, copy)
        case "note":
            text = action.text[: policy.max_text_length]
            saved = staff_message("staff_note_saved", case_id, staff_name=name, ref=action.ref)
            return Decision(
                customer=customer,
                messages=(saved,),
                records=(Line("note", text, name, case_id),),
            )
        case "resolve" | "handback" | "close":
            return _close(customer, case_id, name, now, policy, recover=action.action == "resolve")
        case "escalate":  # it is a case already
            return Decision(customer=customer)
    raise AssertionError(action.action)  # pragma: no cover


def _claim(customer: Customer, case_id: str, name: str) -> Decision:
    return Decision(
        customer=customer.evolve(case_claimed_by=name),
        messages=(staff_message("staff_case_updated", case_id, change="claimed", staff_name=name),),
        cancel=(_REMINDERS,),  # somebody has it: nobody needs reminding
        records=(CaseChanged(case_id, "claimed", name),),
        log=(LogEntry("case_claimed", customer.stage, customer.stage, f"{case_id} by {name}"),),
    )


def _staff_reply(
    customer: Customer,
    case_id: str,
    name: str,
    text: str,
    policy: FlowPolicy,
    ref: str | None = None,
    copy: bool = False,
) -> Decision:
    text = text.strip()[: policy.max_text_length]
    if not text:
        return Decision(
            customer=customer,
            messages=(
                staff_message("staff_error", case_id, problem="empty_reply", action="reply"),
            ),
        )
    claimed = Decision(customer=customer)
    if customer.case_claimed_by is None:
        claimed = _claim(customer, case_id, name)  # answering a case is taking it
    to_customer = reply(claimed.customer, "staff_reply", staff_name=name, text=text, ref=ref)
    return claimed.then(
        Decision(
            customer=claimed.customer,
            messages=(to_customer, *fate(case_id, name, text, ref, copy)),
            records=(Line("staff", text, name, case_id),),
        )
    )


def fate(ident: str, name: str, text: str, ref: str | None, copy: bool) -> tuple[OutMessage, ...]:
    """Staff see what became of their message: a reaction on it in the thread (`ref`), or,
    written elsewhere (a form, a command), a copy of it in the thread."""
    if ref is not None:
        return (staff_message("staff_reply_sent", ident, ref=ref),)
    if copy:
        return (staff_message("staff_reply_copy", ident, staff_name=name, text=text),)
    return ()


def _close(
    customer: Customer,
    case_id: str,
    name: str,
    now: datetime,
    policy: FlowPolicy,
    *,
    recover: bool,
) -> Decision:
    customer = customer.evolve(
        case_id=None,
        case_claimed_by=None,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.RESOLVE),
    )
    event = "case_resolved" if recover else "case_handed_back"
    return Decision(
        customer=customer,
        messages=(
            staff_message("staff_case_updated", case_id, change="resolved", staff_name=name),
        ),
        cancel=(_CASE_JOBS,),
        schedule=(
            (
                ScheduleJob(
                    JobKind.RECOVERY,
                    now + policy.recovery_delay,
                    {"case_id": case_id},
                    subject=case_id,
                ),
            )
            if recover
            else ()
        ),
        records=(CaseChanged(case_id, "resolved", name),),
        log=(LogEntry(event, customer.stage, customer.stage, f"{case_id} by {name}"),),
    )


def ask_recovery(customer: Customer, case_id: str) -> Decision:
    """A day after the fix: did we sort it out? Only about the customer's latest case, so the
    answer (recorded against the latest case) is always about the case that was asked about."""
    if (
        not customer.proactive_allowed
        or customer.case_id is not None
        or case_id != latest_case(customer)
    ):
        return Decision(
            customer=customer,
            log=(LogEntry("recovery_skipped", customer.stage, customer.stage, case_id),),
        )
    pending = customer.dialogue != DialogueState.IDLE
    question = customer.question_id + 1
    customer = customer.evolve(
        question_id=question,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ASK_RECOVERY),
    )
    message = reply(customer, "recovery_question")
    buttons = buttons_row(question, ("button_yes", "yes"), ("button_no", "no"))
    return Decision(
        customer=customer,
        messages=(
            *((ClearButtons(question - 1),) if pending else ()),
            OutMessage(message.template, message.context, buttons=(buttons,), question_id=question),
        ),
        log=(LogEntry("recovery_asked", customer.stage, customer.stage, case_id),),
    )


def recovery_answer(
    customer: Customer, sorted_out: bool, now: datetime, policy: FlowPolicy, comment: str | None
) -> Decision:
    question = customer.question_id
    # the question was asked about the latest case (`ask_recovery`), and a newer case would
    # have ended the wait for this answer (`open_case` leaves AWAITING_RECOVERY)
    last_case = latest_case(customer) or f"{customer.id}#{customer.cases_opened}"
    if sorted_out:
        customer = customer.evolve(
            dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ANSWER)
        )
        survey_at = now
        if customer.last_survey_at is not None:
            survey_at = max(now, customer.last_survey_at + policy.survey_throttle)
        return Decision(
            customer=customer,
            messages=(ClearButtons(question), reply(customer, "recovery_thanks")),
            schedule=(ScheduleJob(JobKind.SURVEY, survey_at),),
            log=(LogEntry("recovery_confirmed", customer.stage, customer.stage, last_case),),
        )
    customer = customer.evolve(
        case_id=last_case,
        case_claimed_by=None,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ESCALATE),
    )
    text = (comment or "")[: policy.max_text_length]
    return Decision(
        customer=customer,
        messages=(
            ClearButtons(question),
            reply(customer, "case_reopened"),
            staff_message("staff_case_reopened", last_case, text=text or None),
        ),
        schedule=_sla(last_case, 1, now, policy),
        cancel=(_CASE_JOBS,),
        records=(
            CaseChanged(last_case, "open"),
            *((Line("customer", text, customer.first_name, last_case),) if text else ()),
        ),
        log=(LogEntry("case_reopened", customer.stage, customer.stage, last_case),),
    )
