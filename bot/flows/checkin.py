"""Check-ins: a scheduled "how is it going?" with quick-answer buttons, and where answers lead.

The first check-in follows capture; a purchase plans one a few days later, and customers who
bought get one periodically after that. A good answer leads to a satisfaction question (unless
one was asked recently); a bad one goes straight to a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.flows import contact, satisfaction
from bot.flows.common import buttons_row, engage, reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.escalation import open_case
from bot.flows.model import (
    ClearButtons,
    Customer,
    Decision,
    JobKind,
    Json,
    LogEntry,
    OutMessage,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy
from bot.flows.stages import Stage

__all__ = ["ANSWERS", "answer", "ask", "is_pending"]

ANSWERS = ("great", "okay", "bad")
_BOUGHT = {Stage.CUSTOMER, Stage.ADVOCATE, Stage.AMBASSADOR}


def ask(
    customer: Customer, payload: Mapping[str, Json], now: datetime, policy: FlowPolicy
) -> Decision:
    """Send the check-in, unless the customer opted out, cannot be reached or is with staff."""
    reason = str(payload.get("reason", "welcome"))
    follow_up: tuple[ScheduleJob, ...] = ()
    if customer.stage in _BOUGHT and not customer.opted_out:
        follow_up = (
            ScheduleJob(JobKind.CHECKIN, now + policy.periodic_checkin, {"reason": "periodic"}),
        )
    skip = _skip_reason(customer)
    if skip is not None:
        return Decision(
            customer=customer,
            schedule=follow_up,
            log=(LogEntry("checkin_skipped", customer.stage, customer.stage, skip),),
        )
    verdict = contact.check(customer, now, policy.contact)
    if verdict.until is not None:
        # Quiet hours or a spent budget: the check-in waits (its follow-up is planned when it
        # goes), rather than being lost.
        return Decision(
            customer=customer,
            schedule=(ScheduleJob(JobKind.CHECKIN, verdict.until, dict(payload)),),
            log=(
                LogEntry(
                    "checkin_deferred",
                    customer.stage,
                    customer.stage,
                    f"{verdict.reason} until {verdict.until:%Y-%m-%d %H:%M} UTC",
                ),
            ),
        )
    previous = customer.question_id if customer.dialogue != DialogueState.IDLE else None
    question = customer.question_id + 1
    customer = contact.spend(customer, now, policy.contact).evolve(
        question_id=question,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ASK_CHECKIN),
    )
    buttons = buttons_row(question, *((f"button_checkin_{value}", value) for value in ANSWERS))
    message = reply(customer, "checkin", reason=reason)
    return Decision(
        customer=customer,
        messages=(
            *(() if previous is None else (ClearButtons(previous),)),
            OutMessage(message.template, message.context, buttons=(buttons,), question_id=question),
        ),
        schedule=follow_up,
        log=(LogEntry("checkin_sent", customer.stage, customer.stage, reason),),
    )


def _skip_reason(customer: Customer) -> str | None:
    if customer.opted_out:
        return "opted out"
    if customer.unreachable:
        return "unreachable"
    if customer.case_id is not None:
        return "case open"
    return None


def is_pending(customer: Customer) -> bool:
    return customer.dialogue == DialogueState.AWAITING_CHECKIN


def answer(
    customer: Customer,
    value: str,
    now: datetime,
    policy: FlowPolicy,
    comment: str | None = None,
) -> Decision:
    """The customer answered (a button value, or free text as `comment`)."""
    question = customer.question_id
    engaged = engage(customer)
    customer = engaged.customer.evolve(
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ANSWER)
    )
    detail = value if comment is None else f"{value}: {comment[:200]}"
    logged = engaged.then(
        Decision(
            customer=customer,
            messages=(ClearButtons(question),),
            log=(LogEntry("checkin_answered", customer.stage, customer.stage, detail),),
        )
    )
    trigger = policy.trigger_in(comment) if comment else None
    if value == "bad" or trigger is not None:
        reason = "negative check-in" if value == "bad" else f"trigger word “{trigger}”"
        return logged.then(open_case(customer, reason, comment, now, policy))
    thanks = Decision(
        customer=customer, messages=(reply(customer, "checkin_thanks", answer=value),)
    )
    if value in {"great", "okay"} and satisfaction.due(customer, now, policy):
        thanks = thanks.then(satisfaction.ask(customer, now, policy))
    return logged.then(thanks)
