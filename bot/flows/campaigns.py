"""Campaigns: one template sent to a segment, now or at a time, optionally as a short sequence
(lead nurture: day 0, 7 and 21), each message decided here for one customer at a time.

A campaign job carries the step and what the customer looked like when the campaign started
(`purchases`, `start`). For each step, by rule and in this order:

- the campaign was cancelled: nothing more (skipped: cancelled); paused: asked again later;
- the customer bought since the start of a sequence that stops on purchase: they leave it;
- /stop: skipped (stopped), and no later step; the bot is blocked: skipped (blocked), and no
  later step; a complaint is open: skipped (case_open), the next step still comes;
- quiet hours in the customer's time zone: deferred to their end (counted once per message);
- the contact budget is spent: skipped (budget) — a campaign is not worth waiting for;
- otherwise sent, and counted against the budget.

After a step is sent or skipped, the next one is planned at `start + its day` (or now, when a
deferral already took it past that).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from bot.flows import contact
from bot.flows.common import reply
from bot.flows.model import (
    CampaignInfo,
    CampaignStep,
    Customer,
    Decision,
    JobKind,
    Json,
    LogEntry,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy

__all__ = ["PAUSED_RECHECK", "job_payload", "provided_variables", "send", "subject"]

PAUSED_RECHECK = timedelta(hours=1)
"""A paused campaign's job that was already due is looked at again this much later."""


def subject(campaign_id: int) -> str:
    """A customer has at most one live job per campaign (the next step)."""
    return f"campaign:{campaign_id}"


def job_payload(campaign_id: int, step: int, start: datetime, purchases: int) -> dict[str, Json]:
    return {
        "campaign": campaign_id,
        "step": step,
        "start": start.timestamp(),
        "purchases": purchases,
    }


def provided_variables() -> frozenset[str]:
    """What a campaign message provides to its template besides the customer's attributes."""
    return frozenset({"campaign", "segment", "segments", "step", "steps", "code"})


def send(
    customer: Customer,
    payload: Mapping[str, Json],
    campaign: CampaignInfo | None,
    now: datetime,
    policy: FlowPolicy,
) -> Decision:
    step = _int(payload.get("step"))
    campaign_id = _int(payload.get("campaign"))
    if campaign is None or campaign.status == "cancelled":
        return _outcome(customer, campaign_id, step, "skipped", "cancelled")
    if campaign.status != "running":
        again = dict(payload)
        return Decision(
            customer=customer,
            schedule=(_job(campaign.id, now + PAUSED_RECHECK, again),),
        )
    start_value = payload.get("start")
    start = datetime.fromtimestamp(
        float(start_value) if isinstance(start_value, int | float) else now.timestamp(),
        now.tzinfo,
    )
    if campaign.stop_on_purchase and customer.purchases > _int(payload.get("purchases")):
        return _outcome(customer, campaign.id, step, "left", "bought")
    if customer.opted_out:
        return _outcome(customer, campaign.id, step, "skipped", "stopped")
    if customer.unreachable:
        return _outcome(customer, campaign.id, step, "skipped", "blocked")
    if customer.case_id is not None:
        return _next(
            _outcome(customer, campaign.id, step, "skipped", "case_open"),
            campaign,
            payload,
            start,
            now,
        )
    verdict = contact.check(customer, now, policy.contact)
    if verdict.reason == "quiet_hours" and verdict.until is not None:
        deferred = _outcome(customer, campaign.id, step, "deferred", "quiet_hours")
        return deferred.then(
            Decision(customer=customer, schedule=(_job(campaign.id, verdict.until, dict(payload)),))
        )
    if verdict.reason == "budget":
        skipped = _outcome(customer, campaign.id, step, "skipped", "budget")
        return _next(skipped, campaign, payload, start, now)
    customer = contact.spend(customer, now, policy.contact)
    message = reply(
        customer,
        campaign.template,
        campaign=campaign.name,
        segment=campaign.segment,
        segments=[campaign.segment],
        step=step + 1,
        steps=len(campaign.steps),
        code=customer.referral_code or "",
    )
    sent = Decision(
        customer=customer,
        messages=(message,),
        records=(CampaignStep(campaign.id, step, "sent"),),
        log=(
            LogEntry(
                "campaign_sent", customer.stage, customer.stage, f"{campaign.name} #{step + 1}"
            ),
        ),
    )
    return _next(sent, campaign, payload, start, now)


def _next(
    done: Decision,
    campaign: CampaignInfo,
    payload: Mapping[str, Json],
    start: datetime,
    now: datetime,
) -> Decision:
    step = _int(payload.get("step")) + 1
    if step >= len(campaign.steps):
        return done
    due = max(now, start + timedelta(days=campaign.steps[step]))
    following = {**payload, "step": step}
    return done.then(
        Decision(
            customer=done.customer,
            schedule=(_job(campaign.id, due, following),),
            records=(CampaignStep(campaign.id, step, "planned"),),
        )
    )


def _outcome(
    customer: Customer,
    campaign_id: int,
    step: int,
    status: Literal["deferred", "skipped", "left"],
    reason: str,
) -> Decision:
    return Decision(
        customer=customer,
        records=(CampaignStep(campaign_id, step, status, reason),),
        log=(
            LogEntry(f"campaign_{status}", customer.stage, customer.stage, f"#{step + 1} {reason}"),
        ),
    )


def _job(campaign_id: int, due: datetime, payload: dict[str, Json]) -> ScheduleJob:
    return ScheduleJob(JobKind.CAMPAIGN, due, payload, subject=subject(campaign_id))


def _int(value: Json) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
