"""Onboarding: `/start` (capture and consent), `/stop` and opting back in, `/help`, `/status`."""

from __future__ import annotations

import re
from datetime import datetime

from bot.flows import referral
from bot.flows.common import reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.model import (
    Button,
    CancelJobs,
    ClearButtons,
    Customer,
    Decision,
    JobKind,
    Json,
    LogEntry,
    Outbound,
    OutMessage,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy

__all__ = ["HUMAN", "capture", "help_", "opt_out", "restart", "status"]

# Telegram deep-link payloads are at most 64 characters of [A-Za-z0-9_-]; anything else that
# reaches us (a hand-typed `/start <junk>`) is kept out of the customer's recorded source.
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_PROACTIVE = frozenset({JobKind.CHECKIN})


def clean_payload(payload: str | None) -> str | None:
    if payload is None:
        return None
    payload = payload.strip()
    return payload if _PAYLOAD.match(payload) else None


def capture(
    customer: Customer,
    payload: str | None,
    now: datetime,
    policy: FlowPolicy,
    referrer: Customer | None = None,
) -> Decision:
    """A new customer started the bot: record where they came from, welcome, plan a check-in.

    A referral code attributes them to the referrer (once); a campaign name is their source.
    """
    code = referral.code_for(customer.id, policy.referral_secret)
    payload = None if payload is None else payload.strip()
    referred = referral.is_referral_payload(payload)
    source = None if referred else clean_payload(payload)
    customer = customer.evolve(source=source, referral_code=code)
    decision = Decision(
        customer=customer, log=(LogEntry("captured", None, customer.stage, source),)
    )
    if referred:
        assert payload is not None
        decision = decision.then(referral.attribute(customer, payload, referrer, now))
    return decision.then(
        Decision(
            customer=decision.customer,
            messages=(reply(decision.customer, "welcome"),),
            schedule=(ScheduleJob(JobKind.CHECKIN, now + policy.checkin_delay),),
        )
    )


def restart(customer: Customer, payload: str | None, now: datetime, policy: FlowPolicy) -> Decision:
    """`/start` from a known customer: opt back in if they had stopped, else just greet."""
    detail = clean_payload(payload)
    if payload is not None and referral.is_referral_payload(payload.strip()):
        refusal = referral.refused(customer, payload.strip(), "already a customer")
        return refusal.then(restart(refusal.customer, None, now, policy))
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


HUMAN = "human"
"""The data of the "Talk to a person" button (not a question: it is never stale)."""


def help_(customer: Customer, shop: bool = False) -> Decision:
    """`/help`; `shop`: the shop sends its orders, so `/link` is worth mentioning."""
    message = reply(customer, "help", shop=shop)
    talk = (Button("button_human", HUMAN),)
    return Decision(
        customer=customer,
        messages=(OutMessage(message.template, message.context, buttons=(talk,)),),
    )


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
