"""The customer's long-term position on the escalator (levels 3-7 of the seed article).

Stages only move up. Levels 1-2 (awareness, the second click) happen before the bot; the bot
records them as the customer's *source* (the `/start` payload).
"""

from __future__ import annotations

from enum import StrEnum

from bot.flows.statemachine import TransitionTable

__all__ = ["STAGES", "Stage", "StageTrigger"]


class Stage(StrEnum):
    CAPTURED = "captured"
    ENGAGED = "engaged"
    CUSTOMER = "customer"
    ADVOCATE = "advocate"
    AMBASSADOR = "ambassador"

    @property
    def level(self) -> int:
        """The escalator level (3 Capture ... 7 Recognition)."""
        return _LEVELS[self]


_LEVELS = {
    Stage.CAPTURED: 3,
    Stage.ENGAGED: 4,
    Stage.CUSTOMER: 5,
    Stage.ADVOCATE: 6,
    Stage.AMBASSADOR: 7,
}


class StageTrigger:
    FIRST_ANSWER = "first_answer"
    PURCHASE = "purchase"
    REFERRAL = "referral"
    RECOGNITION = "recognition"


STAGES: TransitionTable[Stage] = TransitionTable(
    name="stages",
    states=Stage,
    initial=Stage.CAPTURED,
    final=frozenset({Stage.AMBASSADOR}),
    edges={
        (Stage.CAPTURED, StageTrigger.FIRST_ANSWER): Stage.ENGAGED,
        (Stage.CAPTURED, StageTrigger.PURCHASE): Stage.CUSTOMER,
        # Bringing a friend is engagement enough: such a customer is an advocate already.
        (Stage.CAPTURED, StageTrigger.REFERRAL): Stage.ADVOCATE,
        (Stage.ENGAGED, StageTrigger.PURCHASE): Stage.CUSTOMER,
        (Stage.ENGAGED, StageTrigger.REFERRAL): Stage.ADVOCATE,
        (Stage.CUSTOMER, StageTrigger.REFERRAL): Stage.ADVOCATE,
        (Stage.CUSTOMER, StageTrigger.RECOGNITION): Stage.AMBASSADOR,
        (Stage.ADVOCATE, StageTrigger.RECOGNITION): Stage.AMBASSADOR,
    },
)
