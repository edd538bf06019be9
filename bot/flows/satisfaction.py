"""Satisfaction questions: NPS (0-10) or CSAT (1-5) as buttons, then a follow-up by score group.

A typed number counts as if its button was pressed; anything else is asked again, at most
`max_reasks` times, then the question is dropped. Promoters are asked what they love and then
invited to refer; passives what would make it a 10; detractors what went wrong, and then a
person takes over (an escalation case). Nobody is asked again within the throttle window.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows import recognition, referral
from bot.flows.common import reply
from bot.flows.dialogue import DIALOGUE, DialogueState, DialogueTrigger
from bot.flows.escalation import open_case
from bot.flows.model import (
    Button,
    ClearButtons,
    Customer,
    Decision,
    LogEntry,
    OutMessage,
    ScoreComment,
    ScoreRow,
)
from bot.flows.policy import FlowPolicy

__all__ = ["ask", "comment", "due", "parse_score", "rate", "unusable_answer"]


def due(customer: Customer, now: datetime, policy: FlowPolicy) -> bool:
    """May the customer be asked for a rating now (outside the throttle window)?"""
    last = customer.last_survey_at
    return last is None or now - last >= policy.survey_throttle


def ask(customer: Customer, now: datetime, policy: FlowPolicy) -> Decision:
    pending = customer.dialogue not in {DialogueState.IDLE, DialogueState.WITH_STAFF}
    question = customer.question_id + 1
    customer = customer.evolve(
        question_id=question,
        reasks=0,
        last_survey_at=now,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ASK_RATING),
    )
    scores = list(policy.scale_range)
    rows = (
        [scores] if len(scores) <= 5 else [scores[: len(scores) // 2], scores[len(scores) // 2 :]]
    )
    buttons = tuple(
        tuple(Button("button_score", f"{question}:{n}", {"score": n}) for n in row) for row in rows
    )
    message = reply(customer, f"{policy.survey_scale}_question")
    return Decision(
        customer=customer,
        messages=(
            *((ClearButtons(question - 1),) if pending else ()),
            OutMessage(message.template, message.context, buttons=buttons, question_id=question),
        ),
        log=(LogEntry("survey_sent", customer.stage, customer.stage, policy.survey_scale),),
    )


def parse_score(text: str, policy: FlowPolicy) -> int | None:
    cleaned = text.strip()
    if cleaned.isdigit() and int(cleaned) in policy.scale_range:
        return int(cleaned)
    return None


def rate(customer: Customer, score: int, policy: FlowPolicy) -> Decision:
    """Record the score and ask the follow-up question of its group."""
    group = policy.score_group(score)
    question = customer.question_id
    customer = customer.evolve(
        promoter_streak=customer.promoter_streak + 1 if group == "promoter" else 0,
        pending_score=score,
        question_id=question + 1,
        dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.RATED),
    )
    follow_up = reply(customer, f"followup_{group}", score=score)
    skip = ((Button("button_skip", f"{question + 1}:skip"),),)
    rated = Decision(
        customer=customer,
        messages=(
            ClearButtons(question),
            OutMessage(
                follow_up.template, follow_up.context, buttons=skip, question_id=question + 1
            ),
        ),
        records=(ScoreRow(policy.survey_scale, score),),
        log=(
            LogEntry(
                "rated", customer.stage, customer.stage, f"{policy.survey_scale} {score} {group}"
            ),
        ),
    )
    return rated.then(recognition.evaluate(customer, policy))


def unusable_answer(customer: Customer, policy: FlowPolicy) -> Decision:
    """Not a score: ask again politely, or give up after `max_reasks`."""
    low, high = policy.scale_range[0], policy.scale_range[-1]
    if customer.reasks < policy.max_reasks:
        customer = customer.evolve(reasks=customer.reasks + 1)
        return Decision(
            customer=customer, messages=(reply(customer, "rating_reask", low=low, high=high),)
        )
    question = customer.question_id
    customer = customer.evolve(
        reasks=0, dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.DROP)
    )
    return Decision(
        customer=customer,
        messages=(ClearButtons(question), reply(customer, "rating_dropped")),
        log=(LogEntry("survey_dropped", customer.stage, customer.stage),),
    )


def comment(customer: Customer, text: str | None, now: datetime, policy: FlowPolicy) -> Decision:
    """The follow-up answer (or a skip): thank, invite to refer, or hand to a person."""
    score = customer.pending_score
    assert score is not None
    group = policy.score_group(score)
    question = customer.question_id
    customer = customer.evolve(pending_score=None)
    records = () if text is None else (ScoreComment(text[: policy.max_text_length]),)
    if group == "detractor":
        opened = open_case(customer, f"{policy.survey_scale} score {score}", text, now, policy)
        return Decision(
            customer=customer, messages=(ClearButtons(question),), records=records
        ).then(opened)
    customer = customer.evolve(dialogue=DIALOGUE.next(customer.dialogue, DialogueTrigger.ANSWER))
    thanked = Decision(
        customer=customer,
        messages=(ClearButtons(question), reply(customer, "comment_thanks", group=group)),
        records=records,
        log=(LogEntry("commented" if text else "comment_skipped", customer.stage, customer.stage),),
    )
    if group == "promoter":  # a happy customer: make recommending easy, right now
        thanked = thanked.then(referral.invite(customer))
    return thanked
