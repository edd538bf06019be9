"""Check-ins: a scheduled "how is it going?" with quick-answer buttons, and its answer."""

from __future__ import annotations

from datetime import datetime

from bot.flows.common import buttons_row, engage, reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.model import ClearButtons, Customer, Decision, LogEntry, OutMessage

__all__ = ["ANSWERS", "answer", "ask", "is_pending"]

ANSWERS = ("great", "okay", "bad")


def ask(customer: Customer, now: datetime) -> Decision:
    """Send the check-in question, unless the customer opted out or cannot be reached."""
    if not customer.proactive_allowed:
        reason = "opted out" if customer.opted_out else "unreachable"
        return Decision(
            customer=customer,
            log=(LogEntry("checkin_skipped", customer.stage, customer.stage, reason),),
        )
    previous = customer.question_id if customer.dialogue != DialogueState.IDLE else None
    question = customer.question_id + 1
    customer = customer.evolve(
        question_id=question,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ASK_CHECKIN),
    )
    buttons = buttons_row(question, *((f"button_checkin_{value}", value) for value in ANSWERS))
    message = reply(customer, "checkin")
    return Decision(
        customer=customer,
        messages=(
            *(() if previous is None else (ClearButtons(previous),)),
            OutMessage(message.template, message.context, buttons=(buttons,), question_id=question),
        ),
        log=(LogEntry("checkin_sent", customer.stage, customer.stage),),
    )


def is_pending(customer: Customer) -> bool:
    return customer.dialogue == DialogueState.AWAITING_CHECKIN


def answer(customer: Customer, value: str, comment: str | None = None) -> Decision:
    """The customer answered the check-in (a button value, or free text as `comment`)."""
    question = customer.question_id
    customer = customer.evolve(dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ANSWER))
    engaged = engage(customer)
    customer = engaged.customer
    detail = value if comment is None else f"{value}: {comment}"
    return engaged.then(
        Decision(
            customer=customer,
            messages=(
                ClearButtons(question),
                reply(customer, "checkin_thanks", answer=value),
            ),
            log=(LogEntry("checkin_answered", customer.stage, customer.stage, detail),),
        )
    )
