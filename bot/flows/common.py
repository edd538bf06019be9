"""Small decisions shared by several flows: capture, engagement, stage changes, buttons."""

from __future__ import annotations

from datetime import datetime

from bot.flows.dialogue import DialogueState
from bot.flows.model import (
    Button,
    Customer,
    CustomerKey,
    Decision,
    Json,
    LogEntry,
    OutMessage,
    Profile,
)
from bot.flows.stages import STAGES, Stage, StageTrigger

__all__ = [
    "advance_stage",
    "attributes",
    "button_data",
    "buttons_row",
    "engage",
    "new_customer",
    "parse_button_data",
    "reply",
    "with_profile",
]


def new_customer(key: CustomerKey, profile: Profile | None, now: datetime) -> Customer:
    profile = profile or Profile()
    return Customer(
        key=key,
        stage=STAGES.initial,
        dialogue=DialogueState.IDLE,
        created_at=now,
        updated_at=now,
        first_name=profile.first_name,
        language=profile.language,
        username=profile.username,
        last_contact_at=now,
    )


def with_profile(customer: Customer, profile: Profile | None) -> Customer:
    """Keep the name and language the platform last told us (a customer may change them)."""
    if profile is None:
        return customer
    return customer.evolve(
        first_name=profile.first_name or customer.first_name,
        language=profile.language or customer.language,
        username=profile.username or customer.username,
    )


def advance_stage(customer: Customer, trigger: str, detail: str | None = None) -> Decision:
    """Move up the escalator if `trigger` applies at the current stage; log the change."""
    target = STAGES.next_or_same(customer.stage, trigger)
    if target == customer.stage:
        return Decision(customer=customer)
    return Decision(
        customer=customer.evolve(stage=target),
        log=(LogEntry(trigger, customer.stage, target, detail),),
    )


def engage(customer: Customer) -> Decision:
    """The customer answered the bot: a captured customer becomes engaged."""
    if customer.stage != Stage.CAPTURED:
        return Decision(customer=customer)
    return advance_stage(customer, StageTrigger.FIRST_ANSWER)


def attributes(customer: Customer) -> dict[str, Json]:
    """What every customer message's template may use about the customer (declared in the
    catalogue's `[_common.customer]`), so an admin can write for a stage, a source, a badge."""
    return {
        "first_name": customer.first_name or "",
        "stage": customer.stage.value,
        "source": customer.source,
        "language": customer.language,
        "badges": list(customer.badges),
        "purchases": customer.purchases,
        "referrals": customer.referrals_joined,
        "segments": [],
    }


def reply(customer: Customer, template: str, **context: Json) -> OutMessage:
    """A message to the customer with the values every template may use."""
    values: dict[str, Json] = {"first_name": customer.first_name or ""}
    values.update(context)
    return OutMessage(template=template, context=values)


def button_data(question_id: int, value: str) -> str:
    """Callback data `"<question id>:<value>"`; the id makes old buttons recognisably stale."""
    return f"{question_id}:{value}"


def parse_button_data(data: str) -> tuple[int, str] | None:
    question, sep, value = data.partition(":")
    if not sep or not question.isdigit() or not value:
        return None
    return int(question), value


def buttons_row(question_id: int, *choices: tuple[str, str]) -> tuple[Button, ...]:
    """One row of buttons from `(label template, value)` pairs."""
    return tuple(Button(template, button_data(question_id, value)) for template, value in choices)
