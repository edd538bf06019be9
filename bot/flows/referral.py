"""Referrals: personal links, attribution of new customers, and telling the referrer.

A referral code is `ref-` followed by 12 characters keyed from the customer id with a secret,
so it is stable, fits a Telegram deep link, and cannot be guessed from the id. Campaign payloads
never start with `ref-`, so the two are told apart unambiguously. Attribution happens once, when
a new customer starts with a valid code; everything else is refused with the reason logged.
The referrer hears about it through a job of their own, so each customer's state is only ever
changed under their own lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta

from bot.flows import recognition
from bot.flows.common import advance_stage, reply
from bot.flows.model import (
    Customer,
    CustomerKey,
    Decision,
    JobKind,
    LogEntry,
    ReferralConverted,
    ReferralJoined,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy
from bot.flows.stages import StageTrigger

__all__ = [
    "PREFIX",
    "attribute",
    "code_for",
    "converted",
    "friend_converted",
    "friend_joined",
    "invite",
    "is_referral_payload",
    "refused",
]

PREFIX = "ref-"
_CODE = re.compile(r"^ref-[A-Za-z0-9_-]{12}$")


def code_for(customer_id: str, secret: bytes) -> str:
    digest = hmac.new(secret, customer_id.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).decode()[:12]


def is_referral_payload(payload: str | None) -> bool:
    return payload is not None and payload.startswith(PREFIX)


def invite(customer: Customer) -> Decision:
    """The customer's personal link and a ready-to-forward share text."""
    return Decision(
        customer=customer,
        messages=(reply(customer, "referral_invite", code=customer.referral_code or ""),),
        log=(LogEntry("referral_invited", customer.stage, customer.stage),),
    )


def refused(customer: Customer, payload: str, reason: str) -> Decision:
    return Decision(
        customer=customer,
        log=(
            LogEntry(
                "referral_refused", customer.stage, customer.stage, f"{reason}: {payload[:64]}"
            ),
        ),
    )


def attribute(
    customer: Customer, payload: str, referrer: Customer | None, now: datetime
) -> Decision:
    """A new customer started with a referral code: attribute them once, or refuse why."""
    if not _CODE.match(payload):
        return refused(customer, payload, "malformed code")
    if referrer is None:
        return refused(customer, payload, "unknown code")
    if referrer.id == customer.id:
        return refused(customer, payload, "self-referral")
    if customer.referred_by is not None:
        return refused(customer, payload, "already attributed")
    customer = customer.evolve(referred_by=referrer.id, source="referral")
    return Decision(
        customer=customer,
        schedule=(
            ScheduleJob(
                JobKind.REFERRAL_JOINED,
                now,
                {"friend": customer.first_name or ""},
                customer=referrer.key,
                subject=customer.id,
            ),
        ),
        records=(ReferralJoined(referrer.id),),
        log=(LogEntry("referred", customer.stage, customer.stage, f"by {referrer.id}"),),
    )


def converted(customer: Customer, now: datetime, delay: timedelta = timedelta(0)) -> Decision:
    """A referred customer's first purchase converts the referral; the referrer is told (and
    rewarded) after `delay`, so that a purchase reversed before then can withdraw it."""
    if customer.referred_by is None or customer.purchases != 1:
        return Decision(customer=customer)
    referrer = CustomerKey.parse(customer.referred_by)
    return Decision(
        customer=customer,
        schedule=(
            ScheduleJob(
                JobKind.REFERRAL_CONVERTED,
                now + delay,
                {"friend": customer.first_name or ""},
                customer=referrer,
                subject=customer.id,
            ),
        ),
        records=(ReferralConverted(),),
        log=(LogEntry("referral_converted", customer.stage, customer.stage),),
    )


def friend_joined(customer: Customer, friend: str, policy: FlowPolicy) -> Decision:
    customer = customer.evolve(referrals_joined=customer.referrals_joined + 1)
    told = Decision(
        customer=customer,
        messages=(reply(customer, "referral_joined", friend=friend),),
        log=(LogEntry("friend_joined", customer.stage, customer.stage, friend or None),),
    )
    if policy.advocate_on == "join":
        told = told.then(advance_stage(told.customer, StageTrigger.REFERRAL, "friend joined"))
    return told.then(recognition.evaluate(told.customer, policy))


def friend_converted(customer: Customer, friend: str, policy: FlowPolicy) -> Decision:
    customer = customer.evolve(referrals_converted=customer.referrals_converted + 1)
    told = Decision(
        customer=customer,
        messages=(reply(customer, "referral_converted", friend=friend),),
        log=(LogEntry("friend_converted", customer.stage, customer.stage, friend or None),),
    )
    told = told.then(advance_stage(told.customer, StageTrigger.REFERRAL, "friend bought"))
    return told.then(recognition.evaluate(told.customer, policy))
