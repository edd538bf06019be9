"""Onboarding: `/start` (capture and consent), `/stop` and opting back in, `/help`, `/status`."""

from __future__ import annotations

import re
from datetime import datetime

from bot.flows.common import reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.model import (
    CancelJobs,
    ClearButtons,
    Customer,
    Decision,
    JobKind,
    Json,
    LogEntry,
    Outbound,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy

__all__ = ["capture", "help_", "opt_out", "restart", "status"]

# Telegram deep-link payloads are at most 64 characters of [A-Za-z0-9_-]; anything else that
# reaches us (a hand-typed `/start <junk>`) is kept out of the customer's recorded source.
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_PROACTIVE = frozenset({JobKind.CHECKIN})


def clean_payload(payload: str | None) -> str | None:
    if payload is None:
        return None
    payload = payload.strip()
    return payload if _PAYLOAD.match(payload) else None


def capture(customer: Customer, payload: str | None, now: datetime, policy: FlowPolicy) -> Decision:
    """A new customer started the bot: record where they came from, welcome, plan a check-in."""
    source = clean_payload(payload)
    customer = customer.evolve(source=source)
    return Decision(
        customer=customer,
        messages=(reply(customer, "welcome"),),
        schedule=(ScheduleJob(JobKind.CHECKIN, now + policy.checkin_delay),),
        log=(LogEntry("captured", None, customer.stage, source),),
    )


def restart(customer: Customer, payload: str | None, now: datetime, policy: FlowPolicy) -> Decision:
    """`/start` from a known customer: opt back in if they had stopped, else just greet."""
    detail = clean_payload(payload)
    if customer.opted_out:
        customer = customer.evolve(opted_out=False)
        return Decision(
            customer=customer,
            messages=(reply(customer, "welcome_back", opted_in=True),),
            schedule=(ScheduleJob(JobKind.CHECKIN, now + policy.checkin_delay),),
            log=(LogEntry("opted_in", customer.stage, customer.stage, detail),),
        )
    return Decision(
        customer=customer,
        messages=(reply(customer, "welcome_back", opted_in=False),),
        log=(LogEntry("restarted", customer.stage, customer.stage, detail),),
    )


def opt_out(customer: Customer) -> Decision:
    """`/stop`: no more proactive messages until the customer sends `/start` again."""
    messages: tuple[Outbound, ...] = ()
    if customer.dialogue != DialogueState.IDLE:
        messages = (ClearButtons(customer.question_id),)
    already = customer.opted_out
    customer = customer.evolve(
        opted_out=True, dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.RESET)
    )
    return Decision(
        customer=customer,
        messages=(*messages, reply(customer, "stopped", already=already)),
        cancel=() if already else (CancelJobs(_PROACTIVE),),
        log=() if already else (LogEntry("opted_out", customer.stage, customer.stage),),
    )


def help_(customer: Customer) -> Decision:
    return Decision(customer=customer, messages=(reply(customer, "help"),))


def status(customer: Customer) -> Decision:
    """The customer's own view of their journey (stage, flags and history)."""
    history: list[Json] = [
        {
            "at": entry.at.strftime("%Y-%m-%d %H:%M"),
            "event": entry.event,
            "from_stage": entry.from_stage,
            "to_stage": entry.to_stage,
            "detail": entry.detail,
        }
        for entry in customer.history
    ]
    message = reply(
        customer,
        "status",
        stage=customer.stage.value,
        level=customer.stage.level,
        dialogue=customer.dialogue.value,
        opted_out=customer.opted_out,
        source=customer.source,
        since=customer.created_at.strftime("%Y-%m-%d"),
        history=history,
    )
    return Decision(customer=customer, messages=(message,))
