"""Recognition (escalator level 7): badges awarded once when a rule's condition is met.

An award is a record and a message in the same decision, so it is stored once and announced
once however often its condition is evaluated, and a restart mid-announcement neither loses nor
repeats it (the outbox delivers what was committed).
"""

from __future__ import annotations

from bot.flows.common import advance_stage, reply
from bot.flows.model import BadgeAwarded, Customer, Decision, LogEntry
from bot.flows.policy import FlowPolicy, Rule
from bot.flows.stages import StageTrigger

__all__ = ["award", "evaluate"]


def _metric(customer: Customer, rule: Rule) -> int:
    match rule.metric:
        case "converted_referrals":
            return customer.referrals_converted
        case "joined_referrals":
            return customer.referrals_joined
        case "promoter_streak":
            return customer.promoter_streak
    return 0


def evaluate(customer: Customer, policy: FlowPolicy) -> Decision:
    """Award every threshold rule the customer now meets and does not yet hold."""
    decision = Decision(customer=customer)
    for rule in policy.recognition_rules:
        if rule.metric is None or rule.badge in decision.customer.badges:
            continue
        if _metric(decision.customer, rule) >= rule.at_least:
            decision = decision.then(award(decision.customer, rule.badge, rule))
    return decision


def award(customer: Customer, badge: str, rule: Rule) -> Decision:
    if badge in customer.badges:
        return Decision(customer=customer)
    customer = customer.evolve(badges=(*customer.badges, badge))
    decision = Decision(
        customer=customer,
        messages=(reply(customer, rule.template, badge=badge),),
        records=(BadgeAwarded(badge),),
        log=(LogEntry("badge_awarded", customer.stage, customer.stage, badge),),
    )
    if rule.stage == "ambassador":
        decision = decision.then(advance_stage(customer, StageTrigger.RECOGNITION, badge))
    return decision
